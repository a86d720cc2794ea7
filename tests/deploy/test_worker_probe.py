"""deploy/worker_probe.py, the worker's readiness and liveness probe: its judgement on
made-up pollers, and the real thing against the Temporal dev server and a running worker.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import sys
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any, cast

import asyncpg
import pytest
from temporalio.service import ConnectConfig
from temporalio.testing import WorkflowEnvironment

from ilea.devstack import free_port
from ilea.settings import Settings
from tests.deploy.manifests import DEPLOY
from worker import build_worker

pytestmark = pytest.mark.deploy


def _load_probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("worker_probe", DEPLOY / "worker_probe.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


probe = _load_probe()
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
IDLE = timedelta(seconds=150)


def pollers(**last_seen: dict[str, int]) -> dict[str, list[Any]]:
    """{"workflow": [...], "activity": [...]} from {kind: {identity: seconds ago}}."""
    return {
        kind: [probe.Poller(identity, NOW - timedelta(seconds=ago)) for identity, ago in seen.items()]
        for kind, seen in last_seen.items()
    }


def test_ready_when_this_host_polls_both_queues() -> None:
    seen = pollers(workflow={"1@worker-a": 30, "1@worker-b": 5}, activity={"1@worker-a": 100})
    assert probe.verdict("ready", seen, "@worker-a", NOW, IDLE) == (True, "@worker-a is polling")


def test_not_ready_when_only_another_host_polls() -> None:
    seen = pollers(workflow={"1@worker-ab": 1}, activity={"1@worker-ab": 1})
    healthy, reason = probe.verdict("ready", seen, "@worker-a", NOW, IDLE)
    assert not healthy and "workflow or activity" in reason


def test_not_alive_when_this_host_stopped_polling() -> None:
    seen = pollers(workflow={"1@worker-a": 400}, activity={"1@worker-a": 5})
    healthy, reason = probe.verdict("live", seen, "@worker-a", NOW, timedelta(seconds=290))
    assert not healthy and reason.startswith("no workflow poll from @worker-a")


def test_two_named_workers_on_one_host_are_told_apart() -> None:
    seen = pollers(workflow={"w1@host": 5, "w2@host": 400}, activity={"w1@host": 5, "w2@host": 400})
    live = timedelta(seconds=290)
    assert probe.verdict("live", seen, "w1@host", NOW, live) == (True, "w1@host is polling")
    healthy, reason = probe.verdict("live", seen, "w2@host", NOW, live)
    assert not healthy and "from w2@host" in reason
    assert probe.verdict("live", seen, "@host", NOW, live)[0]  # unnamed: any worker of the host
    assert not probe.verdict("live", seen, "w1@other-host", NOW, live)[0]


def test_the_probe_looks_for_the_identity_the_worker_polls_as() -> None:
    from ilea.temporal import worker_identity

    named = Settings(worker_name="worker-2")
    assert (
        probe.this_worker(named, socket.gethostname()) == worker_identity(named) == f"worker-2@{socket.gethostname()}"
    )
    assert probe.this_worker(Settings(), "pod-7") == "@pod-7"


def test_a_temporal_outage_is_not_ready_but_alive() -> None:
    assert probe.verdict("ready", None, "@worker-a", NOW, IDLE)[0] is False
    assert probe.verdict("live", None, "@worker-a", NOW, IDLE)[0] is True


def test_the_sdk_still_names_workers_pid_at_hostname() -> None:
    """The probe relies on the Python SDK's default identity."""
    assert ConnectConfig(target_host="127.0.0.1:7233").identity.endswith(f"@{socket.gethostname()}")


def test_idle_allowances_outlast_a_long_poll_and_fit_the_poller_history() -> None:
    # An idle long poll lasts about 70 s; Temporal forgets a poller after 5 minutes.
    assert timedelta(seconds=70) < probe.DEFAULT_MAX_IDLE["ready"] < probe.DEFAULT_MAX_IDLE["live"]
    assert probe.DEFAULT_MAX_IDLE["live"] < timedelta(minutes=5)


async def test_probe_against_a_running_worker(dev_env: WorkflowEnvironment, task_queue: str) -> None:
    client = dev_env.client
    settings = Settings(
        temporal_address=client.service_client.config.target_host,
        temporal_namespace=client.namespace,
        task_queue=task_queue,
    )
    here = socket.gethostname()
    # No activity runs here, so the worker needs no real pool.
    async with build_worker(client, cast(asyncpg.Pool, object()), task_queue, identity=f"worker-1@{here}"):
        for _ in range(50):
            healthy, reason = await probe.probe("ready", settings, f"worker-1@{here}", IDLE)
            if healthy:
                break
            await asyncio.sleep(0.2)
        assert healthy, reason
        assert (await probe.probe("live", settings, f"@{here}", IDLE))[0]
        assert not (await probe.probe("ready", settings, f"worker-2@{here}", IDLE))[0]
        assert not (await probe.probe("ready", settings, "@some-other-pod", IDLE))[0]


async def test_probe_when_temporal_does_not_answer() -> None:
    settings = Settings(temporal_address=f"127.0.0.1:{free_port()}")
    assert await probe.probe("ready", settings, "w@a", IDLE) == (False, "Temporal did not answer (worker w@a)")
    assert (await probe.probe("live", settings, "w@a", IDLE))[0] is True
