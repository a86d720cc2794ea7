"""The database's own guarantees, without Temporal: migrations, bookings, the audit trail.

The exclusion constraint ``bookings_no_overlap`` is what keeps an instructor off two
overlapping courses, however many accepts race; these tests hit it directly.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ilea.db import audit, roster
from ilea.db.migrate import migrate, migration_files

pytestmark = pytest.mark.db

EXPERTISE = "corruption_financial_crimes"
MARCH = date(2031, 3, 1)


async def new_instructor(
    db: asyncpg.Pool | asyncpg.Connection, instructor_id: str | None = None, agency: str = "DOJ"
) -> str:
    component = {"DOJ": "FBI", "DHS": "HSI", "TREASURY": "IRS-CI"}[agency]
    row = await roster.create_instructor(
        db,
        name=f"Instructor {instructor_id or uuid.uuid4().hex[:6]}",
        agency=agency,
        component=component,
        expertise=[EXPERTISE],
        languages=["en"],
        instructor_id=instructor_id,
    )
    instructor: str = row["id"]
    return instructor


async def book(
    con: asyncpg.Connection,
    instructor_id: str,
    start: date,
    end: date,
    *,
    title: str = "A course",
    request_id: str | None = None,
    proposal_id: str | None = None,
) -> dict[str, Any]:
    return await roster.book(
        con,
        request_id=request_id or str(uuid.uuid4()),
        proposal_id=proposal_id or str(uuid.uuid4()),
        instructor_id=instructor_id,
        agency="DOJ",
        expertise=EXPERTISE,
        start=start,
        end=end,
        title=title,
    )


# --- migrations --------------------------------------------------------------------------------------


async def test_migrations_apply_once(empty_db: str) -> None:
    con = await asyncpg.connect(empty_db)
    try:
        every = [name for name, _ in migration_files()]
        assert every and every[0] == "001_schema.sql"
        assert await migrate(con) == every
        assert await migrate(con) == []
        recorded = [r["name"] for r in await con.fetch("SELECT name FROM schema_migrations ORDER BY name")]
        assert recorded == every
        constraint = await con.fetchval(
            "SELECT contype::text FROM pg_constraint WHERE conname = 'bookings_no_overlap'",
        )
        assert constraint == "x"  # an exclusion constraint
        # the reference data is seeded once, however often migrate runs
        assert await con.fetchval("SELECT count(*) FROM academies") == 5
        await migrate(con)
        assert await con.fetchval("SELECT count(*) FROM academies") == 5
    finally:
        await con.close()


# --- bookings ------------------------------------------------------------------------------------------


async def test_fifty_simultaneous_accepts_book_once(pool: asyncpg.Pool) -> None:
    instructor = await new_instructor(pool)

    async def attempt(i: int) -> dict[str, Any]:
        async with pool.acquire() as con:
            # every course shares March 10-12 with every other one
            start = MARCH + timedelta(days=i % 10)
            return await book(con, instructor, start, start + timedelta(days=11), title=f"Course {i}")

    outcomes = await asyncio.gather(*(attempt(i) for i in range(50)), return_exceptions=True)
    won = [o for o in outcomes if isinstance(o, dict)]
    lost = [o for o in outcomes if isinstance(o, roster.BookingRefused)]
    assert len(won) == 1 and won[0]["id"] == instructor
    assert len(lost) == 49, [o for o in outcomes if not isinstance(o, dict | roster.BookingRefused)]
    assert {e.kind for e in lost} == {"BookingConflict"}
    rows = await pool.fetch("SELECT course_title FROM bookings WHERE released_at IS NULL")
    assert len(rows) == 1
    winner = rows[0]["course_title"]
    for e in lost:
        assert e.conflict is not None and e.conflict.title == winner
        assert f"'{winner}'" in str(e)


async def test_adjacent_ranges_do_not_conflict_but_a_shared_day_does(pool: asyncpg.Pool) -> None:
    instructor = await new_instructor(pool)
    async with pool.acquire() as con:
        await book(con, instructor, date(2031, 3, 1), date(2031, 3, 5), title="First week")
        # ends on the 5th, the next starts on the 6th: both ranges include their last day
        await book(con, instructor, date(2031, 3, 6), date(2031, 3, 10), title="Second week")
        with pytest.raises(roster.BookingRefused) as same_day:
            await book(con, instructor, date(2031, 3, 10), date(2031, 3, 12), title="Third")
        assert same_day.value.kind == "BookingConflict"
        conflict = same_day.value.conflict
        assert conflict is not None
        assert (conflict.title, conflict.start, conflict.end) == ("Second week", date(2031, 3, 6), date(2031, 3, 10))
        assert "Second week" in str(same_day.value)
        with pytest.raises(roster.BookingRefused) as before:
            await book(con, instructor, date(2031, 2, 25), date(2031, 3, 1))
        assert before.value.conflict is not None and before.value.conflict.title == "First week"
        # one day, the day after the second week: free
        await book(con, instructor, date(2031, 3, 11), date(2031, 3, 11))
        # another instructor is not affected by the first one's calendar
        other = await new_instructor(con)
        await book(con, other, date(2031, 3, 1), date(2031, 3, 12))
    assert await pool.fetchval("SELECT count(*) FROM bookings WHERE released_at IS NULL") == 4


async def test_book_is_idempotent_per_request(pool: asyncpg.Pool) -> None:
    first, second = await new_instructor(pool), await new_instructor(pool)
    request, proposal = str(uuid.uuid4()), str(uuid.uuid4())
    async with pool.acquire() as con:
        await book(con, first, MARCH, MARCH + timedelta(days=4), request_id=request, proposal_id=proposal)
        # an activity retried after it booked: the same request and instructor again is a no-op
        again = await book(con, first, MARCH, MARCH + timedelta(days=4), request_id=request, proposal_id=proposal)
        assert again["id"] == first
        with pytest.raises(roster.BookingRefused) as other:
            await book(con, second, MARCH, MARCH + timedelta(days=4), request_id=request, proposal_id=proposal)
        assert other.value.kind == "Closed"
    assert await pool.fetchval("SELECT count(*) FROM bookings") == 1


async def test_roster_checks_before_booking(pool: asyncpg.Pool) -> None:
    instructor = await new_instructor(pool)
    treasury = await new_instructor(pool, agency="TREASURY")
    async with pool.acquire() as con:
        with pytest.raises(roster.BookingRefused) as missing:
            await book(con, "nobody", MARCH, MARCH)
        assert missing.value.kind == "NotFound"
        with pytest.raises(roster.BookingRefused) as wrong_agency:
            await book(con, treasury, MARCH, MARCH)
        assert wrong_agency.value.kind == "Invalid"
        await roster.set_active(pool, instructor, False)
        with pytest.raises(roster.BookingRefused) as inactive:
            await book(con, instructor, MARCH, MARCH)
        assert inactive.value.kind == "Invalid"
        await roster.set_active(pool, instructor, True)
        with pytest.raises(roster.BookingRefused) as expertise:
            await roster.book(
                con,
                request_id="r",
                proposal_id="p",
                instructor_id=instructor,
                agency="DOJ",
                expertise="cybercrime",
                start=MARCH,
                end=MARCH,
                title="Cyber",
            )
        assert expertise.value.kind == "Invalid"
    assert await pool.fetchval("SELECT count(*) FROM bookings") == 0


async def test_release_is_idempotent_and_frees_the_dates(pool: asyncpg.Pool) -> None:
    instructor = await new_instructor(pool)
    request, proposal = str(uuid.uuid4()), str(uuid.uuid4())
    async with pool.acquire() as con:
        await book(con, instructor, MARCH, MARCH + timedelta(days=4), request_id=request, proposal_id=proposal)
        assert await roster.release(con, proposal_id=proposal, request_id=request, reason="ill") == 1
        assert await roster.release(con, proposal_id=proposal, request_id=request, reason="ill") == 0
        assert await roster.release(con, proposal_id=proposal, request_id=None, reason="withdrawn") == 0
        row = await con.fetchrow("SELECT released_at, release_reason FROM bookings WHERE request_id = $1", request)
        assert row["released_at"] is not None and row["release_reason"] == "ill"
        # the dates are free again, even for the same request
        await book(con, instructor, MARCH, MARCH + timedelta(days=4), request_id=request, proposal_id=proposal)
        assert await roster.live_bookings(con, proposal) == [{"request_id": request, "instructor_id": instructor}]
        assert await roster.release(con, proposal_id=proposal, request_id=None, reason="withdrawn") == 1


# --- the constraint against a brute-force model ---------------------------------------------------------

Op = tuple[str, int, int, int]  # ("book", instructor, first day, length) or ("release", op index, 0, 0)

ops_strategy = st.lists(
    st.one_of(
        st.tuples(st.just("book"), st.integers(0, 2), st.integers(0, 30), st.integers(1, 8)),
        st.tuples(st.just("release"), st.integers(0, 40), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=25,
)

INSTRUCTORS = [f"hyp-{i}" for i in range(3)]


def expected_outcomes(ops: list[Op]) -> list[bool]:
    """Which bookings a correct constraint accepts, inserted in order (inclusive date ranges)."""
    live: dict[int, tuple[int, int, int]] = {}  # op index -> (instructor, first, last)
    accepted: list[bool] = []
    for i, (kind, a, b, c) in enumerate(ops):
        if kind == "release":
            live.pop(a, None)
            accepted.append(False)
            continue
        first, last = b, b + c - 1
        clash = any(who == a and first <= l2 and f2 <= last for who, f2, l2 in live.values())
        accepted.append(not clash)
        if not clash:
            live[i] = (a, first, last)
    return accepted


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops_strategy)
async def test_constraint_matches_brute_force(pool: asyncpg.Pool, ops: list[Op]) -> None:
    # one database for every example: start each from no bookings
    await pool.execute("DELETE FROM bookings")
    for who in INSTRUCTORS:
        await new_instructor(pool, who)
    proposal = str(uuid.uuid4())
    actual: list[bool] = []
    async with pool.acquire() as con:
        for i, (kind, a, b, c) in enumerate(ops):
            if kind == "release":
                await roster.release(con, proposal_id=proposal, request_id=f"req-{a}", reason="model")
                actual.append(False)
                continue
            start = MARCH + timedelta(days=b)
            try:
                await book(
                    con,
                    INSTRUCTORS[a],
                    start,
                    start + timedelta(days=c - 1),
                    request_id=f"req-{i}",
                    proposal_id=proposal,
                    title=f"Course {i}",
                )
            except roster.BookingRefused as refused:
                assert refused.kind == "BookingConflict"
                assert refused.conflict is not None
                actual.append(False)
            else:
                actual.append(True)
    assert actual == expected_outcomes(ops)


# --- the audit trail --------------------------------------------------------------------------------------


async def test_audit_events_are_append_only(pool: asyncpg.Pool, owner_pool: asyncpg.Pool) -> None:
    proposal = str(uuid.uuid4())
    at = datetime(2031, 3, 1, 12, tzinfo=UTC)
    async with pool.acquire() as con, con.transaction():
        await audit.lock_proposal(con, proposal)
        await audit.append(
            con,
            proposal,
            [("1.0", at, "po-1", "STATE", "submitted", {"title": "x"}), ("1.1", at, "system", None, "noted", {})],
        )
    events = await audit.fetch(pool, proposal)
    assert [e["seq"] for e in events] == [1, 2]
    assert audit.verify_chain(proposal, events) is None

    # Even the tables' owner meets the trigger (the application has no such privilege at all:
    # tests/db/test_audit_tampering.py).
    for statement in (
        "UPDATE audit_events SET actor = 'someone else' WHERE proposal_id = $1",
        "DELETE FROM audit_events WHERE proposal_id = $1",
    ):
        with pytest.raises(asyncpg.exceptions.RaiseError, match="append-only"):
            await owner_pool.execute(statement, proposal)
    with pytest.raises(asyncpg.exceptions.RaiseError, match="append-only"):
        await owner_pool.execute("TRUNCATE audit_events")
    assert audit.verify_chain(proposal, await audit.fetch(pool, proposal)) is None
