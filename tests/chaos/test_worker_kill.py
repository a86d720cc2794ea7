"""Fault 1: the worker is SIGKILLed three times at random moments while proposals move
through the happy path; each time a new worker is started."""

from __future__ import annotations

import asyncio
import os
import random
import time

import pytest

from tests.chaos.stack import ANSWER_WITHIN_S, ChaosStack, Load, chaos_n, check_end_state, timed

pytestmark = pytest.mark.chaos


@pytest.mark.timeout(600)
async def test_worker_killed_three_times(chaos_stack: ChaosStack) -> None:
    seed = int(os.environ.get("ILEA_CHAOS_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    load = Load(chaos_stack.base, chaos_n(200) * 3 // 5)  # 120: `make chaos` within 10 minutes
    started = time.monotonic()
    task = asyncio.create_task(load.run())
    # Three kills spread over the load: each at a random point of its third of the requests.
    kills = [round(rng.uniform(0.05 + k / 3, (k + 1) / 3 - 0.1), 3) for k in range(3)]
    restarts = []
    for at in kills:
        await load.wait_progress(at)
        assert not task.done(), "the load finished before the kills"
        chaos_stack.kill_worker()
        await asyncio.sleep(rng.uniform(0.5, 3))
        restarts.append(round(await timed(chaos_stack.start_worker), 1))
    await task
    took = time.monotonic() - started
    statuses = load.assert_answered(within=ANSWER_WITHIN_S)
    counts = await check_end_state(chaos_stack, load)
    assert chaos_stack.worker_starts == 4
    print(
        f"\nseed {seed}: {load.n} lifecycles in {took:.0f} s with 3 worker kills at {kills}"
        f" (restarts took {restarts} s); answers {dict(statuses)}; client retries {dict(load.retries)}; {counts}"
    )
