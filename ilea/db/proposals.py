"""The proposals read model: written by the workflow's projection, read by the API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ilea.activity_io import ProjectInput
from ilea.db import audit, notifications
from ilea.db.cursors import NOT_OURS, pack, time_key, time_key_of, unpack
from ilea.domain import Agency, Party
from ilea.messages import (
    ProposalView,
)


def party_agency(party: str) -> str:
    """The agency a pending party belongs to (`board:chair` and program officers are STATE)."""
    return (Party.parse(party).agency or Agency.STATE).value


async def project(con: asyncpg.Connection, inp: ProjectInput) -> bool:
    """Write one committed workflow state, its audit events and notifications, atomically.

    Idempotent: a state older than (or equal to) the stored one changes nothing,
    and events and notifications are keyed.

    Returns:
        True when this call applied the state (False for a repeat).
    """
    view = inp.snapshot
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
        await notifications.add(con, view.id, inp.notifications)
        if applied:
            await notifications.clear_done(con, view.id, [p.task for p in view.pending_on], view.updated_at)
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


# --- reads -----------------------------------------------------------------------------


#: The workflow's document with what the database adds to it (the reference, the owner).
DOCUMENT = "doc || jsonb_build_object('reference', reference, 'owner', owner)"


async def get(db: asyncpg.Pool | asyncpg.Connection, proposal_id: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = await db.fetchval(f"SELECT {DOCUMENT} FROM proposals WHERE id = $1", proposal_id)
    return doc


async def exists(db: asyncpg.Pool, proposal_id: str) -> bool:
    return bool(await db.fetchval("SELECT true FROM proposals WHERE id = $1", proposal_id))


@dataclass(frozen=True)
class ListFilter:
    stage: str | None = None
    academy: str | None = None
    topic: str | None = None
    pending_on: str | None = None
    #: the owner's sub
    owner: str | None = None
    #: text in the title or the reference
    q: str | None = None


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_summaries(
    db: asyncpg.Pool, flt: ListFilter, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of summaries, newest submission first, and the cursor of the next page."""
    where: list[str] = []
    args: list[Any] = []

    def add(clause: str, value: Any) -> None:
        args.append(value)
        where.append(clause.format(f"${len(args)}"))

    if flt.stage:
        add("stage = {}", flt.stage)
    if flt.academy:
        add("academy = {}", flt.academy)
    if flt.topic:
        add("topic = {}", flt.topic)
    if flt.pending_on:
        add("pending_agencies @> ARRAY[{}]::text[]", flt.pending_on)
    if flt.owner:
        add("owner = {}", flt.owner)
    if flt.q:
        # the title and the reference, lower-cased in one column (migration 009)
        add("search LIKE lower({})", f"%{escape_like(flt.q)}%")
    if cursor:
        at, pid = time_key_of(cursor)
        args += [at, pid]
        where.append(f"(submitted_at, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    sql = (
        "SELECT id, reference, owner, title, academy, topic, course_type, stage, start_date, updated_at,"
        " submitted_at, overdue, doc->'pending_on' AS pending_on FROM proposals"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY submitted_at DESC, id DESC LIMIT ${len(args)}"
    )
    rows = [dict(r) for r in await db.fetch(sql, *args)]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = time_key(rows[-1]["submitted_at"], rows[-1]["id"])
    return rows, next_cursor


async def counts_by_stage(db: asyncpg.Pool) -> dict[str, int]:
    rows = await db.fetch("SELECT stage, count(*) AS n FROM proposals GROUP BY stage")
    return {r["stage"]: r["n"] for r in rows}


#: The inbox's order, and the key a page continues from (unique per task row).
_TASK_KEY = "since, proposal_id, party, kind, coalesce(request_id, '')"
#: Reviews one may not do on one's own proposals.
_REVIEW_KINDS = ["isg_vote", "board_position", "board_decision", "overdue_board"]


async def tasks_page(
    db: asyncpg.Pool,
    parties: Sequence[Party],
    *,
    exclude_reviews_by: str | None = None,
    limit: int,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the tasks of these parties, oldest first, and the cursor of the next page
    (None on the last); reviews of one's own proposals left out. ValueError for a bad cursor."""
    args: list[Any] = [[str(p) for p in parties], exclude_reviews_by or "", _REVIEW_KINDS, limit + 1]
    after = ""
    if cursor:
        since, *rest = unpack(cursor, 5)
        try:
            args += [datetime.fromisoformat(since), *rest]
        except ValueError as err:
            raise ValueError(NOT_OURS) from err
        after = f" AND ({_TASK_KEY}) > ($5, $6, $7, $8, $9)"
    rows = await db.fetch(
        "SELECT kind, proposal_id, title, since, due, request_id, party FROM tasks"
        " WHERE party = ANY($1) AND NOT (kind = ANY($3) AND $2 = ANY(authors))"
        f"{after} ORDER BY {_TASK_KEY} LIMIT $4",
        *args,
    )
    items = [dict(r) for r in rows[:limit]]
    if len(rows) <= limit:
        return items, None
    last = items[-1]
    return items, pack(
        last["since"].isoformat(), last["proposal_id"], last["party"], last["kind"], last["request_id"] or ""
    )


async def tasks_for(
    db: asyncpg.Pool, parties: Sequence[Party], *, exclude_reviews_by: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """The first ``limit`` tasks of these parties, oldest first (see :func:`tasks_page`)."""
    rows, _ = await tasks_page(db, parties, exclude_reviews_by=exclude_reviews_by, limit=limit)
    return rows


async def cycle_times(db: asyncpg.Pool) -> list[dict[str, Any]]:
    """Median and p90 days spent in each stage, by academy and topic (closed periods only)."""
    rows = await db.fetch(
        """
        SELECT s.stage, p.academy, p.topic, count(*) AS n,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.left_at - s.entered_at))
                / 86400.0 AS median_days,
            percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM s.left_at - s.entered_at))
                / 86400.0 AS p90_days
        FROM stage_periods s JOIN proposals p ON p.id = s.proposal_id
        WHERE s.left_at IS NOT NULL
        GROUP BY GROUPING SETS ((s.stage), (s.stage, p.academy), (s.stage, p.topic))
        ORDER BY s.stage, p.academy NULLS FIRST, p.topic NULLS FIRST
        """
    )
    return [dict(r) for r in rows]
