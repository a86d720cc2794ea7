"""The short table printed at the end of a run (the JSON has everything)."""

from __future__ import annotations

from typing import Any

from bench import goals


def _lat(lat: dict[str, Any]) -> str:
    return f"p50 {lat['p50_ms']:.0f} / p95 {lat['p95_ms']:.0f} / p99 {lat['p99_ms']:.0f} ms"


def others_cores(run: dict[str, Any]) -> float:
    """Cores busy with processes not ours during a run (other work on a shared machine)."""
    busy = run["cpu"]["cores_busy"]
    return max(busy.get("machine_total", 0.0) - sum(v for k, v in busy.items() if k != "machine_total"), 0.0)


def table(r: dict[str, Any]) -> str:
    env = r["environment"]
    lines = [
        f"ILEA benchmark ({r['mode']} mode) {env['date']}  cpus={env['cpus']}  "
        f"load avg {env['loadavg_at_start'][0]} -> {env.get('loadavg_at_end', ['?'])[0]}",
        "",
        "Lifecycles (HTTP happy path to `scheduled`, 12 actions each)",
    ]
    runs = [("headline", r["lifecycle"]), *(("growth", g) for g in r.get("growth", []))]
    lines.append(f"  {'run':<9}{'N':>5}{'C':>5}{'life/s':>9}{'actions/s':>11}{'failed':>8}  seconds")
    for name, x in runs:
        lines.append(
            f"  {name:<9}{x['n']:>5}{x['concurrency']:>5}{x['lifecycles_per_s']:>9.2f}{x['actions_per_s']:>11.1f}"
            f"{x['failed']:>8}  {x['seconds']:.1f}"
        )
    fl = r["floor"]
    lines.append(
        f"  {'floor':<9}{fl['n']:>5}{fl['concurrency']:>5}{fl['lifecycles_per_s']:>9.2f}{fl['actions_per_s']:>11.1f}"
        f"{fl['failed']:>8}  {fl['seconds']:.1f}"
    )
    rounds = r["headline"].get("round_ratios")
    each = f" (each round: {', '.join(f'{x:.3f}' for x in rounds)})" if rounds else ""
    lines.append(f"  headline ratio system/floor = {r['headline']['ratio_system_to_floor']:.3f}{each}")
    for name, x in (("headline", r["lifecycle"]), ("floor", fl)):
        if "cpu" in x:
            busy = x["cpu"]["cores_busy"]
            lines.append(
                f"  CPU cores busy ({name}): "
                + ", ".join(f"{k} {v:.2f}" for k, v in busy.items())
                + f"; other processes {others_cores(x):.2f}"
            )
    cpu = r.get("cpu_ms_per_lifecycle")
    if cpu:
        for name in ("system", "floor"):
            lines.append(
                f"  CPU ms per lifecycle ({name}): service {cpu[name]['service']:.0f},"
                f" total {cpu[name]['total']:.0f} = "
                + ", ".join(f"{k} {v:.0f}" for k, v in cpu[name].items() if k not in ("total", "service"))
            )
        lines.append(
            f"  CPU ratio floor/system = {cpu['ratio_floor_to_system']:.3f} (service; "
            f"{cpu['ratio_floor_to_system_incl_load_generators']:.3f} with the load generators)"
        )
    paced = r.get("paced")
    if paced:
        lines.append(
            f"  paced: {paced['n']} lifecycles arriving at {paced['arrival_lifecycles_per_s']:.2f}/s, "
            f"at most {paced['max_in_flight']} in flight, {paced['failed']} failed"
        )
    hist = r.get("history_per_lifecycle") or {}
    for name in ("system", "floor"):
        if hist.get(name):
            h = hist[name]
            lines.append(
                f"  Temporal history of one {name} lifecycle: {h['events']} events, {h['bytes'] / 1024:.0f} KiB"
            )
    lines += ["", "Latency per endpoint (headline run)"]
    for name, lat in r["lifecycle"]["latency"].items():
        lines.append(f"  {name:<34}{_lat(lat)}  (n={lat['count']})")
    if paced:
        lines += ["", "Latency per endpoint (paced run, open loop)"]
        for name, lat in paced["latency"].items():
            lines.append(f"  {name:<34}{_lat(lat)}  (n={lat['count']})")
    lines += ["", "Floor latency per update"]
    for name, lat in fl["latency"].items():
        lines.append(f"  {name:<34}{_lat(lat)}")
    rp = r["read_path"]
    lines += ["", f"Read path ({rp['seed']['proposals']} proposals, {rp['seed']['tasks']} tasks; single client)"]
    for name, lat in rp["latency"].items():
        plan = rp["explain"][name]
        lines.append(
            f"  {name:<20}p50 {lat['p50_ms']:6.1f}  p99 {lat['p99_ms']:6.1f} ms  items {lat['items_per_response']:>5}"
            f"  idx {','.join(plan['indexes_used']) or '-'}"
            + (f"  SEQ {','.join(plan['seq_scans'])}" if plan["seq_scans"] else "")
        )
    m = r["memory"]
    lines += [
        "",
        f"Memory with {m['open_proposals']} more proposals open in ISG review (RSS MiB)",
        f"  {'process':<14}{'before':>9}{'peak':>9}{'after':>9}",
    ]
    for proc in ("worker", "api", "temporal"):
        if proc in m["rss_before_mb"]:
            row = [m["rss_before_mb"][proc], m["rss_peak_mb"][proc], m["rss_after_mb"][proc]]
            lines.append(f"  {proc:<14}" + "".join(f"{v:>9.1f}" for v in row))
    whole = r.get("rss_peak_mb_whole_run", {})
    lines.append("  peak over the whole run: " + ", ".join(f"{k} {v:.0f}" for k, v in whole.items()))
    lines += ["", "Goals (issue 17)", goals.table(r)]
    return "\n".join(lines)


def ab_table(r: dict[str, Any]) -> str:
    """Each A/B experiment: the variants' sums, and B ÷ A."""
    env = r["environment"]
    lines = [
        f"ILEA A/B ({r['mode']}) {env['date']}  cpus={env['cpus']}  "
        f"load avg {env['loadavg_at_start'][0]} -> {env.get('loadavg_at_end', ['?'])[0]}",
    ]
    for name, x in r["ab"].items():
        how = "rounds side by side (worker and API only)" if x.get("side_by_side") else "ABBA rounds"
        lines += ["", f"{name}: {x['rounds']} {how} of N={x['n_per_round']} C={x['concurrency']} per variant"]
        for vname, v in x["variants"].items():
            per = v["cpu_ms_per_lifecycle"]
            lines.append(
                f"  {vname:<22}{v['lifecycles_per_s']:6.2f} life/s  service {v['service_cpu_ms_per_lifecycle']:5.0f} ms"
                f"  failed {v['failed']}  "
                + ", ".join(f"{k} {ms:.0f}" for k, ms in per.items() if k != "machine_total")
                + "".join(f"; {k} peak {mb:.0f} MiB" for k, mb in v.get("rss_peak_mb", {}).items())
            )
        if "ratio_b_to_a" in x:
            q = x["ratio_b_to_a"]
            lines.append(
                f"  B/A: lifecycles/s {q['lifecycles_per_s']}, service CPU {q['service_cpu_ms_per_lifecycle']}, "
                + ", ".join(f"{k} {v}" for k, v in q["cpu_ms_per_lifecycle"].items() if k != "machine_total")
                + "".join(f"; {k} peak RSS {v}" for k, v in q.get("rss_peak_mb", {}).items())
            )
    return "\n".join(lines)
