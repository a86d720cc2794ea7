"""After a run the benchmark reads every proposal back to count its stages (outside the timed
window). Those reads come from one program officer, many at once, so the API's per-caller rate
limit answers some with 429: they are read again after the Retry-After the API gives (the
load's actions are sent again too, after a fixed 2 s), instead of being counted as proposals in
a stage called "http_429"."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from bench import lifecycle
from tests.bench.conftest import Answer, Server

IDS = ["p-1", "p-2", "p-3"]


def limited_once(body: bytes, n: int) -> bytes:
    """The first three reads are over the caller's limit (429, Retry-After: 0); later ones answer."""
    if n <= len(IDS):
        problem = b'{"status": 429, "detail": "slow down"}'
        return (
            b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/problem+json\r\nRetry-After: 0\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(problem), problem)
        )
    payload = json.dumps({"stage": "isg_review"}).encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(payload),
        payload,
    )


async def test_reads_over_the_rate_limit_are_read_again_not_counted_as_a_stage(
    serve: Callable[[Answer], asyncio.Future[tuple[Server, str]]],
) -> None:
    server, base = await serve(limited_once)
    tokens: Any = SimpleNamespace(po={"Authorization": "Bearer t"})
    stages = await lifecycle.stages_of(base, IDS, tokens, concurrency=3)
    assert stages == {"isg_review": 3}
    paths = sorted(line.split()[1] for line, _, _ in server.requests)
    assert paths == sorted(f"/v1/proposals/{pid}" for pid in IDS * 2)


async def test_a_read_still_refused_after_every_retry_is_counted_as_its_status(
    serve: Callable[[Answer], asyncio.Future[tuple[Server, str]]],
) -> None:
    server, base = await serve(lambda body, n: limited_once(body, 1))  # always over the limit
    tokens: Any = SimpleNamespace(po={})
    stages = await lifecycle.stages_of(base, IDS[:1], tokens, concurrency=1)
    assert stages == {"http_429": 1}
    assert len(server.requests) == 1 + lifecycle.RETRIES


def test_the_wait_is_the_retry_after_given_within_bounds_else_the_default() -> None:
    assert lifecycle._retry_after("3") == 3.0
    assert lifecycle._retry_after("0.5") == 0.5
    assert lifecycle._retry_after("-5") == 0.0
    assert lifecycle._retry_after("100") == 30.0
    for unusable in (None, "soon", "nan", "inf", "Wed, 21 Oct 2026 07:28:00 GMT"):
        assert lifecycle._retry_after(unusable) == lifecycle.RETRY_AFTER_S, unusable
