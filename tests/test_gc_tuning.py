"""The API collects cyclic garbage less often, and skips what start-up allocated
(``ilea.loop.tune_gc``); the worker keeps CPython's thresholds (with the API's, tune_gc as a
whole, it held about 100 MiB more at peak over 1,200 lifecycles for 4-5 % of its CPU) but skips
what start-up allocated too (``ilea.loop.freeze_start_up``: 1.4-3 % of its CPU, no more memory). Each process is
checked in a child process of its own, where the collector's settings are its alone, at the
moment it starts to serve."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from ilea.loop import GC_THRESHOLDS

ROOT = Path(__file__).resolve().parents[1]

#: prints the collector's settings when the process under test starts serving, then stops it
REPORT = """
import gc, json, sys
#: what the script under test noted on the way (e.g. the frozen count when the worker was built)
noted = {}
def report(*_, **__):
    print(json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count(), **noted}))
    sys.stdout.flush()
"""


def _run(script: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(REPORT) + textwrap.dedent(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "ILEA_DATABASE_URL": "postgresql://unused/unused"},
    )
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, out.stdout
    result: dict[str, object] = json.loads(lines[0])
    return result


def test_a_fresh_interpreter_has_cpythons_settings_so_the_checks_below_mean_something() -> None:
    seen = _run("report()")
    assert seen == {"threshold": [700, 10, 10], "frozen": 0}
    assert list(GC_THRESHOLDS) != seen["threshold"]


def test_the_api_serves_with_the_collector_tuned_after_building_its_app() -> None:
    seen = _run(
        """
        import uvicorn
        from cli.main import api
        uvicorn.run = report  # serving is where it would start answering requests
        api()
        """
    )
    assert seen["threshold"] == list(GC_THRESHOLDS)
    assert isinstance(seen["frozen"], int) and seen["frozen"] > 10_000  # the app's modules, routes, schemas


def test_the_worker_polls_with_cpythons_thresholds_and_what_start_up_allocated_frozen() -> None:
    seen = _run(
        """
        import asyncio, os, signal
        import worker
        from ilea.settings import Settings

        class Pool:
            async def close(self): pass

        class Client:
            identity = "test"

        class Serving:
            async def __aenter__(self):
                report()
                os.kill(os.getpid(), signal.SIGTERM)  # the worker's own way to stop
            async def __aexit__(self, *exc): pass

        class Outbox:
            def __init__(self, *_): pass
            async def run(self, stop): await stop.wait()

        async def fake_pool(*_, **__): return Pool()
        async def fake_login(*_, **__): pass
        async def fake_connect(*_, **__): return Client()

        worker.create_pool, worker.connect, worker.EmailOutbox = fake_pool, fake_connect, Outbox
        worker.audit.check_app_login = fake_login
        worker.worker_runtime = lambda settings: None
        def build_worker(*_, **__):
            noted["frozen_when_built"] = gc.get_freeze_count()
            return Serving()

        worker.build_worker = build_worker
        asyncio.run(worker.run(Settings()))
        """
    )
    assert seen["threshold"] == [700, 10, 10]
    # start-up's objects frozen all the same, once the worker is built (its workflows' and
    # activities' definitions with it), not before: the SDK, pydantic's schemas, our modules
    assert seen["frozen_when_built"] == 0
    assert isinstance(seen["frozen"], int) and seen["frozen"] > 10_000
