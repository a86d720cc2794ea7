"""The notification outbox against a real SMTP server (aiosmtpd on a free local port)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller

from activities.email import DrainResult, EmailOutbox
from ilea.devstack import free_port
from ilea.mailer import addresses_for
from ilea.settings import Settings


class Inbox:
    """An SMTP handler that records what arrives; it can refuse the first ``fail`` messages."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self.fail:
                self.fail -= 1
                return "451 4.3.0 mailbox busy, try again later"
            msg = message_from_bytes(envelope.content)
            self.received.append(
                {"to": list(envelope.rcpt_tos), "subject": msg["Subject"], "id": msg["Message-ID"], "body": str(msg)}
            )
        return "250 2.0.0 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def mail_settings(port: int, **kw: Any) -> Settings:
    return Settings(
        env="test",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout_seconds=5,
        notify_addresses={"program_officer": "po-team@state.gov, inl-desk@state.gov"},
        **kw,
    )


async def add_notifications(pool: asyncpg.Pool, parties: list[str], proposal_id: str = "p-1") -> None:
    now = datetime.now(UTC)
    await pool.executemany(
        "INSERT INTO notifications (proposal_id, event_key, party, kind, subject, body, created_at)"
        " VALUES ($1, $2, $3, 'pending_action', $4, 'Please act.', $5)",
        [(proposal_id, f"k{i}", p, f"Action needed #{i} by {p}", now) for i, p in enumerate(parties)],
    )


async def statuses(pool: asyncpg.Pool) -> list[tuple[str, str, int, bool]]:
    rows = await pool.fetch(
        "SELECT party, email_status, email_attempts, sent_at IS NOT NULL AS stamped FROM notifications ORDER BY id"
    )
    return [(r["party"], r["email_status"], r["email_attempts"], r["stamped"]) for r in rows]


def test_addresses_by_party() -> None:
    s = Settings(env="test", notify_addresses={"isg:DHS": "isg-dhs@dhs.gov"})
    assert addresses_for("isg:DHS", s) == ["isg-dhs@dhs.gov"]
    assert addresses_for("isg:TREASURY", s) == ["ilea-isg@treasury.gov"]
    assert addresses_for("agency:DOJ", s) == ["ilea-coordinator@usdoj.gov"]
    assert addresses_for("board:DHS", s) == ["ilea-board@dhs.gov"]
    assert addresses_for("board:chair", s) == ["ilea-board-chair@state.gov"]
    assert addresses_for("program_officer", s) == ["ilea-program-officer@state.gov"]
    assert addresses_for("nobody", s) == []


async def test_pending_notifications_are_sent_once_to_their_party(pool: asyncpg.Pool, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    await add_notifications(pool, ["isg:DHS", "agency:DOJ", "program_officer"])
    outbox = EmailOutbox(pool, mail_settings(port))
    result = await outbox.drain()
    assert (result.sent, result.retried, result.failed) == (3, 0, 0)
    assert [m["to"] for m in inbox.received] == [
        ["ilea-isg@dhs.gov"],
        ["ilea-coordinator@usdoj.gov"],
        ["po-team@state.gov", "inl-desk@state.gov"],
    ]
    assert inbox.received[0]["subject"] == "[ILEA] Action needed #0 by isg:DHS"
    assert "Please act." in inbox.received[0]["body"] and "Proposal: p-1" in inbox.received[0]["body"]
    assert await statuses(pool) == [
        ("isg:DHS", "sent", 1, True),
        ("agency:DOJ", "sent", 1, True),
        ("program_officer", "sent", 1, True),
    ]
    # Nothing is sent twice.
    assert (await outbox.drain()).sent == 0
    assert len(inbox.received) == 3


async def test_a_refused_message_is_retried_on_the_next_pass(pool: asyncpg.Pool, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    inbox.fail = 1
    await add_notifications(pool, ["isg:STATE", "board:chair"])
    outbox = EmailOutbox(pool, mail_settings(port))
    first = await outbox.drain()
    assert (first.sent, first.retried) == (1, 1)
    assert await statuses(pool) == [("isg:STATE", "pending", 1, False), ("board:chair", "sent", 1, True)]
    second = await outbox.drain()
    assert (second.sent, second.retried) == (1, 0)
    assert await statuses(pool) == [("isg:STATE", "sent", 2, True), ("board:chair", "sent", 1, True)]
    assert sorted(m["to"][0] for m in inbox.received) == ["ilea-board-chair@state.gov", "ilea-isg@state.gov"]


async def test_gives_up_after_max_attempts(pool: asyncpg.Pool, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    inbox.fail = 100
    await add_notifications(pool, ["isg:DOJ"])
    outbox = EmailOutbox(pool, mail_settings(port, smtp_max_attempts=2))
    assert (await outbox.drain()).retried == 1
    assert (await outbox.drain()).failed == 1
    assert await statuses(pool) == [("isg:DOJ", "failed", 2, False)]
    assert (await outbox.drain()) == DrainResult()  # nothing left to try
    assert inbox.received == []


async def test_server_down_leaves_rows_pending(pool: asyncpg.Pool) -> None:
    await add_notifications(pool, ["isg:DHS"])
    outbox = EmailOutbox(pool, mail_settings(free_port()))  # nobody listens there
    assert (await outbox.drain()).retried == 1
    assert await statuses(pool) == [("isg:DHS", "pending", 1, False)]


async def test_concurrent_senders_never_send_a_row_twice(pool: asyncpg.Pool, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    parties = ["isg:STATE", "isg:TREASURY", "isg:DHS", "isg:DOJ", "agency:DHS"] * 6
    await add_notifications(pool, parties)
    settings = mail_settings(port)
    results = await asyncio.gather(*(EmailOutbox(pool, settings, batch=4).drain() for _ in range(4)))
    assert sum(r.sent for r in results) == 30
    assert len(inbox.received) == 30
    assert len({m["id"] for m in inbox.received}) == 30
    assert {s for _, s, _, _ in await statuses(pool)} == {"sent"}


async def test_run_is_a_no_op_without_smtp_host(pool: asyncpg.Pool) -> None:
    await add_notifications(pool, ["isg:DHS"])
    outbox = EmailOutbox(pool, Settings(env="test"))
    await asyncio.wait_for(outbox.run(asyncio.Event()), timeout=2)
    assert await statuses(pool) == [("isg:DHS", "pending", 0, False)]


async def test_run_loop_sends_then_stops(pool: asyncpg.Pool, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    await add_notifications(pool, ["isg:DHS"])
    stop = asyncio.Event()
    task = asyncio.create_task(EmailOutbox(pool, mail_settings(port, smtp_poll_seconds=0.1)).run(stop))
    for _ in range(50):
        if inbox.received:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert len(inbox.received) == 1
