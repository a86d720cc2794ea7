"""Actions that leave the next deadline where it was neither cancel nor start a timer."""

from __future__ import annotations

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from ilea.domain import Agency, IsgVote, Stage
from ilea.messages import IsgVoteInput
from tests.support import fields, isg, running_worker, start_proposal
from workflows.proposal import ProposalWorkflow


async def test_votes_reuse_the_round_timer(ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str) -> None:
    today = (await ts_env.get_current_time()).date()
    async with running_worker(ts_env.client, pool, task_queue):
        _, handle = await start_proposal(ts_env.client, task_queue, fields(today=today))
        for agency in (Agency.STATE, Agency.TREASURY, Agency.DHS):
            result = await handle.execute_update(
                ProposalWorkflow.isg_vote, IsgVoteInput(actor=isg(agency), vote=IsgVote.concur)
            )
        assert result.proposal.stage is Stage.isg_review
        kinds = [e.event_type async for e in handle.fetch_history_events()]
        assert kinds.count(EventType.EVENT_TYPE_TIMER_STARTED) == 1  # the reminder, armed once
        assert kinds.count(EventType.EVENT_TYPE_TIMER_CANCELED) == 0
        # Closing the round moves the next deadline (to the Board's): one cancel, one new timer.
        await handle.execute_update(ProposalWorkflow.isg_vote, IsgVoteInput(actor=isg(Agency.DOJ), vote=IsgVote.concur))
        kinds = [e.event_type async for e in handle.fetch_history_events()]
        assert kinds.count(EventType.EVENT_TYPE_TIMER_STARTED) == 2
        assert kinds.count(EventType.EVENT_TYPE_TIMER_CANCELED) == 1
        await handle.terminate("test over")
