"""`ilea dev`'s supervision and port probe, on plain processes and sockets (the whole stack
under `ilea dev` is exercised by tests/e2e and tests/chaos/test_dev_stack.py)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ilea.devstack import StartFailed, TemporalDevServer, free_port, port_is_free
from ilea.supervisor import Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def test_a_port_left_in_time_wait_is_free_a_listening_one_is_not() -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    assert not port_is_free(port)

    # The server closes first, as uvicorn does on shutdown: its side is left in TIME_WAIT.
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = listener.accept()
    conn.close()
    listener.close()
    client.close()
    plain = socket.socket()
    with pytest.raises(OSError):  # what the old probe did: "already in use" for about a minute
        plain.bind(("127.0.0.1", port))
    plain.close()
    assert port_is_free(port)


def test_a_port_free_port_picks_is_not_handed_out_again_by_the_kernel() -> None:
    """free_port's port stays off the kernel's list for bind(0) while the caller starts its server.

    The Temporal dev server binds its own internal ports (history, matching, HTTP API, ...)
    with bind(0) as it starts; a port we picked and merely closed can be handed to it, and
    the stack then dies with "address already in use" (one CI run did so).
    A port left in TIME_WAIT is never chosen by bind(0); a server with SO_REUSEADDR, as
    every server of the stack binds, may still listen on it.
    """
    port = free_port()
    plain = socket.socket()  # no SO_REUSEADDR: refused exactly while TIME_WAIT holds the port
    with pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))
    plain.close()
    assert port_is_free(port)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    server.close()


def check_until(sup: Supervisor, done: Callable[[], bool], within: float = 10) -> None:
    end = time.monotonic() + within
    while not done():
        assert time.monotonic() < end, "the supervisor did not act"
        sup.check()
        time.sleep(0.02)


def test_a_crashed_child_is_restarted_with_growing_backoff_and_a_line_each_time(tmp_path: Path) -> None:
    said: list[str] = []
    sup = Supervisor(env={}, say=said.append)
    sup.FIRST_BACKOFF_S = 0.2
    worker = sup.add("worker", SLEEPER, tmp_path / "worker.log")
    api = sup.add("api", SLEEPER, tmp_path / "api.log")
    sup.start_all()
    try:
        first = worker.process
        assert first is not None
        first.send_signal(signal.SIGKILL)
        check_until(sup, lambda: worker.starts == 2)
        assert worker.process is not first and worker.process.poll() is None
        assert said[0].startswith("the worker exited (code -9)") and "restarting it in" in said[0]
        assert said[1].startswith("the worker started again")
        assert worker.backoff == pytest.approx(0.2)

        worker.process.send_signal(signal.SIGKILL)  # again at once: the wait doubles
        check_until(sup, lambda: worker.starts == 3)
        assert worker.backoff == pytest.approx(0.4)
        assert api.starts == 1 and api.process is not None and api.process.poll() is None
    finally:
        sup.stop(grace=5)
    assert all(c.process is not None and c.process.poll() is not None for c in sup.children)


def test_no_restart_once_stopping(tmp_path: Path) -> None:
    said: list[str] = []
    sup = Supervisor(env={}, say=said.append)
    sup.FIRST_BACKOFF_S = 0.0
    worker = sup.add("worker", SLEEPER, tmp_path / "worker.log")
    sup.start_all()
    assert worker.process is not None
    worker.process.send_signal(signal.SIGINT)  # Ctrl-C reaches the children too
    worker.process.wait(10)
    for _ in range(5):
        sup.check(stopping=lambda: True)
    assert worker.starts == 1
    assert len(said) == 1 and said[0].startswith("the worker exited")


def test_a_temporal_server_that_listens_but_does_not_serve_is_not_started(tmp_path: Path) -> None:
    """The dev server counts as started only once its frontend says SERVING: under load a client
    that connected as soon as the port opened was told "Frontend is not healthy yet" and failed."""
    port = free_port()
    server = TemporalDevServer(None, port, free_port(), headless=True)
    # Something that accepts connections on the port but is no Temporal frontend.
    server.process = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        with pytest.raises(StartFailed, match=f"listens on {port} but is not serving"):
            server.wait(timeout=3)
    finally:
        server.process.kill()
        server.process.wait()
