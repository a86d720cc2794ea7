"""Production entry points against services given only by environment variables: a
PostgreSQL database (the test server's; CI's second run points it at the machine's
PostgreSQL) and a Temporal server on another port. Nothing embedded is started by them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from ilea.db.migrate import ensure_app_login
from ilea.devstack import TemporalDevServer, free_port, wait_for_port
from ilea.domain import Agency, Role
from ilea.settings import Settings
from ilea.tokens import issue_token
from tests.e2e.test_stack import proposal_body
from tests.support import APP_LOGIN, APP_PASSWORD, as_app_login


@pytest.fixture
async def external_db(pg_server_url: str) -> Iterator[str]:
    name = f"ilea_ext_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(pg_server_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def create_app_login(owner_url: str) -> None:
    con = await asyncpg.connect(owner_url)
    try:
        await ensure_app_login(con, APP_LOGIN, APP_PASSWORD)
    finally:
        await con.close()


@pytest.fixture
def temporal(tmp_path: Path) -> Iterator[TemporalDevServer]:
    server = TemporalDevServer(None, free_port(), free_port(), headless=True, log_file=tmp_path / "t.log").start()
    try:
        yield server
    finally:
        server.stop()


def test_migrate_worker_and_api_from_environment_only(
    external_db: str, temporal: TemporalDevServer, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ILEA_", "TEMPORAL_"))}
    env.update(
        ILEA_ENV="production",
        ILEA_DATABASE_URL=external_db,
        TEMPORAL_ADDRESS=temporal.address,
        TEMPORAL_NAMESPACE="default",
        ILEA_API_PORT=str(port),
        ILEA_JWT_SECRET="s" * 48,
        ILEA_LOG_JSON="true",
    )
    cli = [sys.executable, "-m", "cli"]
    # Migrations run as the owner; the worker and the API log in as a member of ilea_app.
    env["ILEA_MIGRATION_DATABASE_URL"] = external_db
    out = subprocess.run([*cli, "migrate", "--seed-demo"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "001_schema.sql" in out.stdout
    # Production refuses a login that could rewrite the audit trail (here: the owner).
    refused = subprocess.run([*cli, "worker"], env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "refusing to start" in refused.stdout + refused.stderr, refused.stderr
    asyncio.run(create_app_login(external_db))
    env["ILEA_DATABASE_URL"] = as_app_login(external_db)
    # In production roles come from grants kept in ILEA, not from the token's claims.
    grant = [*cli, "grant", "--sub", "ext-po", "--email", "ext-po@state.gov", "--agency", "STATE"]
    out = subprocess.run([*grant, "--role", "program_officer"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "granted ext-po: STATE program_officer" in out.stdout, out.stderr
    procs = []
    try:
        for role in ("worker", "api"):
            log = open(tmp_path / f"{role}.log", "wb")  # noqa: SIM115
            procs.append(subprocess.Popen([*cli, role], env=env, stdout=log, stderr=subprocess.STDOUT))
        wait_for_port(port, 60, procs[1])
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while httpx.get(f"{base}/readyz").status_code != 200:
            assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()
            time.sleep(0.2)
        settings = Settings(env="production", jwt_secret="s" * 48)  # type: ignore[call-arg]
        po = issue_token(settings, sub="ext-po", agency=Agency.STATE, roles=[Role.program_officer])
        r = httpx.post(
            f"{base}/v1/proposals",
            json=proposal_body("External services"),
            timeout=30,
            headers={"Authorization": f"Bearer {po}"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["stage"] == "isg_review"
    finally:
        for p in procs:
            p.terminate()
        codes = [p.wait(30) for p in procs]
    # The worker drains and exits 0; uvicorn shuts down gracefully, then re-raises SIGTERM
    # so its exit status says why it stopped.
    assert codes[0] == 0 and codes[1] in (0, -15), codes
    # Production logs are JSON lines.
    worker_log = (tmp_path / "worker.log").read_text()
    assert '"level": "INFO"' in worker_log, worker_log[-2000:]
