"""The proposals read model: written by the workflow's projection, read by the API."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ilea.activity_io import ProjectInput
from ilea.db import audit
from ilea.db.cursors import NOT_OURS, pack, time_key, time_key_of, unpack
from ilea.domain import Agency, Party


def party_agency(party: str) -> str:
    """The agency a pending party belongs to (`board:chair` and program officers are STATE)."""
    return (Party.parse(party).agency or Agency.STATE).value


#: Round trip 3 of a projection: the proposal's notifications (keyed: a repeat adds none), and the
#: audit chain's head, read after the lock (:data:`ilea.db.audit.HEAD`).
_NOTIFY_AND_HEAD = audit.HEAD.format(
    with_="WITH added AS (INSERT INTO notifications (proposal_id, event_key, party, kind, subject, body,"
    " created_at, task) SELECT $1, n.key, n.party, n.kind, n.subject, n.body, n.at, n.task"
    " FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::text[])"
    " WITH ORDINALITY AS n (key, party, kind, subject, body, at, task, i) ORDER BY n.i"
    " ON CONFLICT (proposal_id, event_key) DO NOTHING) "
)

#: Round trip 4: everything else, in one statement. The read model only moves forward (``up``
#: returns a row when this version is newer than the stored one); the tasks, the instructor
#: requests and the clearing of notifications done follow it, and only then. The audit rows
#: (keyed, chained in Python on the head just read) and the stage periods they open are
#: written in any case. Sibling CTEs see the rows from before the statement only: the tasks'
#: DELETE spares the rows inserted beside it, and max(seq) is the stage periods' before it.
_WRITE = """
WITH up AS (
    INSERT INTO proposals (id, title, academy, course_type, topic, stage, start_date,
        end_date, overdue, submitted_by, submitted_at, updated_at, version,
        pending_parties, pending_agencies, doc)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::text::jsonb)
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
), gone AS (
    DELETE FROM tasks WHERE proposal_id = $1 AND EXISTS (SELECT FROM up)
), tasks_now AS (
    INSERT INTO tasks (proposal_id, party, kind, request_id, title, since, due, authors)
    SELECT $1, t.party, t.kind, t.request_id, $2, t.since, t.due, $17
    FROM unnest($18::text[], $19::text[], $20::text[], $21::timestamptz[], $22::timestamptz[])
        AS t (party, kind, request_id, since, due)
    WHERE EXISTS (SELECT FROM up)
), requests AS (
    INSERT INTO instructor_requests (id, proposal_id, slot, agency, expertise, status,
        instructor_id, due, reason, doc)
    SELECT r->>'id', $1, (r->>'slot')::integer, r->>'agency', r->>'expertise', r->>'status',
        r->'instructor'->>'id', (r->>'due')::timestamptz, r->>'reason', r
    FROM jsonb_array_elements($16::text::jsonb->'instructor_requests') AS r
    WHERE EXISTS (SELECT FROM up)
    ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,
        instructor_id = EXCLUDED.instructor_id, due = EXCLUDED.due,
        reason = EXCLUDED.reason, doc = EXCLUDED.doc
), cleared AS (
    UPDATE notifications SET cleared_at = $12 WHERE proposal_id = $1 AND task IS NOT NULL
        AND cleared_at IS NULL AND NOT (task = ANY($23::text[])) AND EXISTS (SELECT FROM up)
), events AS (
    INSERT INTO audit_events (proposal_id, seq, event_key, at, actor, agency, action, detail,
        prev_hash, hash)
    SELECT $1, e.seq, e.key, e.at, e.actor, e.agency, e.action, e.detail::jsonb, e.prev_hash, e.hash
    FROM unnest($24::integer[], $25::text[], $26::timestamptz[], $27::text[], $28::text[],
        $29::text[], $30::text[], $31::text[], $32::text[])
        AS e (seq, key, at, actor, agency, action, detail, prev_hash, hash)
), closed AS (
    UPDATE stage_periods SET left_at = ($34::timestamptz[])[1]
    WHERE proposal_id = $1 AND left_at IS NULL AND cardinality($33::text[]) > 0
), opened AS (
    INSERT INTO stage_periods (proposal_id, seq, stage, entered_at, left_at)
    SELECT $1, (SELECT coalesce(max(seq), 0) FROM stage_periods WHERE proposal_id = $1) + s.i,
        s.stage, s.at, lead(s.at) OVER (ORDER BY s.i)
    FROM unnest($33::text[], $34::timestamptz[]) WITH ORDINALITY AS s (stage, at, i)
)
SELECT EXISTS (SELECT FROM up)
"""


async def project(con: asyncpg.Connection, inp: ProjectInput) -> bool:
    """Write one committed workflow state, its audit events and notifications, atomically.

    Idempotent: a state older than (or equal to) the stored one changes nothing,
    and events and notifications are keyed.

    Four round trips, however much the state holds: BEGIN with the proposal's lock (the audit
    chain's appends are serialised by it; taken before the head is read, because under READ
    COMMITTED a statement sees the rows committed before it started, and one that waited on the
    lock inside would read a stale head), :data:`_NOTIFY_AND_HEAD`, :data:`_WRITE`, COMMIT.
    The transaction is asyncpg's no longer (its BEGIN was a round trip of its own): any error
    rolls it back here, and a connection released in one is rolled back by the pool.

    Returns:
        True when this call applied the state (False for a repeat).
    """
    row = inp.row
    doc = inp.document  # JSON text, as the workflow serialized its view
    parties = sorted({p.party for p in row.pending_on})
    events = [(e.key, e.at, e.actor, e.agency, e.action, e.detail) for e in inp.events]
    notes = inp.notifications
    pending = row.pending_on
    try:
        await audit.begin_locked(con, row.id)
        head = await con.fetchrow(
            _NOTIFY_AND_HEAD,
            row.id,
            [e[0] for e in events],
            [n.key for n in notes],
            [n.party for n in notes],
            [n.kind for n in notes],
            [n.subject for n in notes],
            [n.body for n in notes],
            [n.at for n in notes],
            [n.task for n in notes],
        )
        chained, inserted = audit.chain_rows(row.id, events, head)
        stages = _stage_changes(inserted)
        applied: bool = await con.fetchval(
            _WRITE,
            row.id,
            row.title,
            row.academy.value,
            row.course_type.value,
            row.topic.value,
            row.stage.value,
            row.start_date,
            row.end_date,
            row.overdue,
            row.submitted_by,
            row.submitted_at,
            row.updated_at,
            row.version,
            parties,
            sorted({party_agency(p) for p in parties}),
            doc,
            row.authors or [row.submitted_by],
            [x.party for x in pending],
            [x.kind for x in pending],
            [x.request_id for x in pending],
            [x.since for x in pending],
            [x.due for x in pending],
            [x.task for x in pending],
            *_columns(chained),
            [stage for stage, _ in stages],
            [at for _, at in stages],
        )
    except BaseException:
        if not con.is_closed() and con.is_in_transaction():
            with contextlib.suppress(Exception):  # (a lost connection: the pool discards it)
                await con.execute("ROLLBACK")
        raise
    await con.execute("COMMIT")
    return applied


def _columns(rows: Sequence[audit.Row]) -> list[list[Any]]:
    """The audit rows as the nine arrays :data:`_WRITE` unnests (seq to hash; details as JSON text)."""
    return [
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
        [r[5] for r in rows],
        [r[6] for r in rows],
        [json.dumps(r[7]) for r in rows],
        [r[8] for r in rows],
        [r[9] for r in rows],
    ]


def _stage_changes(inserted: Sequence[tuple[str, datetime, str, dict[str, Any]]]) -> list[tuple[str, datetime]]:
    """The stages entered by the audit events recorded now, in order, and when (for cycle times)."""
    changes = []
    for _key, at, action, detail in inserted:
        if action == "submitted":
            changes.append(("submitted", at))
        elif action == "stage_changed":
            changes.append((detail["to"], at))
    return changes


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
