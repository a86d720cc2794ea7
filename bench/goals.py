"""Issue 17's goals, checked against one run's results (printed with the table, drawn on the chart)."""

from __future__ import annotations

from typing import Any

#: Each action and the floor's Update it is held against (update-with-start for submissions).
FLOOR_COUNTERPART = {
    "POST /v1/proposals": "update-with-start",
    "POST isg-votes": "update isg_vote",
    "POST board-positions": "update board_position",
    "POST board-decision": "update board_decision",
    "POST instructor-requests/accept": "update accept",
}
RATIO = 0.5
PACED_P99_MS = 250.0
CLOSED_LOOP_FACTOR = 1.5
READ_P99_MS = 25.0
GROWTH = 0.15
WORKER_RSS_MB = 400.0
#: The read requests the read goal covers: every list filter, ``q`` and the inbox's pages (not
#: the 500 items at once, measured only as the baseline of the pages).
READ_GOAL_EXCLUDES = ("tasks limit=500",)


def floor_p99(results: dict[str, Any], action: str) -> float | None:
    """The p99 of the floor's counterpart of ``action``, in the same run."""
    lat = results["floor"]["latency"].get(FLOOR_COUNTERPART.get(action, ""))
    return float(lat["p99_ms"]) if lat else None


def evaluate(r: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per goal: what was measured, and whether it meets the goal (None: not measured)."""
    rows: list[dict[str, Any]] = []

    def add(goal: str, measured: str, met: bool | None, detail: str = "") -> None:
        rows.append({"goal": goal, "measured": measured, "met": met, "detail": detail})

    life = r["lifecycle"]
    ratio = r["headline"]["ratio_system_to_floor"]
    # each side's turns are whole runs of N (bench/__main__.py); older results split N over them
    turns = r.get("parameters", {}).get("headline_rounds")
    size = f"N={r['parameters']['n']} x {turns} turns" if turns else f"N={life['n']}"
    add(
        f"system ÷ floor lifecycles/s ≥ {RATIO} ({size}, C={life['concurrency']})",
        f"{life['lifecycles_per_s']:.2f} / {r['floor']['lifecycles_per_s']:.2f} = {ratio:.3f}",
        ratio >= RATIO,
    )
    cpu = r.get("cpu_ms_per_lifecycle")
    if cpu:
        add(
            f"floor ÷ system service CPU per lifecycle ≥ {RATIO}",
            f"{cpu['floor']['service']:.0f} / {cpu['system']['service']:.0f} ms = {cpu['ratio_floor_to_system']:.3f}",
            cpu["ratio_floor_to_system"] >= RATIO,
        )
    paced = r.get("paced")
    if paced:
        worst = max(paced["latency"].items(), key=lambda kv: kv[1]["p99_ms"])
        add(
            f"paced p99 of every action ≤ {PACED_P99_MS:.0f} ms",
            f"worst {worst[1]['p99_ms']:.0f} ms ({worst[0]})",
            worst[1]["p99_ms"] <= PACED_P99_MS,
        )
    factors: dict[str, tuple[float, float, float]] = {}
    for action, lat in life["latency"].items():
        base = floor_p99(r, action)
        if base:
            factors[action.removeprefix("POST ")] = (lat["p99_ms"] / base, lat["p99_ms"], base)
    if factors:
        name, (x, p99, base) = max(factors.items(), key=lambda kv: kv[1][0])
        add(
            f"closed-loop p99 ≤ {CLOSED_LOOP_FACTOR}x the floor's p99 for the same Update",
            f"worst {name} {p99:.0f} / {base:.0f} ms = {x:.2f}x",
            all(f <= CLOSED_LOOP_FACTOR for f, _, _ in factors.values()),
            "; ".join(f"{k} {f:.2f}x ({p:.0f}/{b:.0f} ms)" for k, (f, p, b) in factors.items()),
        )
    read = r.get("read_path")
    if read:
        lat = {k: v for k, v in read["latency"].items() if k not in READ_GOAL_EXCLUDES}
        worst = max(lat.items(), key=lambda kv: kv[1]["p99_ms"])
        over = [k for k, v in lat.items() if v["p99_ms"] > READ_P99_MS]
        add(
            f"reads p99 ≤ {READ_P99_MS:.0f} ms at {read['seed']['proposals']:,} proposals",
            f"worst {worst[1]['p99_ms']:.1f} ms ({worst[0]}), {len(over)} of {len(lat)} over",
            not over,
            "; ".join(f"{k} {v['p99_ms']:.1f}" for k, v in lat.items()),
        )
    growth = {g["n"]: g["lifecycles_per_s"] for g in r.get("growth", [])}
    if len(growth) >= 2:
        lo, hi = min(growth), max(growth)
        change = growth[hi] / growth[lo] - 1 if growth[lo] else 0.0
        add(
            f"growth N={lo} → {hi} within {GROWTH:.0%}",
            f"{growth[lo]:.2f} → {growth[hi]:.2f} lifecycles/s ({change:+.0%})",
            abs(change) <= GROWTH,
        )
    mem = r.get("memory")
    if mem and "worker" in mem["rss_peak_mb"]:
        mb = mem["rss_peak_mb"]["worker"] * 2**20 / 1e6
        add(
            f"worker RSS ≤ {WORKER_RSS_MB:.0f} MB with {mem['open_proposals']:,} more open",
            f"{mb:.0f} MB peak",
            mb <= WORKER_RSS_MB,
        )
    return rows


def table(r: dict[str, Any]) -> str:
    mark = {True: "met", False: "NOT met", None: "-"}
    lines = []
    for g in evaluate(r):
        lines.append(f"  {mark[g['met']]:<8} {g['goal']}: {g['measured']}")
        if g["detail"]:
            lines.append(f"  {'':<8}   {g['detail']}")
    return "\n".join(lines)
