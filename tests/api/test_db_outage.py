"""A PostgreSQL that hangs (accepts, then answers nothing) gives 503 with Retry-After on every
endpoint, read-model reads included, instead of a request that hangs with it; and asyncpg's
transient errors are 503s wherever they surface, never 500s."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api import errors
from api.app import create_app
from ilea.settings import Settings
from tests.api.conftest import TokenFor
from tests.hung_db import FreezableProxy
from tests.support import fields, running_worker

REQUEST_TIMEOUT_S = 4.0


@pytest.fixture
async def proxy(db_url: str) -> AsyncIterator[FreezableProxy]:
    async with FreezableProxy(db_url).running() as p:
        yield p


@pytest.fixture
def settings(task_queue: str, proxy: FreezableProxy) -> Settings:
    return Settings(  # type: ignore[call-arg]
        env="test",
        task_queue=task_queue,
        database_url=proxy.url,
        db_pool_min=1,
        db_timeout_seconds=0.5,
        request_timeout_seconds=REQUEST_TIMEOUT_S,
    )


@pytest.fixture
async def api(dev_env: WorkflowEnvironment, pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API on its own pool through the proxy (the worker's pool goes straight to PostgreSQL)."""
    app = create_app(settings, temporal=dev_env.client)
    async with (
        running_worker(dev_env.client, pool, settings.task_queue),
        app.router.lifespan_context(app),
        # A request that outlived its deadline by this much would be a hang, not a slow answer.
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://ilea.test", timeout=REQUEST_TIMEOUT_S + 10
        ) as client,
    ):
        yield client


async def test_a_hung_database_is_503_everywhere_then_served_again(
    api: httpx.AsyncClient, auth: TokenFor, proxy: FreezableProxy, pool: asyncpg.Pool
) -> None:
    po = auth("po-1", "STATE", "program_officer")
    created = await api.post("/v1/proposals", json=fields().model_dump(mode="json"), headers=po)
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    vote = {**auth("isg-dhs", "DHS", "isg_member"), "Idempotency-Key": "vote-in-outage"}

    proxy.freeze()
    answers = {
        "list": await api.get("/v1/proposals", headers=po),
        "one": await api.get(f"/v1/proposals/{pid}", headers=po),
        "events": await api.get(f"/v1/proposals/{pid}/events", headers=po),
        "vote": await api.post(f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=vote),
        "submit": await api.post(
            "/v1/proposals", json=fields().model_dump(mode="json"), headers={**po, "Idempotency-Key": "s-1"}
        ),
        "web page": await api.get(
            f"/ui/proposals/{pid}", headers={"Cookie": f"ilea_session={po['Authorization'][7:]}"}
        ),
    }
    ready = await api.get("/readyz")
    alive = await api.get("/healthz")
    proxy.thaw()

    for what, r in answers.items():
        assert r.status_code == 503, f"{what}: {r.status_code} {r.text[:300]}"
        assert int(r.headers["retry-after"]) > 0, what
        if r.headers["content-type"].startswith("application/problem+json"):
            # The statement's own timeout answered, not the request deadline's backstop.
            assert r.json()["code"] == "Unavailable", f"{what}: {r.text[:300]}"
    assert ready.status_code == 503 and int(ready.headers["retry-after"]) > 0
    assert ready.json()["postgres"].startswith("unavailable")
    assert alive.status_code == 200  # liveness does not depend on the database

    # Served again once it answers; the vote's keyed retry has its one effect.
    again = await api.post(f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=vote)
    assert again.status_code == 200, again.text
    assert (await api.get(f"/v1/proposals/{pid}", headers=po)).status_code == 200
    votes = await pool.fetchval("SELECT count(*) FROM audit_events WHERE proposal_id = $1 AND action = 'isg_vote'", pid)
    assert votes == 1


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        TimeoutError(),
        ConnectionRefusedError(111, "Connection refused"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_transient_database_errors_are_503_not_500(error: Exception) -> None:
    app = FastAPI()
    errors.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise error

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await client.get("/boom")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "2"
    assert r.json()["code"] == "Unavailable"
