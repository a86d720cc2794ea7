"""The ``idempotency_keys`` table: one row per (caller, Idempotency-Key), holding the first response.

Used by the API's middleware (``api/idempotency.py``) and its retention sweep (``api/app.py``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg


async def claim(db: asyncpg.Pool, caller: str, key: str, method_path: str, body_hash: str) -> bool:
    """Record a new key as in progress; False when the caller already used it."""
    inserted = await db.fetchval(
        "INSERT INTO idempotency_keys (caller, key, method_path, body_hash) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING RETURNING true",
        caller,
        key,
        method_path,
        body_hash,
    )
    return bool(inserted)


async def take_over(
    db: asyncpg.Pool, caller: str, key: str, method_path: str, body_hash: str, abandoned_after: timedelta
) -> bool:
    """Claim again a key for the same request still in progress after ``abandoned_after`` (its process died)."""
    taken = await db.fetchval(
        "UPDATE idempotency_keys SET created_at = now() WHERE caller = $1 AND key = $2"
        " AND method_path = $3 AND body_hash = $4 AND status_code IS NULL"
        " AND created_at < now() - $5::interval RETURNING true",
        caller,
        key,
        method_path,
        body_hash,
        abandoned_after,
    )
    return bool(taken)


async def release(db: asyncpg.Pool, caller: str, key: str) -> None:
    """Forget a key whose request left nothing durable, so a retry runs it again."""
    await db.execute("DELETE FROM idempotency_keys WHERE caller = $1 AND key = $2", caller, key)


async def store_response(db: asyncpg.Pool, caller: str, key: str, status: int, body: bytes, content_type: str) -> None:
    """Keep the first response, to be answered again to every retry with the key."""
    await db.execute(
        "UPDATE idempotency_keys SET status_code = $3, response = $4, content_type = $5 WHERE caller = $1 AND key = $2",
        caller,
        key,
        status,
        body,
        content_type,
    )


async def get(db: asyncpg.Pool, caller: str, key: str) -> dict[str, Any] | None:
    """The key's request (method_path, body_hash) and response (status_code, response, content_type)."""
    row = await db.fetchrow(
        "SELECT method_path, body_hash, status_code, response, content_type FROM idempotency_keys"
        " WHERE caller = $1 AND key = $2",
        caller,
        key,
    )
    return dict(row) if row is not None else None


async def expire(db: asyncpg.Pool, retention: timedelta, limit: int) -> int:
    """Delete up to ``limit`` keys older than ``retention``; returns how many it deleted."""
    done = await db.execute(
        "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY("
        " SELECT ctid FROM idempotency_keys WHERE created_at < now() - $1::interval LIMIT $2))",
        retention,
        limit,
    )
    return int(done.split()[-1])
