"""The ``notifications`` table: what the system tells each party, and its email delivery state.

Written by the projection (in its transaction), claimed and marked by the email outbox
(``ilea/outbox.py``), listed by the notifications page. A row's ``email_status`` goes
``pending`` → ``sending`` (claimed, with ``claimed_at``) → ``sent`` or back to ``pending``
(one more attempt) or ``failed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from ilea.domain import Party

_COLUMNS = "id, proposal_id, party, kind, subject, body, created_at, email_attempts, claimed_at"

#: pending rows, and rows whose claim is stale (``$3`` seconds old: the sender died)
_CLAIMABLE = (
    "(email_status = 'pending'"
    " OR (email_status = 'sending' AND claimed_at < now() - make_interval(secs => $3::double precision)))"
)

_CLAIM = f"""
UPDATE notifications SET email_status = 'sending', claimed_at = now()
WHERE id IN (
    SELECT id FROM notifications WHERE {_CLAIMABLE} AND id > $2
    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
)
RETURNING {_COLUMNS}
"""

_CLAIM_DIGEST = f"""
UPDATE notifications SET email_status = 'sending', claimed_at = now()
WHERE id IN (
    SELECT id FROM notifications WHERE {_CLAIMABLE} AND created_at < $2 AND id > $1
    ORDER BY id LIMIT 5000 FOR UPDATE SKIP LOCKED
)
RETURNING {_COLUMNS}
"""

#: one digest claimer at a time, so a party's rows are never split over two emails
_DIGEST_LOCK = 0x11EA_D16E


async def claim(db: asyncpg.Pool, limit: int, after_id: int, stale_seconds: float) -> list[dict[str, Any]]:
    """Move up to ``limit`` claimable rows with ids above ``after_id`` to ``sending``, and return them.

    ``FOR UPDATE SKIP LOCKED``: concurrent senders never take the same row.
    """
    return [dict(r) for r in await db.fetch(_CLAIM, limit, after_id, stale_seconds)]


async def claim_digest(db: asyncpg.Pool, cutoff: datetime, stale_seconds: float) -> list[dict[str, Any]]:
    """Claim every claimable row created before ``cutoff``; none while another sender claims digests."""
    async with db.acquire() as con, con.transaction():
        if not await con.fetchval("SELECT pg_try_advisory_xact_lock($1)", _DIGEST_LOCK):
            return []
        return [dict(r) for r in await con.fetch(_CLAIM_DIGEST, 0, cutoff, stale_seconds)]


async def mark_sent(db: asyncpg.Pool, rows: Sequence[dict[str, Any]]) -> None:
    """Mark claimed rows sent; a row whose claim was taken over since (another ``claimed_at``) is left alone."""
    await db.executemany(
        "UPDATE notifications SET email_status = 'sent', sent_at = now(), email_attempts = email_attempts + 1"
        " WHERE id = $1 AND email_status = 'sending' AND claimed_at = $2",
        [(r["id"], r["claimed_at"]) for r in rows],
    )


async def mark_failed(db: asyncpg.Pool, row: dict[str, Any], *, final: bool, max_attempts: int) -> str | None:
    """Count a failed attempt: back to ``pending``, or ``failed`` when ``final`` or out of attempts.

    Returns:
        The row's new status, or None when its claim was taken over by a later pass.
    """
    status = await db.fetchval(
        "UPDATE notifications SET email_attempts = email_attempts + 1,"
        " email_status = CASE WHEN $2 OR email_attempts + 1 >= $3 THEN 'failed' ELSE 'pending' END"
        " WHERE id = $1 AND email_status = 'sending' AND claimed_at = $4 RETURNING email_status",
        row["id"],
        final,
        max_attempts,
        row["claimed_at"],
    )
    return str(status) if status is not None else None


# --- a person's notifications (GET /v1/notifications, the notifications page) ----------------------------------------

_FOR_READER = """
SELECT n.id, n.party, n.kind, n.proposal_id, n.subject, n.body, n.created_at, n.email_status, n.sent_at,
    n.cleared_at, p.title,
    EXISTS (SELECT 1 FROM notification_reads r WHERE r.notification_id = n.id AND r.sub = $1) AS read
FROM notifications n LEFT JOIN proposals p ON p.id = n.proposal_id
"""


async def for_reader(
    db: asyncpg.Pool, sub: str, parties: Sequence[Party] | None, *, unread: bool | None, limit: int
) -> list[dict[str, Any]]:
    """Notifications to ``parties`` (every party when None), newest first, with their proposal's
    title and whether ``sub`` has read each; ``unread`` keeps only the unread (True) or the read (False)."""
    rows = await db.fetch(
        _FOR_READER + " WHERE ($2::text[] IS NULL OR n.party = ANY($2::text[]))"
        " AND ($3::boolean IS NULL OR EXISTS (SELECT 1 FROM notification_reads r"
        "  WHERE r.notification_id = n.id AND r.sub = $1) <> $3)"
        " ORDER BY n.created_at DESC, n.id DESC LIMIT $4",
        sub,
        None if parties is None else [str(p) for p in parties],
        unread,
        limit,
    )
    return [dict(r) for r in rows]


async def get_for_reader(db: asyncpg.Pool, notification_id: int, sub: str) -> dict[str, Any] | None:
    """One notification, with whether ``sub`` has read it."""
    row = await db.fetchrow(_FOR_READER + " WHERE n.id = $2", sub, notification_id)
    return dict(row) if row is not None else None


async def mark_read(db: asyncpg.Pool, notification_id: int, sub: str) -> None:
    """``sub`` has read the notification (again: no change)."""
    await db.execute(
        "INSERT INTO notification_reads (notification_id, sub) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        notification_id,
        sub,
    )
