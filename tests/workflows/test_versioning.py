"""Workflow code changes while proposals are in flight.

Proposals are parked mid-review under today's ProposalWorkflow on the time-skipping
server and their histories saved. Then a changed workflow is deployed under the same
workflow type: when a proposal enters Policy Board review it now runs an extra local
activity ("brief the Board") and records a `board_briefed` audit event, a change of
commands guarded by ``workflow.patched``. The saved histories must replay under the new
code, a worker running the new code must finish the parked proposals, and every recorded
history in tests/workflows/histories must replay under both the current and the new code.
The same change without the patch is shown to break the parked proposals' replay, so the
check has teeth.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio import activity, workflow
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from ilea.db import audit
from ilea.domain import Agency, BoardDecision, IsgVote, Stage
from ilea.messages import BoardDecisionInput, IsgVoteInput, ProposalInput, ProposalOutcome, ReadInput
from tests.support import CHAIR, fields, isg, start_proposal
from tests.workflows.make_histories import _settle
from tests.workflows.test_replay import FILES, LEGACY, load
from worker import activities_for, workflow_runner
from workflows import rules, transitions
from workflows.proposal import ProposalWorkflow

Handle = WorkflowHandle[Any, Any]
PATCH_ID = "brief-board-on-entry"


@activity.defn(name="brief_board")
async def brief_board(proposal_id: str) -> str:
    """The new step's activity (no I/O: what it would send is not what is tested)."""
    return f"briefing pack for {proposal_id}"


async def _brief(wf: ProposalWorkflow) -> None:
    note = await workflow.execute_local_activity(
        brief_board, wf._state.id, start_to_close_timeout=timedelta(seconds=10)
    )
    transitions.record(wf._state, "board_briefed", None, {"note": note}, now=workflow.now())


@workflow.defn(name="ProposalWorkflow")
class PatchedProposalWorkflow(ProposalWorkflow):
    """The change as it should be deployed: new commands only where ``workflow.patched`` says so."""

    @workflow.init
    def __init__(self, inp: ProposalInput) -> None:
        super().__init__(inp)
        self._briefed = False

    @workflow.run
    async def run(self, inp: ProposalInput) -> ProposalOutcome:
        return await super().run(inp)

    async def _commit(self, rehearsed: transitions.Rehearsed | None = None) -> None:
        if self._state.stage is Stage.board_review and not self._briefed:
            self._briefed = True
            # False (memoized) for a proposal whose Board review opened under the old code.
            if workflow.patched(PATCH_ID):
                await _brief(self)
        await super()._commit(rehearsed)


@workflow.defn(name="ProposalWorkflow")
class UnpatchedProposalWorkflow(ProposalWorkflow):
    """The same change deployed carelessly: the new local activity runs unconditionally."""

    @workflow.init
    def __init__(self, inp: ProposalInput) -> None:
        super().__init__(inp)
        self._briefed = False

    @workflow.run
    async def run(self, inp: ProposalInput) -> ProposalOutcome:
        return await super().run(inp)

    async def _commit(self, rehearsed: transitions.Rehearsed | None = None) -> None:
        if self._state.stage is Stage.board_review and not self._briefed:
            self._briefed = True
            await _brief(self)
        await super()._commit(rehearsed)


def runner() -> SandboxedWorkflowRunner:
    """As ``worker.build_worker`` configures it."""
    return workflow_runner()


def replayer(workflow_cls: type) -> Replayer:
    return Replayer(workflows=[workflow_cls], data_converter=pydantic_data_converter, workflow_runner=runner())


async def replay_failure(workflow_cls: type, history: WorkflowHistory) -> Exception | None:
    result = await replayer(workflow_cls).replay_workflow(history, raise_on_replay_failure=False)
    return result.replay_failure


@contextlib.asynccontextmanager
async def worker_with(
    workflow_cls: type, env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str
) -> AsyncIterator[Worker]:
    # No sticky cache: the next worker (new code) takes over each workflow at once, by replay.
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[workflow_cls],
        activities=[*activities_for(pool), brief_board],
        workflow_runner=runner(),
        max_cached_workflows=0,
    ) as w:
        yield w


async def vote(handle: Handle, agency: Agency) -> Stage:
    result = await handle.execute_update(
        ProposalWorkflow.isg_vote, IsgVoteInput(actor=isg(agency), vote=IsgVote.concur)
    )
    stage: Stage = result.proposal.stage
    return stage


async def approve(handle: Handle) -> Stage:
    result = await handle.execute_update(
        ProposalWorkflow.board_decision,
        BoardDecisionInput(actor=CHAIR, decision=BoardDecision.approve, comment="approved"),
    )
    stage: Stage = result.proposal.stage
    return stage


async def actions(pool: asyncpg.Pool, pid: str) -> list[str]:
    return [e["action"] for e in await audit.fetch(pool, pid)]


@pytest.fixture
async def parked(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str, tmp_path: Path
) -> AsyncIterator[dict[str, tuple[str, Handle, Path]]]:
    """Two proposals parked under today's code: one in ISG review (two votes), one at the Board."""
    out: dict[str, tuple[str, Handle, Path]] = {}
    async with worker_with(ProposalWorkflow, ts_env, pool, task_queue):
        for name in ("in_isg_review", "at_the_board"):
            now = await ts_env.get_current_time()
            f = fields(today=rules.eastern_date(now), title=f"Versioning: {name}")
            pid, handle = await start_proposal(ts_env.client, task_queue, f, submitted_at=now)
            await handle.execute_update(ProposalWorkflow.current, ReadInput())
            agencies = (Agency.STATE, Agency.TREASURY) if name == "in_isg_review" else tuple(Agency)
            for agency in agencies:
                stage = await vote(handle, agency)
            assert stage is (Stage.isg_review if name == "in_isg_review" else Stage.board_review)
            out[name] = (pid, handle, tmp_path / f"v2_{name}.json")
        for _, handle, path in out.values():
            await _settle(handle)
            path.write_text((await handle.fetch_history()).to_json() + "\n")
    try:
        yield out
    finally:
        for _, handle, _ in out.values():
            with contextlib.suppress(RPCError):
                await handle.terminate("test finished")


def saved(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))


async def test_parked_proposals_replay_and_finish_under_the_patched_code(
    ts_env: WorkflowEnvironment,
    pool: asyncpg.Pool,
    task_queue: str,
    parked: dict[str, tuple[str, Handle, Path]],
) -> None:
    # (a) The saved histories replay under the new code (and, of course, the old).
    for _, _, path in parked.values():
        assert await replay_failure(ProposalWorkflow, saved(path)) is None, path.name
        assert await replay_failure(PatchedProposalWorkflow, saved(path)) is None, path.name

    # (b) A worker with the new code takes the parked proposals over and finishes them.
    review_pid, review, _ = parked["in_isg_review"]
    board_pid, at_board, _ = parked["at_the_board"]
    async with worker_with(PatchedProposalWorkflow, ts_env, pool, task_queue):
        assert await vote(review, Agency.DHS) is Stage.isg_review
        assert await vote(review, Agency.DOJ) is Stage.board_review
        assert await approve(review) is Stage.staffing
        assert await approve(at_board) is Stage.staffing
        for _, handle, _ in parked.values():
            await _settle(handle)
        finished = {name: await handle.fetch_history() for name, (_, handle, _) in parked.items()}

    # The proposal whose Board review opened under the new code was briefed; the one already
    # at the Board when the code changed was not (its `patched` stays false), and neither
    # lost or repeated an audit event on the way.
    review_actions = await actions(pool, review_pid)
    board_actions = await actions(pool, board_pid)
    assert review_actions.count("board_briefed") == 1
    assert review_actions.index("board_briefed") < review_actions.index("board_decision")
    assert "board_briefed" not in board_actions
    for acts in (review_actions, board_actions):
        assert acts.count("submitted") == 1 and acts.count("isg_vote") == 4 and acts.count("board_decision") == 1
    for pid in (review_pid, board_pid):
        assert audit.verify_chain(pid, await audit.fetch(pool, pid)) is None

    # The histories made under the new code replay under it too.
    for name, history in finished.items():
        assert await replay_failure(PatchedProposalWorkflow, history) is None, name
    # A rollback to the old code would break the briefed proposal (its extra local activity's
    # marker is fed to the projection, whose result then does not decode): patches are
    # one-way, which is why the old code must not be redeployed after this.
    assert await replay_failure(ProposalWorkflow, finished["in_isg_review"]) is not None


async def test_the_same_change_without_a_patch_breaks_the_parked_proposals(
    parked: dict[str, tuple[str, Handle, Path]],
) -> None:
    """The check has teeth: unguarded, the new commands do not match the proposal at the Board."""
    _, _, path = parked["at_the_board"]
    failure = await replay_failure(UnpatchedProposalWorkflow, saved(path))
    # "Activity type of recorded marker 'project_proposal' does not match ... 'brief_board'"
    assert isinstance(failure, NondeterminismError), repr(failure)
    # In ISG review nothing new has happened yet, so even the careless change replays there.
    _, _, path = parked["in_isg_review"]
    assert await replay_failure(UnpatchedProposalWorkflow, saved(path)) is None


@pytest.mark.parametrize("path", FILES + LEGACY, ids=[p.stem for p in FILES + LEGACY])
@pytest.mark.parametrize("workflow_cls", [ProposalWorkflow, PatchedProposalWorkflow], ids=["current", "patched"])
async def test_recorded_histories_replay_under_current_and_patched_code(path: Path, workflow_cls: type) -> None:
    history = WorkflowHistory.from_json(f"replay-{path.stem}", load(path))
    assert await replay_failure(workflow_cls, history) is None, path.name
