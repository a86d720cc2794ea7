"""The SVG chart of one run (``bench-results/latest.svg``), written by hand: no library, no
network, the same bytes for the same results.

Panels: lifecycles/s, system beside floor; CPU milliseconds per lifecycle by process; then
p50 and p99 per endpoint for the closed loop, the paced run and the read path, each with
its goal marked. ``python -m bench.chart results.json [out.svg]`` draws it again from a JSON.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from bench import goals, report

WIDTH = 980
LABEL_W = 250  # the row labels' column
VALUE_W = 150  # room right of the bars for their figures
BAR_H = 14
ROW_H = 20
FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'"

#: Process colours, one per role wherever it appears.
COLOURS = {
    "temporal": "#4e79a7",
    "worker": "#f28e2b",
    "floor_worker": "#f28e2b",
    "api": "#59a14f",
    "postgres": "#b07aa1",
    "bench_client": "#bab0ac",
}
NAMES = {
    "temporal": "Temporal server",
    "worker": "worker",
    "floor_worker": "worker",
    "api": "API",
    "postgres": "PostgreSQL",
    "bench_client": "load generator",
}
P50, P99, GOAL = "#9ecae9", "#1f5f99", "#d62728"


@dataclass
class Segment:
    value: float
    colour: str


@dataclass
class Row:
    label: str
    segments: list[Segment]  # stacked left to right
    note: str = ""
    #: a goal for this row only (a tick across the bar)
    goal: float | None = None


class Svg:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.y = 0.0

    def text(
        self,
        x: float,
        y: float,
        s: str,
        size: int = 12,
        anchor: str = "start",
        weight: str = "normal",
        fill: str = "black",
    ) -> None:
        self.parts.append(
            f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}' "
            f"font-weight='{weight}' fill='{fill}' {FONT}>{escape(s)}</text>"
        )

    def rect(self, x: float, y: float, w: float, h: float, fill: str, title: str = "") -> None:
        tip = f"<title>{escape(title)}</title>" if title else ""
        self.parts.append(
            f"<rect x='{x:.1f}' y='{y:.1f}' width='{max(w, 0.0):.1f}' height='{h:.1f}' fill='{fill}'>{tip}</rect>"
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, colour: str, dash: bool = False, w: float = 1.5) -> None:
        d = " stroke-dasharray='5,3'" if dash else ""
        self.parts.append(
            f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' stroke='{colour}' stroke-width='{w}'{d}/>"
        )

    def render(self) -> str:
        h = self.y + 10
        return (
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{h:.0f}' "
            f"viewBox='0 0 {WIDTH} {h:.0f}'>\n<rect width='100%' height='100%' fill='white'/>\n"
            + "\n".join(self.parts)
            + "\n</svg>\n"
        )


def _nice(top: float) -> float:
    """A round scale maximum at or above ``top`` (1, 2, 2.5 or 5 times a power of ten)."""
    if top <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(top))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= top)


def panel(
    svg: Svg,
    title: str,
    rows: Sequence[Row],
    unit: str,
    goal: tuple[float, str] | None = None,
    legend: Sequence[tuple[str, str]] = (),
) -> None:
    """Horizontal bars, one row each, on one linear scale from 0; ``goal`` is a dashed line."""
    if not rows:
        return
    svg.y += 26
    svg.text(10, svg.y, title, size=14, weight="bold")
    if legend:
        svg.y += 16
        lx = 10.0
        for name, colour in legend:
            svg.rect(lx, svg.y - 9, 10, 10, colour)
            svg.text(lx + 14, svg.y, name, size=11)
            lx += 14 + len(name) * 6.5 + 14
    svg.y += 16
    x0, span = LABEL_W, WIDTH - LABEL_W - VALUE_W
    top = max([sum(s.value for s in r.segments) for r in rows] + [g for r in rows if (g := r.goal)] + [0.0])
    if goal:
        top = max(top, goal[0])
    scale = _nice(top)

    def x(v: float) -> float:
        return x0 + span * v / scale

    y_first = svg.y
    for r in rows:
        svg.text(x0 - 8, svg.y + BAR_H - 3, r.label, size=12, anchor="end")
        at = 0.0
        for s in r.segments:
            svg.rect(x(at), svg.y, x(at + s.value) - x(at), BAR_H, s.colour, f"{r.label}: {s.value:g} {unit}")
            at += s.value
        if r.goal is not None:
            svg.line(x(r.goal), svg.y - 2, x(r.goal), svg.y + BAR_H + 2, GOAL, w=2.5)
        if r.note:
            svg.text(max(x(at), x(r.goal or 0.0)) + 6, svg.y + BAR_H - 3, r.note, size=11)
        svg.y += ROW_H
    # axis: 0, half, full
    for v in (0.0, scale / 2, scale):
        svg.line(x(v), y_first - 4, x(v), svg.y, "#cccccc", w=0.7)
        svg.text(x(v), svg.y + 12, f"{v:g} {unit}" if v == scale else f"{v:g}", size=10, anchor="middle")
    if goal:
        svg.line(x(goal[0]), y_first - 6, x(goal[0]), svg.y + 2, GOAL, dash=True)
        svg.text(x(goal[0]) + 4, y_first - 8, goal[1], size=10)
    svg.y += 16


def _ms(v: float) -> str:
    return f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms"


def latency_rows(lat: dict[str, Any], rename: dict[str, str] | None = None) -> list[Row]:
    """p50 as the light part of the bar, p99 where it ends."""
    rows = []
    for name, x in lat.items():
        p50, p99 = float(x["p50_ms"]), float(x["p99_ms"])
        rows.append(
            Row(
                (rename or {}).get(name, name),
                [Segment(p50, P50), Segment(max(p99 - p50, 0.0), P99)],
                f"p50 {_ms(p50)}  p99 {_ms(p99)}",
            )
        )
    return rows


def floor_update_p99(floor: dict[str, Any], submission: bool) -> float:
    """The floor's p99 the goal compares with: update-with-start for a submission, else the
    worst p99 of its other Updates."""
    lat = floor["latency"]
    if submission:
        return float(lat.get("update-with-start", {}).get("p99_ms", 0.0))
    return max((float(v["p99_ms"]) for k, v in lat.items() if k != "update-with-start"), default=0.0)


def render(r: dict[str, Any]) -> str:
    svg = Svg()
    env = r.get("environment", {})
    svg.y = 22
    svg.text(
        10,
        svg.y,
        f"ILEA benchmark, {r.get('mode', '?')} mode, {env.get('date', '?')}, commit {env.get('git_commit', '?')}",
        size=16,
        weight="bold",
    )
    svg.y += 16
    load = env.get("loadavg_at_start", ["?"])[0], env.get("loadavg_at_end", ["?"])[0]
    others = f", other processes {report.others_cores(r['lifecycle']):.1f} cores" if "cpu" in r["lifecycle"] else ""
    svg.text(
        10,
        svg.y,
        f"{env.get('cpus', '?')} CPUs, load average {load[0]} → {load[1]}{others}; load generator: "
        f"{r.get('client', 'httpx')} client. Red marks are the goals of issue 17.",
        size=11,
    )
    svg.y += 8
    for g in goals.evaluate(r):
        svg.y += 15
        colour = {True: "#2ca02c", False: GOAL, None: "#888888"}[g["met"]]
        mark = {True: "met", False: "not met", None: "-"}[g["met"]]
        svg.text(10, svg.y, mark, size=11, weight="bold", fill=colour)
        svg.text(70, svg.y, f"{g['goal']}: {g['measured']}", size=11)
    life, fl = r["lifecycle"], r["floor"]
    ratio = r["headline"]["ratio_system_to_floor"]
    turns = r.get("parameters", {}).get("headline_rounds")  # each a whole run of N (older results: N in all)
    size = f"N={r['parameters']['n']} x {turns} turns" if turns else f"N={life['n']}"
    panel(
        svg,
        f"Lifecycles/s, {size}, C={life['concurrency']}: system ÷ floor = {ratio:.2f}",
        [
            Row(
                "system (HTTP, the whole product)",
                [Segment(life["lifecycles_per_s"], "#4e79a7")],
                f"{life['lifecycles_per_s']:.2f}/s",
            ),
            Row(
                "floor (bare workflow, SDK)",
                [Segment(fl["lifecycles_per_s"], "#bab0ac")],
                f"{fl['lifecycles_per_s']:.2f}/s",
            ),
        ],
        "/s",
        goal=(fl["lifecycles_per_s"] * goals.RATIO, "goal ≥ ½ floor"),
    )
    cpu = r.get("cpu_ms_per_lifecycle")
    if cpu:
        rows = []
        for side in ("system", "floor"):
            procs = [k for k in COLOURS if k in cpu[side]]
            service, total = cpu[side].get("service", cpu[side]["total"]), cpu[side]["total"]
            rows.append(
                Row(
                    f"{side}",
                    [Segment(cpu[side][k], COLOURS[k]) for k in procs],
                    # short: the figure must fit the room right of the longest bar (VALUE_W)
                    f"{service:.0f} ms (+{total - service:.0f} load gen.)",
                )
            )
        legend = [(NAMES[k], COLOURS[k]) for k in COLOURS if k != "floor_worker"]
        floor_service = cpu["floor"].get("service", cpu["floor"]["total"])
        panel(
            svg,
            f"CPU ms per lifecycle: floor ÷ system (service) = {cpu['ratio_floor_to_system']:.2f}",
            rows,
            "ms",
            goal=(floor_service / goals.RATIO, "goal: service ≤ 2x floor's"),
            legend=legend,
        )
    rows = latency_rows(life["latency"])
    for row, name in zip(rows, life["latency"], strict=True):
        base = goals.floor_p99(r, name)
        row.goal = goals.CLOSED_LOOP_FACTOR * base if base else None
    rows += latency_rows(fl["latency"], {k: f"floor: {k}" for k in fl["latency"]})
    panel(
        svg,
        f"Action latency, closed loop C={life['concurrency']} (light p50, dark p99)",
        rows,
        "ms",
        legend=[("p50", P50), ("p99", P99), ("goal: p99 ≤ 1.5x the floor's p99 for the same Update", GOAL)],
    )
    sections: list[tuple[str, dict[str, Any], float]] = []  # title, its latencies, the p99 goal
    if paced := r.get("paced"):
        rate = paced["arrival_lifecycles_per_s"]
        sections.append((f"Action latency, paced at {rate:.2f} lifecycles/s", paced, goals.PACED_P99_MS))
    if read := r.get("read_path"):
        sections.append((f"Reads at {read['seed']['proposals']:,} proposals, one client", read, goals.READ_P99_MS))
    for title, section, limit in sections:
        panel(svg, title, latency_rows(section["latency"]), "ms", goal=(limit, f"goal p99 ≤ {limit:.0f} ms"))
    growth = r.get("growth")
    if growth:
        panel(
            svg,
            "Growth: lifecycles/s by N",
            [
                Row(f"N={g['n']}", [Segment(g["lifecycles_per_s"], "#4e79a7")], f"{g['lifecycles_per_s']:.2f}/s")
                for g in growth
            ],
            "/s",
        )
    mem = r.get("memory")
    if mem:
        panel(
            svg,
            f"Peak RSS with {mem['open_proposals']:,} more proposals open",
            [
                Row(NAMES.get(k, k), [Segment(v, COLOURS.get(k, "#888888"))], f"{v:.0f} MiB")
                for k, v in mem["rss_peak_mb"].items()
                if k in ("worker", "api", "temporal")
            ],
            "MiB",
            goal=(goals.WORKER_RSS_MB * 1e6 / 2**20, f"worker goal ≤ {goals.WORKER_RSS_MB:.0f} MB"),
        )
    return svg.render()


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        sys.stderr.write("usage: python -m bench.chart results.json [out.svg]\n")
        return 2
    src = Path(argv[0])
    out = Path(argv[1]) if len(argv) > 1 else src.with_suffix(".svg")
    out.write_text(render(json.loads(src.read_text())))
    sys.stdout.write(f"{out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
