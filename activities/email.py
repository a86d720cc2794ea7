"""The notification outbox: pending rows sent by SMTP, each marked sent once.

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` and moved to ``sending`` in
the same statement, so concurrent senders (several workers) never take the
same row. After the SMTP server accepts a message the row becomes ``sent``;
a failure puts it back to ``pending`` with one more attempt, and after
``smtp_max_attempts`` it is ``failed``. A process that dies between the
server's acceptance and the ``sent`` mark leaves the row in ``sending``: it is
not retried automatically (at most once), which an operator can see and
requeue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import aiosmtplib
import asyncpg

from ilea.mailer import addresses_for, build_message
from ilea.settings import Settings

log = logging.getLogger("ilea.email")

_CLAIM = """
UPDATE notifications SET email_status = 'sending'
WHERE id IN (
    SELECT id FROM notifications WHERE email_status = 'pending' AND id > $2
    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
)
RETURNING id, proposal_id, party, kind, subject, body, created_at, email_attempts
"""


@dataclass(frozen=True)
class DrainResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0


class EmailOutbox:
    """Sends pending notifications; the pool and settings are injected."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, *, batch: int = 50) -> None:
        self._pool = pool
        self._settings = settings
        self._batch = batch

    @property
    def enabled(self) -> bool:
        return bool(self._settings.smtp_host)

    async def drain(self) -> DrainResult:
        """Send every pending notification once (one pass); returns what happened."""
        sent = retried = failed = 0
        after = 0  # rows put back to pending in this pass wait for the next pass
        while True:
            rows = [dict(r) for r in await self._pool.fetch(_CLAIM, self._batch, after)]
            if not rows:
                return DrainResult(sent, retried, failed)
            after = max(r["id"] for r in rows)
            for row in sorted(rows, key=lambda r: r["id"]):
                outcome = await self._send_one(row)
                sent += outcome == "sent"
                retried += outcome == "pending"
                failed += outcome == "failed"
            if len(rows) < self._batch:
                return DrainResult(sent, retried, failed)

    async def _send_one(self, row: dict[str, Any]) -> str:
        to = addresses_for(row["party"], self._settings)
        if not to:
            log.warning("no address for party %s", row["party"], extra={"proposal_id": row["proposal_id"]})
            return await self._failed(row, "no address", final=True)
        s = self._settings
        try:
            await aiosmtplib.send(
                build_message(row, to, s),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password,
                start_tls=s.smtp_starttls,
                timeout=s.smtp_timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
            return await self._failed(row, f"{type(err).__name__}: {err}", final=False)
        await self._pool.execute(
            "UPDATE notifications SET email_status = 'sent', sent_at = now(), email_attempts = email_attempts + 1"
            " WHERE id = $1 AND email_status = 'sending'",
            row["id"],
        )
        log.info("emailed %s to %s", row["kind"], row["party"], extra={"proposal_id": row["proposal_id"]})
        return "sent"

    async def _failed(self, row: dict[str, Any], why: str, *, final: bool) -> str:
        status = await self._pool.fetchval(
            "UPDATE notifications SET email_attempts = email_attempts + 1,"
            " email_status = CASE WHEN $2 OR email_attempts + 1 >= $3 THEN 'failed' ELSE 'pending' END"
            " WHERE id = $1 AND email_status = 'sending' RETURNING email_status",
            row["id"],
            final,
            self._settings.smtp_max_attempts,
        )
        log.warning(
            "email of notification %s to %s not sent (%s); now %s",
            row["id"],
            row["party"],
            why,
            status,
            extra={"proposal_id": row["proposal_id"]},
        )
        return str(status)

    async def run(self, stop: asyncio.Event) -> None:
        """Drain every ``smtp_poll_seconds`` until ``stop`` is set; does nothing without ILEA_SMTP_HOST."""
        if not self.enabled:
            log.info("ILEA_SMTP_HOST is not set: notifications are stored, not emailed")
            return
        while not stop.is_set():
            try:
                await self.drain()
            except (asyncpg.PostgresError, OSError) as err:
                log.warning("outbox pass failed: %s", err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._settings.smtp_poll_seconds)
