"""The staffing cutoff only moves later (product.md "Staffing", edition 2), on the time-skipping
server: moved earlier it could cancel an unstaffed course tonight, and a revision used to drop
an extension.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from ilea.domain import Agency, IsgVote
from ilea.messages import CutoffInput, IsgVoteInput, ProposalView, RevisionInput
from tests.support import PO, PO2, fields, isg, running_worker, start_proposal
from workflows import rules
from workflows.proposal import ProposalWorkflow

Handle = WorkflowHandle[Any, Any]


@pytest.fixture
async def proposal(ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str) -> AsyncIterator[Handle]:
    now = await ts_env.get_current_time()
    async with running_worker(ts_env.client, pool, task_queue):
        _, handle = await start_proposal(
            ts_env.client, task_queue, fields(today=rules.eastern_date(now)), submitted_at=now
        )
        try:
            yield handle
        finally:
            with contextlib.suppress(RPCError):
                await handle.terminate("test over")


async def move(handle: Handle, cutoff: Any) -> ProposalView:
    result = await handle.execute_update(ProposalWorkflow.staffing_cutoff, CutoffInput(actor=PO2, cutoff=cutoff))
    return result.proposal


async def refusal(handle: Handle, cutoff: Any) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await move(handle, cutoff)
    assert isinstance(refused.value.cause, ApplicationError)
    return refused.value.cause


async def test_the_cutoff_cannot_move_earlier(proposal: Handle) -> None:
    view: ProposalView = await proposal.query(ProposalWorkflow.state)
    default = view.deadlines.staffing_cutoff
    assert default == view.start_date - timedelta(days=30)
    tomorrow = rules.eastern_date(view.updated_at) + timedelta(days=1)
    for earlier in (tomorrow, default - timedelta(days=1)):
        err = await refusal(proposal, earlier)
        assert err.type == "Invalid"
        assert list(err.details) == [
            {
                "loc": ["body", "cutoff"],
                "msg": f"the cutoff only moves later: it is {default}, and {earlier} is not later",
            }
        ]
    extended = default + timedelta(days=10)
    assert (await move(proposal, extended)).deadlines.staffing_cutoff == extended
    err = await refusal(proposal, extended - timedelta(days=3))  # back towards the default
    assert err.type == "Invalid" and "only moves later" in err.message
    assert (await proposal.query(ProposalWorkflow.state)).deadlines.staffing_cutoff == extended


async def test_a_revision_keeps_an_extension_that_still_fits(proposal: Handle, ts_env: WorkflowEnvironment) -> None:
    await proposal.execute_update(
        ProposalWorkflow.isg_vote, IsgVoteInput(actor=isg(Agency.DHS), vote=IsgVote.request_changes, comment="dates")
    )
    for seat in (Agency.STATE, Agency.TREASURY, Agency.DOJ):
        await proposal.execute_update(ProposalWorkflow.isg_vote, IsgVoteInput(actor=isg(seat), vote=IsgVote.concur))
    view: ProposalView = await proposal.query(ProposalWorkflow.state)
    extended = view.start_date - timedelta(days=12)
    assert (await move(proposal, extended)).deadlines.staffing_cutoff == extended

    # five days later: the new default (start - 30) is still earlier than the extension, which fits
    today = rules.eastern_date(await ts_env.get_current_time())
    later = fields(today=today, lead_days=(view.start_date - today).days + 5)
    revised = await proposal.execute_update(
        ProposalWorkflow.revise, RevisionInput(actor=PO, proposal=later, comment="five days later")
    )
    assert revised.proposal.start_date == view.start_date + timedelta(days=5)
    assert revised.proposal.deadlines.staffing_cutoff == extended
