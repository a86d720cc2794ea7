"""The goal table and the SVG chart from a run's results (made up here, shaped like the JSON)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from bench import chart, goals

SVG = "{http://www.w3.org/2000/svg}"


def lat(p50: float, p99: float) -> dict[str, Any]:
    return {"count": 100, "mean_ms": p50, "p50_ms": p50, "p95_ms": p99, "p99_ms": p99, "max_ms": p99}


def results(system: float = 2.5, floor: float = 5.0, n400: float = 2.5) -> dict[str, Any]:
    actions = {a: lat(300.0, 950.0) for a in goals.FLOOR_COUNTERPART}
    floor_lat = {u: lat(200.0, 600.0) for u in goals.FLOOR_COUNTERPART.values()}
    return {
        "mode": "full",
        "client": "raw",
        "environment": {"date": "2026-12-01T00:00:00+00:00", "cpus": 2, "git_commit": "abc1234"},
        "lifecycle": {"n": 200, "concurrency": 50, "lifecycles_per_s": system, "latency": actions},
        "floor": {"n": 200, "concurrency": 50, "lifecycles_per_s": floor, "latency": floor_lat},
        "headline": {"ratio_system_to_floor": round(system / floor, 4)},
        "cpu_ms_per_lifecycle": {
            "system": {
                "temporal": 200.0,
                "worker": 200.0,
                "api": 60.0,
                "postgres": 40.0,
                "bench_client": 10.0,
                "service": 500.0,
                "total": 510.0,
            },
            "floor": {"temporal": 130.0, "floor_worker": 110.0, "bench_client": 18.0, "service": 240.0, "total": 258.0},
            "ratio_floor_to_system": 0.48,
            "ratio_floor_to_system_incl_load_generators": 0.506,
        },
        "paced": {"arrival_lifecycles_per_s": 1.2, "latency": {a: lat(40.0, 120.0) for a in actions}},
        "read_path": {
            "seed": {"proposals": 100_000},
            "latency": {
                "no filter": lat(6.0, 12.0),
                "q=ransomware": lat(12.0, 26.0),
                "tasks": lat(5.0, 9.0),
                "tasks limit=500": lat(20.0, 40.0),
            },
        },
        "growth": [{"n": 100, "lifecycles_per_s": 2.5}, {"n": 400, "lifecycles_per_s": n400}],
        "memory": {"open_proposals": 1000, "rss_peak_mb": {"worker": 300.0, "api": 130.0, "temporal": 380.0}},
    }


def test_goals_are_judged_at_their_thresholds() -> None:
    met = {g["goal"]: g["met"] for g in goals.evaluate(results(system=2.5, floor=5.0, n400=2.875))}
    assert met["system ÷ floor lifecycles/s ≥ 0.5 (N=200, C=50)"] is True  # exactly half
    assert met["floor ÷ system service CPU per lifecycle ≥ 0.5"] is False  # 0.48
    assert met["paced p99 of every action ≤ 250 ms"] is True
    assert met["closed-loop p99 ≤ 1.5x the floor's p99 for the same Update"] is False  # 950 / 600
    assert met["reads p99 ≤ 25 ms at 100,000 proposals"] is False  # q at 26 ms; limit=500 is not judged
    assert met["growth N=100 → 400 within 15%"] is True  # +15 %
    assert met["worker RSS ≤ 400 MB with 1,000 more open"] is True  # 300 MiB = 315 MB
    worse = {g["goal"]: g["met"] for g in goals.evaluate(results(system=2.45, n400=2.9))}
    assert worse["system ÷ floor lifecycles/s ≥ 0.5 (N=200, C=50)"] is False
    assert worse["growth N=100 → 400 within 15%"] is False  # +16 %
    reads = next(g for g in goals.evaluate(results()) if g["goal"].startswith("reads"))
    assert "q=ransomware" in reads["measured"] and "tasks limit=500" not in reads["detail"]


def test_the_chart_is_svg_with_a_bar_per_figure_drawn_to_scale() -> None:
    r = results(system=2.0, floor=5.0)
    svg = chart.render(r)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    for action in goals.FLOOR_COUNTERPART:
        assert texts.count(action) == 2, action  # closed loop and paced
    for query in r["read_path"]["latency"]:
        assert query in texts
    assert sum(t in ("met", "not met") for t in texts) == len(goals.evaluate(r))
    # The lifecycles/s bars: system 2/5 of the floor's length.
    bars = {
        rect.findtext(f"{SVG}title", "").split(":")[0]: float(rect.get("width", "0"))
        for rect in root.iter(f"{SVG}rect")
        if rect.find(f"{SVG}title") is not None
    }
    assert bars["system (HTTP, the whole product)"] / bars["floor (bare workflow, SDK)"] == pytest.approx(0.4, 0.01)
    # CPU by process: one segment per process, widths in proportion to the milliseconds.
    cpu = [rect for rect in root.iter(f"{SVG}rect") if rect.findtext(f"{SVG}title", "").startswith("system: ")]
    assert len(cpu) == 5
    widths = sorted(float(c.get("width", "0")) for c in cpu)
    assert widths[-1] / widths[0] == pytest.approx(200 / 10, 0.02)
    assert chart.render(r) == svg  # the same results, the same bytes
