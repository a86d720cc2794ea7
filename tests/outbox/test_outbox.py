"""The notification outbox against a real SMTP server (aiosmtpd on a free local port)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiosmtpd.controller import Controller

from ilea.devstack import free_port
from ilea.mailer import addresses_for
from ilea.outbox import DrainResult, EmailOutbox, digest_cutoff
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


async def test_a_claim_left_by_a_dead_sender_is_taken_again_once_stale(
    pool: asyncpg.Pool, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    await add_notifications(pool, ["isg:DHS", "isg:DOJ", "isg:STATE"])
    # Two senders died mid-send: one 20 minutes ago, one a minute ago (it may still be sending).
    await pool.execute(
        "UPDATE notifications SET email_status = 'sending', claimed_at = now() - interval '20 minutes'"
        " WHERE party = 'isg:DHS'"
    )
    await pool.execute(
        "UPDATE notifications SET email_status = 'sending', claimed_at = now() - interval '1 minute'"
        " WHERE party = 'isg:DOJ'"
    )
    outbox = EmailOutbox(pool, mail_settings(port, smtp_claim_timeout_minutes=15))
    assert (await outbox.drain()).sent == 2
    assert await statuses(pool) == [
        ("isg:DHS", "sent", 1, True),
        ("isg:DOJ", "sending", 0, False),
        ("isg:STATE", "sent", 1, True),
    ]
    first_id = await pool.fetchval("SELECT id FROM notifications WHERE party = 'isg:DHS'")
    # The resend keeps the row's Message-ID, so a receiver that got the first copy can drop this one.
    assert any(m["id"] == f"<ilea-notification-{first_id}@state.gov>" for m in inbox.received)
    assert (await outbox.drain()).sent == 0  # a fresh claim is left alone
    assert (await EmailOutbox(pool, mail_settings(port, smtp_claim_timeout_minutes=0.5)).drain()).sent == 1
    assert {s for _, s, _, _ in await statuses(pool)} == {"sent"}


async def test_a_stale_senders_late_mark_does_not_undo_the_new_claim(pool: asyncpg.Pool) -> None:
    await add_notifications(pool, ["isg:DHS"])
    old = await pool.fetchrow(
        "UPDATE notifications SET email_status = 'sending', claimed_at = now() - interval '1 hour'"
        " RETURNING id, claimed_at"
    )
    await pool.execute("UPDATE notifications SET claimed_at = now(), email_status = 'sent'")  # the new claim's send
    outbox = EmailOutbox(pool, mail_settings(free_port()))
    row = {"id": old["id"], "claimed_at": old["claimed_at"], "party": "isg:DHS", "proposal_id": "p-1"}
    assert await outbox._failed([row], "late", final=False) == "superseded"
    assert await statuses(pool) == [("isg:DHS", "sent", 0, False)]  # the newer claim's outcome stands


EASTERN = ZoneInfo("America/New_York")


async def add_at(pool: asyncpg.Pool, party: str, subject: str, at: datetime) -> None:
    await pool.execute(
        "INSERT INTO notifications (proposal_id, event_key, party, kind, subject, body, created_at)"
        " VALUES ('p-9', $1, $2, 'pending_action', $3, 'Details here.', $4)",
        subject,
        party,
        subject,
        at,
    )


def test_digest_cutoff_is_the_latest_digest_hour_eastern() -> None:
    hour7 = datetime(2027, 3, 10, 7, tzinfo=EASTERN)
    assert digest_cutoff(datetime(2027, 3, 10, 8, 30, tzinfo=EASTERN), 7) == hour7
    assert digest_cutoff(datetime(2027, 3, 10, 6, 59, tzinfo=EASTERN), 7) == datetime(2027, 3, 9, 7, tzinfo=EASTERN)
    # Across the spring-forward change the digest stays at 07:00 local time.
    assert digest_cutoff(datetime(2027, 3, 14, 12, tzinfo=UTC), 7) == datetime(2027, 3, 14, 7, tzinfo=EASTERN)
    assert digest_cutoff(datetime(2027, 3, 14, 12, tzinfo=UTC), 7).astimezone(UTC).hour == 11


async def test_daily_digest_sends_one_email_per_party_once_a_day(pool: asyncpg.Pool, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    day = datetime(2027, 3, 10, tzinfo=EASTERN)
    await add_at(pool, "isg:DHS", "Vote on course A", day - timedelta(hours=10))
    await add_at(pool, "isg:DHS", "Reminder: course A", day + timedelta(hours=3))
    await add_at(pool, "agency:DOJ", "Instructor request for course B", day + timedelta(hours=5))
    await add_at(pool, "isg:DHS", "Vote on course C", day + timedelta(hours=8))  # after the 07:00 digest
    clock = {"now": day + timedelta(hours=6)}
    settings = mail_settings(port, email_digest=True, email_digest_hour=7)
    assert settings.email_digest and not Settings(env="test").email_digest  # off unless asked for
    outbox = EmailOutbox(pool, settings, clock=lambda: clock["now"])

    # Before 07:00 Eastern nothing goes out one by one; yesterday's digest (07:00 on the 9th) had nothing.
    assert (await outbox.drain()) == DrainResult()
    assert inbox.received == []

    clock["now"] = day + timedelta(hours=9)
    assert (await outbox.drain()).sent == 3
    assert sorted(m["to"][0] for m in inbox.received) == ["ilea-coordinator@usdoj.gov", "ilea-isg@dhs.gov"]
    dhs = next(m for m in inbox.received if m["to"] == ["ilea-isg@dhs.gov"])
    assert dhs["subject"] == "[ILEA] Daily digest for isg:DHS, 2027-03-10: 2 notifications"
    assert "Vote on course A" in dhs["body"] and "Reminder: course A" in dhs["body"]
    assert "Vote on course C" not in dhs["body"]  # created after 07:00: tomorrow's digest
    assert dhs["id"].startswith("<ilea-digest-2027-03-10-isg-DHS-")
    assert (await outbox.drain()).sent == 0  # once a day
    assert len(inbox.received) == 2

    clock["now"] = day + timedelta(days=1, hours=7, minutes=1)
    assert (await outbox.drain()).sent == 1
    assert inbox.received[-1]["subject"] == "[ILEA] Daily digest for isg:DHS, 2027-03-11: 1 notification"
    assert {s for _, s, _, _ in await statuses(pool)} == {"sent"}


async def test_a_refused_digest_is_retried_whole(pool: asyncpg.Pool, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    inbox.fail = 1
    day = datetime(2027, 3, 10, tzinfo=EASTERN)
    for i in range(3):
        await add_at(pool, "board:chair", f"Decision needed {i}", day - timedelta(hours=i + 1))
    outbox = EmailOutbox(pool, mail_settings(port, email_digest=True), clock=lambda: day + timedelta(hours=8))
    assert (await outbox.drain()).retried == 3
    assert {(s, a) for _, s, a, _ in await statuses(pool)} == {("pending", 1)}
    assert (await outbox.drain()).sent == 3
    assert len(inbox.received) == 1 and "3 notifications" in inbox.received[0]["subject"]
