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


#: What a database that is down, hung or just back raises, as opposed to what a query's own
#: fault raises: refused or dropped connections (``OSError``, SQLSTATE class 08), a timeout
#: (``TimeoutError``: connecting, a statement, waiting for a pooled connection), the server
#: shutting down, refusing connections while it starts, or cancelling a timed-out statement
#: (class 57), too many connections (class 53), and asyncpg's internal state errors on a
#: connection caught mid-cancel when the server comes back (``InternalClientError``).
TRANSIENT_DB_ERRORS: tuple[type[Exception], ...] = (
    OSError,  # includes TimeoutError and ConnectionError
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.InternalClientError,
)


class BoundedPool(asyncpg.Pool):
    """A pool whose ``acquire`` waits at most ``acquire_timeout`` by default, ``pool.fetch`` and
    friends included (asyncpg's own default is to wait for ever). The same bound applies to
    returning a connection whose statement timed out (asyncpg waits for the server to
    acknowledge the cancel, which a hung server never does)."""

    def __init__(self, *args: Any, acquire_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> Any:
        return super().acquire(timeout=self._acquire_timeout if timeout is None else timeout)


async def create_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 10, db_timeout: float | None = None, **kwargs: Any
) -> asyncpg.Pool:
    """An asyncpg pool whose connections encode and decode jsonb.

    Args:
        db_timeout: when set, the bound on connecting, on each statement and on waiting for a
            pooled connection (``ILEA_DB_TIMEOUT_SECONDS`` in the API and the worker), each
            raising ``TimeoutError``; unset, only asyncpg's defaults apply (60 s to connect).
    """
    options: dict[str, Any] = {
        # asyncpg.create_pool's defaults: it cannot build a subclass, so this does what it does.
        "max_queries": 50000,
        "max_inactive_connection_lifetime": 300.0,
        "record_class": asyncpg.Record,
        "loop": None,
    }
    if db_timeout is not None:
        options |= {"timeout": db_timeout, "command_timeout": db_timeout}
    pool = BoundedPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        connection_class=PoolConnection,
        acquire_timeout=db_timeout,
        **(options | kwargs),
    )
    await pool
    return pool
