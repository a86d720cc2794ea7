"""deploy/README.md's production walk-through, run as written: a Temporal server of its own,
the machine's PostgreSQL (a fresh database), `ilea migrate`, `ilea roster import`, two
workers and two APIs with production settings signing people in at a real OpenID provider
(tests/oidc_provider), the first access administrator granted with `ilea grant` and everyone
else by that administrator through `PUT /v1/people/{sub}`; then one proposal to `scheduled`
through both APIs, each call carrying the access token the provider issued the person in
that seat, web sign-in through the provider with and without a grant, and the production
defaults checked on the running processes.

The people's tokens come from the provider's own login page, driven with httpx the way a
program drives a person's browser (authorization code, PKCE, resource indicator): the
provider's client-credentials grant would name a client, not a person, and no grant keyed by
a program officer's or a chair's `sub` could be tested with it.

Needs the machine's PostgreSQL at 127.0.0.1:5432 letting `postgres` in (CI's), `openssl`,
`curl` and `createdb`, and Node.js for the provider; skipped, saying which is missing, without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ilea.devstack import bin_path, free_port
from tests.deploy.manifests import DEPLOY
from tests.deploy.production import (
    ADMIN_SUB,
    JWT_SECRET,
    AgencyProvider,
    agency_provider,
    drive_to_scheduled,
    loopback_browser,
    people,
    walkthrough_script,
    web_sign_in,
)
from tests.oidc_provider import need_node
from tests.support import wait_until_listed

pytestmark = pytest.mark.e2e

PG = {"PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "postgres"}


def _missing() -> str | None:
    for tool in ("openssl", "curl", "createdb", "pg_isready", "dropdb", "psql"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    ready = subprocess.run(["pg_isready", "-q", "-h", PG["PGHOST"], "-p", PG["PGPORT"]], check=False, timeout=10)
    return None if ready.returncode == 0 else "no PostgreSQL answers on 127.0.0.1:5432"


class Walkthrough:
    """The README block running in a bash of its own; its background jobs share its
    process group, which :meth:`stop` ends."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.database = f"ilea_walk_{uuid.uuid4().hex[:10]}"
        self.ports = {"TEMPORAL_PORT": free_port(), "TEMPORAL_UI_PORT": free_port()}
        self.ports |= {"API1_PORT": free_port(), "API2_PORT": free_port()}
        venv_bin = Path(sys.executable).parent
        temporal_bin = Path(bin_path("temporal")).parent
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ILEA_", "TEMPORAL_", "PG"))}
        self.env = env | PG | {k: str(v) for k, v in self.ports.items()} | {"ILEA_DB": self.database}
        self.env["PATH"] = f"{venv_bin}:{temporal_bin}:{env['PATH']}"
        self.env["ILEA_JWT_SECRET"] = JWT_SECRET
        # The block's paths are the repository's (deploy/...) and its own (logs/).
        (workdir / "deploy").symlink_to(DEPLOY)
        self.process: subprocess.Popen[str] | None = None

    def run(self) -> str:
        self.process = subprocess.Popen(
            ["bash", "-c", "set -eu\n" + walkthrough_script()],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            out, _ = self.process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(self.logs()) from None
        assert self.process.returncode == 0, out + self.logs()
        return out

    def use(self, provider: AgencyProvider) -> None:
        """What the reader brings: the provider's settings, and the administrator's `sub` and token."""
        self.env |= provider.web_env() | {"ADMIN_SUB": ADMIN_SUB, "ADMIN_TOKEN": provider.token(ADMIN_SUB)}

    def api(self, n: int) -> str:
        return f"http://127.0.0.1:{self.ports[f'API{n}_PORT']}"

    def logs(self) -> str:
        return "".join(
            f"\n--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted((self.workdir / "logs").glob("*.log"))
        )

    def stop(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            time.sleep(3)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture
def walkthrough(tmp_path: Path) -> Iterator[tuple[Walkthrough, AgencyProvider]]:
    missing = _missing()
    if missing:
        pytest.skip(f"the production walk-through needs the machine's tools: {missing}")
    need_node()
    walk = Walkthrough(tmp_path)
    try:
        with agency_provider(tmp_path / "provider", [walk.api(1), walk.api(2)]) as provider:
            walk.use(provider)
            yield walk, provider
    finally:
        walk.stop()
        subprocess.run(["dropdb", "--if-exists", "--force", walk.database], env=walk.env, check=False, timeout=60)
        drop_login = f'DROP ROLE IF EXISTS "{walk.database}_api"'  # the walk-through's application login
        subprocess.run(["psql", "-q", "-d", "postgres", "-c", drop_login], env=walk.env, check=False, timeout=60)


# The block alone may take up to 300 s (Walkthrough.run) on a loaded machine.
@pytest.mark.timeout(420)
def test_the_production_walkthrough_takes_a_proposal_to_scheduled(
    walkthrough: tuple[Walkthrough, AgencyProvider],
) -> None:
    walk, provider = walkthrough
    out = walk.run()
    host = socket.gethostname()
    assert re.search(r"^applied: 001_schema\.sql, ", out, re.M), out
    assert "deploy/examples/roster.csv: created 4, updated 0, unchanged 0" in out, out
    for name in ("worker-1", "worker-2"):
        assert f"worker ready: {name}@{host} is polling" in out, out
    assert f"granted {ADMIN_SUB}: STATE access_admin" in out, out
    apis = [walk.api(1), walk.api(2)]

    # The administrator's grants, each made with the provider's token and recorded as theirs.
    admin = provider.bearer(ADMIN_SUB)
    listed = httpx.get(f"{apis[1]}/v1/people", headers=admin, timeout=10).json()["items"]
    granted = {(p["sub"], p["agency"], tuple(p["roles"]), p["updated_by"]) for p in listed}
    expected = {(p.sub, p.agency, tuple(sorted(p.roles)), ADMIN_SUB) for p in people()}
    assert granted - expected == {(ADMIN_SUB, "STATE", ("access_admin",), f"cli:{getpass.getuser()}")}
    assert expected <= granted

    # The proposal's life, every call with the access token the provider issued that person.
    pid = drive_to_scheduled(apis, "Walk-through: cybercrime in Bangkok", provider.seats())

    # The same provider signs people in to the web pages; roles come from the same grants.
    someone_new = "5d1e8f00-7a6b-4c3d-8e9f-0a1b2c3d4e5f"
    coordinator = next(p for p in people() if "agency_coordinator" in p.roles)
    asyncio.run(check_web_sign_in(apis[1], coordinator.sub, someone_new))
    refused = httpx.get(f"{apis[0]}/v1/tasks", headers=provider.bearer(someone_new), timeout=10)
    assert refused.status_code == 401 and "ask your access administrator" in refused.json()["detail"]
    log = httpx.get(f"{apis[0]}/v1/people/access-log", headers=admin, timeout=10).json()["items"]
    assert [(e["sub"], e["action"]) for e in log if e["action"].startswith("sign_in")] == [
        (coordinator.sub, "sign_in"),
        (someone_new, "sign_in_refused"),
    ]
    verified = httpx.get(f"{apis[1]}/v1/people/access-log/verify", headers=admin, timeout=10).json()
    assert (verified["valid"], verified["events"], verified["first_broken_seq"], verified["problems"]) == (
        True,
        len(log),
        None,
        [],
    )

    # As the README says: `temporal workflow list` needs nothing but the exported variables.
    env = {**walk.env, "TEMPORAL_ADDRESS": f"127.0.0.1:{walk.ports['TEMPORAL_PORT']}"}
    env["TEMPORAL_NAMESPACE"] = "ilea"
    wait_until_listed(f"proposal-{pid}", "IleaStage='scheduled'", env)

    # Production defaults on the running APIs: no docs, no schema, no metrics on the API port.
    for base in apis:
        for path in ("/docs", "/openapi.json", "/metrics"):
            assert httpx.get(base + path, timeout=10).status_code == 404, (base, path)
    # Importing the file again changes nothing (idempotent), through the real CLI and database.
    database_only = {k: v for k, v in walk.env.items() if not k.startswith("ILEA_OIDC_")}
    again = subprocess.run(
        ["ilea", "roster", "import", "deploy/examples/roster.csv"],
        cwd=walk.workdir,
        env=database_only | {"ILEA_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{walk.database}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.stdout.strip() == "deploy/examples/roster.csv: created 0, updated 0, unchanged 4", again.stderr


async def check_web_sign_in(base: str, granted: str, ungranted: str) -> None:
    """``granted`` signs in through the provider and finds their inbox with the granted roles;
    ``ungranted`` is told to ask the access administrator, shown the `sub` to give them."""
    async with loopback_browser() as browser:
        signed_in = await web_sign_in(browser, base, granted)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/ui/inbox", signed_in.text[:500]
        cookie = next(c for c in signed_in.headers.get_list("set-cookie") if c.startswith("ilea_session="))
        assert {"secure", "httponly", "samesite=lax"} <= {a.strip().lower() for a in cookie.split(";")}, cookie
        inbox = await browser.get(f"{base}/ui/inbox")
        assert inbox.status_code == 200 and "(DHS; agency coordinator)" in inbox.text, inbox.text[:500]
    async with loopback_browser() as browser:
        told = await web_sign_in(browser, base, ungranted)
        assert told.status_code == 403 and "Ask your access administrator" in told.text
        assert ungranted in told.text
