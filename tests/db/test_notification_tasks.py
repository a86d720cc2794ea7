"""Pending-action notifications clear themselves once the action is done (product.md
"Notifications", edition 2): the projection clears a notification whose task is no longer
pending, and leaves the others (news, and actions still pending) alone.
"""

from __future__ import annotations

import asyncpg
import pytest

from ilea.db import proposals
from ilea.domain import Agency, IsgVote
from tests.workflows.states import later, submitted, vote
from workflows import transitions
from workflows.state import ProposalState

pytestmark = pytest.mark.db


async def commit(pool: asyncpg.Pool, state: ProposalState, days: int) -> None:
    async with pool.acquire() as con:
        await proposals.project(con, transitions.outbox(state, now=later(days)).project)


async def open_actions(pool: asyncpg.Pool, pid: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT party FROM notifications WHERE proposal_id = $1 AND kind = 'action' AND cleared_at IS NULL ORDER BY id",
        pid,
    )
    return [r["party"] for r in rows]


async def test_an_action_notification_clears_once_its_action_is_done(pool: asyncpg.Pool) -> None:
    state = submitted()
    await commit(pool, state, 0)
    assert await open_actions(pool, state.id) == ["isg:STATE", "isg:TREASURY", "isg:DHS", "isg:DOJ"]

    vote(state, Agency.DHS, IsgVote.concur, at=later(1))
    await commit(pool, state, 1)
    assert await open_actions(pool, state.id) == ["isg:STATE", "isg:TREASURY", "isg:DOJ"]
    cleared = await pool.fetchrow(
        "SELECT cleared_at, task FROM notifications WHERE proposal_id = $1 AND party = 'isg:DHS'", state.id
    )
    assert cleared["cleared_at"] == later(1) and cleared["task"].startswith("isg:DHS|")

    # the round closes (changes requested): every seat's request is done; the owner's revision is asked
    vote(state, Agency.STATE, IsgVote.request_changes, at=later(2))
    for seat in (Agency.TREASURY, Agency.DOJ):
        vote(state, seat, at=later(2))
    await commit(pool, state, 2)
    assert await open_actions(pool, state.id) == ["person:po-1"]
    # news never clears: it asked for nothing
    news = await pool.fetchval(
        "SELECT count(*) FROM notifications WHERE proposal_id = $1 AND task IS NULL AND cleared_at IS NOT NULL",
        state.id,
    )
    assert news == 0
