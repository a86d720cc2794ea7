"""The API in-process (httpx ASGI transport) against the real Temporal dev server,
a worker on a uuid task queue, and a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from ilea.domain import Agency, Role
from ilea.settings import Settings
from ilea.tokens import issue_token
from tests.support import running_worker

TokenFor = Callable[..., dict[str, str]]


@pytest.fixture
def settings(task_queue: str) -> Settings:
    return Settings(env="test", task_queue=task_queue)  # type: ignore[call-arg]


@pytest.fixture
def auth(settings: Settings) -> TokenFor:
    def make(sub: str, agency: Agency | str, *roles: Role | str, ttl: timedelta | None = None) -> dict[str, str]:
        token = issue_token(settings, sub=sub, agency=Agency(agency), roles=[Role(r) for r in roles], name=sub, ttl=ttl)
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
async def api(dev_env: WorkflowEnvironment, pool: asyncpg.Pool, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, pool=pool, temporal=dev_env.client)
    async with (
        running_worker(dev_env.client, pool, settings.task_queue),
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ilea.test") as client,
    ):
        yield client


@pytest.fixture
async def api_no_worker(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with no worker on its task queue (a test starts one with ``start_worker``)."""
    app = create_app(settings, pool=pool, temporal=dev_env.client)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ilea.test") as client,
    ):
        yield client


StartWorker = Callable[[], AbstractAsyncContextManager[Worker]]


@pytest.fixture
def start_worker(dev_env: WorkflowEnvironment, pool: asyncpg.Pool, settings: Settings) -> StartWorker:
    """``async with start_worker():`` runs a worker on the API's task queue meanwhile."""
    return lambda: running_worker(dev_env.client, pool, settings.task_queue)
