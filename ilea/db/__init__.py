"""PostgreSQL access: the pool, migrations, and raw SQL by table group."""

from __future__ import annotations

import json
from typing import Any

import asyncpg


class PoolConnection(asyncpg.Connection):
    """A pooled connection that skips asyncpg's reset query on release.

    By default every release sends ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` -- one more round trip per checkout, i.e. several per HTTP action. This code
    keeps no session state on pooled connections (no LISTEN, no session SET, no cursor or
    advisory lock outliving its transaction; the migration lock is released in a
    ``finally``), and asyncpg still rolls back a transaction left open.
    """

    def get_reset_query(self) -> str:
        return ""


async def _init_connection(con: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects, everywhere.
    await con.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10, **kwargs: Any) -> asyncpg.Pool:
    """An asyncpg pool whose connections encode and decode jsonb."""
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, connection_class=PoolConnection, **kwargs
    )
    assert pool is not None
    return pool
