"""The worker's sandbox passes modules through but still refuses nondeterministic calls.

``worker.workflow_runner`` imports modules once per process instead of once per workflow run
(issue 6). That must not switch off the runtime restrictions that make a months-long workflow
safe to replay: reading the wall clock or a file inside workflow code still fails the task.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import uvloop
from temporalio import workflow
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError

from ilea.loop import run_loop
from worker import workflow_runner


@workflow.defn(sandboxed=True)
class ReadsTheClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()


@workflow.defn(sandboxed=True)
class ReadsAFile:
    @workflow.run
    async def run(self) -> str:
        return Path(__file__).read_text()[:10]  # noqa: ASYNC240 - the point of the test


@workflow.defn(sandboxed=True)
class Deterministic:
    @workflow.run
    async def run(self) -> str:
        return workflow.now().isoformat()


async def _run(env: WorkflowEnvironment, wf: type) -> str:
    tq = f"sandbox-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=tq,
        workflows=[wf],
        workflow_runner=workflow_runner(),
        # A restricted call fails the workflow task, which Temporal would retry for ever; fail
        # the workflow instead, so the test sees the sandbox's own error.
        workflow_failure_exception_types=[RestrictedWorkflowAccessError],
    ):
        result: str = await env.client.execute_workflow(
            wf.run,  # type: ignore[attr-defined]
            id=f"sandbox-{uuid.uuid4()}",
            task_queue=tq,
            execution_timeout=timedelta(seconds=30),
        )
        return result


@pytest.mark.parametrize("wf", [ReadsTheClock, ReadsAFile], ids=["clock", "file"])
async def test_nondeterministic_calls_still_fail(ts_env: WorkflowEnvironment, wf: type) -> None:
    with pytest.raises(WorkflowFailureError) as failed:
        await _run(ts_env, wf)
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "RestrictedWorkflowAccessError"


async def test_deterministic_workflow_runs(ts_env: WorkflowEnvironment) -> None:
    assert datetime.fromisoformat(await _run(ts_env, Deterministic)).year >= 2026


def test_worker_loop_is_uvloop() -> None:
    seen: list[object] = []

    async def main() -> None:
        seen.append(asyncio.get_running_loop())

    run_loop(main())
    assert isinstance(seen[0], uvloop.Loop)


#: in a fresh interpreter: write the bytecode, then list where the import system looks for each module's
COMPILE_AND_LIST = """
import importlib.util, pathlib, worker
from workflows.proposal import ProposalWorkflow
print(worker.compile_workflow_code(ProposalWorkflow))
for source in sorted(pathlib.Path(worker.__file__).parent.joinpath("workflows").glob("*.py")):
    print(importlib.util.cache_from_source(str(source)))
"""


def test_the_worker_writes_the_workflow_modules_bytecode_the_sandbox_reimports(tmp_path: Path) -> None:
    """With PYTHONDONTWRITEBYTECODE=1 (here and in the image) and an editable install, nothing
    cached the workflow modules' bytecode, and the sandbox compiled their source again for every
    workflow run. The worker writes it at start, where the import system looks for it."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", COMPILE_AND_LIST], env=env, capture_output=True, text=True, check=True)
    written, *cached = run.stdout.split()
    assert written == "True"
    assert len(cached) > 5 and all(c.startswith(str(tmp_path)) for c in cached)
    assert [c for c in cached if not Path(c).is_file()] == []
