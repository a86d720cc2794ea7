"""A projection that runs twice (an activity retried after its transaction committed) writes
each row once: the read model is version-guarded, audit events and notifications are keyed.
"""

from __future__ import annotations

import asyncpg
import pytest

from ilea.db import audit, proposals
from ilea.domain import Agency, IsgVote
from tests.workflows.states import later, submitted, vote
from workflows import transitions

pytestmark = pytest.mark.db


async def counts(pool: asyncpg.Pool, pid: str) -> dict[str, int]:
    return {
        table: await pool.fetchval(f"SELECT count(*) FROM {table} WHERE proposal_id = $1", pid)
        for table in ("audit_events", "notifications", "tasks")
    } | {"proposals": await pool.fetchval("SELECT count(*) FROM proposals WHERE id = $1", pid)}


async def test_a_projection_run_twice_writes_each_row_once(pool: asyncpg.Pool) -> None:
    state = submitted()
    first = transitions.outbox(state, now=later(0))
    vote(state, Agency.DHS, IsgVote.concur, at=later(1))
    second = transitions.outbox(state, now=later(1))
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
