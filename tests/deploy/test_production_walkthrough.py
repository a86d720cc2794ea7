"""deploy/README.md's production walk-through, run as written: a Temporal server of its own,
the machine's PostgreSQL (a fresh database), `ilea migrate`, `ilea roster import`, two
workers and two APIs with production settings; then one proposal to `scheduled` through
both APIs, and the production defaults checked on the running processes.

Needs the machine's PostgreSQL at 127.0.0.1:5432 letting `postgres` in (CI's), plus
`openssl`, `curl` and `createdb`; skipped, saying which is missing, without them.
"""

from __future__ import annotations

import contextlib
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
from tests.deploy.production import JWT_ISSUER, JWT_SECRET, drive_to_scheduled
from tests.support import wait_until_listed

pytestmark = pytest.mark.e2e

README = DEPLOY / "README.md"
PG = {"PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "postgres"}


def walkthrough_script() -> str:
    text = README.read_text()
    block = re.search(r"<!-- walkthrough:begin -->\n```sh\n(.*?)```\n<!-- walkthrough:end -->", text, re.S)
    assert block, "deploy/README.md has no walk-through block"
    return block[1]


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
        # The tokens below are signed with the key the processes check them with.
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
def walkthrough(tmp_path: Path) -> Iterator[Walkthrough]:
    missing = _missing()
    if missing:
        pytest.skip(f"the production walk-through needs the machine's tools: {missing}")
    walk = Walkthrough(tmp_path)
    try:
        yield walk
    finally:
        walk.stop()
        subprocess.run(["dropdb", "--if-exists", "--force", walk.database], env=walk.env, check=False, timeout=60)
        drop_login = f'DROP ROLE IF EXISTS "{walk.database}_api"'  # the walk-through's application login
        subprocess.run(["psql", "-q", "-d", "postgres", "-c", drop_login], env=walk.env, check=False, timeout=60)


def test_the_production_walkthrough_takes_a_proposal_to_scheduled(walkthrough: Walkthrough) -> None:
    out = walkthrough.run()
    host = socket.gethostname()
    assert re.search(r"^applied: 001_schema\.sql, ", out, re.M), out
    assert f"export ILEA_JWT_ISSUER={JWT_ISSUER} " in walkthrough_script()
    assert "deploy/examples/roster.csv: created 4, updated 0, unchanged 0" in out, out
    for name in ("worker-1", "worker-2"):
        assert f"worker ready: {name}@{host} is polling" in out, out

    pid = drive_to_scheduled([walkthrough.api(1), walkthrough.api(2)], "Walk-through: cybercrime in Bangkok")

    # As the README says: `temporal workflow list` needs nothing but the exported variables.
    env = {**walkthrough.env, "TEMPORAL_ADDRESS": f"127.0.0.1:{walkthrough.ports['TEMPORAL_PORT']}"}
    env["TEMPORAL_NAMESPACE"] = "ilea"
    wait_until_listed(f"proposal-{pid}", "IleaStage='scheduled'", env)

    # Production defaults on the running APIs: no docs, no schema, no metrics on the API port.
    for n in (1, 2):
        for path in ("/docs", "/openapi.json", "/metrics"):
            assert httpx.get(walkthrough.api(n) + path, timeout=10).status_code == 404, (n, path)
    # Importing the file again changes nothing (idempotent), through the real CLI and database.
    again = subprocess.run(
        ["ilea", "roster", "import", "deploy/examples/roster.csv"],
        cwd=walkthrough.workdir,
        env=walkthrough.env | {"ILEA_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{walkthrough.database}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.stdout.strip() == "deploy/examples/roster.csv: created 0, updated 0, unchanged 4", again.stderr
