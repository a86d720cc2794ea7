"""The pool's connections skip asyncpg's reset query but still come back clean.

``ilea.db.PoolConnection`` saves a round trip per checkout by sending no
``RESET ALL; UNLISTEN *; ...`` on release. What the pool must still guarantee: a
transaction left open is rolled back, and jsonb still decodes on every connection.
"""

from __future__ import annotations

import asyncpg

from ilea.db import PoolConnection, create_pool


async def test_released_connection_has_no_open_transaction(db_url: str) -> None:
    pool = await create_pool(db_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as con:
            assert isinstance(con, PoolConnection) and con.get_reset_query() == ""
            backend = await con.fetchval("SELECT pg_backend_pid()")
            await con.execute("CREATE TABLE pool_probe (n int)")
            await con.execute("BEGIN")  # a raw BEGIN, never committed: as if a caller forgot
            await con.execute("INSERT INTO pool_probe VALUES (1)")
            assert con.is_in_transaction()
        async with pool.acquire() as con:
            assert await con.fetchval("SELECT pg_backend_pid()") == backend  # the same connection
            assert not con.is_in_transaction()
            assert await con.fetchval("SELECT count(*) FROM pool_probe") == 0  # rolled back
            assert await con.fetchval("SELECT '{\"a\": [1]}'::jsonb") == {"a": [1]}
    finally:
        await pool.close()


async def test_reset_query_is_the_only_difference(db_url: str) -> None:
    """A plain asyncpg connection would send the reset query; ours sends none."""
    plain = await asyncpg.connect(db_url)
    try:
        assert "RESET ALL" in plain.get_reset_query()
    finally:
        await plain.close()
