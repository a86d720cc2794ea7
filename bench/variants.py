"""The baseline of the ``visibility`` A/B experiment: the workflow as it was before IleaPendingOn left visibility
(every change upserted, ``IleaPendingOn`` included), on its own worker and API.

It is today's ProposalWorkflow with its search attributes kept the old way: exactly the
commands a proposal started before the change still sends on its ``workflow.patched``
branch. It runs under the same workflow type on its own task queue, served by a worker
process (``python -m bench.variants``, the real worker's code with this class) and an API
process; today's workflow gets the same pair of fresh processes on another queue. Both
share the stack's Temporal server and database.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

if TYPE_CHECKING:  # the sandbox re-imports this module for each workflow run: keep it light
    import subprocess

    import asyncpg
    from temporalio.client import Client
    from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from ilea import search_attributes as sa
    from ilea.messages import ProposalInput, ProposalOutcome, ProposalView
    from workflows import views
    from workflows.proposal import ProposalWorkflow


@workflow.defn(name="ProposalWorkflow")
class EveryChangeUpserted(ProposalWorkflow):
    """Before: all five attributes whenever any changed (every vote changes who the
    proposal waits on), with no patch marker."""

    @workflow.init
    def __init__(self, inp: ProposalInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: ProposalInput) -> ProposalOutcome:
        return await super().run(inp)

    def _keep_search_attributes(self, v: ProposalView) -> None:
        wanted = views.legacy_search_attributes(v)
        if wanted != self._state.last_sa:
            self._state.last_sa = wanted
            workflow.upsert_search_attributes(views.legacy_search_attribute_updates(v))


async def register_legacy_attribute(client: Client) -> None:
    """The dev server registers today's attributes only; the baseline upserts IleaPendingOn."""
    key = sa.LEGACY_PENDING_ON
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type)},
        )
    )


def start(
    database_url: str, temporal: str, task_queue: str, state: Path, *, before: bool
) -> tuple[list[subprocess.Popen[bytes]], str]:
    """A worker and an API on their own task queue: the workflow before the change (``before``)
    or today's, each in fresh processes so that neither side starts with a fuller workflow
    cache or an older heap than the other. Returns them and the API's base URL."""
    from bench import stack

    env = {"ILEA_DATABASE_URL": database_url, "TEMPORAL_ADDRESS": temporal, "ILEA_TASK_QUEUE": task_queue}
    name = "before" if before else "today"
    module, args = ("bench.variants", []) if before else ("cli", ["worker"])
    worker = stack.start_process(module, args, env, state / f"variant-{name}-worker.log")
    try:
        api, base = stack.start_api(env, state / f"variant-{name}-api.log")
    except BaseException:
        stack.stop_process(worker)
        raise
    return [worker, api], base


def main() -> None:
    """The real worker (``worker.py``: settings, pool, client, outbox, uvloop) with this class."""
    from temporalio.worker import Worker

    import worker

    def build(client: Client, pool: asyncpg.Pool, task_queue: str, **kwargs: Any) -> Worker:
        return Worker(
            client,
            task_queue=task_queue,
            workflows=[EveryChangeUpserted],
            activities=worker.activities_for(pool),
            graceful_shutdown_timeout=timedelta(seconds=20),
            workflow_runner=worker.workflow_runner(),
            **kwargs,
        )

    worker.build_worker = build
    worker.main()


if __name__ == "__main__":
    main()
