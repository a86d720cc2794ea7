"""Numbered SQL migrations, applied in order once each, and the reference data seed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from importlib import resources

import asyncpg

from ilea.domain import ACADEMY_NAMES, COMPONENTS, Topic

log = logging.getLogger(__name__)

# Serialises concurrent runners (API and worker starting together).
_LOCK_ID = 0x11EA

#: The group role of the application's logins (migration 005): reads and writes the
#: operational tables, only reads and appends the audit trail.
APP_ROLE = "ilea_app"


#: What "PostgreSQL does not answer yet" looks like: refused, unresolvable or timed out
#: (OSError), starting up or shutting down, or out of connection slots. Anything else (a
#: wrong password, a missing database) will not cure itself by waiting.
_NOT_YET = (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)


async def wait_for_database(dsn: str, wait: float) -> None:
    """Return once PostgreSQL at ``dsn`` accepts a connection, trying for up to ``wait`` seconds.

    Raises:
        OSError, asyncpg.PostgresError: the last failure, once ``wait`` has passed (at once
            for a failure that waiting cannot cure).
    """
    deadline = time.monotonic() + wait
    delay = 0.5
    while True:
        try:
            con = await asyncpg.connect(dsn, timeout=10)
        except _NOT_YET as err:
            if time.monotonic() + delay > deadline:
                raise
            # The error names the host and port at most, never the password.
            log.warning("PostgreSQL does not answer yet (%s: %s); trying again", type(err).__name__, err)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        else:
            await con.close()
            return


def migration_files() -> list[tuple[str, str]]:
    """``(name, sql)`` of every migration, in number order."""
    folder = resources.files("ilea.db").joinpath("migrations")
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(n, folder.joinpath(n).read_text()) for n in names]


async def migrate(con: asyncpg.Connection) -> list[str]:
    """Apply what has not been applied yet; returns the names applied now."""
    applied_now: list[str] = []
    await con.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await con.fetch("SELECT name FROM schema_migrations")}
        for name, sql in migration_files():
            if name in done:
                continue
            async with con.transaction():
                await con.execute(sql)
                await con.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            log.info("applied migration %s", name)
            applied_now.append(name)
        await seed_reference_data(con)
    finally:
        await con.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    return applied_now


async def seed_reference_data(con: asyncpg.Connection) -> None:
    """Academies, topics and agency components (idempotent)."""
    await con.executemany(
        "INSERT INTO academies (code, name, region) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING",
        [(a.value, n.split(" (")[0], n.split(" (")[1].rstrip(")")) for a, n in ACADEMY_NAMES.items()],
    )
    await con.executemany(
        "INSERT INTO topics (code, label) VALUES ($1, $2) ON CONFLICT (code) DO NOTHING",
        [(t.value, t.value.replace("_", " ").capitalize()) for t in Topic],
    )
    await con.executemany(
        "INSERT INTO agency_components (agency, component) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(a.value, c) for a, comps in COMPONENTS.items() for c in comps],
    )


async def ensure_app_login(con: asyncpg.Connection, login: str, password: str | None = None) -> None:
    """Create ``login`` as a member of :data:`APP_ROLE` unless it exists (needs CREATEROLE).

    What a DBA does once in production; ``ilea dev`` and the tests do it for their servers.
    Run after :func:`migrate` (which creates the group role).
    """
    if await con.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", login):
        return
    ident = await con.fetchval("SELECT quote_ident($1)", login)
    secret = "" if password is None else " PASSWORD " + await con.fetchval("SELECT quote_literal($1)", password)
    # Suppressed: created concurrently (another test session on the same server).
    with contextlib.suppress(asyncpg.DuplicateObjectError):
        await con.execute(f"CREATE ROLE {ident} LOGIN{secret} IN ROLE {APP_ROLE}")
