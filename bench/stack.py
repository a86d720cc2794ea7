"""The system under test: `ilea dev` on free ports in a temporary state directory, as `make run`
starts it, and the memory of its processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from ilea.devstack import free_port

#: The roles `ilea dev` starts as `python -m cli <role>`.
ROLES = ("worker", "api")
#: the project's root, where the processes of the stack run from
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class DevStack:
    """A running `ilea dev` and the addresses of what it started."""

    state: Path
    process: subprocess.Popen[bytes]
    api_port: int
    temporal_port: int
    pg_port: int
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def temporal(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    def pg_url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{database}"


#: Every benchmark proposal has a course day of its own (no two bookings overlap), and a full
#: run takes more than three years of them (the growth series and the 1,000 proposals of the
#: memory phase alone take 1,800): the benchmark's own stack lets courses start up to this many
#: days ahead instead of the default 1,095. Nothing an action costs depends on the date.
HORIZON_DAYS = 7300


def clean_env() -> dict[str, str]:
    """This environment without ILEA_/TEMPORAL_ settings, so the stack uses its own (and the
    benchmark's course-day horizon, :data:`HORIZON_DAYS`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ILEA_", "TEMPORAL_"))}
    return {**env, "ILEA_MAX_HORIZON_DAYS": str(HORIZON_DAYS)}


def start(state: Path, timeout: float = 120) -> DevStack:
    """Start `ilea dev --headless` on free ports and wait until /readyz answers 200."""
    api_port, t_port, ui_port, pg_port = free_port(), free_port(), free_port(), free_port()
    cmd = [
        sys.executable,
        "-m",
        "cli",
        "dev",
        "--headless",
        "--state-dir",
        str(state),
        "--api-port",
        str(api_port),
        "--temporal-port",
        str(t_port),
        "--ui-port",
        str(ui_port),
        "--pg-port",
        str(pg_port),
    ]
    out = state / "dev.out"
    with open(out, "wb") as log:
        proc = subprocess.Popen(cmd, env=clean_env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    stack = DevStack(state=state, process=proc, api_port=api_port, temporal_port=t_port, pg_port=pg_port)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"`ilea dev` exited ({proc.returncode}):\n{out.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if b"ILEA is up" in out.read_bytes() and httpx.get(f"{stack.api}/readyz").status_code == 200:
                break
        if time.monotonic() > deadline:
            stop(stack)
            raise TimeoutError(f"the stack did not come up in {timeout:.0f} s:\n{out.read_text()[-3000:]}")
        time.sleep(0.3)
    stack.pids = child_pids(proc.pid)
    return stack


def child_pids(dev_pid: int) -> dict[str, int]:
    """The worker, API and Temporal server started by the `ilea dev` process."""
    found: dict[str, int] = {}
    for child in psutil.Process(dev_pid).children(recursive=False):
        with contextlib.suppress(psutil.Error):
            cmd = child.cmdline()
            if len(cmd) >= 2 and cmd[-2] == "cli" and cmd[-1] in ROLES:
                found[cmd[-1]] = child.pid
            elif any(part.endswith("temporal") for part in cmd[:1]) and "server" in cmd:
                found["temporal"] = child.pid
    missing = [r for r in ROLES if r not in found]
    if missing:
        raise RuntimeError(f"could not find the {', '.join(missing)} process(es) of `ilea dev`")
    return found


def stop(stack: DevStack) -> int | None:
    """Ctrl-C, as a person would; returns the exit code."""
    if stack.process.poll() is not None:
        return stack.process.returncode
    stack.process.send_signal(signal.SIGINT)
    try:
        return stack.process.wait(90)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        return None


def rss_mb(pid: int) -> float:
    """Resident set size of one process in MiB (0 when it is gone)."""
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return 0.0


class RssSampler:
    """Samples the RSS of named processes in the background and keeps the peaks."""

    def __init__(self, pids: dict[str, int], interval: float = 0.25) -> None:
        self.pids = pids
        self.interval = interval
        self.peak: dict[str, float] = dict.fromkeys(pids, 0.0)
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> dict[str, float]:
        now = {name: rss_mb(pid) for name, pid in self.pids.items()}
        for name, mb in now.items():
            self.peak[name] = max(self.peak[name], mb)
        return now

    def reset(self) -> None:
        self.peak = dict.fromkeys(self.pids, 0.0)
        self.sample()

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task:
            self._task.cancel()
        self.sample()


def postgres_pid(state: Path) -> int | None:
    """The postmaster of the stack's embedded PostgreSQL (first line of postmaster.pid)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((state / "pgdata" / "postmaster.pid").read_text().splitlines()[0])
    return None


def _cpu_seconds(pid: int, tree: bool) -> float:
    try:
        procs = [psutil.Process(pid)]
        if tree:
            procs += procs[0].children(recursive=True)
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


class CpuMeter:
    """CPU seconds each process (PostgreSQL: the postmaster and its backends) spends in a phase."""

    def __init__(self, pids: dict[str, int], trees: frozenset[str] = frozenset({"postgres"})) -> None:
        self.pids = {**pids, "bench_client": os.getpid()}
        self.trees = trees
        self._start: dict[str, float] = {}
        self._t0 = 0.0

    def _now(self) -> dict[str, float]:
        now = {name: _cpu_seconds(pid, name in self.trees) for name, pid in self.pids.items()}
        t = psutil.cpu_times()
        # Everything the machine ran, ours or not (other sessions share it).
        now["machine_total"] = sum(t) - t.idle - getattr(t, "iowait", 0.0)
        return now

    def start(self) -> None:
        self._start = self._now()
        self._t0 = time.perf_counter()

    def stop(self) -> dict[str, object]:
        """CPU seconds per process since :meth:`start`, and as cores busy on average."""
        wall = time.perf_counter() - self._t0
        end = self._now()
        used = {k: max(end[k] - self._start.get(k, 0.0), 0.0) for k in end}
        return {
            "wall_seconds": round(wall, 2),
            "cpu_seconds": {k: round(v, 2) for k, v in used.items()},
            "cores_busy": {k: round(v / wall, 2) for k, v in used.items()} if wall else {},
            "machine_cores": psutil.cpu_count(),
        }


def start_api(
    env: dict[str, str],
    log: Path,
    timeout: float = 60,
    command: tuple[str, list[str]] = ("cli", ["api"]),
    root: Path | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """Another `ilea api` process (or ``python -m`` another ``command``: an A/B baseline; from
    another ``root``: an earlier commit) with these settings (beside the stack's own environment's
    defaults) on a free port; returns once its /readyz answers 200 (a worker polls its queue)."""
    port = free_port()
    proc = start_process(*command, {**env, "ILEA_API_PORT": str(port)}, log, root)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"`ilea api` exited:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz").status_code == 200:
                return proc, base
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"`ilea api` did not become ready in {timeout:.0f} s:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)


def start_process(
    module: str, args: list[str], env: dict[str, str], log: Path, root: Path | None = None
) -> subprocess.Popen[bytes]:
    """``python -m module *args`` from the project root (or another tree of the project: its
    modules come first on the path), with these settings over a clean environment."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env={**clean_env(), **env},
            cwd=root or ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def add_cpu(a: dict[str, Any] | None, b: dict[str, Any]) -> dict[str, Any]:
    """Two :meth:`CpuMeter.stop` readings as one (the phases of a run taken in parts)."""
    if a is None:
        return b
    wall = a["wall_seconds"] + b["wall_seconds"]
    used = {k: a["cpu_seconds"].get(k, 0.0) + v for k, v in b["cpu_seconds"].items()}
    return {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": {k: round(v, 2) for k, v in used.items()},
        "cores_busy": {k: round(v / wall, 2) for k, v in used.items()} if wall else {},
        "machine_cores": b["machine_cores"],
    }
