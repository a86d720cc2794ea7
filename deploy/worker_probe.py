"""Exec probe for the Temporal worker, which serves no HTTP: is this worker polling?

Temporal records, per task queue, the identity of every poller and when it last polled.
A worker with ``ILEA_WORKER_NAME`` set polls as ``<name>@<hostname>`` (worker.py), and
this probe, run with the same environment, looks for exactly that identity: two workers
on one host are told apart. Unnamed, a worker is the SDK's ``<pid>@<hostname>``; a
container's hostname is its own (the pod name in Kubernetes), so there "a poller
``…@<this hostname>`` polled recently" means the worker in this container is alive and
connected. Either way the probe's output names the worker it judged.

    python deploy/worker_probe.py ready   # readiness: exit 0 only if this worker polls
    python deploy/worker_probe.py live    # liveness: exit 1 only if Temporal answers and
                                          # says this worker stopped polling

Liveness passes when Temporal itself does not answer: restarting the worker would not
bring Temporal back, and readiness already reports the outage. An idle worker's long
poll lasts up to about 70 s, so the idle allowances are longer than that; Temporal keeps
poller history for 5 minutes, so beyond that an absent poller reads as "not polling".
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from ilea.settings import Settings
from ilea.temporal import connect, worker_identity

#: The worker polls both: it hosts the proposal workflow and its activities.
QUEUE_TYPES = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}
DEFAULT_MAX_IDLE = {"ready": timedelta(seconds=150), "live": timedelta(seconds=290)}
RPC_TIMEOUT = timedelta(seconds=5)
#: Connecting and both queries; below the probes' timeoutSeconds (15) in the manifests.
PROBE_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Poller:
    identity: str
    last_access: datetime


def is_this_worker(identity: str, worker: str) -> bool:
    """``worker`` is an identity (``name@host``) or, for an unnamed worker, ``@host``."""
    return identity.endswith(worker) if worker.startswith("@") else identity == worker


def polled_recently(pollers: Iterable[Poller], worker: str, now: datetime, max_idle: timedelta) -> bool:
    """Whether ``worker`` (see :func:`is_this_worker`) polled within ``max_idle`` of ``now``."""
    return any(is_this_worker(p.identity, worker) and now - p.last_access <= max_idle for p in pollers)


def verdict(
    mode: str,
    pollers: Mapping[str, list[Poller]] | None,
    worker: str,
    now: datetime,
    max_idle: timedelta,
) -> tuple[bool, str]:
    """``(healthy, reason)`` for ``mode`` ("ready" or "live") of ``worker`` (see
    :func:`is_this_worker`); ``pollers`` is None when Temporal did not answer."""
    if pollers is None:
        if mode == "live":
            return True, f"Temporal did not answer; not the fault of {worker}"
        return False, f"Temporal did not answer (worker {worker})"
    idle = [kind for kind, found in pollers.items() if not polled_recently(found, worker, now, max_idle)]
    if idle:
        return False, f"no {' or '.join(idle)} poll from {worker} in the last {max_idle.total_seconds():.0f}s"
    return True, f"{worker} is polling"


async def fetch_pollers(settings: Settings) -> dict[str, list[Poller]]:
    """The pollers Temporal lists on the worker's task queue, per queue type."""
    client = await connect(settings)
    found: dict[str, list[Poller]] = {}
    for kind, queue_type in QUEUE_TYPES.items():
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=settings.temporal_namespace,
                task_queue=TaskQueue(name=settings.task_queue),
                task_queue_type=queue_type,
            ),
            timeout=RPC_TIMEOUT,
        )
        found[kind] = [Poller(p.identity, p.last_access_time.ToDatetime(tzinfo=UTC)) for p in response.pollers]
    return found


def this_worker(settings: Settings, hostname: str) -> str:
    """The identity the worker with these settings polls as, or ``@<hostname>`` if unnamed."""
    return worker_identity(settings) or f"@{hostname}"


async def probe(mode: str, settings: Settings, worker: str, max_idle: timedelta) -> tuple[bool, str]:
    """Ask Temporal, then judge ``worker``."""
    pollers: dict[str, list[Poller]] | None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            pollers = await fetch_pollers(settings)
    except Exception:  # unreachable, refused, timed out: all mean "Temporal did not answer"
        pollers = None
    return verdict(mode, pollers, worker, datetime.now(UTC), max_idle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mode", choices=sorted(DEFAULT_MAX_IDLE))
    parser.add_argument("--max-idle", type=float, help="seconds since this worker's last poll")
    args = parser.parse_args(argv)
    max_idle = timedelta(seconds=args.max_idle) if args.max_idle else DEFAULT_MAX_IDLE[args.mode]
    settings = Settings()
    healthy, reason = asyncio.run(probe(args.mode, settings, this_worker(settings, socket.gethostname()), max_idle))
    sys.stderr.write(f"worker {args.mode}: {reason}\n")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
