"""PostgreSQL access: the pool, migrations, and raw SQL by table group."""

from __future__ import annotations

import json
from typing import Any

import asyncpg


async def _init_connection(con: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects, everywhere.
    await con.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10, **kwargs: Any) -> asyncpg.Pool:
    """An asyncpg pool whose connections encode and decode jsonb."""
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init_connection, **kwargs)
    assert pool is not None
    return pool
