"""The worker through a database outage: activities retry with bounded backoff and finish
their work once PostgreSQL answers again, and the outage is logged once when it starts and
once when it ends, not on every failed attempt (the outbox's part: tests/outbox)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment

from ilea.db import create_pool
from ilea.domain import Agency, IsgVote
from ilea.messages import IsgVoteInput
from ilea.outage import Outage
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
