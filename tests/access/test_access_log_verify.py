"""``/v1/people/access-log/verify`` walks the chain a page at a time: the memory a check takes
does not grow with the log (it used to load every event at once), and a break is still found
wherever it is, a page boundary included.

The app runs over a :class:`~tests.plans.RecordingPool`, which sees how many events each query
brought back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from ilea.db import audit, people
from ilea.settings import Settings
from tests.api.conftest import TokenFor
from tests.plans import RecordingPool

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
    dev_env: WorkflowEnvironment, recorder: RecordingPool, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, pool=recorder, temporal=dev_env.client)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ilea.test") as client,
    ):
        yield client


async def verify(api: httpx.AsyncClient, auth: TokenFor, recorder: RecordingPool) -> dict[str, object]:
    recorder.queries.clear()
    r = await api.get("/v1/people/access-log/verify", headers=auth("aud", "STATE", "auditor"))
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    log_reads = [q for q in recorder.queries if "access_events" in q.sql]
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
