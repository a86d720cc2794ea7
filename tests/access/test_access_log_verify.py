"""``/v1/people/access-log/verify`` walks the chain a page at a time: the memory a check takes
does not grow with the log (it used to load every event at once), and a break is still found
wherever it is, a page boundary included.

The app runs over a :class:`~tests.plans.RecordingPool`, which sees how many events each query
brought back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from html import escape

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from ilea.db import audit, people
from ilea.settings import Settings
from tests.api.conftest import TokenFor
from tests.plans import RecordingPool
from tests.support import running_worker
from tests.web.conftest import sign_in
from workflows.access_witness import AccessLogWitness, witness_id

EVENTS = 5_000
#: what one query may bring back: far fewer events than the log holds
MOST_PER_QUERY = 1_000


@pytest.fixture
async def recorder(pool: asyncpg.Pool) -> RecordingPool:
    async with pool.acquire() as con, con.transaction():
        await people.lock_log(con)
        await people.append(
            con, [("admin-1", f"p-{n}", people.AccessAction.sign_in, {"via": "oidc", "n": n}) for n in range(EVENTS)]
        )
    return RecordingPool(pool)


@pytest.fixture
async def api(
    dev_env: WorkflowEnvironment, recorder: RecordingPool, pool: asyncpg.Pool, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, pool=recorder, temporal=dev_env.client)
    async with (
        running_worker(dev_env.client, pool, settings.task_queue),  # the access-log witness runs there
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ilea.test") as client,
    ):
        yield client


async def verify(api: httpx.AsyncClient, auth: TokenFor, recorder: RecordingPool) -> dict[str, object]:
    recorder.queries.clear()
    r = await api.get("/v1/people/access-log/verify", headers=auth("aud", "STATE", "auditor"))
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    assert body.pop("witness_answered") is True
    assert body.pop("witnessed_seq") in (None, EVENTS)  # whether it has read the log yet or not
    log_reads = [q for q in recorder.queries if "prev_hash" in q.sql]  # the pages of events
    assert sum(q.rows for q in log_reads) == body["events"]  # it read the whole log ...
    assert max(q.rows for q in log_reads) <= MOST_PER_QUERY  # ... a page at a time
    return body


async def tamper(owner_pool: asyncpg.Pool, *statements: str) -> None:
    async with owner_pool.acquire() as con:
        await con.execute("ALTER TABLE access_events DISABLE TRIGGER USER")
        for sql in statements:
            await con.execute(sql)
        await con.execute("ALTER TABLE access_events ENABLE TRIGGER USER")


async def test_a_long_intact_log_verifies_a_page_at_a_time(
    api: httpx.AsyncClient, auth: TokenFor, recorder: RecordingPool
) -> None:
    assert await verify(api, auth, recorder) == {
        "valid": True,
        "events": EVENTS,
        "first_broken_seq": None,
        "problems": [],
    }


async def test_an_event_rewritten_in_the_middle_of_a_long_log_is_found(
    api: httpx.AsyncClient, auth: TokenFor, recorder: RecordingPool, owner_pool: asyncpg.Pool
) -> None:
    await tamper(owner_pool, "UPDATE access_events SET actor = 'someone-else' WHERE seq = 2600")
    assert await verify(api, auth, recorder) == {
        "valid": False,
        "events": EVENTS,
        "first_broken_seq": 2600,
        "problems": audit.broken_at(2600),
    }


async def test_a_break_at_a_page_boundary_is_found_by_the_next_event(
    api: httpx.AsyncClient, auth: TokenFor, recorder: RecordingPool, owner_pool: asyncpg.Pool
) -> None:
    """Event 1,000 rewritten with its own hash recomputed holds by itself: only event 1,001's
    link to it shows the change, so the walk must carry the last hash from page to page."""
    row = await owner_pool.fetchrow("SELECT * FROM access_events WHERE seq = 1000")
    forged = people.event_hash(
        seq=1000,
        at=row["at"],
        actor="someone-else",
        sub=row["sub"],
        action=row["action"],
        detail=row["detail"],
        prev=row["prev_hash"],
    )
    await tamper(owner_pool, f"UPDATE access_events SET actor = 'someone-else', hash = '{forged}' WHERE seq = 1000")
    found = await verify(api, auth, recorder)
    assert (found["valid"], found["first_broken_seq"]) == (False, 1001)


async def test_an_event_deleted_from_the_middle_is_found_where_the_gap_is(
    api: httpx.AsyncClient, auth: TokenFor, recorder: RecordingPool, owner_pool: asyncpg.Pool
) -> None:
    await tamper(owner_pool, "DELETE FROM access_events WHERE seq = 3333")
    found = await verify(api, auth, recorder)
    assert (found["valid"], found["events"], found["first_broken_seq"]) == (False, EVENTS - 1, 3334)


async def test_the_newest_entries_deleted_are_found_against_the_witness(
    api: httpx.AsyncClient,
    auth: TokenFor,
    recorder: RecordingPool,
    owner_pool: asyncpg.Pool,
    dev_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    """Deleting the newest entries leaves a chain that holds; the access-log witness (started by
    the API, run by the worker) read the head before, and says what is missing."""
    witness = dev_env.client.get_workflow_handle_for(AccessLogWitness.run, witness_id(settings.task_queue))
    while (seen := await witness.query(AccessLogWitness.head)) is None:  # noqa: ASYNC110 (its first read is at once)
        await asyncio.sleep(0.05)
    assert seen.seq == EVENTS
    await tamper(owner_pool, f"DELETE FROM access_events WHERE seq > {EVENTS - 10}")
    r = await api.get("/v1/people/access-log/verify", headers=auth("aud", "STATE", "auditor"))
    found = r.json()
    assert (found["valid"], found["events"], found["first_broken_seq"]) == (False, EVENTS - 10, EVENTS - 9)
    assert (found["witnessed_seq"], found["witness_answered"]) == (EVENTS, True)
    assert len(found["problems"]) == 1
    assert found["problems"][0].startswith(f"newest entries deleted: the log ends at event {EVENTS - 10}, but event")
    # The access page verifies the same way and says the same in words (it used to check the chain only).
    sign_in(api, settings, "aud", "STATE", "auditor")
    page = (await api.get("/ui/access", params={"verify": "1"})).text
    assert f"The access log does not verify from entry {EVENTS - 9}" in page
    assert escape(found["problems"][0]) in page
