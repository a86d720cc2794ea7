"""Instructors, their bookings, and the instructor-request read model."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from ilea.db.cursors import time_key, time_key_of
from ilea.domain import Agency
from ilea.roster_file import RosterInvalid, RosterRow, RowError, parse_csv

INSTRUCTOR_COLUMNS = "id, name, agency, component, expertise, languages, active"


@dataclass(frozen=True)
class Conflict:
    """Another live booking that overlaps the one asked for."""

    proposal_id: str
    title: str
    start: date
    end: date


class BookingRefused(Exception):
    """The instructor cannot take this slot; ``kind`` is an ErrorType value."""

    def __init__(
        self, kind: str, message: str, conflict: Conflict | None = None, problems: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.conflict = conflict
        #: an ``Invalid`` refusal's broken rules, one message each
        self.problems = problems or []


async def create_instructor(
    db: asyncpg.Pool | asyncpg.Connection,
    *,
    name: str,
    agency: str,
    component: str,
    expertise: list[str],
    languages: list[str],
    instructor_id: str | None = None,
) -> dict[str, Any]:
    row = await db.fetchrow(
        f"INSERT INTO instructors (id, name, agency, component, expertise, languages)"
        f" VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING {INSTRUCTOR_COLUMNS}",
        instructor_id or str(uuid.uuid4()),
        name,
        agency,
        component,
        expertise,
        languages,
    )
    if row is None:  # an existing id: the seed ran before
        row = await db.fetchrow(f"SELECT {INSTRUCTOR_COLUMNS} FROM instructors WHERE id = $1", instructor_id)
    return dict(row)


async def get_instructor(db: asyncpg.Pool | asyncpg.Connection, instructor_id: str) -> dict[str, Any] | None:
    row = await db.fetchrow(f"SELECT {INSTRUCTOR_COLUMNS} FROM instructors WHERE id = $1", instructor_id)
    return dict(row) if row else None


async def set_active(db: asyncpg.Pool, instructor_id: str, active: bool) -> dict[str, Any] | None:
    row = await db.fetchrow(
        f"UPDATE instructors SET active = $2,"
        f" deactivated_at = CASE WHEN $2 THEN NULL ELSE now() END"
        f" WHERE id = $1 RETURNING {INSTRUCTOR_COLUMNS}",
        instructor_id,
        active,
    )
    return dict(row) if row else None


async def list_instructors(
    db: asyncpg.Pool,
    *,
    agency: str | None,
    expertise: str | None,
    free_from: date | None = None,
    free_to: date | None = None,
) -> list[dict[str, Any]]:
    """The roster, optionally only those free over ``[free_from, free_to]``.

    Only the filters given are in the WHERE, and the expertise is ``expertise @> ARRAY[topic]``,
    which the GIN index on expertise serves (``topic = ANY(expertise)`` cannot use it).
    """
    where: list[str] = []
    args: list[Any] = []
    if agency:
        args.append(agency)
        where.append(f"agency = ${len(args)}")
    if expertise:
        args.append(expertise)
        where.append(f"expertise @> ARRAY[${len(args)}::text]")
    if free_from and free_to:
        args += [free_from, free_to]
        where.append(
            "NOT EXISTS (SELECT 1 FROM bookings b WHERE b.instructor_id = i.id"
            f" AND b.released_at IS NULL AND b.during && daterange(${len(args) - 1}, ${len(args)}, '[]'))"
        )
    rows = await db.fetch(
        f"SELECT {INSTRUCTOR_COLUMNS} FROM instructors i"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY agency, name, id",
        *args,
    )
    return [dict(r) for r in rows]


async def book(
    con: asyncpg.Connection,
    *,
    request_id: str,
    proposal_id: str,
    instructor_id: str,
    agency: str,
    expertise: str,
    start: date,
    end: date,
    title: str,
) -> dict[str, Any]:
    """Book an instructor for a request, or raise :class:`BookingRefused`.

    The exclusion constraint decides overlaps, so two accepts at the same instant
    cannot both succeed. Idempotent: the same request and instructor again is a no-op.
    """
    instructor = await get_instructor(con, instructor_id)
    if instructor is None:
        raise BookingRefused("NotFound", f"no instructor {instructor_id} on the roster")
    problems = []  # every reason the instructor cannot take the slot, reported together
    if instructor["agency"] != agency:
        problems.append(f"{instructor['name']} belongs to {instructor['agency']}, not {agency}")
    if not instructor["active"]:
        problems.append(f"{instructor['name']} is not active on the roster")
    if expertise not in instructor["expertise"]:
        problems.append(f"{instructor['name']} has no {expertise} expertise")
    if problems:
        raise BookingRefused("Invalid", "; ".join(problems), problems=problems)
    try:
        async with con.transaction():
            existing = await con.fetchrow(
                "SELECT instructor_id FROM bookings WHERE request_id = $1 AND released_at IS NULL FOR UPDATE",
                request_id,
            )
            if existing is not None:
                if existing["instructor_id"] == instructor_id:
                    return instructor
                raise BookingRefused("Closed", "this request already has another instructor booked")
            await con.execute(
                "INSERT INTO bookings (instructor_id, request_id, proposal_id, course_title, during)"
                " VALUES ($1, $2, $3, $4, daterange($5, $6, '[]'))",
                instructor_id,
                request_id,
                proposal_id,
                title,
                start,
                end,
            )
            await con.execute(
                "UPDATE instructor_requests SET status = 'accepted', instructor_id = $2 WHERE id = $1",
                request_id,
                instructor_id,
            )
    except asyncpg.exceptions.ExclusionViolationError:
        other = await con.fetchrow(
            "SELECT proposal_id, course_title, lower(during) AS s, upper(during) - 1 AS e FROM bookings"
            " WHERE instructor_id = $1 AND released_at IS NULL AND during && daterange($2, $3, '[]')"
            " LIMIT 1",
            instructor_id,
            start,
            end,
        )
        conflict = Conflict(other["proposal_id"], other["course_title"], other["s"], other["e"]) if other else None
        where = f" on '{conflict.title}' ({conflict.start} to {conflict.end})" if conflict else ""
        raise BookingRefused("BookingConflict", f"{instructor['name']} is already booked{where}", conflict) from None
    return instructor


async def release(
    con: asyncpg.Pool | asyncpg.Connection, *, proposal_id: str, request_id: str | None, reason: str
) -> int:
    """Release live bookings of one request or of a whole proposal; idempotent."""
    status = await con.execute(
        "UPDATE bookings SET released_at = now(), release_reason = $3"
        " WHERE proposal_id = $1 AND ($2::text IS NULL OR request_id = $2) AND released_at IS NULL",
        proposal_id,
        request_id,
        reason,
    )
    return int(status.split()[-1])


async def live_bookings(db: asyncpg.Pool | asyncpg.Connection, proposal_id: str) -> list[dict[str, Any]]:
    rows = await db.fetch(
        "SELECT request_id, instructor_id FROM bookings WHERE proposal_id = $1 AND released_at IS NULL",
        proposal_id,
    )
    return [dict(r) for r in rows]


# --- instructor requests (read model) ---------------------------------------------------


async def get_request(db: asyncpg.Pool, request_id: str) -> dict[str, Any] | None:
    row = await db.fetchrow("SELECT proposal_id, agency, doc FROM instructor_requests WHERE id = $1", request_id)
    return dict(row) if row else None


async def list_requests(
    db: asyncpg.Pool,
    *,
    status: str | None,
    agency: str | None,
    proposal_id: str | None,
    limit: int,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of requests, soonest due first, and the cursor of the next page (None on the
    last). ValueError for a cursor this server did not make.

    Only the filters given are in the WHERE, so each combination has a plan of its own: an
    index on (filters..., due, id) walks the page in order (migration 010).
    """
    where: list[str] = []
    args: list[Any] = []
    for column, value in (("status", status), ("agency", agency), ("proposal_id", proposal_id)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if cursor:
        args += time_key_of(cursor)
        where.append(f"(due, id) > (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    rows = await db.fetch(
        "SELECT id, due, doc FROM instructor_requests"
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY due, id LIMIT ${len(args)}",
        *args,
    )
    if len(rows) <= limit:
        return [r["doc"] for r in rows], None
    last = rows[limit - 1]
    return [r["doc"] for r in rows[:limit]], time_key(last["due"], last["id"])


# --- bulk import (ilea/roster_file.py checks the rows) -------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    """What an import did: instructor ids by outcome, in file order."""

    created: list[str]
    updated: list[str]
    unchanged: list[str]


async def import_roster(pool: asyncpg.Pool, rows: list[RosterRow]) -> ImportResult:
    """Create or update every row's instructor in one transaction: all or nothing.

    Idempotent: a row equal to what the roster holds is left alone (counted unchanged).

    Raises:
        RosterInvalid: a row's id is an instructor of another agency (nothing written).
    """
    ids = [row.instructor_id for row in rows]
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    async with pool.acquire() as con, con.transaction():
        existing = {
            r["id"]: dict(r)
            for r in await con.fetch(
                f"SELECT {INSTRUCTOR_COLUMNS} FROM instructors WHERE id = ANY($1::text[]) FOR UPDATE", ids
            )
        }
        conflicts = [
            _other_agency(row, existing[i]["agency"])
            for row, i in zip(rows, ids, strict=True)
            if i in existing and existing[i]["agency"] != row.agency.value
        ]
        if conflicts:
            raise RosterInvalid(conflicts)
        for row, instructor_id in zip(rows, ids, strict=True):
            wanted = {
                "name": row.name,
                "component": row.component,
                "expertise": list(row.expertise),
                "languages": list(row.languages),
                "active": row.active,
            }
            current = existing.get(instructor_id)
            if current is not None and all(current[k] == v for k, v in wanted.items()):
                unchanged.append(instructor_id)
                continue
            # The WHERE: an id another agency's import created after the SELECT above (it
            # locked no row, there was none) is that agency's instructor, not this row's.
            written = await con.fetchval(
                "INSERT INTO instructors (id, name, agency, component, expertise, languages, active)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (id) DO UPDATE SET name = $2, component = $4, expertise = $5, languages = $6,"
                " active = $7, deactivated_at = CASE WHEN $7 THEN NULL"
                " ELSE coalesce(instructors.deactivated_at, now()) END"
                " WHERE instructors.agency = $3 RETURNING agency",
                instructor_id,
                row.name,
                row.agency.value,
                row.component,
                list(row.expertise),
                list(row.languages),
                row.active,
            )
            if written is None:
                taken = await con.fetchval("SELECT agency FROM instructors WHERE id = $1", instructor_id)
                raise RosterInvalid([_other_agency(row, taken)])
            (updated if current is not None else created).append(instructor_id)
    return ImportResult(created, updated, unchanged)


def _other_agency(row: RosterRow, agency: str) -> RowError:
    return RowError(row.row, "key", f"{row.key} is on the {agency} roster, not {row.agency.value}'s")


async def instructors_by_id(db: asyncpg.Pool | asyncpg.Connection, ids: list[str]) -> list[dict[str, Any]]:
    """The instructors with these ids, in the order given (unknown ids left out)."""
    rows = {
        r["id"]: dict(r)
        for r in await db.fetch(f"SELECT {INSTRUCTOR_COLUMNS} FROM instructors WHERE id = ANY($1::text[])", ids)
    }
    return [rows[i] for i in ids if i in rows]


async def import_roster_file(database_url: str, text: str, agency: Agency | None = None) -> ImportResult:
    """``ilea roster import``: parse a roster CSV, then import it (all or nothing).

    Raises:
        RosterInvalid: every problem of every row; nothing was written.
    """
    from ilea.db import create_pool

    rows = parse_csv(text, agency)
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        return await import_roster(pool, rows)
    finally:
        await pool.close()
