"""Fault 4: the worker is SIGSTOPped for 60 s under load. It stays connected and listed as a
poller, but does nothing: every action waits on it. The API answers every request within
its deadline (503, the action may still take effect), /readyz goes not ready, and after
SIGCONT every keyed retry returns its action's result with exactly one effect."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.chaos.stack import ANSWER_WITHIN_S, ChaosStack, Load, ReadyWatch, chaos_n, check_end_state

pytestmark = pytest.mark.chaos

STOPPED_S = 60.0
NOT_READY_WITHIN_S = 30.0


@pytest.mark.timeout(600)
async def test_worker_stopped_for_60_seconds(chaos_stack: ChaosStack) -> None:
    load = Load(chaos_stack.base, max(10, chaos_n(200) // 4))
    watch = ReadyWatch(chaos_stack.base).start()
    started = time.monotonic()
    task = asyncio.create_task(load.run())
    await load.wait_progress(0.3)
    assert not task.done(), "the load finished before the worker stopped"
    chaos_stack.pause_worker()
    stopped_at = time.monotonic()
    try:
        await asyncio.sleep(STOPPED_S)
    finally:
        chaos_stack.resume_worker()
    resumed_at = time.monotonic()
    await task
    took = time.monotonic() - started
    await asyncio.sleep(1)
    await watch.stop()

    statuses = load.assert_answered(within=ANSWER_WITHIN_S)
    during = [c for c in load.calls if stopped_at <= c.at < resumed_at]
    assert any(c.status == 503 for c in during), "no request was answered 503 while the worker was stopped"
    not_ready = watch.first(503, after=stopped_at)
    assert not_ready is not None and not_ready <= NOT_READY_WITHIN_S, f"/readyz not ready after {not_ready} s"
    ready_again = watch.first(200, after=resumed_at)
    assert ready_again is not None, "/readyz did not become ready after SIGCONT"
    counts = await check_end_state(chaos_stack, load)
    slowest = max(c.seconds for c in load.calls)
    print(
        f"\n{load.n} lifecycles in {took:.0f} s, worker stopped {resumed_at - stopped_at:.0f} s;"
        f" answers {dict(statuses)} (slowest {slowest:.1f} s); /readyz not ready {not_ready:.1f} s after SIGSTOP, ready"
        f" {ready_again:.1f} s after SIGCONT; client retries {dict(load.retries)}; {counts}"
    )
