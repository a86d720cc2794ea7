"""The Temporal worker: settings → asyncpg pool → Temporal client → Worker, all closed on shutdown."""

from __future__ import annotations

import asyncio
import compileall
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from types import CodeType
from typing import Any, ClassVar

import asyncpg
from temporalio.client import Client
from temporalio.converter import SerializationContext
from temporalio.converter._extstore import StorageDriverStoreContext
from temporalio.worker import Worker, WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker._command_aware_visitor import CommandInfo
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.worker.workflow_sandbox._runner import _Instance as SandboxInstance

from activities.access_log import AccessLogActivities
from activities.outage import DatabaseOutageInterceptor
from activities.projection import ProjectionActivities
from activities.roster import RosterActivities
from ilea.db import audit, create_pool
from ilea.logs import setup_logging
from ilea.loop import freeze_start_up, run_loop
from ilea.observability import worker_runtime
from ilea.outbox import EmailOutbox
from ilea.settings import Settings
from ilea.temporal import connect, worker_identity
from workflows.access_witness import AccessLogWitness
from workflows.proposal import ProposalWorkflow

log = logging.getLogger("ilea.worker")


def activities_for(pool: asyncpg.Pool) -> Sequence[Any]:
    """Every activity, as bound methods of classes holding the pool."""
    projection = ProjectionActivities(pool)
    roster = RosterActivities(pool)
    return [projection.project, roster.book, roster.release_bookings, AccessLogActivities(pool).read_head]


# Deterministic, side-effect-free modules shared with the API, and the workflow's own pure
# modules: loaded once per process, not per workflow run (the Eastern Time zone object must be
# the real one, not a sandbox proxy). Only the modules that define workflow classes
# (workflows.proposal, workflows.access_witness) are re-imported in the sandbox for every run,
# under its runtime restrictions (tests/workflows/test_sandbox.py shows that
# ``passthrough_all_modules`` would let ``datetime.now()`` and file reads through). Everything
# passed through that workflow code reaches is checked for the same by
# tests/workflows/test_determinism.py: no clock, randomness, environment or file, imports from
# a short list, no module-level mutable value (it would be shared by every workflow run).
PASSTHROUGH = (
    "ilea",
    "activities",
    "workflows.actions",
    "workflows.checks",
    "workflows.deadlines",
    "workflows.notices",
    "workflows.rehearsals",
    "workflows.rules",
    "workflows.staffing",
    "workflows.state",
    "workflows.timer",
    "workflows.transitions",
    "workflows.views",
    "holidays",
    "pycountry",
    "zoneinfo",
    "asyncpg",
    "pydantic",
    "pydantic_core",
)


class QuickSandboxInstance(SandboxInstance):
    """The SDK's sandboxed workflow instance, without two costs it pays on every workflow task.

    The SDK (1.35) enters the sandbox by ``exec`` of a short source string, compiled again on
    each call; and it enters it seven times per activation only to ask the workflow which
    serialization (and external-storage) context each payload sequence belongs to
    (``_CommandAwareDataConverter``): a lookup in the instance's pending commands that imports
    nothing and touches no restricted module. Under load the two were a fifth of the worker's CPU (py-spy, issue 17).

    Here the source strings are compiled once per process, and the context lookups call the
    instance directly. The workflow's own code still runs only inside the sandbox, under its
    restrictions (tests/workflows/test_sandbox.py); the contexts are the SDK's own, compared in
    tests/workflows/test_quick_sandbox.py. It leans on the SDK's private ``_Instance``, so the
    SDK is pinned to the minor version this was checked against (pyproject.toml).
    """

    _compiled: ClassVar[dict[str, CodeType]] = {}

    def _run_code(self, code: str | CodeType, **extra_globals: Any) -> None:
        if isinstance(code, str):
            compiled = self._compiled.get(code)
            if compiled is None:
                compiled = self._compiled[code] = compile(code, "<string>", "exec")
            code = compiled
        super()._run_code(code, **extra_globals)  # type: ignore[arg-type] # exec takes code objects too

    def _in_sandbox(self) -> Any:
        """The workflow's instance inside the sandbox (None until it is created)."""
        return self.globals_and_locals.get("__temporal_in_sandbox")

    def get_serialization_context(self, command_info: CommandInfo | None) -> SerializationContext | None:
        in_sandbox = self._in_sandbox()
        if in_sandbox is None:  # (not created yet: as the SDK does)
            return super().get_serialization_context(command_info)
        context: SerializationContext | None = in_sandbox.get_serialization_context(command_info)
        return context

    def get_external_store_context(self, command_info: CommandInfo | None) -> StorageDriverStoreContext:
        in_sandbox = self._in_sandbox()
        if in_sandbox is None:
            return super().get_external_store_context(command_info)
        context: StorageDriverStoreContext = in_sandbox.get_external_store_context(command_info)
        return context


class QuickSandboxedWorkflowRunner(SandboxedWorkflowRunner):
    """:class:`SandboxedWorkflowRunner` creating :class:`QuickSandboxInstance` (same restrictions)."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return QuickSandboxInstance(det, self.runner_class, self.restrictions)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox every worker and replayer here runs ProposalWorkflow in."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    return QuickSandboxedWorkflowRunner(restrictions=restrictions)


def compile_workflow_code(*workflows: type) -> bool:
    """Write the bytecode of the packages the workflows are defined in, where it is missing or stale.

    The sandbox imports the workflow modules afresh for every workflow run. Where no bytecode
    is cached next to them (an editable install, as in ``make run`` and the benchmark, with
    PYTHONDONTWRITEBYTECODE=1 as on the machines here and in the image), each run compiled the
    source again: about a tenth of the worker's CPU under load. An installed package (the
    image: pip compiles at install) already has it, and where the files are read-only nothing
    is written; either way this is a few stat calls.

    Returns:
        True when every module has bytecode that matches its source.
    """
    done = True
    for cls in workflows:
        source = getattr(sys.modules[cls.__module__], "__file__", None)
        if source:
            done = bool(compileall.compile_dir(Path(source).parent, maxlevels=0, quiet=2)) and done
    return done


def build_worker(client: Client, pool: asyncpg.Pool, task_queue: str, **kwargs: Any) -> Worker:
    if not compile_workflow_code(ProposalWorkflow):
        log.info("the workflow modules' bytecode could not be written: the sandbox compiles them per run")
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ProposalWorkflow, AccessLogWitness],
        activities=activities_for(pool),
        # A database outage: retried quietly, logged once when it starts and once when it ends.
        interceptors=[DatabaseOutageInterceptor(), *kwargs.pop("interceptors", [])],
        # On SIGTERM running activities get this long to finish before they are cancelled
        # (they are idempotent either way, so a cancelled one is simply retried elsewhere).
        graceful_shutdown_timeout=timedelta(seconds=20),
        workflow_runner=workflow_runner(),
        **kwargs,
    )


async def run(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT, then drain and close everything."""
    if not settings.database_url:
        raise SystemExit("ILEA_DATABASE_URL is not set (use `ilea dev` for the embedded stack)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    pool = await create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        db_timeout=settings.db_timeout_seconds,
    )
    try:
        await audit.check_app_login(pool, strict=settings.env == "production")
        client = await connect(settings, runtime=worker_runtime(settings))
        identity = worker_identity(settings) or client.identity
        worker = build_worker(
            client,
            pool,
            settings.task_queue,
            max_cached_workflows=settings.worker_max_cached_workflows,
            identity=identity,
        )
        log.info("worker %s polling %s on %s", identity, settings.task_queue, settings.temporal_address)
        # Email delivery of stored notifications (idle unless ILEA_SMTP_HOST is set).
        outbox = asyncio.create_task(EmailOutbox(pool, settings).run(stop))
        # Not ilea.loop.tune_gc(): with its raised thresholds it saved the worker 4-5 % of its CPU
        # but held 94-122 MiB more at peak over 1,200 lifecycles (the workflow cache's evicted
        # runs wait longer for a full collection). Freezing what start-up allocated, thresholds
        # kept, costs no memory and saved 1.4-3 % (A/B: worker CPU x0.969 and x0.986, peak RSS
        # x1.002 and x1.006).
        freeze_start_up()
        async with worker:
            await stop.wait()
            log.info("worker stopping")
        await outbox
    finally:
        await pool.close()


def main() -> None:
    settings = Settings()
    setup_logging(settings)
    run_loop(run(settings))


if __name__ == "__main__":
    main()
