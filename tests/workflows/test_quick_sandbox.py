"""worker.QuickSandboxInstance answers as the SDK's sandboxed instance does, for less.

The worker's instance compiles the sandbox's entry code once per process and asks the workflow
for each payload's serialization and external-storage context without entering the sandbox
(issue 17). These tests run a whole proposal through it and compare every context it gave with
the one the SDK's own path (into the sandbox) gives for the same command at the same moment,
and show that the workflow's own code still runs under the sandbox's restrictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from temporalio import workflow
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _Instance as SandboxInstance

import worker
from ilea.domain import BoardDecision, Stage
from ilea.messages import AcceptInput, BoardDecisionInput
from tests.support import CHAIR, coordinator, fields, seed_instructors, start_proposal, vote_all
from workflows.proposal import ProposalWorkflow


@dataclass
class Seen:
    """Every context the quick path gave, beside the SDK's answer for the same command."""

    contexts: list[tuple[Any, Any, Any]] = field(default_factory=list)
    stores: list[tuple[Any, Any, Any]] = field(default_factory=list)


SEEN = Seen()


class ComparingInstance(worker.QuickSandboxInstance):
    def get_serialization_context(self, command_info: Any) -> Any:
        quick = super().get_serialization_context(command_info)
        SEEN.contexts.append((command_info, quick, SandboxInstance.get_serialization_context(self, command_info)))
        return quick

    def get_external_store_context(self, command_info: Any) -> Any:
        quick = super().get_external_store_context(command_info)
        SEEN.stores.append((command_info, quick, SandboxInstance.get_external_store_context(self, command_info)))
        return quick


class ComparingRunner(SandboxedWorkflowRunner):
    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return ComparingInstance(det, self.runner_class, self.restrictions)


async def test_contexts_are_the_sdks_own_through_a_whole_proposal(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    SEEN.contexts.clear()
    SEEN.stores.clear()
    quick = worker.workflow_runner()
    monkeypatch.setattr(worker, "workflow_runner", lambda: ComparingRunner(restrictions=quick.restrictions))
    ids = await seed_instructors(pool)
    async with worker.build_worker(ts_env.client, pool, task_queue):
        today = (await ts_env.get_current_time()).date()
        _, handle = await start_proposal(ts_env.client, task_queue, fields(today=today))
        try:
            await vote_all(handle)
            decided = await handle.execute_update(
                ProposalWorkflow.board_decision, BoardDecisionInput(actor=CHAIR, decision=BoardDecision.approve)
            )
            r = decided.proposal.instructor_requests[0]
            accepted = await handle.execute_update(
                ProposalWorkflow.accept_request,
                AcceptInput(actor=coordinator(r.agency), request_id=r.id, instructor_id=ids[r.agency][0]),
            )
        finally:
            # left running on the shared time-skipping server, its timers would fire with no
            # worker to take them, and time skipping would stall for every later test
            await handle.terminate("test over")
    assert accepted.proposal.stage is Stage.staffing
    assert [c for c in SEEN.contexts if c[1] != c[2]] == []
    assert [s for s in SEEN.stores if s[1] != s[2]] == []
    kinds = {type(quick_context) for _, quick_context, _ in SEEN.contexts}
    # the workflow's own payloads and the local activities' (projection, booking) were both asked for
    assert {WorkflowSerializationContext, ActivitySerializationContext} <= kinds
    assert len(SEEN.stores) > 0


async def test_the_sandbox_entry_code_is_compiled_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second workflow run's instance compiles nothing: its entry code is the first's."""
    runner = worker.workflow_runner()
    defn = workflow._Definition.must_from_class(ProposalWorkflow)
    runner.prepare_workflow(defn)  # an instance, created as for a workflow run
    first = dict(worker.QuickSandboxInstance._compiled)
    compiled: list[str] = []

    def counting(source: str, *args: Any) -> Any:
        compiled.append(source)
        return compile(source, *args)

    monkeypatch.setattr(worker, "compile", counting, raising=False)
    runner.prepare_workflow(defn)
    assert compiled == []
    assert first and worker.QuickSandboxInstance._compiled == first
    assert all(code.co_filename == "<string>" for code in first.values())


def test_the_worker_uses_the_quick_instance() -> None:
    runner = worker.workflow_runner()
    assert isinstance(runner, worker.QuickSandboxedWorkflowRunner)
    assert issubclass(worker.QuickSandboxInstance, SandboxInstance)
