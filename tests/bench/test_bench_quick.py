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


def bench(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m bench --quick *args --out out``, which must succeed."""
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", *args, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1100,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return run


@pytest.mark.timeout(1200)
def test_quick_mode_reports_every_section(tmp_path: Path) -> None:
    out = tmp_path / "quick.json"
    run = bench(out)
    assert "headline ratio" in run.stdout
    r = json.loads(out.read_text())
    assert r["mode"] == "quick"

    # each side's turns are whole runs of N (S F F S): 2 x 20 lifecycles each
    total = r["parameters"]["n"] * r["parameters"]["headline_rounds"]
    assert (r["parameters"]["n"], total) == (20, 40)
    life = r["lifecycle"]
    assert life["completed"] == life["n"] == total and life["failed"] == 0
    assert life["verified_scheduled"] == total
    assert life["lifecycles_per_s"] > 0 and life["actions_per_s"] > 0
    for endpoint in (
        "POST /v1/proposals",
        "POST isg-votes",
        "POST board-positions",
        "POST board-decision",
        "POST instructor-requests/accept",
    ):
        assert life["latency"][endpoint]["p50_ms"] > 0, endpoint
    assert life["latency"]["POST isg-votes"]["count"] == 4 * total
    assert life["latency"]["POST instructor-requests/accept"]["count"] == 3 * total

    floor = r["floor"]
    assert floor["completed"] == total and floor["failed"] == 0 and floor["lifecycles_per_s"] > 0
    assert floor["updates_per_lifecycle"] == 12
    assert r["headline"]["ratio_system_to_floor"] > 0
    # one ratio per round of turns, each from that round's own two runs
    rounds = r["headline"]["round_ratios"]
    assert len(rounds) == r["parameters"]["headline_rounds"] and all(x > 0 for x in rounds)
    # the whole run's ratio is the rounds' mediant (each turn is N lifecycles): between the two
    whole = r["headline"]["ratio_system_to_floor"]
    assert min(rounds) - 0.001 <= whole <= max(rounds) + 0.001, (whole, rounds)
    assert "(each round: " in run.stdout

    assert r["client"] == "raw"
    cpu = r["cpu_ms_per_lifecycle"]
    for name in ("system", "floor"):
        assert cpu[name]["total"] > cpu[name]["service"] > cpu[name]["temporal"] > 0, name
        assert cpu[name]["bench_client"] > 0, name
    assert cpu["system"]["worker"] > 0 and cpu["system"]["api"] > 0 and cpu["floor"]["floor_worker"] > 0
    assert cpu["ratio_floor_to_system"] == round(cpu["floor"]["service"] / cpu["system"]["service"], 3)

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
    # The inbox in pages: the default page, the one after it, and the 500 at once it replaced.
    tasks, after, all_at_once = (read["latency"][k] for k in ("tasks", "tasks next page", "tasks limit=500"))
    assert tasks["items_per_response"] == 50 and tasks["next_cursor"] and tasks["p99_ms"] > 0
    assert after["items_per_response"] > 0 and after["p99_ms"] > 0
    assert all_at_once["items_per_response"] > 50
    assert read["explain"]["tasks next page"]["plan"]

    mem = r["memory"]
    assert mem["open_proposals"] == 100 and mem["in_isg_review"] == 100
    for proc in ("worker", "api"):
        assert mem["rss_peak_mb"][proc] > 0 and mem["rss_after_mb"][proc] > 0, proc
    assert "growth" not in r
    assert {g["goal"].split(" ")[0] for g in r["goals"]} >= {"system", "floor", "paced", "closed-loop", "reads"}
    svg = out.with_suffix(".svg").read_text()
    assert svg.startswith("<svg") and "POST isg-votes" in svg and "Reads at 5,000 proposals" in svg


@pytest.mark.timeout(900)
def test_ab_client_experiment_interleaves_both_clients(tmp_path: Path) -> None:
    out = tmp_path / "ab.json"
    run = bench(out, "--ab", "client")
    x = json.loads(out.read_text())["ab"]["client"]
    assert x["rounds"] == 2 and list(x["variants"]) == ["httpx", "raw"]
    for v in x["variants"].values():
        assert v["completed"] == 2 * x["n_per_round"] and v["failed"] == 0
        assert [round_["completed"] for round_ in v["rounds"]] == [x["n_per_round"]] * 2
        assert v["cpu_ms_per_lifecycle"]["bench_client"] > 0 and v["service_cpu_ms_per_lifecycle"] > 0
    q = x["ratio_b_to_a"]
    assert q["cpu_ms_per_lifecycle"]["bench_client"] == round(
        x["variants"]["raw"]["cpu_ms_per_lifecycle"]["bench_client"]
        / x["variants"]["httpx"]["cpu_ms_per_lifecycle"]["bench_client"],
        3,
    )
    assert "B/A" in run.stdout


@pytest.mark.timeout(900)
def test_ab_together_runs_both_sides_at_once_and_meters_each_alone(tmp_path: Path) -> None:
    """--ab-together: both variants in every round at the same time, each side's own worker and
    API metered (not the shared Temporal and PostgreSQL, nor the load generator)."""
    out = tmp_path / "ab.json"
    run = bench(out, "--ab", "aa", "--ab-together")
    x = json.loads(out.read_text())["ab"]["aa"]
    assert x["side_by_side"] is True and x["rounds"] == 2 and len(x["variants"]) == 2
    for v in x["variants"].values():
        assert v["completed"] == 2 * x["n_per_round"] and v["failed"] == 0
        assert set(v["cpu_ms_per_lifecycle"]) == {"worker", "api"}
        assert all(ms > 0 for ms in v["cpu_ms_per_lifecycle"].values())
        # (each figure rounded to 0.1 ms on its own)
        assert abs(v["service_cpu_ms_per_lifecycle"] - sum(v["cpu_ms_per_lifecycle"].values())) <= 0.2
        # each side's own processes' memory while it ran (a worker or API holding the app is over 50 MiB)
        assert set(v["rss_peak_mb"]) == {"worker", "api"} and all(mb > 50 for mb in v["rss_peak_mb"].values())
    assert set(x["ratio_b_to_a"]["cpu_ms_per_lifecycle"]) == {"worker", "api"}
    assert set(x["ratio_b_to_a"]["rss_peak_mb"]) == {"worker", "api"}
    assert "worker peak" in run.stdout and "peak RSS" in run.stdout
    assert "rounds side by side (worker and API only)" in run.stdout


@pytest.mark.timeout(900)
def test_ab_against_a_commit_runs_that_commits_worker_and_api(tmp_path: Path) -> None:
    """--ab ref:<commit>: side A is the worker and API of that commit's tree (here HEAD), side B
    today's working tree; both take the same load."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    out = tmp_path / "ab.json"
    run = bench(out, "--ab", "ref:HEAD", "--ab-together", "--ab-rounds", "1")
    x = json.loads(out.read_text())["ab"]["ref:HEAD"]
    assert x["commit"] == head.stdout.strip()
    assert list(x["variants"]) == ["at HEAD", "today's"]
    for v in x["variants"].values():
        assert v["completed"] == x["n_per_round"] and v["failed"] == 0
        assert all(ms > 0 for ms in v["cpu_ms_per_lifecycle"].values())
    assert "B/A" in run.stdout


def test_ab_against_a_name_that_is_no_commit_is_refused_before_anything_starts() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--ab", "ref:no-such-branch-anywhere"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2 and "name no commit of this repository: ref:no-such-branch-anywhere" in run.stderr


def test_a_commits_tree_runs_its_own_modules_not_the_installed_ones(tmp_path: Path) -> None:
    """What --ab ref:<commit> rests on: a process started from the exported tree (as
    bench.stack.start_process does, with the tree as its working directory) imports the tree's
    packages, not the editable install's."""
    from bench import stack, variants

    tree = variants.export_tree("HEAD", tmp_path)
    assert (tree / "worker.py").is_file() and (tree / "ilea" / "__init__.py").is_file()
    where = "import ilea, worker, workflows.proposal as p; print(ilea.__file__, worker.__file__, p.__file__)"
    seen = subprocess.run(
        [sys.executable, "-c", where],
        cwd=tree,
        env=stack.clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert all(Path(f).is_relative_to(tree) for f in seen.stdout.split()), seen.stdout
