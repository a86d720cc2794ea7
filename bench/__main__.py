"""`python -m bench`: start the stack, run every section, write bench-results/latest.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench import ab, chart, floor, goals, http, lifecycle, readpath, report, variants
from bench import stack as stackmod
from bench.stack import CpuMeter, RssSampler
from ilea.domain import Agency

READ_DB = "ilea_bench_read"
#: ``--ab`` experiments (bench/ab.py): the load generator's CPU, httpx against the raw client; a
#: baseline worker against today's (bench/variants.py: EXPERIMENTS); and an
#: A/A control (today's against itself, in two pairs of processes like the baselines).
AB_EXPERIMENTS = ("client", *variants.EXPERIMENTS)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--n", type=int, default=200, help="lifecycles in the headline run (default 200)")
    p.add_argument("--c", type=int, default=50, help="concurrent clients (default 50)")
    p.add_argument(
        "--growth",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run N=100,200,400 (default on, off with --quick)",
    )
    p.add_argument("--growth-n", default="100,400", help="the N of the growth runs (the smallest runs twice)")
    p.add_argument("--headline-rounds", type=int, default=2, help="turns of system and floor, N each: 2 = S F F S")
    p.add_argument("--read-rows", type=int, default=None, help="read-model proposals (default 100000; quick 5000)")
    p.add_argument("--read-requests", type=int, default=None, help="requests per read query (default 200; quick 50)")
    p.add_argument(
        "--memory-open", type=int, default=None, help="proposals left open for the memory figure (1000; quick 100)"
    )
    p.add_argument(
        "--paced-n", type=int, default=None, help="lifecycles in the paced (open-loop) run (default 60; quick 10)"
    )
    p.add_argument(
        "--paced-share",
        type=float,
        default=0.5,
        help="the paced run's arrival rate, as a share of the headline lifecycles/s (default 0.5)",
    )
    p.add_argument("--quick", action="store_true", help="smoke test: N=20, C=10, no growth, 5,000 rows, 100 open")
    p.add_argument(
        "--client", choices=sorted(http.CLIENTS), default=lifecycle.DEFAULT_CLIENT, help="the load's HTTP client"
    )
    p.add_argument(
        "--ab",
        help="instead of the goal run: these A/B experiments, comma-separated, from "
        + ", ".join(AB_EXPERIMENTS)
        + ", or ref:<commit> (that commit's worker and API against today's)"
        + " (output bench-results/ab.json unless --out)",
    )
    p.add_argument("--ab-rounds", type=int, default=2, help="ABBA rounds per experiment: 2 = A B B A (default)")
    p.add_argument(
        "--ab-together",
        action="store_true",
        help="run each experiment's variants at the same time instead of in turns (worker and API changes)",
    )
    p.add_argument("--ab-n", type=int, default=None, help="lifecycles per variant per round (default 100; quick 10)")
    p.add_argument("--out", type=Path, default=None, help="bench-results/latest.json (or ab.json with --ab)")
    p.add_argument("--no-chart", dest="chart", action="store_false", help="do not write the SVG chart")
    p.add_argument("--keep-state", action="store_true", help="keep the temporary state directory (logs)")
    a = p.parse_args(argv)
    if a.quick:
        a.n, a.c = (20 if a.n == 200 else a.n), (10 if a.c == 50 else a.c)
    a.growth = (not a.quick) if a.growth is None else a.growth
    a.read_rows = a.read_rows or (5000 if a.quick else 100_000)
    a.read_requests = a.read_requests or (50 if a.quick else 200)
    a.memory_open = a.memory_open or (100 if a.quick else 1000)
    a.paced_n = a.paced_n or (10 if a.quick else 60)
    a.ab_n = a.ab_n or (10 if a.quick else 100)
    a.ab = [x.strip() for x in a.ab.split(",") if x.strip()] if a.ab else []
    unknown = [x for x in a.ab if x not in AB_EXPERIMENTS and not x.startswith(variants.REF)]
    if unknown:
        p.error(f"unknown A/B experiment(s): {', '.join(unknown)}")
    bad_refs = [x for x in a.ab if x.startswith(variants.REF) and not variants.commit_of(x.removeprefix(variants.REF))]
    if bad_refs:
        p.error(f"these name no commit of this repository: {', '.join(bad_refs)}")
    a.out = a.out or Path("bench-results/ab.json" if a.ab else "bench-results/latest.json")
    return a


def log(msg: str) -> None:
    sys.stderr.write(f"[bench {datetime.now(UTC):%H:%M:%S}] {msg}\n")
    sys.stderr.flush()


def environment() -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "temporalio": metadata.version("temporalio"),
        "git_commit": commit.stdout.strip() or None,
    }


def start_floor_worker(address: str, task_queue: str, state: Path) -> subprocess.Popen[bytes]:
    """The floor's worker, in its own process like the system's worker."""
    args = ["--address", address, "--task-queue", task_queue]
    return stackmod.start_process("bench.floor_worker", args, {}, state / "floor-worker.log")


class Days:
    """Hands out course days so that no two benchmark proposals ever share one."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, n: int) -> int:
        first, self.next = self.next, self.next + n
        return first


async def run(args: argparse.Namespace, state: Path) -> dict[str, Any]:
    mode = ("ab-" if args.ab else "") + ("quick" if args.quick else "full")
    results: dict[str, Any] = {"mode": mode, "client": args.client, "environment": environment()}
    results["parameters"] = {
        "n": args.n,
        "headline_rounds": args.headline_rounds,
        "c": args.c,
        "growth": args.growth,
        "growth_n": args.growth_n,
        "read_rows": args.read_rows,
        "read_requests": args.read_requests,
        "memory_open": args.memory_open,
        "paced_n": args.paced_n,
        "paced_share": args.paced_share,
        "actions_per_lifecycle": lifecycle.ACTIONS_PER_LIFECYCLE,
    }
    log(f"starting `ilea dev` in {state}")
    t = time.perf_counter()
    stack = await asyncio.to_thread(stackmod.start, state)
    results["stack"] = {"startup_seconds": round(time.perf_counter() - t, 2), "pids": stack.pids}
    tokens = lifecycle.Tokens()
    days = Days()
    queue = f"bench-floor-{uuid.uuid4().hex[:8]}"
    floor_proc = start_floor_worker(stack.temporal, queue, state)
    pids = {**stack.pids, "floor_worker": floor_proc.pid}
    pg = stackmod.postgres_pid(state)
    cpu = CpuMeter({**pids, **({"postgres": pg} if pg else {})})
    try:
        client = await Client.connect(stack.temporal, data_converter=pydantic_data_converter)
        with RssSampler(pids) as rss:
            results["rss_mb_after_startup"] = {k: round(v, 1) for k, v in rss.sample().items()}
            log("warm-up")
            await lifecycle.run_load(stack.api, 4, 4, days.take(4), tokens, args.client)
            await floor.run_floor(client, queue, 4, 4)
            if args.ab:
                results["ab"] = await run_ab(args, stack, pids, pg, tokens, days)
                return results

            # System and floor take turns (ABBA), so that both see the same machine: on a shared
            # one, two runs minutes apart differ a lot. Each turn is a whole run of N at C (the
            # goal's size): parts of N/rounds left one or two lifecycles per client, so the
            # ramp at the start (C submissions at once) and the stragglers at the end weighed
            # as much as the steady state in between.
            log(f"headline: N={args.n} C={args.c}, system ({args.client} client) and floor in turns")
            rss.reset()
            system = lifecycle.LoadResult(n=0, concurrency=args.c)
            bare = floor.FloorResult(n=0, concurrency=args.c)
            cpu_of: dict[str, dict[str, Any] | None] = {"system": None, "floor": None}
            n = args.n
            # each round's lifecycles/s, system and floor: how far one round's ratio is from another's
            per_round: list[dict[str, float]] = []
            for r in range(args.headline_rounds):
                per_round.append({})
                for side in ("system", "floor") if r % 2 == 0 else ("floor", "system"):
                    log(f"  turn {r + 1}/{args.headline_rounds}: {side} N={n}")
                    cpu.start()
                    one: lifecycle.LoadResult | floor.FloorResult
                    if side == "system":
                        one = await lifecycle.run_load(stack.api, n, args.c, days.take(n), tokens, args.client)
                        system.merge(one)
                    else:
                        one = await floor.run_floor(client, queue, n, args.c)
                        bare.merge(one)
                    cpu_of[side] = stackmod.add_cpu(cpu_of[side], cpu.stop())
                    per_round[-1][side] = one.completed / one.seconds if one.seconds else 0.0
            results["lifecycle"] = {**system.as_dict(), "rss_peak_mb": _r(rss.peak), "cpu": cpu_of["system"]}
            results["floor"] = {**bare.as_dict(), "cpu": cpu_of["floor"]}
            results["history_per_lifecycle"] = {
                "system": await floor.history_stats(client, f"proposal-{system.ids[0]}") if system.ids else None,
                "floor": await floor.history_stats(client, bare.ids[0]) if bare.ids else None,
            }
            results["cpu_ms_per_lifecycle"] = cpu_per_lifecycle(results["lifecycle"], results["floor"])
            f = results["floor"]["lifecycles_per_s"]
            results["headline"] = {
                "system_lifecycles_per_s": results["lifecycle"]["lifecycles_per_s"],
                "floor_lifecycles_per_s": f,
                "ratio_system_to_floor": round(results["lifecycle"]["lifecycles_per_s"] / f, 4) if f else 0.0,
                "round_ratios": [round(x["system"] / x["floor"], 3) if x["floor"] else 0.0 for x in per_round],
            }

            rate = round(results["lifecycle"]["lifecycles_per_s"] * args.paced_share, 3)
            if rate > 0:
                log(f"paced: N={args.paced_n} lifecycles arriving at {rate}/s (open loop)")
                paced = await lifecycle.run_paced(
                    stack.api, args.paced_n, rate, days.take(args.paced_n), tokens, args.client
                )
                results["paced"] = {
                    **paced.as_dict(),
                    "arrival_lifecycles_per_s": rate,
                    "max_in_flight": paced.concurrency,
                }

            if args.growth:
                results["growth"] = await run_growth(args, stack.api, tokens, days, cpu, rss)

            log(f"read path: {args.read_rows} proposals in {READ_DB}")
            results["read_path"] = await readpath.run(
                stack.pg_url("postgres"),
                stack.pg_url(READ_DB),
                READ_DB,
                stack.temporal,
                state,
                args.read_rows,
                args.read_requests,
                tokens.po,
                tokens.isg[Agency.DHS],
            )

            log(f"memory: {args.memory_open} proposals submitted and left in ISG review")
            rss.reset()
            open_before = days.next  # every benchmark proposal so far is still open (scheduled)
            cpu.start()
            before = rss.sample()
            opened = await lifecycle.submit_many(
                stack.api, args.memory_open, args.c, days.take(args.memory_open), tokens, args.client
            )
            await asyncio.sleep(3)
            after = rss.sample()
            results["memory"] = {
                "open_proposals": opened.completed,
                "open_proposals_before": open_before,
                "stages_after": opened.stages,
                "cpu": cpu.stop(),
                "in_isg_review": opened.scheduled,
                "failed": opened.failed,
                "submit_seconds": round(opened.seconds, 2),
                "submits_per_s": round(opened.completed / opened.seconds, 2) if opened.seconds else 0.0,
                "submit_latency": opened.latencies.summary(),
                "rss_before_mb": _r(before),
                "rss_peak_mb": _r(rss.peak),
                "rss_after_mb": _r(after),
                "worker_kib_per_open_proposal": round(
                    (after["worker"] - before["worker"]) * 1024 / max(opened.completed, 1), 1
                ),
                "first_failures": opened.failures[:5],
            }
            results["rss_peak_mb_whole_run"] = _r(rss.peak)
    finally:
        stackmod.stop_process(floor_proc)
        results["environment"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        log("stopping the stack")
        code = await asyncio.to_thread(stackmod.stop, stack)
        results.setdefault("stack", {})["exit_code"] = code
    return results


async def run_growth(
    args: argparse.Namespace, api: str, tokens: lifecycle.Tokens, days: Days, cpu: CpuMeter, rss: RssSampler
) -> list[dict[str, Any]]:
    """The load at each N of ``--growth-n``, smallest first, then the smallest again: the goal
    compares the largest with both runs of the smallest (ABA), so that a change in what else
    the machine runs does not pass for growth."""
    sizes = sorted(int(x) for x in args.growth_n.split(","))
    out: list[dict[str, Any]] = []
    smallest = lifecycle.LoadResult(n=0, concurrency=args.c)
    smallest_cpu: dict[str, Any] | None = None
    for i, n in enumerate([*sizes, sizes[0]]):
        log(f"growth: N={n} C={args.c}" + (" (the smallest again)" if i == len(sizes) else ""))
        rss.reset()
        cpu.start()
        g = await lifecycle.run_load(api, n, args.c, days.take(n), tokens, args.client)
        used = cpu.stop()
        if n == sizes[0]:
            smallest.merge(g)
            smallest_cpu = stackmod.add_cpu(smallest_cpu, used)
        else:
            out.append({**g.as_dict(), "rss_peak_mb": _r(rss.peak), "cpu": used})
    # n is the size of each run (the two runs of the smallest are summed, N and seconds alike)
    return [{**smallest.as_dict(), "n": sizes[0], "runs": 2, "cpu": smallest_cpu}, *out]


async def run_ab(
    args: argparse.Namespace,
    stack: stackmod.DevStack,
    pids: dict[str, int],
    pg: int | None,
    tokens: lifecycle.Tokens,
    days: Days,
) -> dict[str, Any]:
    """The ``--ab`` experiments, each its variants in ABBA rounds on this one stack."""
    shared = {"temporal": pids["temporal"]} | ({"postgres": pg} if pg else {})
    own = {"worker": pids["worker"], "api": pids["api"]}
    out: dict[str, Any] = {}
    for name in args.ab:
        log(f"A/B {name}: {args.ab_rounds} rounds of N={args.ab_n} C={args.c} per variant")
        if name == "client":
            # A: the load generator before (httpx), B: the raw client; the same service.
            pair = [ab.Variant(kind, _load(stack.api, tokens, kind), own) for kind in ("httpx", "raw")]
            out[name] = await ab.interleave(pair, shared, args.ab_rounds, args.ab_n, args.c, days.take, log)
        else:
            # A, a baseline (today's worker with one change put back: bench/variants.py); B, today's.
            # aa: today's twice (how far two such pairs differ with no change at all). Each on its
            # own fresh worker and API.
            sides = variants.sides(name)
            client = await Client.connect(stack.temporal, data_converter=pydantic_data_converter)
            await variants.register_legacy_attribute(client)
            pair, procs = [], []
            try:
                for label, side in sides:
                    queue = f"bench-variant-{uuid.uuid4().hex[:8]}"
                    started, base = await asyncio.to_thread(
                        variants.start, stack.pg_url("ilea"), stack.temporal, queue, stack.state, side=side, label=label
                    )
                    procs += started
                    await lifecycle.run_load(base, 4, 4, days.take(4), tokens, args.client)  # warm-up
                    roles = {"worker": started[0].pid, "api": started[1].pid}
                    pair.append(ab.Variant(label, _load(base, tokens, args.client), roles))
                if args.ab_together:
                    out[name] = await ab.side_by_side(pair, args.ab_rounds, args.ab_n, args.c, days.take, log)
                else:
                    out[name] = await ab.interleave(pair, shared, args.ab_rounds, args.ab_n, args.c, days.take, log)
                if name.startswith(variants.REF):
                    out[name]["commit"] = variants.commit_of(name.removeprefix(variants.REF))
                out[name]["history_per_lifecycle"] = {
                    v.name: await floor.history_stats(client, f"proposal-{v.last_id}") for v in pair if v.last_id
                }
            finally:
                for proc in procs:
                    stackmod.stop_process(proc)
    return out


def _load(base: str, tokens: lifecycle.Tokens, client: str) -> ab.Load:
    async def load(n: int, c: int, first_day: int) -> lifecycle.LoadResult:
        return await lifecycle.run_load(base, n, c, first_day, tokens, client)

    return load


#: The processes each side's service is made of (the load generators are this process).
SERVICE_PROCESSES = {"system": ("temporal", "worker", "api", "postgres"), "floor": ("temporal", "floor_worker")}


def cpu_per_lifecycle(system: dict[str, Any], floor_: dict[str, Any]) -> dict[str, Any]:
    """CPU milliseconds per completed lifecycle, by process, for the system and the floor.

    Throughput on a shared two-core machine moves with whatever else runs; CPU spent per
    lifecycle by our own processes moves much less, so it is the steadier comparison. The
    goal's ratio is the service's (Temporal + worker + API + PostgreSQL against Temporal + the
    floor's worker); ``total`` adds the load generator (``bench_client``) and idle processes.
    """
    out: dict[str, Any] = {}
    for name, run in (("system", system), ("floor", floor_)):
        used = {k: v for k, v in run["cpu"]["cpu_seconds"].items() if k != "machine_total"}
        n = max(run["completed"], 1)
        per = {k: round(v * 1000 / n, 1) for k, v in used.items() if v * 1000 / n >= 0.5}
        service = sum(used.get(k, 0.0) for k in SERVICE_PROCESSES[name]) * 1000 / n
        out[name] = {**per, "service": round(service, 1), "total": round(sum(used.values()) * 1000 / n, 1)}

    def ratio(key: str) -> float:
        return round(out["floor"][key] / out["system"][key], 3) if out["system"][key] else 0.0

    out["ratio_floor_to_system"] = ratio("service")
    out["ratio_floor_to_system_incl_load_generators"] = ratio("total")
    return out


def _r(d: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 1) for k, v in d.items()}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    state = Path(tempfile.mkdtemp(prefix="ilea-bench-"))
    started = time.perf_counter()
    ok = False
    try:
        results = asyncio.run(run(args, state))
        results["total_seconds"] = round(time.perf_counter() - started, 1)
        if not args.ab:
            results["goals"] = goals.evaluate(results)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        if args.ab:
            sys.stdout.write(report.ab_table(results) + "\n")
        else:
            sys.stdout.write(report.table(results) + "\n")
            if args.chart:
                svg = args.out.with_suffix(".svg")
                svg.write_text(chart.render(results))
                sys.stdout.write(f"\nchart: {svg}\n")
        sys.stdout.write(f"\nwritten to {args.out}\n")
        ok = True
    finally:
        if args.keep_state or not ok:
            log(f"state (logs) kept in {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
