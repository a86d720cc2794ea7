"""The worker through a database outage: activities and the email outbox retry with bounded
backoff and finish their work once PostgreSQL answers again, and the outage is logged once
when it starts and once when it ends, not on every failed attempt."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from temporalio.testing import WorkflowEnvironment

from ilea.db import create_pool
from ilea.devstack import free_port
from ilea.domain import Agency, IsgVote
from ilea.messages import IsgVoteInput
from ilea.outage import Outage
from ilea.outbox import EmailOutbox
from ilea.settings import Settings
from tests.hung_db import FreezableProxy
from tests.support import fields, isg, running_worker, start_proposal
from workflows.proposal import ProposalWorkflow

OUTAGE_S = 3.0


def test_an_outage_is_logged_when_it_starts_and_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage("PostgreSQL", logging.getLogger("test.outage"), "retrying")
    with caplog.at_level(logging.INFO, logger="test.outage"):
        outage.recovered()  # nothing to report
        backoffs = []
        for _ in range(6):
            outage.failed(ConnectionRefusedError(111, "refused"))
            backoffs.append(outage.backoff(1.0, 10.0))
        outage.recovered()
        outage.recovered()
    assert backoffs == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("PostgreSQL unavailable (ConnectionRefusedError") and lines[0].endswith("retrying")
    assert lines[1].startswith("PostgreSQL available again after") and "(6 failed attempts)" in lines[1]
    assert not outage.ongoing


@pytest.fixture
async def proxy(db_url: str) -> AsyncIterator[FreezableProxy]:
    async with FreezableProxy(db_url).running() as p:
        yield p


@pytest.fixture
async def worker_pool(proxy: FreezableProxy) -> AsyncIterator[asyncpg.Pool]:
    """The worker's pool, through the proxy, bounded like the real worker's."""
    p = await create_pool(proxy.url, min_size=1, max_size=4, db_timeout=0.5)
    try:
        yield p
    finally:
        proxy.thaw()
        await p.close()


def failure_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("temporalio") and "activity" in r.getMessage().lower()
    ]


async def test_an_action_during_an_outage_completes_after_it_logged_once(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    pool: asyncpg.Pool,
    worker_pool: asyncpg.Pool,
    proxy: FreezableProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="ilea.worker")
    async with running_worker(dev_env.client, worker_pool, task_queue):
        pid, handle = await start_proposal(dev_env.client, task_queue, fields())
        proxy.freeze()
        vote = asyncio.create_task(
            handle.execute_update(ProposalWorkflow.isg_vote, IsgVoteInput(actor=isg(Agency.DHS), vote=IsgVote.concur))
        )
        await asyncio.sleep(OUTAGE_S)  # the projection of the vote fails and is retried meanwhile
        assert not vote.done()
        proxy.thaw()
        await asyncio.wait_for(vote, 60)
    votes = await pool.fetchval("SELECT count(*) FROM audit_events WHERE proposal_id = $1 AND action = 'isg_vote'", pid)
    assert votes == 1
    ours = [r.getMessage() for r in caplog.records if r.name == "ilea.worker" and "PostgreSQL" in r.getMessage()]
    assert len(ours) == 2, ours
    assert ours[0].startswith("PostgreSQL unavailable (TimeoutError")
    failed = int(ours[1].split("(")[1].split()[0])
    assert ours[1].startswith("PostgreSQL available again") and failed >= 2  # several attempts, two lines
    assert failure_warnings(caplog) == []


class Inbox:
    def __init__(self) -> None:
        self.subjects: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.subjects.append(envelope.content.decode(errors="replace"))
        return "250 2.0.0 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_the_outbox_retries_through_an_outage_and_logs_it_once(
    pool: asyncpg.Pool,
    worker_pool: asyncpg.Pool,
    proxy: FreezableProxy,
    smtp: tuple[Inbox, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    inbox, port = smtp
    settings = Settings(env="test", smtp_host="127.0.0.1", smtp_port=port, smtp_poll_seconds=0.2)  # type: ignore[call-arg]
    caplog.set_level(logging.INFO, logger="ilea.email")
    stop = asyncio.Event()
    proxy.freeze()
    task = asyncio.create_task(EmailOutbox(worker_pool, settings).run(stop))
    await pool.execute(
        "INSERT INTO notifications (proposal_id, event_key, party, kind, subject, body, created_at)"
        " VALUES ('p-1', 'k1', 'program_officer', 'pending_action', 'Sent after the outage', 'Please act.', $1)",
        datetime.now(UTC),
    )
    await asyncio.sleep(OUTAGE_S)  # several passes fail meanwhile (0.5 s each, then backoff)
    proxy.thaw()
    for _ in range(200):
        if inbox.subjects:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 30)
    assert len(inbox.subjects) == 1 and "Sent after the outage" in inbox.subjects[0]
    assert await pool.fetchval("SELECT email_status FROM notifications") == "sent"
    lines = [r.getMessage() for r in caplog.records if "PostgreSQL" in r.getMessage()]
    assert len(lines) == 2, lines
    assert lines[0].startswith("PostgreSQL unavailable") and lines[1].startswith("PostgreSQL available again")
    assert not any(r.getMessage().startswith("outbox pass failed") for r in caplog.records)
