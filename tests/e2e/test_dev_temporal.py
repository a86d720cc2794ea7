"""The embedded Temporal server's file survives a hard kill in write-ahead-log mode.

`ilea dev` runs SQLite with ``journal_mode=wal`` and ``synchronous=normal`` (the benchmark's
biggest single gain). That must not cost what `make run` promises: workflows persist to the
file, and a server killed without warning comes back with everything it acknowledged.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from ilea.devstack import SQLITE_PRAGMAS, TemporalDevServer, free_port

pytestmark = pytest.mark.e2e


def server(db: Path, log: Path) -> TemporalDevServer:
    return TemporalDevServer(db, free_port(), free_port(), headless=True, log_file=log).start()


async def test_workflows_survive_a_killed_server(tmp_path: Path) -> None:
    db = tmp_path / "temporal.db"
    first = server(db, tmp_path / "t1.log")
    assert [first.command()[i + 1] for i, a in enumerate(first.command()) if a == "--sqlite-pragma"] == list(
        SQLITE_PRAGMAS
    )
    ids = [f"survivor-{uuid.uuid4().hex[:8]}-{i}" for i in range(20)]
    try:
        client = await Client.connect(first.address)
        for wid in ids:
            # No worker polls this queue: the workflows simply stay open.
            await client.start_workflow("NoSuchWorkflow", id=wid, task_queue="nobody-polls")
        assert (tmp_path / "temporal.db-wal").exists()  # the pragma took effect
    finally:
        assert first.process is not None
        os.kill(first.process.pid, signal.SIGKILL)  # no shutdown, no checkpoint
        first.process.wait(15)

    with sqlite3.connect(db) as con:  # journal mode is stored in the file itself
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    second = server(db, tmp_path / "t2.log")
    try:
        client = await Client.connect(second.address)
        for wid in ids:
            desc = await client.get_workflow_handle(wid).describe()
            assert desc.status is WorkflowExecutionStatus.RUNNING, wid
    finally:
        second.stop()
