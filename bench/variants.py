"""The baselines of the A/B experiments (``--ab``): workers as they were before a change.

Each experiment is two sides (:data:`EXPERIMENTS`), A the baseline and B today's worker,
each a fresh worker process and API process on its own task queue, sharing the stack's
Temporal server and database. A baseline's worker is ``python -m bench.variants <name>``:
the real worker's code (``worker.py``: settings, pool, client, outbox, uvloop) with one thing
put back as it was (:data:`BASELINES`; the workflow classes are in :mod:`bench.baselines`):

- ``every-change-upserted`` (experiment ``visibility``): today's ProposalWorkflow with its
  search attributes kept the old way, every change upserted with ``IleaPendingOn``: exactly
  the commands a proposal started before the change still sends on its ``workflow.patched``
  branch;
- ``rehearsed-twice`` (``rehearsal``): every handler rehearses its action again instead of
  taking its validator's rehearsal;
- ``deep-copied`` (``copy``): actions are tried on ``copy.deepcopy`` of the state instead of
  its ``draft()``;
- ``recompiled`` (``bytecode``): the workflow modules' bytecode is not written at start, so
  the sandbox compiles their source for every workflow run;
- ``stock-sandbox`` (``sandbox``): the SDK's own sandboxed instance instead of
  ``worker.QuickSandboxInstance`` (source compiled per call, contexts asked inside the sandbox);
- ``reimported`` (``passthrough``): the workflow's pure modules (state, checks, actions,
  deadlines, notices, transitions, views, timer) re-imported in the sandbox for every workflow
  run, as before they were passed through;
- ``five-patches`` (``patches``): each change asks its own ``workflow.patched`` id, as
  proposals recorded before ``PATCH_EDITION_2`` do;
- ``ten-round-trips`` (``projection``): the projection writes a statement per part, about ten
  round trips per action (:mod:`bench.projection_baseline`), instead of four.

A side named ``ref:<commit>`` (experiment ``ref:<commit>``, e.g. ``ref:HEAD~1``) is the worker
and the API of another commit: its tree, exported with ``git archive`` into the run's state
directory, is where both processes run from, so its modules come before today's on the path
(they share the virtual environment, the database as today's migrations left it, and the
Temporal server). It measures any change of the worker or the API against the commit before it
with no baseline written by hand; the earlier commit must work on today's schema.

A side named ``api:<baseline>`` is today's worker with an API that has one change put back
(:mod:`bench.api_baseline`): ``api:looked-up-first`` (experiment ``lookup``).

Every side runs with its own empty ``PYTHONPYCACHEPREFIX``, so no side finds bytecode that
another run left behind.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

from ilea import search_attributes as sa

if TYPE_CHECKING:
    import subprocess

    import asyncpg
    from temporalio.client import Client
    from temporalio.worker import Worker


async def register_legacy_attribute(client: Client) -> None:
    """The dev server registers today's attributes only; the baseline upserts IleaPendingOn."""
    key = sa.LEGACY_PENDING_ON
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type)},
        )
    )


TODAY = "today"
#: the baselines' workers (see the module's docstring)
BASELINES = (
    "every-change-upserted",
    "rehearsed-twice",
    "deep-copied",
    "recompiled",
    "stock-sandbox",
    "reimported",
    "five-patches",
    "ten-round-trips",
)
#: experiment → (A, B) as (label, worker)
EXPERIMENTS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "visibility": (("every change upserted", "every-change-upserted"), ("only changes, no IleaPendingOn", TODAY)),
    "rehearsal": (("rehearsed twice", "rehearsed-twice"), ("validator's rehearsal taken", TODAY)),
    "bytecode": (("recompiled per run", "recompiled"), ("compiled at start", TODAY)),
    "copy": (("deep copies", "deep-copied"), ("drafts", TODAY)),
    "sandbox": (("the SDK's sandbox instance", "stock-sandbox"), ("quick sandbox instance", TODAY)),
    "passthrough": (("pure modules re-imported per run", "reimported"), ("pure modules passed through", TODAY)),
    "patches": (("a patch id per change", "five-patches"), ("one patch id for the five", TODAY)),
    "lookup": (("proposal looked up first", "api:looked-up-first"), ("looked up on NOT_FOUND only", TODAY)),
    "projection": (("a statement per part", "ten-round-trips"), ("four round trips", TODAY)),
    "gc": (("CPython's collector in the API", "api:gc-default"), ("frozen at start, fewer collections", TODAY)),
    "aa": (("today's, first pair", TODAY), ("today's, second pair", TODAY)),
}


#: an experiment's name that measures today's against another commit: ``ref:<commit>``
REF = "ref:"


def sides(experiment: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """An experiment's (A, B) as (label, side): :data:`EXPERIMENTS`, or ``ref:<commit>``."""
    if experiment.startswith(REF):
        return (f"at {experiment.removeprefix(REF)}", experiment), ("today's", TODAY)
    return EXPERIMENTS[experiment]


def commit_of(ref: str) -> str | None:
    """The commit ``ref`` names in this repository (None if it names none)."""
    import subprocess

    from bench.stack import ROOT

    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=ROOT, capture_output=True, text=True
    )
    return found.stdout.strip() if found.returncode == 0 else None


def export_tree(ref: str, into: Path) -> Path:
    """The project's files at commit ``ref``, exported under ``into`` (git archive)."""
    import subprocess
    import tarfile

    from bench.stack import ROOT

    commit = commit_of(ref)
    if commit is None:
        raise ValueError(f"{ref!r} names no commit of this repository")
    tree = into / f"tree-{commit[:12]}"
    if not tree.exists():
        archive = into / f"tree-{commit[:12]}.tar"
        subprocess.run(["git", "archive", "--output", str(archive), commit], cwd=ROOT, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
        archive.unlink()
    return tree


def start(
    database_url: str, temporal: str, task_queue: str, state: Path, *, side: str, label: str
) -> tuple[list[subprocess.Popen[bytes]], str]:
    """A worker (``side``: a baseline of :data:`BASELINES` or today's) and an API on their own task
    queue, in fresh processes so that neither side starts with a fuller workflow cache or an older
    heap than the other. Returns them and the API's base URL."""
    import re
    import tempfile

    from bench import stack

    name = re.sub(r"[^A-Za-z0-9_.~-]+", "-", label).strip("-")
    env = {
        "ILEA_DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal,
        "ILEA_TASK_QUEUE": task_queue,
        "PYTHONPYCACHEPREFIX": tempfile.mkdtemp(prefix="pycache-", dir=state),
        "PYTHONDONTWRITEBYTECODE": "1",  # as on the machines here and in the image
    }
    api_side = side.startswith("api:")
    root = export_tree(side.removeprefix(REF), state) if side.startswith(REF) else None
    plain = side == TODAY or api_side or root is not None
    module, args = ("cli", ["worker"]) if plain else ("bench.variants", [side])
    worker = stack.start_process(module, args, env, state / f"variant-{name}-worker.log", root)
    try:
        api_command = ("bench.variants", [side]) if api_side else ("cli", ["api"])
        api, base = stack.start_api(env, state / f"variant-{name}-api.log", command=api_command, root=root)
    except BaseException:
        stack.stop_process(worker)
        raise
    return [worker, api], base


def main() -> None:
    """The real worker with one baseline put back (``python -m bench.variants <baseline>``)."""
    import sys

    from temporalio.worker import Worker

    import worker
    from bench import baselines

    baseline = sys.argv[1]
    if baseline.startswith("api:"):
        from bench import api_baseline
        from cli.main import api

        api_baseline.apply(baseline.removeprefix("api:"))
        api()
        return
    if baseline not in BASELINES:
        raise SystemExit(f"unknown baseline {baseline!r}: one of {', '.join(BASELINES)}")
    if baseline == "recompiled":
        worker.compile_workflow_code = lambda *_: True
        worker.main()
        return
    if baseline == "reimported":
        pure = {"actions", "checks", "deadlines", "notices", "state", "timer", "transitions", "views"}
        worker.PASSTHROUGH = tuple(m for m in worker.PASSTHROUGH if m.removeprefix("workflows.") not in pure)
        worker.main()
        return
    if baseline == "ten-round-trips":
        from bench.projection_baseline import project_statement_by_statement
        from ilea.db import proposals

        proposals.project = project_statement_by_statement  # what the projection activity calls
        worker.main()
        return
    if baseline == "stock-sandbox":
        from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

        quick = worker.workflow_runner()
        worker.workflow_runner = lambda: SandboxedWorkflowRunner(restrictions=quick.restrictions)
        worker.main()
        return
    cls = baselines.BY_NAME[baseline]

    def build(client: Client, pool: asyncpg.Pool, task_queue: str, **kwargs: Any) -> Worker:
        return Worker(
            client,
            task_queue=task_queue,
            workflows=[cls],
            activities=worker.activities_for(pool),
            graceful_shutdown_timeout=timedelta(seconds=20),
            workflow_runner=worker.workflow_runner(),
            **kwargs,
        )

    worker.compile_workflow_code(baselines.ProposalWorkflow, cls)
    worker.build_worker = build
    worker.main()


if __name__ == "__main__":
    main()
