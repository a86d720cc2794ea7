"""Server-side web sessions and the sign-ins under way at the identity provider.

A browser holds only a random id; the row, keyed by the id's SHA-256, says whose session it
is. Each request looks the session up together with the person's current grant (one round
trip), so a revoked role is gone at the next request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from ilea.db import people
from ilea.db.people import AccessAction, Grant, grant_from_row

#: A sign-in begun at the provider must come back within this long.
LOGIN_TTL = timedelta(minutes=10)
#: ``last_seen_at`` is written at most this often per session (not on every request).
TOUCH_EVERY = timedelta(seconds=30)
#: Sessions one person may hold at once (``ILEA_SESSION_MAX_PER_PERSON``): a browser each.
MAX_PER_PERSON = 10
#: An ended session is kept this long, so that a person coming back soon is told it ended (and
#: why) rather than shown the sign-in page; then :func:`purge_ended` deletes it.
ENDED_GRACE = timedelta(hours=1)
#: Sessions one purge deletes at most (the rest at the next): one transaction stays short.
PURGE_BATCH = 1000


def new_secret() -> str:
    """A random, URL-safe value for a cookie (256 bits)."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class SessionRow:
    sub: str
    name: str
    via: str
    claims: dict[str, Any] | None
    id_token: str | None
    created_at: datetime
    last_seen_at: datetime
    #: why the session is over ("idle", "absolute"), or None while it lasts
    ended: str | None
    #: the person's grant as it is now (None when ILEA does not know them)
    grant: Grant | None


async def create(
    pool: asyncpg.Pool,
    *,
    sub: str,
    name: str,
    via: str,
    claims: dict[str, Any] | None,
    id_token: str | None,
    lifetime: timedelta,
    max_per_person: int = MAX_PER_PERSON,
) -> str:
    """A new session; returns the secret for the cookie.

    When the person would hold more than ``max_per_person`` sessions, their oldest end (each
    logged as ``session_replaced``), in the same transaction; sign-ins of one person are
    serialised, so simultaneous ones cannot overshoot the cap.
    """
    secret = new_secret()
    async with pool.acquire() as con, con.transaction():
        await con.execute("SELECT pg_advisory_xact_lock(hashtext('web_sessions:' || $1))", sub)
        await con.execute(
            "INSERT INTO web_sessions (id_hash, sub, name, claims, via, id_token, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval)",
            digest(secret),
            sub,
            name,
            claims,
            via,
            id_token,
            lifetime,
        )
        # The newest max_per_person stay (the one just made is the newest: created_at is now()).
        ended = await con.fetch(
            "DELETE FROM web_sessions WHERE id_hash IN (SELECT id_hash FROM web_sessions WHERE sub = $1"
            " ORDER BY id_hash = $3 DESC, created_at DESC, id_hash OFFSET $2) RETURNING via",
            sub,
            max_per_person,
            digest(secret),
        )
        if ended:
            await people.lock_log(con)
            await people.append(
                con,
                [(sub, sub, AccessAction.session_replaced, {"via": r["via"], "limit": max_per_person}) for r in ended],
            )
    return secret


async def find(pool: asyncpg.Pool, secret: str, idle: timedelta) -> SessionRow | None:
    """The session of this cookie and the person's current grant; None when there is no such session."""
    row = await pool.fetchrow(
        "SELECT s.sub, s.name, s.via, s.claims, s.id_token, s.created_at, s.last_seen_at,"
        " CASE WHEN s.expires_at <= now() THEN 'absolute' WHEN s.last_seen_at + $2::interval <= now() THEN 'idle'"
        " END AS ended, s.last_seen_at + $3::interval <= now() AS stale,"
        " p.sub AS p_sub, p.name AS p_name, p.agency, p.roles, p.active"
        " FROM web_sessions s LEFT JOIN people p ON p.sub = s.sub WHERE s.id_hash = $1",
        digest(secret),
        idle,
        TOUCH_EVERY,
    )
    if row is None:
        return None
    if row["ended"] is None and row["stale"]:
        await pool.execute("UPDATE web_sessions SET last_seen_at = now() WHERE id_hash = $1", digest(secret))
    grant = None
    if row["p_sub"] is not None:
        grant = grant_from_row(
            {"sub": row["p_sub"], "name": row["p_name"], **{k: row[k] for k in ("agency", "roles", "active")}}
        )
    own = ("sub", "name", "via", "claims", "id_token", "created_at", "last_seen_at", "ended")
    return SessionRow(**{k: row[k] for k in own}, grant=grant)


async def delete(pool: asyncpg.Pool, secret: str) -> dict[str, Any] | None:
    """End a session; returns what it held (sub, via, id_token), or None if there was none."""
    row = await pool.fetchrow(
        "DELETE FROM web_sessions WHERE id_hash = $1 RETURNING sub, name, via, id_token", digest(secret)
    )
    return None if row is None else dict(row)


async def sweep(pool: asyncpg.Pool) -> int:
    """Delete sessions past their absolute end and sign-ins never finished; returns how many
    sessions went (each logged). Idle sessions need the idle timeout: :func:`purge_ended`."""
    await pool.execute("DELETE FROM oidc_logins WHERE created_at <= now() - $1::interval", LOGIN_TTL)
    return await purge_ended(pool, None)


async def purge_ended(pool: asyncpg.Pool, idle: timedelta | None, grace: timedelta = ENDED_GRACE) -> int:
    """Delete sessions that ended more than ``grace`` ago, by the absolute timeout or (when
    ``idle`` is given) by ``idle`` without a request; returns how many.

    Each is logged as ``session_expired`` with its timeout, as one presented after it ended
    is. At most :data:`PURGE_BATCH` at a time (the API purges every minute).
    """
    async with pool.acquire() as con, con.transaction():
        await people.lock_log(con)
        ended = await con.fetch(
            "DELETE FROM web_sessions WHERE id_hash IN (SELECT id_hash FROM web_sessions"
            " WHERE expires_at <= now() - $2::interval"
            " OR ($1::interval IS NOT NULL AND last_seen_at <= now() - $1::interval - $2::interval)"
            " LIMIT $3 FOR UPDATE SKIP LOCKED)"
            " RETURNING sub, via, CASE WHEN expires_at <= now() THEN 'absolute' ELSE 'idle' END AS timeout",
            idle,
            grace,
            PURGE_BATCH,
        )
        if ended:
            await people.append(
                con,
                [
                    (r["sub"], r["sub"], AccessAction.session_expired, {"via": r["via"], "timeout": r["timeout"]})
                    for r in sorted(ended, key=lambda r: r["sub"])
                ],
            )
    return len(ended)


# --- sign-ins under way -----------------------------------------------------------------------


async def begin_login(
    pool: asyncpg.Pool, *, state: str, browser: str, nonce: str, code_verifier: str, redirect_uri: str, next_path: str
) -> None:
    await pool.execute(
        "INSERT INTO oidc_logins (state, browser_hash, nonce, code_verifier, redirect_uri, next_path)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        state,
        digest(browser),
        nonce,
        code_verifier,
        redirect_uri,
        next_path,
    )


async def take_login(pool: asyncpg.Pool, state: str) -> dict[str, Any] | None:
    """The sign-in begun with ``state``, removed so it is used once; with ``expired`` and ``browser_hash``."""
    row = await pool.fetchrow(
        "DELETE FROM oidc_logins WHERE state = $1 RETURNING browser_hash, nonce, code_verifier, redirect_uri,"
        " next_path, created_at <= now() - $2::interval AS expired",
        state,
        LOGIN_TTL,
    )
    return None if row is None else dict(row)
