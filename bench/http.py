"""The load generator's HTTP clients: a raw asyncio HTTP/1.1 keep-alive client, and httpx.

Every action is still a real HTTP request on a real TCP connection, with a real bearer token
and an ``Idempotency-Key``; the raw client only leaves out what a benchmark does not use
(connection pools, redirects, cookies, URL and header models, content negotiation), which
is most of httpx's CPU per request on this machine. ``python -m bench ab`` measures both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx


class HttpError(Exception):
    """The connection failed, timed out or answered something that is not HTTP/1.1."""


class Response:
    __slots__ = ("body", "status")

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class Client(Protocol):
    """One simulated user's connection: ``async with`` it, then POST and GET JSON."""

    async def __aenter__(self) -> Client: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Response: ...

    async def get(self, path: str, headers: dict[str, str]) -> Response: ...


#: What a request failing on the wire raises, whichever client sent it.
ERRORS = (HttpError, httpx.HTTPError)


class RawClient:
    """HTTP/1.1 on one keep-alive connection, opened on first use and again after the server
    closed it (a request that found it closed before any answer is sent once more: every POST
    carries an ``Idempotency-Key``, so a repeat has one effect)."""

    def __init__(self, base: str, timeout: float = 120) -> None:
        url = urlsplit(base)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 80
        self.timeout = timeout
        self._head = f"Host: {url.netloc}\r\nAccept: application/json\r\n"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Response:
        return await self.request("POST", path, json.dumps(body).encode(), headers)

    async def get(self, path: str, headers: dict[str, str]) -> Response:
        return await self.request("GET", path, None, headers)

    async def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Response:
        lines = [f"{method} {path} HTTP/1.1\r\n", self._head]
        lines += [f"{k}: {v}\r\n" for k, v in headers.items()]
        if body is not None:
            lines.append(f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n")
        lines.append("\r\n")
        data = "".join(lines).encode() + (body or b"")
        try:
            async with asyncio.timeout(self.timeout):
                reused = self._writer is not None
                try:
                    return await self._exchange(data)
                except (ConnectionError, asyncio.IncompleteReadError) as err:
                    await self.close()
                    if not reused or (isinstance(err, asyncio.IncompleteReadError) and err.partial):
                        raise
                    return await self._exchange(data)  # the server had closed the idle connection
        except TimeoutError as err:
            await self.close()
            raise HttpError(f"{method} {path}: no answer in {self.timeout:.0f} s") from err
        except (OSError, asyncio.IncompleteReadError, ValueError) as err:
            await self.close()
            raise HttpError(f"{method} {path}: {type(err).__name__}: {err}") from err

    async def _exchange(self, data: bytes) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(data)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        version, _, rest = status_line.partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ValueError(f"not an HTTP/1.x answer: {status_line[:80]!r}")
        length: int | None = None
        chunked = close = False
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                close = "close" in value.lower()
        if chunked:
            payload = await self._read_chunked()
        elif length is not None:
            payload = await self._reader.readexactly(length)
        else:  # no length: the body runs to the end of the connection
            payload, close = await self._reader.read(), True
        if close:
            await self.close()
        return Response(int(code), payload)

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")  # no trailers from our server
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)


class HttpxClient:
    """The same interface on httpx (one keep-alive connection): the A/B baseline."""

    def __init__(self, base: str, timeout: float = 120) -> None:
        self._c = httpx.AsyncClient(
            base_url=base, timeout=timeout, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)
        )

    async def __aenter__(self) -> HttpxClient:
        await self._c.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._c.__aexit__(None, None, None)

    async def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> Response:
        r = await self._c.post(path, json=body, headers=headers)
        return Response(r.status_code, r.content)

    async def get(self, path: str, headers: dict[str, str]) -> Response:
        r = await self._c.get(path, headers=headers)
        return Response(r.status_code, r.content)


CLIENTS: dict[str, type[RawClient] | type[HttpxClient]] = {"raw": RawClient, "httpx": HttpxClient}


def client(kind: str, base: str) -> Client:
    """A new client of this kind (``raw`` or ``httpx``) for the API at ``base``."""
    return CLIENTS[kind](base)
