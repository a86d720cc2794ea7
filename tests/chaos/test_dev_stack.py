"""Faults 5 and 6, under `ilea dev` itself (what `make run` runs): a worker SIGKILLed is
restarted by the stack, which keeps running, and a proposal submitted before the kill
completes its lifecycle; Ctrl-C and an immediate new start is up within 15 s with the
earlier proposals there (the ports' TIME_WAIT sockets no longer block it)."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ilea.devstack import free_port
from tests.chaos.stack import ANSWER_WITHIN_S, Load, _clean_env, proposal_body

pytestmark = pytest.mark.chaos

log = logging.getLogger("ilea.chaos")

UP_WITHIN_S = 15.0


@dataclass
class Dev:
    """One `ilea dev` process on fixed ports and a state directory."""

    state: Path
    ports: dict[str, int]
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def out(self) -> Path:
        return self.state / "dev.out"

    def start(self, timeout: float = 90) -> float:
        """Starts it and waits until it is up and ready; returns the seconds that took."""
        args = [sys.executable, "-m", "cli", "dev", "--headless", "--state-dir", str(self.state)]
        for name in ("api", "temporal", "pg"):
            args += [f"--{name}-port", str(self.ports[name])]
        started = time.monotonic()
        with open(self.out, "ab") as log:
            self.process = subprocess.Popen(args, env=_clean_env(), stdout=log, stderr=subprocess.STDOUT)
        seen = self.out.read_bytes().count(b"ILEA is up")
        while True:
            assert self.process.poll() is None, self.out.read_text()[-3000:]
            if self.out.read_bytes().count(b"ILEA is up") > seen:
                try:
                    if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
            assert time.monotonic() - started < timeout, f"not up in {timeout:.0f} s:\n{self.out.read_text()[-3000:]}"
            time.sleep(0.1)

    def ctrl_c(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(60)

    def child(self, role: str) -> int | None:
        """The pid of the `ilea dev` child running ``role`` (worker or api)."""
        assert self.process is not None
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            for pid in (task / "children").read_text().split():
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except FileNotFoundError:
                    continue
                if argv[-2:] == [role.encode(), b""]:
                    return int(pid)
        return None

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def dev(request: pytest.FixtureRequest) -> Iterator[Dev]:
    # Outside pytest's basetemp, like the other chaos stacks: PostgreSQL runs as its own
    # user, which cannot enter pytest's private folders (and a concurrent run prunes them).
    ports = {"api": free_port(), "temporal": free_port(), "pg": free_port()}
    d = Dev(Path(tempfile.mkdtemp(prefix="ilea-chaos-dev-")), ports)
    try:
        yield d
    finally:
        d.close()
        if getattr(request.node, "chaos_failed", False) or os.environ.get("ILEA_CHAOS_KEEP") == "1":
            log.warning("ilea dev state kept in %s", d.state)
        else:
            shutil.rmtree(d.state, ignore_errors=True)


def time_wait_on(port: int) -> int:
    """Sockets in TIME_WAIT whose local port is ``port`` (from /proc/net/tcp)."""
    n = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "06":
            n += 1
    return n


@pytest.mark.timeout(300)
async def test_ilea_dev_restarts_a_killed_worker_and_starts_again_at_once_after_ctrl_c(dev: Dev) -> None:
    """One `ilea dev` session (a stack start is a good share of `make chaos`'s time): first the
    killed worker, then Ctrl-C and an immediate new start."""
    first_up = dev.start()
    load = Load(dev.base, 3)
    today = datetime.now(UTC).date()
    async with httpx.AsyncClient(base_url=dev.base) as c:  # keep-alive: the server closes these at Ctrl-C
        for i in range(load.n):
            load.ids[i] = (await load.post(c, "/v1/proposals", proposal_body(i, today), load.tokens.po))["id"]

        # The worker SIGKILLed: the stack starts another and keeps running; the proposal
        # submitted before the kill completes its lifecycle.
        old = dev.child("worker")
        assert old is not None
        os.kill(old, signal.SIGKILL)
        killed_at = time.monotonic()
        while (new := dev.child("worker")) in (None, old) or b"the worker started again" not in dev.out.read_bytes():
            assert time.monotonic() - killed_at < 60, f"no new worker:\n{dev.out.read_text()[-2000:]}"
            await asyncio.sleep(0.1)
        restarted = time.monotonic() - killed_at
        await load.review_and_staff(c, 0, load.ids[0])
        final = (await c.get(f"/v1/proposals/{load.ids[0]}", headers=load.tokens.po)).json()
        assert final["stage"] == "scheduled"
        assert dev.process is not None and dev.process.poll() is None, "the stack stopped"
        assert b"the worker exited (code -9)" in dev.out.read_bytes()

        # Ctrl-C, and at once a new start on the same ports.
        stopping = time.monotonic()
        assert dev.ctrl_c() == 0
        stopped = time.monotonic() - stopping
    lingering = time_wait_on(dev.ports["api"])
    up = dev.start()
    async with httpx.AsyncClient(base_url=dev.base) as c:
        found = [(await c.get(f"/v1/proposals/{pid}", headers=load.tokens.po)) for pid in load.ids.values()]
    assert [r.status_code for r in found] == [200] * load.n
    assert [r.json()["title"] for r in found] == [proposal_body(i, today)["title"] for i in range(load.n)]
    assert found[0].json()["stage"] == "scheduled"
    statuses = load.assert_answered(within=ANSWER_WITHIN_S)
    print(
        f"\nfirst start {first_up:.1f} s; worker {old} killed, {new} running {restarted:.1f} s later;"
        f" Ctrl-C stopped the stack in {stopped:.1f} s, up again in {up:.1f} s ({lingering} socket(s) in"
        f" TIME_WAIT on the API port); answers {dict(statuses)}"
    )
    assert up < UP_WITHIN_S
