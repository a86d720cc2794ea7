"""The floor: a bare workflow taking as many Updates per lifecycle as a proposal does
(1 update-with-start + 11), from the SDK client, with no HTTP, no activities and no database.

The worker runs in its own process (``python -m bench.floor_worker --address A --task-queue Q``),
as the system's worker does, so the load generator does not share its CPU time.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from bench.stats import Latencies
from worker import compile_workflow_code, workflow_runner

#: Updates after the update-with-start: 4 ISG votes, 3 Board positions, 1 decision, 3 accepts.
STEPS = ["isg_vote"] * 4 + ["board_position"] * 3 + ["board_decision"] + ["accept"] * 3


class FloorInput(BaseModel):
    floor_id: str
    title: str


class FloorStep(BaseModel):
    name: str
    actor: str = "bench"


class FloorState(BaseModel):
    floor_id: str
    steps: list[str]
    version: int


@workflow.defn
class FloorWorkflow:
    @workflow.init
    def __init__(self, inp: FloorInput) -> None:
        self._id = inp.floor_id
        self._steps: list[str] = []

    @workflow.run
    async def run(self, inp: FloorInput) -> FloorState:
        await workflow.wait_condition(lambda: len(self._steps) >= len(STEPS))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state()

    def _state(self) -> FloorState:
        return FloorState(floor_id=self._id, steps=list(self._steps), version=len(self._steps))

    @workflow.update
    async def current(self, _: FloorStep) -> FloorState:
        return self._state()

    @workflow.update
    async def step(self, inp: FloorStep) -> FloorState:
        self._steps.append(inp.name)
        return self._state()

    @step.validator
    def _validate_step(self, inp: FloorStep) -> None:
        if len(self._steps) >= len(STEPS):
            raise ApplicationError("the floor lifecycle is over", type="WrongStage", non_retryable=True)


def build_worker(client: Client, task_queue: str, **kwargs: Any) -> Worker:
    """The floor's worker; ``kwargs`` go to :class:`Worker` (poller and cache experiments)."""
    compile_workflow_code(FloorWorkflow)  # as the system's worker does
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[FloorWorkflow],
        **kwargs,
        # The system's worker's sandbox configuration, so the floor is not slowed by a
        # setting the system does not pay.
        workflow_runner=workflow_runner(),
    )


async def serve(address: str, task_queue: str, **kwargs: Any) -> None:
    """Run the floor worker until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    async with build_worker(client, task_queue, **kwargs):
        await stop.wait()


@dataclass
class FloorResult:
    n: int
    concurrency: int
    seconds: float = 0.0
    completed: int = 0
    failed: int = 0
    latencies: Latencies = field(default_factory=Latencies)
    failures: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def merge(self, other: FloorResult) -> None:
        """Add another run's lifecycles to these (a run taken in parts, taking turns)."""
        self.n += other.n
        self.seconds += other.seconds
        self.completed += other.completed
        self.failed += other.failed
        self.latencies.merge(other.latencies)
        self.failures += other.failures
        self.ids += other.ids

    def as_dict(self) -> dict[str, Any]:
        per = 1 + len(STEPS)
        return {
            "n": self.n,
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 3),
            "completed": self.completed,
            "failed": self.failed,
            "updates_per_lifecycle": per,
            "lifecycles_per_s": round(self.completed / self.seconds, 3) if self.seconds else 0.0,
            "actions_per_s": round(self.completed * per / self.seconds, 3) if self.seconds else 0.0,
            "latency": self.latencies.summary(),
            "first_failures": self.failures[:5],
        }


async def run_floor(client: Client, task_queue: str, n: int, concurrency: int) -> FloorResult:
    """N floor lifecycles by ``concurrency`` concurrent callers on one SDK client."""
    result = FloorResult(n=n, concurrency=concurrency)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    run_id = uuid.uuid4().hex[:8]

    async def one(i: int) -> None:
        fid = f"floor-{run_id}-{i}"
        start = WithStartWorkflowOperation(
            FloorWorkflow.run,
            FloorInput(floor_id=fid, title=f"Floor {i}"),
            id=fid,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        t = time.perf_counter()
        await client.execute_update_with_start_workflow(
            FloorWorkflow.current, FloorStep(name="submit"), start_workflow_operation=start
        )
        result.latencies.add("update-with-start", time.perf_counter() - t)
        handle = client.get_workflow_handle(fid)
        for name in STEPS:
            t = time.perf_counter()
            await handle.execute_update(FloorWorkflow.step, FloorStep(name=name))
            result.latencies.add(f"update {name}", time.perf_counter() - t)

    async def caller() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                await one(i)
                result.completed += 1
                result.ids.append(f"floor-{run_id}-{i}")
            except Exception as err:  # any failure counts; the run goes on
                result.failed += 1
                result.failures.append(f"{type(err).__name__}: {err}")

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(min(concurrency, n))))
    result.seconds = time.perf_counter() - started
    return result


async def history_stats(client: Client, workflow_id: str) -> dict[str, Any]:
    """Events and bytes of one workflow's history (what the Temporal server stores and replays)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    kinds: dict[str, int] = {}
    for event in history.events:
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        kinds[name] = kinds.get(name, 0) + 1
    return {
        "workflow_id": workflow_id,
        "events": len(history.events),
        "bytes": sum(e.ByteSize() for e in history.events),
        "by_type": dict(sorted(kinds.items())),
    }
