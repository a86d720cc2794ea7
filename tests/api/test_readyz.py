"""/readyz: ready only when PostgreSQL answers within 2 s and a worker has polled the task queue
recently (Temporal's description of the queue lists its pollers); /healthz is liveness only."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.taskqueue.v1 import PollerInfo

from api.routes.health import last_poll_age
from ilea.settings import Settings
from tests.api.conftest import StartWorker

#: Short, so that a stopped worker shows within seconds (the tests' dev server holds an idle
#: poll for a minute, so an idle worker is "ready" only just after it started polling).
MAX_AGE_S = 3.0


@pytest.fixture
def settings(task_queue: str) -> Settings:
    return Settings(env="test", task_queue=task_queue, worker_poll_max_age_seconds=MAX_AGE_S)


async def until(api: httpx.AsyncClient, status: int, within: float = 30) -> dict[str, Any]:
    """/readyz's body once it answers ``status`` (fails after ``within`` seconds)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        r = await api.get("/readyz")
        if r.status_code == status:
            body: dict[str, Any] = r.json()
            return body
        assert loop.time() < end, f"/readyz still {r.status_code} {r.text}"
        await asyncio.sleep(0.1)


async def test_not_ready_without_a_worker_ready_with_one_and_not_once_it_stops(
    api_no_worker: httpx.AsyncClient, start_worker: StartWorker
) -> None:
    r = await api_no_worker.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"ready": False, "postgres": "ok", "worker": r.json()["worker"]}
    assert "never" in r.json()["worker"]
    assert (await api_no_worker.get("/healthz")).status_code == 200

    async with start_worker():
        assert await until(api_no_worker, 200) == {"ready": True, "postgres": "ok", "worker": "ok"}

    # Stopped: its last poll gets older, and past the limit the API is not ready.
    gone = await until(api_no_worker, 503, within=MAX_AGE_S + 30)
    assert gone["postgres"] == "ok"
    assert gone["worker"].startswith("unavailable: no worker polled") and "ago" in gone["worker"]
    assert (await api_no_worker.get("/healthz")).status_code == 200


def poller(at: float) -> PollerInfo:
    ts = Timestamp()
    ts.FromNanoseconds(int(at * 1e9))
    return PollerInfo(last_access_time=ts, identity="w")


def test_last_poll_age_is_that_of_the_most_recent_poller() -> None:
    assert last_poll_age([], now=1000.0) is None
    assert last_poll_age([poller(990.0), poller(997.5), poller(900.0)], now=1000.0) == pytest.approx(2.5)
