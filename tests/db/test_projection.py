"""A projection that runs twice (an activity retried after its transaction committed) writes
each row once: the read model is version-guarded, audit events and notifications are keyed.
And it writes in four round trips the rows it wrote a statement at a time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from bench.projection_baseline import project_statement_by_statement
from ilea.activity_io import ProjectInput
from ilea.db import audit, create_pool, proposals, roster
from ilea.domain import ISG_SEATS, Agency, BoardDecision, BoardPosition, IsgVote, RequestStatus, Stage
from ilea.messages import AcceptInput, BoardDecisionInput, BoardPositionInput, DeclineInput, InstructorRef
from tests.conftest import _fresh_database
from tests.support import CHAIR, as_app_login, board, coordinator
from tests.workflows.states import Ids, later, submitted, vote
from workflows import transitions

pytestmark = pytest.mark.db


async def counts(pool: asyncpg.Pool, pid: str) -> dict[str, int]:
    return {
        table: await pool.fetchval(f"SELECT count(*) FROM {table} WHERE proposal_id = $1", pid)
        for table in ("audit_events", "notifications", "tasks")
    } | {"proposals": await pool.fetchval("SELECT count(*) FROM proposals WHERE id = $1", pid)}


async def test_a_projection_run_twice_writes_each_row_once(pool: asyncpg.Pool) -> None:
    state = submitted()
    first = transitions.outbox(state, now=later(0)).project
    vote(state, Agency.DHS, IsgVote.concur, at=later(1))
    second = transitions.outbox(state, now=later(1)).project
    async with pool.acquire() as con:
        assert await proposals.project(con, first) is True
        assert await proposals.project(con, second) is True
        after = await counts(pool, state.id)
        # both again, and the older one last: nothing is written twice, nothing goes back
        assert await proposals.project(con, first) is False
        assert await proposals.project(con, second) is False
    assert await counts(pool, state.id) == after
    assert after["proposals"] == 1
    assert after["audit_events"] == len(first.events) + len(second.events) > 0
    assert after["notifications"] == len(first.notifications) + len(second.notifications) > 0
    doc = await proposals.get(pool, state.id)
    assert doc is not None and doc["version"] == 2 and doc["stage"] == state.stage.value
    events = await audit.fetch(pool, state.id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert audit.verify_chain(state.id, events) is None


def lifecycle() -> list[ProjectInput]:
    """The outboxes of one proposal from submission until it is scheduled (two stage changes in
    the first, votes, the Board, requests sent, a decline passed to an alternate agency, every
    slot accepted), each at its own time."""
    ids = Ids()
    state = submitted()
    out = [transitions.outbox(state, now=later(0)).project]
    for day, seat in enumerate(ISG_SEATS, start=1):
        vote(state, seat, at=later(day))
        out.append(transitions.outbox(state, now=later(day)).project)
    for day, agency in enumerate((Agency.TREASURY, Agency.DHS, Agency.DOJ), start=6):
        inp = BoardPositionInput(actor=board(agency), position=BoardPosition.concur)
        transitions.take_position(state, inp, now=later(day))
        out.append(transitions.outbox(state, now=later(day)).project)
    decision = BoardDecisionInput(actor=CHAIR, decision=BoardDecision.approve, comment="approved")
    transitions.decide(state, decision, now=later(9), new_id=ids)
    out.append(transitions.outbox(state, now=later(9)).project)
    first = state.staffing.requests[0]
    decline = DeclineInput(actor=coordinator(first.agency), request_id=first.id, reason="nobody free")
    transitions.decline(state, decline, first, now=later(10), new_id=ids)
    out.append(transitions.outbox(state, now=later(10)).project)
    for day, r in enumerate([r for r in state.staffing.requests if r.status is RequestStatus.open], start=11):
        accept = AcceptInput(actor=coordinator(r.agency), request_id=r.id, instructor_id=INSTRUCTOR)
        transitions.accepted(state, accept, r, InstructorRef(id=INSTRUCTOR, name="Dana"), now=later(day))
        out.append(transitions.outbox(state, now=later(day)).project)
    assert state.stage is Stage.scheduled
    return out


INSTRUCTOR = "i-1"


async def add_instructor(pool: asyncpg.Pool) -> None:
    """The instructor every slot of :func:`lifecycle` accepts (the requests' foreign key)."""
    await roster.create_instructor(
        pool,
        instructor_id=INSTRUCTOR,
        name="Dana",
        agency="DOJ",
        component="FBI",
        expertise=["corruption_financial_crimes"],
        languages=["en"],
    )


#: every table the projection writes, in a full order
TABLES = {
    "proposals": "id",
    "tasks": "proposal_id, party, kind, coalesce(request_id, '')",
    "notifications": "id",
    "audit_events": "proposal_id, seq",
    "stage_periods": "proposal_id, seq",
    "instructor_requests": "id",
}


async def rows(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    return {t: [dict(r) for r in await pool.fetch(f"SELECT * FROM {t} ORDER BY {key}")] for t, key in TABLES.items()}


async def test_the_projection_writes_the_rows_it_wrote_a_statement_at_a_time(
    pool: asyncpg.Pool, pg_server_url: str, template_db: str
) -> None:
    """Today's projection (four round trips) and the one before (a statement per part) write the
    same rows, byte for byte, from the same outboxes: repeats and an older version coming late
    included. Each side has its own fresh database, so ids and sequences match."""
    outboxes = lifecycle()
    order = [*outboxes, outboxes[3], outboxes[-1], outboxes[0]]
    async with _fresh_database(pg_server_url, "ilea_t", template_db) as other_url:
        before = await create_pool(as_app_login(other_url), min_size=1, max_size=2)
        try:
            for side in (pool, before):
                await add_instructor(side)
            seen: dict[str, int] = {}
            async with pool.acquire() as today, before.acquire() as old:
                for step, inp in enumerate(order):
                    assert await proposals.project(today, inp) == await project_statement_by_statement(old, inp)
                    written, expected = await rows(pool), await rows(before)
                    assert written == expected, f"after outbox {step} (version {inp.row.version})"
                    seen = {t: max(seen.get(t, 0), len(v)) for t, v in expected.items()}
        finally:
            await before.close()
    assert all(seen.values()), seen
    assert seen["stage_periods"] == 5 and seen["instructor_requests"] == 4, seen


async def test_a_projection_takes_four_round_trips(pool: asyncpg.Pool) -> None:
    """BEGIN with the proposal's lock, the notifications with the audit chain's head, everything
    else in one statement, COMMIT: however many events, tasks, stage changes and requests."""
    outboxes = lifecycle()
    await add_instructor(pool)
    sent: list[str] = []

    def log(q: asyncpg.connection.LoggedQuery) -> None:
        # asyncpg asks the server about a type the first time a connection meets it (with JIT off)
        if not any(mark in q.query for mark in ("pg_catalog.pg_type", "set_config('jit'")):
            sent.append(q.query)

    async with pool.acquire() as con:
        with con.query_logger(log):
            for inp in outboxes:
                before = len(sent)
                assert await proposals.project(con, inp) is True
                await asyncio.sleep(0)  # asyncpg calls its query loggers soon, not at once
                assert len(sent) - before == 4, sent[before:]
    assert len(sent) == 4 * len(outboxes)
    biggest = max(outboxes, key=lambda o: len(o.events) + len(o.notifications) + len(o.view().instructor_requests))
    assert len(biggest.events) > 1 and biggest.notifications and biggest.view().instructor_requests


async def test_a_projection_that_fails_writes_nothing_and_leaves_no_transaction_open(pool: asyncpg.Pool) -> None:
    """The accept of an instructor the roster does not hold breaks a foreign key in the last
    statement: the proposal stays at the version before, and the connection is usable."""
    outboxes = lifecycle()  # no add_instructor: the first accept's request names an unknown one
    first_accept = next(i for i, o in enumerate(outboxes) if any(r.instructor for r in o.view().instructor_requests))
    async with pool.acquire() as con:
        for inp in outboxes[:first_accept]:
            assert await proposals.project(con, inp) is True
        pid = outboxes[0].row.id
        before = await rows(pool)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await proposals.project(con, outboxes[first_accept])
        assert not con.is_in_transaction()
        assert await con.fetchval("SELECT version FROM proposals WHERE id = $1", pid) == first_accept
    assert await rows(pool) == before


@pytest.mark.parametrize("proposal_id", ["p-1", "it's", "back\\slash\\", "x')); SELECT pg_sleep(10); --"])
async def test_the_projections_lock_is_the_proposals_lock_whatever_its_id(pool: asyncpg.Pool, proposal_id: str) -> None:
    """BEGIN and the lock go in one simple query, the id written into it as a literal: it takes
    the very lock the API's audit appends take (audit.lock_proposal), and nothing else runs."""
    async with pool.acquire() as holder, pool.acquire() as other:
        await audit.begin_locked(holder, proposal_id)
        assert holder.is_in_transaction()
        async with other.transaction():
            taken = await other.fetchval("SELECT pg_try_advisory_xact_lock(hashtext('proposal:' || $1))", proposal_id)
        assert taken is False
        await holder.execute("ROLLBACK")
        async with other.transaction():
            assert await other.fetchval("SELECT pg_try_advisory_xact_lock(hashtext('proposal:' || $1))", proposal_id)
