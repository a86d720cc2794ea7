"""Fault 2: PostgreSQL hangs (SIGSTOP on the postmaster and every backend) for 60 s in the
middle of the load, then resumes. A hung server is worse than a stopped one: connections
stay open, connecting succeeds, and nothing ever answers. The API answers every request
within its deadline (503 with Retry-After), the workflows' activities retry, and afterwards
nothing is missing or duplicated: each proposal's read model equals its workflow state and
every audit chain verifies."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.chaos.stack import ANSWER_WITHIN_S, Call, ChaosStack, Load, chaos_n, check_end_state, proposal_body

pytestmark = pytest.mark.chaos

HUNG_S = 60.0


async def probe(c: httpx.AsyncClient, load: Load, pid: str) -> list[Call]:
    """One round of requests that each need PostgreSQL, at once."""
    t = load.tokens
    # A POST with a key goes through the idempotency table first; its body is invalid
    # (too soon), so it could not create anything even if the database answered.
    body = {
        **proposal_body(0, datetime.now(UTC).date()),
        "start_date": (datetime.now(UTC).date() + timedelta(days=3)).isoformat(),
    }
    isg = t.isg[next(iter(t.isg))]
    calls = {
        "GET /readyz": lambda: c.get("/readyz"),
        "GET proposal": lambda: c.get(f"/v1/proposals/{pid}", headers=t.po),
        "GET proposals": lambda: c.get("/v1/proposals", headers=t.po),
        "GET events": lambda: c.get(f"/v1/proposals/{pid}/events", headers=t.po),
        "POST proposal": lambda: c.post(
            "/v1/proposals", json=body, headers={**t.po, "Idempotency-Key": f"probe-{time.time_ns()}"}
        ),
        "POST vote": lambda: c.post(f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=isg),
    }

    async def one(what: str) -> Call:
        sent = time.monotonic()
        try:
            status: int | str = (await calls[what]()).status_code
        except httpx.HTTPError as err:
            status = type(err).__name__
        return Call(what, status, time.monotonic() - sent, sent)

    return list(await asyncio.gather(*(one(what) for what in calls)))


@pytest.mark.timeout(600)
async def test_postgres_hung_for_60_seconds(chaos_stack: ChaosStack) -> None:
    load = Load(chaos_stack.base, max(10, chaos_n(200) // 4))
    started = time.monotonic()
    task = asyncio.create_task(load.run())
    await load.wait_progress(0.35)
    assert not task.done(), "the load finished before the outage"
    pid = next(iter(load.ids.values()))
    pids = chaos_stack.signal_postgres(signal.SIGSTOP)
    hung_at = time.monotonic()
    answers: list[Call] = []
    try:
        async with httpx.AsyncClient(base_url=chaos_stack.base, timeout=30) as c:
            while time.monotonic() - hung_at < HUNG_S - ANSWER_WITHIN_S:
                answers += await probe(c, load, pid)
                await asyncio.sleep(1)
            await asyncio.sleep(max(0.0, HUNG_S - (time.monotonic() - hung_at)))
    finally:
        chaos_stack.signal_postgres(signal.SIGCONT)
    resumed_at = time.monotonic()
    async with httpx.AsyncClient(base_url=chaos_stack.base, timeout=5) as c:
        while (await c.get("/readyz")).status_code != 200:
            assert time.monotonic() - resumed_at < 30, "the API did not find PostgreSQL again"
            await asyncio.sleep(0.2)
    ready_again = time.monotonic() - resumed_at
    await task
    took = time.monotonic() - started

    probed = Counter((a.what, a.status) for a in answers)
    print(f"\nwhile PostgreSQL hung: {dict(probed)}; slowest {max(a.seconds for a in answers):.1f} s")
    slow = [a for a in answers if a.seconds > ANSWER_WITHIN_S]
    assert not slow, f"requests that hung with PostgreSQL: {slow}"
    assert all(a.status == 503 for a in answers), f"not 503 while PostgreSQL hung: {dict(probed)}"
    statuses = load.assert_answered(within=ANSWER_WITHIN_S)
    during = [c for c in load.calls if hung_at <= c.at < resumed_at]
    assert any(c.status == 503 for c in during), "no load request was answered 503 while PostgreSQL hung"
    counts = await check_end_state(chaos_stack, load)
    print(
        f"{load.n} lifecycles in {took:.0f} s; PostgreSQL ({len(pids)} processes) hung {resumed_at - hung_at:.0f} s,"
        f" API ready {ready_again:.1f} s after SIGCONT; load answers {dict(statuses)}"
        f" (slowest {max(c.seconds for c in load.calls):.1f} s); load finished {time.monotonic() - resumed_at:.0f} s"
        f" after; client retries {dict(load.retries)}; {counts}"
    )
