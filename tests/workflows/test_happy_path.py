"""The whole lifecycle on the time-skipping server: submit → ISG → Board → staffing → delivered."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from temporalio.testing import WorkflowEnvironment

from ilea.db import audit, proposals
from ilea.domain import Agency, BoardDecision, RequestStatus, Stage
from ilea.messages import AcceptInput, BoardDecisionInput
from tests.support import (
    CHAIR,
    coordinator,
    fields,
    finish,
    running_worker,
    seed_instructors,
    start_proposal,
    vote_all,
)
from workflows import rules
from workflows.proposal import ProposalWorkflow


async def test_happy_path_to_delivered(ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str) -> None:
    ids = await seed_instructors(pool)
    async with running_worker(ts_env.client, pool, task_queue):
        today = (await ts_env.get_current_time()).date()  # the shared test clock, not the wall clock
        pid, handle = await start_proposal(ts_env.client, task_queue, fields(today=today))
        after_votes = await vote_all(handle)
        assert after_votes.proposal.stage is Stage.board_review
        assert not after_votes.proposal.fast_tracked  # cost above the fast-track limit
        decided = await handle.execute_update(
            ProposalWorkflow.board_decision,
            BoardDecisionInput(actor=CHAIR, decision=BoardDecision.approve),
        )
        assert decided.proposal.stage is Stage.staffing
        requests = decided.proposal.instructor_requests
        assert [(r.slot, r.agency) for r in requests] == [(1, Agency.TREASURY), (2, Agency.DOJ), (3, Agency.DOJ)]
        used: dict[Agency, int] = {}
        result = decided
        for r in requests:
            n = used.get(r.agency, 0)
            used[r.agency] = n + 1
            result = await handle.execute_update(
                ProposalWorkflow.accept_request,
                AcceptInput(actor=coordinator(r.agency), request_id=r.id, instructor_id=ids[r.agency][n]),
            )
            assert result.request is not None and result.request.status is RequestStatus.accepted
        assert result.proposal.stage is Stage.scheduled
        row = await proposals.get(pool, pid)
        assert row is not None and row["stage"] == "scheduled"
        outcome = await finish(ts_env, handle, rules.end_of_day(result.proposal.end_date) + timedelta(minutes=1))
        assert outcome.stage is Stage.delivered
    doc = await proposals.get(pool, pid)
    assert doc is not None and doc["stage"] == "delivered"
    events = await audit.fetch(pool, pid)
    assert audit.verify_chain(pid, events) is None
    stages = [e["detail"]["to"] for e in events if e["action"] == "stage_changed"]
    assert stages == ["isg_review", "board_review", "staffing", "scheduled", "delivered"]
    live = await pool.fetchval("SELECT count(*) FROM bookings WHERE proposal_id = $1 AND released_at IS NULL", pid)
    assert live == 3
