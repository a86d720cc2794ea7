"""The notification outbox: pending rows sent by SMTP, each marked sent once it is accepted.

Not a Temporal activity: the worker process runs it beside its Temporal worker (``worker.py``),
polling the ``notifications`` table (SQL in ``ilea/db/notifications.py``).

Rows are claimed with ``FOR UPDATE SKIP LOCKED`` and moved to ``sending`` (with
``claimed_at``) in the same statement, so concurrent senders (several workers)
never take the same row. After the SMTP server accepts a message the row
becomes ``sent``; a failure puts it back to ``pending`` with one more attempt,
and after ``smtp_max_attempts`` it is ``failed``.

Crash recovery, and its trade-off: a process that dies between claiming a row
and marking it leaves the row in ``sending``. Once that claim is older than
``smtp_claim_timeout_minutes`` another pass claims it again and sends it. If the
process died *after* the server accepted the message, the message goes out
twice: delivery is at-least-once, never silently lost. Each email's
``Message-ID`` is derived from the row (``ilea-notification-<id>@…``, or for a
digest from its day, party and first row), so a resend carries the same
Message-ID and mail systems and readers can recognise and drop the duplicate.
The ``sent``/``failed`` marks match the claim's ``claimed_at``, so a slow sender
whose claim was taken over cannot overwrite the newer claim's outcome. Keep the
timeout well above ``smtp_timeout_seconds``.

Daily digest (``ILEA_EMAIL_DIGEST=true``): notifications are not sent one by
one. Once a day, at ``email_digest_hour`` US Eastern time, every party with
pending notifications created before that moment gets one email listing them
all; notifications created later wait for the next day's digest. Nothing needs
remembering between passes: the cut-off is the latest digest hour, so a worker
that was down at that hour sends the digest when it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import aiosmtplib
import asyncpg

from ilea.db import TRANSIENT_DB_ERRORS, notifications, people
from ilea.domain import Party, PartyKind
from ilea.mailer import addresses_for, build_digest, build_message
from ilea.outage import Outage
from ilea.settings import Settings

log = logging.getLogger("ilea.email")

EASTERN = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class DrainResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def digest_cutoff(now: datetime, hour: int) -> datetime:
    """The latest ``hour``:00 US Eastern at or before ``now``: the digest covers rows created before it."""
    local = now.astimezone(EASTERN)
    day = local.date()
    cut = datetime.combine(day, time(hour), tzinfo=EASTERN)
    if cut > local:
        cut = datetime.combine(day - timedelta(days=1), time(hour), tzinfo=EASTERN)
    return cut


class EmailOutbox:
    """Sends pending notifications; the pool and settings are injected (and a clock, for tests)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: Settings,
        *,
        batch: int = 50,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._batch = batch
        self._clock = clock or (lambda: datetime.now(UTC))
        self._outage = Outage("PostgreSQL", log, "the outbox retries with backoff")

    @property
    def enabled(self) -> bool:
        return bool(self._settings.smtp_host)

    @property
    def _stale_seconds(self) -> float:
        return self._settings.smtp_claim_timeout_minutes * 60

    async def drain(self) -> DrainResult:
        """One pass: every pending notification (or, in digest mode, every due digest) sent once."""
        if self._settings.email_digest:
            return await self._drain_digests()
        sent = retried = failed = 0
        after = 0  # rows put back to pending in this pass wait for the next pass
        while True:
            rows = await notifications.claim(self._pool, self._batch, after, self._stale_seconds)
            if not rows:
                return DrainResult(sent, retried, failed)
            after = max(r["id"] for r in rows)
            for row in sorted(rows, key=lambda r: r["id"]):
                make = partial(build_message, row, settings=self._settings)
                outcome = await self._send([row], row["party"], make)
                sent += outcome == "sent"
                retried += outcome == "pending"
                failed += outcome == "failed"
            if len(rows) < self._batch:
                return DrainResult(sent, retried, failed)

    async def _drain_digests(self) -> DrainResult:
        """Each party's notifications from before the latest digest hour, as one email per party."""
        cutoff = digest_cutoff(self._clock(), self._settings.email_digest_hour)
        # none while another sender is claiming digests right now
        rows = await notifications.claim_digest(self._pool, cutoff, self._stale_seconds)
        by_party: dict[str, list[dict[str, Any]]] = {}
        for row in sorted(rows, key=lambda r: r["id"]):
            by_party.setdefault(row["party"], []).append(row)
        sent = retried = failed = 0
        day = cutoff.date()
        for party, group in by_party.items():
            make = partial(build_digest, party, group, settings=self._settings, day=day)
            outcome = await self._send(group, party, make)
            sent += len(group) if outcome == "sent" else 0
            retried += len(group) if outcome == "pending" else 0
            failed += len(group) if outcome == "failed" else 0
        return DrainResult(sent, retried, failed)

    async def _email_of(self, party: str) -> str | None:
        """A person's address on file (their grant in ILEA), for a notification to ``person:<sub>``."""
        try:
            parsed = Party.parse(party)
        except ValueError:
            return None
        if parsed.kind is not PartyKind.person or parsed.sub is None:
            return None
        person = await people.get(self._pool, parsed.sub)
        return str(person["email"]) if person and person.get("email") else None

    async def _send(self, rows: list[dict[str, Any]], party: str, make: Callable[[list[str]], EmailMessage]) -> str:
        """Send one email for ``rows`` (all claimed, all to ``party``); mark them; return their status."""
        first = rows[0]
        to = addresses_for(party, self._settings, email=await self._email_of(party))
        if not to:
            log.warning("no address for party %s", party, extra={"proposal_id": first["proposal_id"]})
            return await self._failed(rows, "no address", final=True)
        s = self._settings
        try:
            await aiosmtplib.send(
                make(to),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password,
                start_tls=s.smtp_starttls,
                timeout=s.smtp_timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
            return await self._failed(rows, f"{type(err).__name__}: {err}", final=False)
        await notifications.mark_sent(self._pool, rows)
        log.info(
            "emailed %s to %s",
            first["kind"] if len(rows) == 1 else f"a digest of {len(rows)}",
            party,
            extra={"proposal_id": first["proposal_id"]},
        )
        return "sent"

    async def _failed(self, rows: list[dict[str, Any]], why: str, *, final: bool) -> str:
        status = "superseded"  # every row's claim was taken over by a later pass: its outcome counts there
        for row in rows:
            now = await notifications.mark_failed(
                self._pool, row, final=final, max_attempts=self._settings.smtp_max_attempts
            )
            status = now if now is not None else status
            log.warning(
                "email of notification %s to %s not sent (%s); now %s",
                row["id"],
                row["party"],
                why,
                now,
                extra={"proposal_id": row["proposal_id"]},
            )
        return status

    async def run(self, stop: asyncio.Event) -> None:
        """Drain every ``smtp_poll_seconds`` until ``stop`` is set; does nothing without ILEA_SMTP_HOST."""
        if not self.enabled:
            log.info("ILEA_SMTP_HOST is not set: notifications are stored, not emailed")
            return
        if self._settings.email_digest:
            log.info("daily digest: notifications are emailed at %02d:00 US Eastern", self._settings.email_digest_hour)
        poll = self._settings.smtp_poll_seconds
        while not stop.is_set():
            wait = poll
            try:
                await self.drain()
            except TRANSIENT_DB_ERRORS as err:  # logged once per outage, retried sooner at first
                self._outage.failed(err)
                wait = self._outage.backoff(1.0, poll)
            except asyncpg.PostgresError as err:
                log.warning("outbox pass failed: %s", err)
            else:
                self._outage.recovered()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
