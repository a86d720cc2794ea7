"""Deadlines come first (product.md "At any time", edition 2).

An action is judged as of the moment it arrives, after every deadline that has passed by then
has had its effect, even when no worker was running as the deadline passed: Temporal hands the
worker the Update before the timer that fired meanwhile, so the workflow must apply the due
deadlines itself before it judges the action.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from ilea.db import audit
from ilea.domain import Agency, IsgVote, Stage
from ilea.messages import IsgVoteInput, ProposalView
from tests.support import fields, isg, running_worker, sleep_until, start_proposal
from worker import build_worker
from workflows import rules
from workflows.proposal import ProposalWorkflow

Handle = WorkflowHandle[Any, Any]


async def test_a_vote_after_the_round_deadline_is_refused_as_closed_even_if_no_worker_ran(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str
) -> None:
    now = await ts_env.get_current_time()
    # No workflow cache: the stopped worker leaves no sticky task queue that the test server
    # would keep the next workflow task on.
    async with build_worker(ts_env.client, pool, task_queue, max_cached_workflows=0):
        pid, handle = await start_proposal(
            ts_env.client, task_queue, fields(today=rules.eastern_date(now)), submitted_at=now
        )
        voted = await handle.execute_update(
            ProposalWorkflow.isg_vote, IsgVoteInput(actor=isg(Agency.STATE), vote=IsgVote.concur)
        )
        due, reminder = voted.proposal.deadlines.isg_round_due, voted.proposal.deadlines.isg_reminder_at
        assert due is not None and reminder is not None
        await sleep_until(ts_env, reminder + timedelta(hours=1))  # the reminder is sent; the round is open
    try:
        # No worker as the round's deadline passes. (The test server skips time only to the next
        # timer while no worker serves the task it schedules: the deadline's own.)
        await sleep_until(ts_env, due)
        late = asyncio.create_task(
            handle.execute_update(ProposalWorkflow.isg_vote, IsgVoteInput(actor=isg(Agency.DHS), vote=IsgVote.concur))
        )
        await asyncio.sleep(0.5)  # the Update waits for a worker
        async with running_worker(ts_env.client, pool, task_queue):
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await asyncio.wait_for(late, 30)
            cause = refused.value.cause
            assert isinstance(cause, ApplicationError)
            assert (cause.type, cause.message) == ("Closed", "ISG round 1 is closed; the proposal is board_review")
            view: ProposalView = await handle.query(ProposalWorkflow.state)
    finally:
        with contextlib.suppress(RPCError):
            await handle.terminate("test over")
    # the silence procedure was applied: the silent seats are deemed to concur, by the system
    assert view.stage is Stage.board_review
    assert {v.agency: (v.vote, v.by) for v in view.isg_votes} == {
        Agency.STATE: (IsgVote.concur, "isg-state"),
        Agency.TREASURY: (IsgVote.deemed_concur, "system"),
        Agency.DHS: (IsgVote.deemed_concur, "system"),
        Agency.DOJ: (IsgVote.deemed_concur, "system"),
    }
    events = await audit.fetch(pool, pid)
    assert [e["agency"] for e in events if e["action"] == "deemed_concur"] == ["TREASURY", "DHS", "DOJ"]
    assert not [e for e in events if e["action"] == "isg_vote" and e["agency"] == "DHS"]
