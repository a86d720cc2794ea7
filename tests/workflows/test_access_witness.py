"""The access-log witness on the time-skipping server: it keeps the highest head of the log it
has read, so deleting the newest entries, or rewriting one and recomputing its hash (which
the chain alone cannot see), is found; and it continues as new with what it witnessed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from ilea.db import people
from ilea.messages import LogHead, WitnessedHead, WitnessInput
from tests.support import running_worker
from workflows.access_witness import AccessLogWitness, findings, keep_highest, witness_id

EVERY = 60.0
T = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def add_events(pool: asyncpg.Pool, n: int) -> None:
    async with pool.acquire() as con, con.transaction():
        await people.lock_log(con)
        await people.append(con, [("admin-1", f"p-{i}", people.AccessAction.sign_in, {"n": i}) for i in range(n)])


async def tamper(owner_pool: asyncpg.Pool, sql: str) -> None:
    async with owner_pool.acquire() as con:
        await con.execute("ALTER TABLE access_events DISABLE TRIGGER USER")
        await con.execute(sql)
        await con.execute("ALTER TABLE access_events ENABLE TRIGGER USER")


async def witnessed(handle: WorkflowHandle[AccessLogWitness, None], seq: int) -> WitnessedHead:
    """The witness's head once it has read ``seq`` (its first read is at once; the test's
    timeout bounds the wait)."""
    while True:
        head = await handle.query(AccessLogWitness.head)
        if head is not None and head.seq >= seq:
            return head
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def start(
    env: WorkflowEnvironment, task_queue: str, reads_per_run: int = 100
) -> AsyncIterator[WorkflowHandle[AccessLogWitness, None]]:
    """A witness for the test, terminated (its latest run) however the test ends: left running on
    the shared time-skipping server, its timers keep time skipping and every later test there
    times out (seen once in make test after this test had failed on a slow machine)."""
    handle = await env.client.start_workflow(
        AccessLogWitness.run,
        WitnessInput(every_seconds=EVERY, reads_per_run=reads_per_run),
        id=witness_id(task_queue),
        task_queue=task_queue,
    )
    try:
        yield handle
    finally:
        latest = env.client.get_workflow_handle_for(AccessLogWitness.run, witness_id(task_queue))
        with contextlib.suppress(RPCError):
            await latest.terminate()


async def test_deleting_the_newest_entries_is_found(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, owner_pool: asyncpg.Pool, task_queue: str
) -> None:
    await add_events(pool, 5)
    async with running_worker(ts_env.client, pool, task_queue), start(ts_env, task_queue) as handle:
        seen = await witnessed(handle, 5)
        await tamper(owner_pool, "DELETE FROM access_events WHERE seq > 3")
        assert people.verify_chain(await people.events(pool)) is None  # the chain alone holds
        await ts_env.sleep(EVERY * 3)  # the witness reads the shorter log, and keeps what it saw
        after = await handle.query(AccessLogWitness.head)
        assert after == seen and after is not None and after.seq == 5
        head = await people.head(pool)
        assert head is not None and head.seq == 3
        cut, problems = findings(after, head.seq, await people.hash_at(pool, after.seq))
        assert cut == 4 and len(problems) == 1 and problems[0].startswith("newest entries deleted: the log ends")


async def test_an_entry_rewritten_with_its_hash_recomputed_is_found(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, owner_pool: asyncpg.Pool, task_queue: str
) -> None:
    await add_events(pool, 5)
    async with running_worker(ts_env.client, pool, task_queue), start(ts_env, task_queue) as handle:
        seen = await witnessed(handle, 5)
        row = await owner_pool.fetchrow("SELECT * FROM access_events WHERE seq = 5")
        forged = people.event_hash(
            seq=5, at=row["at"], actor="someone-else", sub=row["sub"], action=row["action"], detail=row["detail"],
            prev=row["prev_hash"],
        )  # fmt: skip
        await tamper(owner_pool, f"UPDATE access_events SET actor = 'someone-else', hash = '{forged}' WHERE seq = 5")
        assert people.verify_chain(await people.events(pool)) is None  # the chain alone holds
        await ts_env.sleep(EVERY * 2)
        after = await handle.query(AccessLogWitness.head)
        assert after == seen
        cut, problems = findings(after, 5, await people.hash_at(pool, 5))
        assert cut == 5 and len(problems) == 1 and problems[0].startswith("event 5 was rewritten after")


async def test_the_witness_follows_the_log_and_continues_as_new_with_what_it_saw(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str
) -> None:
    async with running_worker(ts_env.client, pool, task_queue), start(ts_env, task_queue, reads_per_run=3) as handle:
        first_run = (await handle.describe()).run_id
        assert await handle.query(AccessLogWitness.head) is None  # an empty log: nothing witnessed
        await add_events(pool, 4)
        await ts_env.sleep(EVERY * 2)
        seen = await witnessed(handle, 4)
        await ts_env.sleep(EVERY * 7)  # past several runs of three reads
        latest = ts_env.client.get_workflow_handle_for(AccessLogWitness.run, witness_id(task_queue))
        description = await latest.describe()
        assert description.run_id != first_run
        assert await latest.query(AccessLogWitness.head) == seen
        # A run's history: three reads and three timers, however long the witness has run.
        events = [e async for e in latest.fetch_history_events()]
        assert len(events) < 60


def test_the_witness_never_lowers_what_it_keeps() -> None:
    kept = keep_highest(None, LogHead(seq=5, hash="h5"), T)
    assert kept == WitnessedHead(seq=5, hash="h5", at=T)
    later = T + timedelta(minutes=1)
    assert keep_highest(kept, LogHead(seq=3, hash="h3"), later) == kept  # entries deleted
    assert keep_highest(kept, LogHead(seq=5, hash="forged"), later) == kept  # entry rewritten
    assert keep_highest(kept, None, later) == kept  # the log emptied
    assert keep_highest(kept, LogHead(seq=6, hash="h6"), later) == WitnessedHead(seq=6, hash="h6", at=later)
    assert findings(kept, 5, "h5") == (None, [])
    assert findings(kept, 9, "h5") == (None, [])
    assert findings(None, 0, None) == (None, [])
