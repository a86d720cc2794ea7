"""Liveness and readiness."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterable
from datetime import timedelta
from typing import Any

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from ilea.settings import Settings

router = APIRouter(tags=["health"])

#: Each readiness check answers within this (product.md: PostgreSQL within 2 seconds).
CHECK_WITHIN_S = 2.0

#: A worker serves both: workflow tasks, and the activities that are not local.
POLLED = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}

# Checks cut off at their bound are left to end (or time out) on their own; kept here so the
# event loop does not drop them half-way.
_abandoned: set[asyncio.Task[str]] = set()


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def bounded(check: Coroutine[Any, Any, str], seconds: float = CHECK_WITHIN_S) -> str:
    """``check``'s answer, or why it has none within ``seconds`` (never longer: a hung server's
    connection clean-up is not waited for)."""
    task = asyncio.ensure_future(check)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        _abandoned.add(task)
        task.add_done_callback(_forget)
        return f"unavailable: no answer in {seconds:.0f} s"
    err = task.exception()
    return task.result() if err is None else f"unavailable: {type(err).__name__}"


def _forget(task: asyncio.Task[str]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" at exit


async def _postgres(pool: asyncpg.Pool) -> str:
    await pool.fetchval("SELECT 1")
    return "ok"


def last_poll_age(pollers: Iterable[PollerInfo], now: float) -> float | None:
    """Seconds since the most recent poll among ``pollers`` (None when there is none)."""
    times = [p.last_access_time.ToSeconds() + p.last_access_time.nanos / 1e9 for p in pollers]
    return now - max(times) if times else None


async def _worker(client: Client, settings: Settings) -> str:
    """Whether a worker has polled each kind of task recently, from Temporal's description of
    the task queue. A stopped or hung worker stops polling; a busy one keeps polling."""
    replies = await asyncio.gather(
        *(
            client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace, task_queue=TaskQueue(name=settings.task_queue), task_queue_type=kind
                ),
                timeout=timedelta(seconds=CHECK_WITHIN_S),
            )
            for kind in POLLED.values()
        )
    )
    now = time.time()
    limit = settings.worker_poll_max_age_seconds
    for what, reply in zip(POLLED, replies, strict=True):
        age = last_poll_age(reply.pollers, now)
        if age is None or age > limit:
            last = "never" if age is None else f"last {age:.0f} s ago"
            return f"unavailable: no worker polled for {what} tasks in {limit:.0f} s ({last})"
    return "ok"


@router.get("/readyz", summary="PostgreSQL answers and a worker polls the task queue")
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    postgres, worker = await asyncio.gather(
        bounded(_postgres(state.pool)), bounded(_worker(state.temporal, state.settings))
    )
    checks = {"postgres": postgres, "worker": worker}
    ready = all(v == "ok" for v in checks.values())
    if ready:
        return JSONResponse({"ready": True, **checks})
    return JSONResponse({"ready": False, **checks}, status_code=503, headers={"Retry-After": "5"})
