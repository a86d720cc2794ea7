"""`ilea dev`'s supervision: the worker and the API kept running, restarted with a backoff."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Child:
    """One supervised process (the worker or the API) and its restart schedule."""

    role: str
    argv: list[str]
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    started_at: float = 0.0
    restart_at: float | None = None
    backoff: float = 0.0


@dataclass
class Supervisor:
    """Keeps the stack's worker and API running until it is told to stop.

    A child that exits is started again after a backoff (1 s, doubling up to 30 s; back to 1 s
    once a run has lasted a minute), with one line saying so through ``say``.
    """

    env: dict[str, str]
    say: Callable[[str], None]
    children: list[Child] = field(default_factory=list)

    FIRST_BACKOFF_S = 1.0
    MAX_BACKOFF_S = 30.0
    STABLE_AFTER_S = 60.0

    def add(self, role: str, argv: Sequence[str], log_file: Path) -> Child:
        child = Child(role, list(argv), log_file)
        self.children.append(child)
        return child

    def start(self, child: Child) -> None:
        with open(child.log_file, "ab") as log:
            child.process = subprocess.Popen(
                child.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        child.starts += 1
        child.started_at = time.monotonic()
        child.restart_at = None

    def start_all(self) -> None:
        for child in self.children:
            self.start(child)

    def check(self, stopping: Callable[[], bool] = lambda: False) -> None:
        """One round: note children that exited, restart those whose backoff is over."""
        now = time.monotonic()
        for child in self.children:
            proc = child.process
            if child.restart_at is None and proc is not None and proc.poll() is not None:
                ran = now - child.started_at
                child.backoff = (
                    self.FIRST_BACKOFF_S
                    if ran >= self.STABLE_AFTER_S or not child.backoff
                    else min(child.backoff * 2, self.MAX_BACKOFF_S)
                )
                child.restart_at = now + child.backoff
                self.say(
                    f"the {child.role} exited (code {proc.returncode}) after {ran:.0f} s;"
                    f" restarting it in {child.backoff:.0f} s (log: {child.log_file})"
                )
            if child.restart_at is not None and now >= child.restart_at and not stopping():
                self.start(child)
                assert child.process is not None
                self.say(f"the {child.role} started again (pid {child.process.pid}, start {child.starts})")

    def stop(self, grace: float = 20) -> None:
        """SIGTERM to every child, SIGKILL to those still running after ``grace`` seconds."""
        running = [c.process for c in self.children if c.process is not None and c.process.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGTERM)
        for proc in running:
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
