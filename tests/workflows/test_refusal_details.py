"""Every 422 the workflow decides carries its broken rules as ``{loc, msg}`` details, one per rule
(api.md "Conventions", edition 2), so the API can answer with ``errors`` like every other 422:
a vote without a comment, an instructor who is inactive and lacks the expertise, a blank reason,
a cutoff out of its window, a slot re-targeted to STATE.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from ilea.db import roster
from ilea.domain import Agency, BoardDecision, IsgVote, Topic
from ilea.messages import (
    AcceptInput,
    BoardDecisionInput,
    CutoffInput,
    DeclineInput,
    InstructorNeed,
    IsgVoteInput,
    RetargetInput,
    WithdrawInput,
)
from tests.support import CHAIR, PO, coordinator, fields, isg, running_worker, start_proposal
from workflows import rules
from workflows.proposal import ProposalWorkflow

Handle = WorkflowHandle[Any, Any]


async def details(handle: Handle, update: Any, arg: Any) -> list[Any]:
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(update, arg)
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "Invalid", cause
    return list(cause.details)


async def test_workflow_refusals_name_each_broken_rule(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str
) -> None:
    lapsed = await roster.create_instructor(
        pool, name="Dana Lapsed", agency="TREASURY", component="OCC", expertise=["cybercrime"], languages=["en"]
    )
    await pool.execute("UPDATE instructors SET active = false WHERE id = $1", lapsed["id"])
    now = await ts_env.get_current_time()
    needs = [InstructorNeed(agency=Agency.TREASURY, expertise=Topic.corruption_financial_crimes, count=2)]
    async with running_worker(ts_env.client, pool, task_queue):
        _, handle = await start_proposal(
            ts_env.client, task_queue, fields(today=rules.eastern_date(now), needs=needs), submitted_at=now
        )
        try:
            assert await details(
                handle, ProposalWorkflow.isg_vote, IsgVoteInput(actor=isg(Agency.DOJ), vote=IsgVote.nonconcur)
            ) == [{"loc": ["body", "comment"], "msg": "a comment is required with a nonconcur vote"}]
            assert await details(handle, ProposalWorkflow.withdraw, WithdrawInput(actor=PO, reason="  ")) == [
                {"loc": ["body", "reason"], "msg": "a reason is required to withdraw"}
            ]
            for seat in (Agency.STATE, Agency.TREASURY, Agency.DHS, Agency.DOJ):
                await handle.execute_update(
                    ProposalWorkflow.isg_vote, IsgVoteInput(actor=isg(seat), vote=IsgVote.concur)
                )
            approved = await handle.execute_update(
                ProposalWorkflow.board_decision, BoardDecisionInput(actor=CHAIR, decision=BoardDecision.approve)
            )
            view = approved.proposal
            first, second = view.instructor_requests

            too_late = view.start_date - timedelta(days=6)
            assert await details(handle, ProposalWorkflow.staffing_cutoff, CutoffInput(actor=PO, cutoff=too_late)) == [
                {
                    "loc": ["body", "cutoff"],
                    "msg": f"the cutoff may be no later than {too_late - timedelta(days=1)} (7 days before the start)",
                }
            ]
            accept = AcceptInput(actor=coordinator(Agency.TREASURY), request_id=first.id, instructor_id=lapsed["id"])
            assert await details(handle, ProposalWorkflow.accept_request, accept) == [
                {"loc": ["body", "instructor_id"], "msg": "Dana Lapsed is not active on the roster"},
                {"loc": ["body", "instructor_id"], "msg": "Dana Lapsed has no corruption_financial_crimes expertise"},
            ]

            declined = await handle.execute_update(
                ProposalWorkflow.decline_request,
                DeclineInput(actor=coordinator(Agency.TREASURY), request_id=second.id, reason="no one free"),
            )
            assert declined.request is not None and declined.request.status.value == "unfilled"
            retarget = RetargetInput(actor=PO, request_id=second.id, agency=Agency.STATE)
            assert await details(handle, ProposalWorkflow.retarget_request, retarget) == [
                {"loc": ["body", "agency"], "msg": "instructors come from TREASURY, DHS or DOJ, not STATE"}
            ]
        finally:
            with contextlib.suppress(RPCError):
                await handle.terminate("test over")
