"""Fault 2: PostgreSQL is stopped for 30 seconds in the middle of the load, then started
again. While it is down the API answers 503 at once (no hanging requests); the workflows'
activities retry; afterwards nothing is missing or duplicated."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.chaos.stack import ChaosStack, Load, chaos_n, check_end_state, proposal_body, timed

pytestmark = pytest.mark.chaos

OUTAGE_S = 30.0
#: "answers at once": every request made while PostgreSQL is down returns within this
ANSWER_WITHIN_S = 5.0


async def probe(c: httpx.AsyncClient, load: Load, pid: str) -> list[tuple[str, int | str, float]]:
    """One round of requests that each need PostgreSQL: (what, status, seconds)."""
    t = load.tokens
    # A POST with a key goes through the idempotency table first; its body is invalid
    # (too soon), so it could not create anything even if the database answered.
    body = {
        **proposal_body(0, datetime.now(UTC).date()),
        "start_date": (datetime.now(UTC).date() + timedelta(days=3)).isoformat(),
    }
    calls = [
        ("GET /readyz", lambda: c.get("/readyz")),
        ("GET proposal", lambda: c.get(f"/v1/proposals/{pid}", headers=t.po)),
        ("GET proposals", lambda: c.get("/v1/proposals", headers=t.po)),
        ("GET events", lambda: c.get(f"/v1/proposals/{pid}/events", headers=t.po)),
        (
            "POST proposal",
            lambda: c.post("/v1/proposals", json=body, headers={**t.po, "Idempotency-Key": f"probe-{time.time_ns()}"}),
        ),
        (
            "POST vote",
            lambda: c.post(f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=t.isg[next(iter(t.isg))]),
        ),
    ]
    out: list[tuple[str, int | str, float]] = []
    for what, call in calls:
        started = time.monotonic()
        try:
            status: int | str = (await call()).status_code
        except httpx.HTTPError as err:
            status = type(err).__name__
        out.append((what, status, time.monotonic() - started))
    return out


@pytest.mark.timeout(600)
async def test_postgres_stopped_for_30_seconds(chaos_stack: ChaosStack) -> None:
    load = Load(chaos_stack.base, max(10, chaos_n(200) // 2))
    started = time.monotonic()
    task = asyncio.create_task(load.run())
    await load.wait_progress(0.35)
    assert not task.done(), "the load finished before the outage"
    pid = next(iter(load.ids.values()))
    stop_took = await timed(chaos_stack.stop_postgres)
    down_at = time.monotonic()
    answers: list[tuple[str, int | str, float]] = []
    async with httpx.AsyncClient(base_url=chaos_stack.base, timeout=30) as c:
        while time.monotonic() - down_at < OUTAGE_S:
            answers += await probe(c, load, pid)
            await asyncio.sleep(1)
    start_took = await timed(chaos_stack.start_postgres)
    up_at = time.monotonic()
    async with httpx.AsyncClient(base_url=chaos_stack.base, timeout=5) as c:
        while (await c.get("/readyz")).status_code != 200:
            assert time.monotonic() - up_at < 20, "the API did not find PostgreSQL again"
            await asyncio.sleep(0.2)
    ready_again = time.monotonic() - up_at
    await task
    took = time.monotonic() - started
    statuses = Counter((what, status) for what, status, _ in answers)
    slow = [a for a in answers if a[2] > ANSWER_WITHIN_S]
    print(f"\nwhile PostgreSQL was down: {dict(statuses)}; slowest {max(a[2] for a in answers):.2f} s")
    assert not slow, f"requests that hung while PostgreSQL was down: {slow}"
    assert all(status == 503 for _, status, _ in answers), f"not 503 while PostgreSQL was down: {dict(statuses)}"
    counts = await check_end_state(chaos_stack, load)
    print(
        f"{load.n} lifecycles in {took:.0f} s; PostgreSQL down {up_at - down_at:.0f} s"
        f" (stop {stop_took:.1f} s, start {start_took:.1f} s, API ready {ready_again:.1f} s later);"
        f" load finished {time.monotonic() - up_at:.0f} s"
        f" after the restart; client retries {dict(load.retries)}; {counts}"
    )
