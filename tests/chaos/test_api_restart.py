"""Fault 3: the API process dies in the middle of the load (once SIGKILL, once a graceful
SIGTERM) and is started again on the same port. Clients retry with the same
Idempotency-Key; each action has exactly one effect."""

from __future__ import annotations

import asyncio
import functools
import os
import random
import signal
import time

import pytest

from tests.chaos.stack import ChaosStack, Load, chaos_n, check_end_state, timed

pytestmark = pytest.mark.chaos


@pytest.mark.timeout(600)
async def test_api_restarted_mid_load(chaos_stack: ChaosStack) -> None:
    seed = int(os.environ.get("ILEA_CHAOS_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    load = Load(chaos_stack.base, max(10, chaos_n(200) * 3 // 10))  # 60: `make chaos` within 10 minutes
    started = time.monotonic()
    task = asyncio.create_task(load.run())
    restarts = []
    for k, sig in enumerate((signal.SIGKILL, signal.SIGTERM)):
        await load.wait_progress(rng.uniform(0.1 + k * 0.4, 0.4 + k * 0.4))
        assert not task.done(), "the load finished before the restarts"
        retries_before = sum(load.retries.values())
        down = await timed(functools.partial(chaos_stack.stop_api, sig))
        up = await timed(chaos_stack.start_api)
        restarts.append((signal.Signals(sig).name, round(down, 1), round(up, 1), retries_before))
    await task
    took = time.monotonic() - started
    # While it is down the clients get no answer at all (connection refused); every answer
    # there is is never a 500.
    statuses = load.assert_no_500()
    counts = await check_end_state(chaos_stack, load)
    assert chaos_stack.api_starts == 3
    assert sum(load.retries.values()) > 0, "no request was caught by a restart"
    print(
        f"\nseed {seed}: {load.n} lifecycles in {took:.0f} s; API restarts (signal, stop s, start s): {restarts};"
        f" answers {dict(statuses)}; client retries {dict(load.retries)}; {counts}"
    )
