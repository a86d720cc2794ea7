"""The benchmark's raw HTTP/1.1 client against a server that answers the ways HTTP allows:
Content-Length, chunked, Connection: close, and an idle keep-alive connection closed by the
server (then the request is sent once more on a new connection)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from bench.http import HttpError, HttpxClient, RawClient


def echo(body: bytes, n: int) -> bytes:
    payload = json.dumps({"n": n, "got": json.loads(body) if body else None}).encode()
    return b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(payload),
        payload,
    )


async def test_posts_json_with_the_headers_on_one_kept_alive_connection(serve: Callable) -> None:
    server, base = await serve(echo)
    async with RawClient(base) as c:
        for i in range(3):
            r = await c.post("/v1/things", {"i": i}, {"Authorization": "Bearer t", "Idempotency-Key": f"k{i}"})
            assert r.status == 201 and r.json() == {"n": i + 1, "got": {"i": i}}
        g = await c.get("/v1/things?q=a%20b", {"Authorization": "Bearer t"})
        assert g.status == 201 and g.json()["got"] is None
    assert server.connections == 1
    (line, headers, body), *_ = server.requests
    assert line == "POST /v1/things HTTP/1.1"
    assert headers["authorization"] == "Bearer t" and headers["idempotency-key"] == "k0"
    assert headers["content-type"] == "application/json" and json.loads(body) == {"i": 0}
    assert headers["host"] == base.removeprefix("http://")
    assert server.requests[3][0] == "GET /v1/things?q=a%20b HTTP/1.1" and server.requests[3][2] == b""


async def test_reads_chunked_bodies_and_honours_connection_close(serve: Callable) -> None:
    def chunked(_body: bytes, n: int) -> bytes:
        close = b"Connection: close\r\n" if n == 1 else b""
        return (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + close + b"\r\n"
            b'4\r\n{"a"\r\n' + b"6;ext=1\r\n: [1, \r\n" + b"3\r\n2]}\r\n" + b"0\r\n\r\n"
        )

    server, base = await serve(chunked)
    async with RawClient(base) as c:
        assert (await c.get("/", {})).json() == {"a": [1, 2]}
        assert (await c.get("/", {})).json() == {"a": [1, 2]}
    assert server.connections == 2  # the first answer said close: the second request reconnected


async def test_a_connection_the_server_closed_while_idle_is_reopened_and_the_request_sent_once_more(
    serve: Callable,
) -> None:
    server, base = await serve(echo)
    server.close_after_each = True
    async with RawClient(base) as c:
        first = await c.post("/x", {"i": 1}, {"Idempotency-Key": "a"})
        await asyncio.sleep(0.05)  # the server has closed the connection by now
        second = await c.post("/x", {"i": 2}, {"Idempotency-Key": "b"})
    assert first.json()["got"] == {"i": 1} and second.json()["got"] == {"i": 2}
    assert server.connections == 2
    assert [json.loads(b) for _, _, b in server.requests] == [{"i": 1}, {"i": 2}]


async def test_failures_are_http_errors(serve: Callable) -> None:
    def garbage(_body: bytes, _n: int) -> bytes:
        return b"SSH-2.0-OpenSSH\r\n\r\n"

    _, base = await serve(garbage)
    async with RawClient(base) as c:
        with pytest.raises(HttpError, match="not an HTTP"):
            await c.get("/", {})

    def silent(_body: bytes, _n: int) -> bytes:
        return b""

    _, base = await serve(silent)
    async with RawClient(base, timeout=0.3) as c:
        with pytest.raises(HttpError, match="no answer"):
            await c.get("/", {})
    async with RawClient("http://127.0.0.1:9") as c:  # nothing listens on the discard port
        with pytest.raises(HttpError):
            await c.get("/", {})


async def test_the_httpx_baseline_answers_alike(serve: Callable) -> None:
    server, base = await serve(echo)
    async with RawClient(base) as raw, HttpxClient(base) as hx:
        a = await raw.post("/p", {"x": 1}, {"Idempotency-Key": "k"})
        b = await hx.post("/p", {"x": 1}, {"Idempotency-Key": "k"})
    assert (a.status, a.json()["got"]) == (b.status, b.json()["got"]) == (201, {"x": 1})
    assert json.loads(server.requests[0][2]) == json.loads(server.requests[1][2])
