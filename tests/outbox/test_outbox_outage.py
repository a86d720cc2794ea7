"""The email outbox through a database outage: it retries with backoff (1 s, doubling up to
its poll interval), sends once PostgreSQL answers again, and logs the outage once when it
starts and once when it ends, not on every failed pass."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest

from ilea.db import create_pool
from ilea.outbox import EmailOutbox
from tests.hung_db import FreezableProxy
from tests.outbox.test_outbox import Inbox, add_notifications, mail_settings, smtp

__all__ = ["smtp"]  # the fixture, shared with test_outbox

OUTAGE_S = 3.0


async def test_the_outbox_retries_through_an_outage_and_logs_it_once(
    pool: asyncpg.Pool, db_url: str, smtp: tuple[Inbox, int], caplog: pytest.LogCaptureFixture
) -> None:
    inbox, port = smtp
    caplog.set_level(logging.INFO, logger="ilea.email")
    stop = asyncio.Event()
    async with FreezableProxy(db_url).running() as proxy:
        hung = await create_pool(proxy.url, min_size=1, max_size=2, db_timeout=0.5)
        try:
            proxy.freeze()
            task = asyncio.create_task(EmailOutbox(hung, mail_settings(port, smtp_poll_seconds=0.2)).run(stop))
            await add_notifications(pool, ["program_officer"])
            await asyncio.sleep(OUTAGE_S)  # several passes fail meanwhile (0.5 s each, then backoff)
            proxy.thaw()
            for _ in range(200):
                if inbox.received:
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.wait_for(task, 30)
        finally:
            proxy.thaw()
            await hung.close()
    assert [m["subject"] for m in inbox.received] == ["[ILEA] Action needed #0 by program_officer"]
    assert await pool.fetchval("SELECT email_status FROM notifications") == "sent"
    lines = [r.getMessage() for r in caplog.records if "PostgreSQL" in r.getMessage()]
    assert len(lines) == 2, lines
    assert lines[0].startswith("PostgreSQL unavailable") and lines[1].startswith("PostgreSQL available again")
    assert not any(r.getMessage().startswith("outbox pass failed") for r in caplog.records)
