"""`ilea migrate` as every pod runs it before its app: concurrently, and before PostgreSQL answers."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from ilea.db.migrate import migrate, migration_files, wait_for_database
from ilea.devstack import free_port
from tests.conftest import _with_database


async def test_pods_migrating_at_once_apply_each_migration_once(empty_db: str) -> None:
    """Six pods start together on an empty database: the advisory lock lets one apply
    everything; the others find nothing left to do."""
    connections = [await asyncpg.connect(empty_db) for _ in range(6)]
    try:
        applied = await asyncio.gather(*(migrate(con) for con in connections))
        names = [name for name, _ in migration_files()]
        assert sorted(n for each in applied for n in each) == names
        assert sorted(len(each) for each in applied) == [0] * 5 + [len(names)]
        rows = await connections[0].fetch("SELECT name FROM schema_migrations ORDER BY name")
        assert [r["name"] for r in rows] == names
    finally:
        for con in connections:
            await con.close()


@contextlib.asynccontextmanager
async def forwarder(listen_port: int, target: str) -> AsyncIterator[None]:
    """A TCP relay from ``listen_port`` to PostgreSQL at ``target`` (a late-starting server)."""
    parts = urlsplit(target)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, port)
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    server = await asyncio.start_server(relay, "127.0.0.1", listen_port)
    try:
        yield
    finally:
        server.close()


async def test_migrate_wait_retries_until_postgres_answers(empty_db: str) -> None:
    port = free_port()
    parts = urlsplit(empty_db)
    auth = parts.netloc.rpartition("@")[0]
    late = parts._replace(netloc=f"{auth}@127.0.0.1:{port}" if auth else f"127.0.0.1:{port}").geturl()
    waiting = asyncio.create_task(wait_for_database(late, wait=60))
    await asyncio.sleep(1.5)  # refused meanwhile: nothing listens on the port yet
    assert not waiting.done()
    async with forwarder(port, empty_db):
        await asyncio.wait_for(waiting, 30)


async def test_migrate_wait_gives_up_after_its_time() -> None:
    with pytest.raises(OSError):
        await wait_for_database(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", wait=1)


@pytest.mark.timeout(30)
async def test_migrate_wait_does_not_wait_for_what_time_cannot_cure(pg_server_url: str) -> None:
    """A database that does not exist fails at once, not after the whole wait."""
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        await wait_for_database(_with_database(pg_server_url, f"missing_{uuid.uuid4().hex[:8]}"), wait=600)
