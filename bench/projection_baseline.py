"""The projection as it was before it took five (now four) round trips (baseline ``ten-round-trips``,
experiment ``projection`` of bench/variants.py; tests/db/test_projection.py checks that today's
writes exactly the same rows).

Every part of the write was its own statement: BEGIN, the lock, the proposal upsert, the
instructor requests, the tasks, the audit chain's head, the audit rows, each stage change, the
notifications, the clearing of notifications done, COMMIT.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from ilea.activity_io import NotificationIn, ProjectInput
from ilea.db import audit
from ilea.db.proposals import party_agency
from ilea.messages import ProposalView


async def project_statement_by_statement(con: asyncpg.Connection, inp: ProjectInput) -> bool:
    """Write one committed workflow state, its audit events and notifications, atomically.

    Idempotent: a state older than (or equal to) the stored one changes nothing,
    and events and notifications are keyed.

    Returns:
        True when this call applied the state (False for a repeat).
    """
    # The whole view, as the activity's input was decoded before the document came as text.
    view = inp.view()
    async with con.transaction():
        await audit.lock_proposal(con, view.id)
        doc = view.model_dump(mode="json")
        parties = sorted({p.party for p in view.pending_on})
        applied = await con.fetchval(
            """
            INSERT INTO proposals (id, title, academy, course_type, topic, stage, start_date,
                end_date, overdue, submitted_by, submitted_at, updated_at, version,
                pending_parties, pending_agencies, doc)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
            ON CONFLICT (id) DO UPDATE SET
                title = EXCLUDED.title, academy = EXCLUDED.academy,
                course_type = EXCLUDED.course_type, topic = EXCLUDED.topic,
                stage = EXCLUDED.stage, start_date = EXCLUDED.start_date,
                end_date = EXCLUDED.end_date, overdue = EXCLUDED.overdue,
                updated_at = EXCLUDED.updated_at, version = EXCLUDED.version,
                pending_parties = EXCLUDED.pending_parties,
                pending_agencies = EXCLUDED.pending_agencies, doc = EXCLUDED.doc
            WHERE proposals.version < EXCLUDED.version
            RETURNING true
            """,
            view.id,
            view.title,
            view.academy.value,
            view.course_type.value,
            view.topic.value,
            view.stage.value,
            view.start_date,
            view.end_date,
            view.overdue,
            view.submitted_by,
            view.submitted_at,
            view.updated_at,
            view.version,
            parties,
            sorted({party_agency(p) for p in parties}),
            doc,
        )
        if applied:
            await _write_requests(con, view, doc)
            await _write_tasks(con, view)
        inserted = await audit.append(
            con,
            view.id,
            [(e.key, e.at, e.actor, e.agency, e.action, e.detail) for e in inp.events],
        )
        await _write_stage_periods(con, view.id, inserted)
        await add_notifications(con, view.id, inp.notifications)
        if applied:
            await clear_done(con, view.id, [p.task for p in view.pending_on], view.updated_at)
    return bool(applied)


async def _write_requests(con: asyncpg.Connection, view: ProposalView, doc: dict[str, Any]) -> None:
    if not view.instructor_requests:
        return
    await con.executemany(
        """
        INSERT INTO instructor_requests (id, proposal_id, slot, agency, expertise, status,
            instructor_id, due, reason, doc)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,
            instructor_id = EXCLUDED.instructor_id, due = EXCLUDED.due,
            reason = EXCLUDED.reason, doc = EXCLUDED.doc
        """,
        [
            (
                r.id,
                view.id,
                r.slot,
                r.agency.value,
                r.expertise.value,
                r.status.value,
                r.instructor.id if r.instructor else None,
                r.due,
                r.reason,
                d,
            )
            for r, d in zip(view.instructor_requests, doc["instructor_requests"], strict=True)
        ],
    )


async def _write_tasks(con: asyncpg.Connection, view: ProposalView) -> None:
    """Replace the proposal's tasks: one statement (the DELETE sees only the rows from before
    it, so the rows inserted beside it survive)."""
    authors = view.authors or [view.submitted_by]
    p = view.pending_on
    await con.execute(
        "WITH gone AS (DELETE FROM tasks WHERE proposal_id = $1)"
        " INSERT INTO tasks (proposal_id, party, kind, request_id, title, since, due, authors)"
        " SELECT $1, t.party, t.kind, t.request_id, $2, t.since, t.due, $3"
        " FROM unnest($4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[])"
        " AS t (party, kind, request_id, since, due)",
        view.id,
        view.title,
        authors,
        [x.party for x in p],
        [x.kind for x in p],
        [x.request_id for x in p],
        [x.since for x in p],
        [x.due for x in p],
    )


async def _write_stage_periods(
    con: asyncpg.Connection, proposal_id: str, inserted: Sequence[tuple[str, datetime, str, dict[str, Any]]]
) -> None:
    """Close and open stage periods from the stage changes recorded now (for cycle times)."""
    for _key, at, action, detail in inserted:
        if action == "submitted":
            stage = "submitted"
        elif action == "stage_changed":
            stage = detail["to"]
        else:
            continue
        # Close the open period and open the next in one statement; max(seq) is read from the
        # statement's snapshot, which the UPDATE beside it does not change.
        await con.execute(
            "WITH closed AS (UPDATE stage_periods SET left_at = $2 WHERE proposal_id = $1 AND left_at IS NULL)"
            " INSERT INTO stage_periods (proposal_id, seq, stage, entered_at) VALUES ($1,"
            " (SELECT coalesce(max(seq), 0) + 1 FROM stage_periods WHERE proposal_id = $1), $3, $2)",
            proposal_id,
            at,
            stage,
        )


async def add_notifications(con: asyncpg.Connection, proposal_id: str, notifications: Sequence[NotificationIn]) -> None:
    """Store a proposal's notifications; keyed by their event key, so a repeat adds nothing."""
    if not notifications:
        return
    await con.executemany(
        "INSERT INTO notifications (proposal_id, event_key, party, kind, subject, body,"
        " created_at, task) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (proposal_id, event_key) DO NOTHING",
        [(proposal_id, n.key, n.party, n.kind, n.subject, n.body, n.at, n.task) for n in notifications],
    )


async def clear_done(con: asyncpg.Connection, proposal_id: str, pending: Sequence[str], at: datetime) -> None:
    """Clear the proposal's notifications asking for an action no longer pending (``pending``:
    the tasks still pending, :func:`ilea.messages.task_key`)."""
    await con.execute(
        "UPDATE notifications SET cleared_at = $3 WHERE proposal_id = $1 AND task IS NOT NULL"
        " AND cleared_at IS NULL AND NOT (task = ANY($2::text[]))",
        proposal_id,
        list(pending),
        at,
    )
