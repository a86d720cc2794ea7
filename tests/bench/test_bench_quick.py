"""`python -m bench --quick` end to end: it runs, and every section reports positive figures.

No timing assertions: the figures depend on the machine; this only checks that each
section measured something.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(1200)
def test_quick_mode_reports_every_section(tmp_path: Path) -> None:
    out = tmp_path / "quick.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1100,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    assert "headline ratio" in run.stdout
    r = json.loads(out.read_text())
    assert r["mode"] == "quick"

    life = r["lifecycle"]
    assert life["completed"] == life["n"] == 20 and life["failed"] == 0
    assert life["verified_scheduled"] == 20
    assert life["lifecycles_per_s"] > 0 and life["actions_per_s"] > 0
    for endpoint in (
        "POST /v1/proposals",
        "POST isg-votes",
        "POST board-positions",
        "POST board-decision",
        "POST instructor-requests/accept",
    ):
        assert life["latency"][endpoint]["p50_ms"] > 0, endpoint
    assert life["latency"]["POST isg-votes"]["count"] == 4 * 20
    assert life["latency"]["POST instructor-requests/accept"]["count"] == 3 * 20

    floor = r["floor"]
    assert floor["completed"] == 20 and floor["failed"] == 0 and floor["lifecycles_per_s"] > 0
    assert floor["updates_per_lifecycle"] == 12
    assert r["headline"]["ratio_system_to_floor"] > 0

    cpu = r["cpu_ms_per_lifecycle"]
    for name in ("system", "floor"):
        assert cpu[name]["total"] > 0 and cpu[name]["temporal"] > 0, name
    assert cpu["system"]["worker"] > 0 and cpu["system"]["api"] > 0 and cpu["floor"]["floor_worker"] > 0
    assert cpu["ratio_floor_to_system"] == round(cpu["floor"]["total"] / cpu["system"]["total"], 3)

    paced = r["paced"]
    assert paced["n"] == paced["completed"] == paced["verified_scheduled"] == 10 and paced["failed"] == 0
    assert paced["arrival_lifecycles_per_s"] == round(life["lifecycles_per_s"] * 0.5, 3)
    assert paced["latency"]["POST isg-votes"]["count"] == 4 * 10 and paced["max_in_flight"] >= 1

    read = r["read_path"]
    assert read["seed"]["proposals"] == 5000 and read["seed"]["tasks"] > 0
    for name in ("no filter", "stage=isg_review", "academy=BKK", "topic=cybercrime", "pending_on=DHS", "q=ransomware"):
        assert read["latency"][name]["p50_ms"] > 0, name
        assert read["latency"][name]["items_per_response"] > 0, name
        assert read["explain"][name]["plan"], name
    assert read["latency"]["tasks"]["p99_ms"] > 0 and read["latency"]["tasks"]["items_per_response"] > 0

    mem = r["memory"]
    assert mem["open_proposals"] == 100 and mem["in_isg_review"] == 100
    for proc in ("worker", "api"):
        assert mem["rss_peak_mb"][proc] > 0 and mem["rss_after_mb"][proc] > 0, proc
    assert "growth" not in r
