"""A small HTTP/1.1 server for the benchmark client's tests: it records each request and
answers with bytes the test writes, so each test can answer the ways HTTP allows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

Answer = Callable[[bytes, int], bytes]


class Server:
    """Records each request (method line, headers, body) and answers with ``answer``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.connections = 0
        self.close_after_each = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *rest = head[:-4].decode().split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in rest)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((line, headers, body))
                writer.write(self.answer(body, len(self.requests)))
                await writer.drain()
                if self.close_after_each:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Answer], asyncio.Future[tuple[Server, str]]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> tuple[Server, str]:
        s = Server(answer)
        srv = await asyncio.start_server(s.handle, "127.0.0.1", 0)
        servers.append(srv)
        port = srv.sockets[0].getsockname()[1]
        return s, f"http://127.0.0.1:{port}"

    yield start  # type: ignore[misc]
    for srv in servers:
        srv.close()
        await srv.wait_closed()
