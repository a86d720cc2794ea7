"""A/B comparisons inside one run: variants take turns, round after round.

On a shared machine the figures of two runs minutes apart differ by more than most changes
do, so a change is measured against its baseline in the same run: rounds of A then B, then
B then A (ABBA, so a drift in the machine's load falls on both alike), summed per variant.
The figures worth reading are the ratios B/A; each round's figures are kept to show the noise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.lifecycle import LoadResult
from bench.stack import CpuMeter, RssSampler
from bench.stats import Latencies

#: A variant's load: (n, concurrency, first course day) → the result.
Load = Callable[[int, int, int], Awaitable[LoadResult]]

#: What counts as the service (the load generator is the benchmark's own process).
SERVICES = ("temporal", "worker", "api", "postgres")
#: A variant's own processes whose memory is sampled while it runs (the rest may be shared).
OWN = ("worker", "api")


@dataclass
class Variant:
    name: str
    load: Load
    #: processes metered while this variant runs, by the role they play (``worker``, ``api`` …)
    pids: dict[str, int]
    completed: int = 0
    failed: int = 0
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    latencies: Latencies = field(default_factory=Latencies)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    #: a proposal this variant took through (its history is one lifecycle's)
    last_id: str | None = None
    #: the highest resident set size of each of its own processes while it ran (MiB)
    rss_peak_mb: dict[str, float] = field(default_factory=dict)

    def rss(self) -> RssSampler:
        """A sampler of this variant's own processes (:data:`OWN`), to run while its load does."""
        return RssSampler({k: pid for k, pid in self.pids.items() if k in OWN})

    def add(self, result: LoadResult, cpu_seconds: dict[str, float], rss_peak_mb: dict[str, float]) -> None:
        for k, mb in rss_peak_mb.items():
            self.rss_peak_mb[k] = max(self.rss_peak_mb.get(k, 0.0), round(mb, 1))
        self.last_id = result.ids[-1] if result.ids else self.last_id
        self.completed += result.completed
        self.failed += result.failed
        self.seconds += result.seconds
        for k, v in cpu_seconds.items():
            self.cpu[k] = self.cpu.get(k, 0.0) + v
        self.latencies.merge(result.latencies)
        n = max(result.completed, 1)
        self.rounds.append(
            {
                "completed": result.completed,
                "failed": result.failed,
                "lifecycles_per_s": round(result.completed / result.seconds, 3) if result.seconds else 0.0,
                "cpu_ms_per_lifecycle": {k: round(v * 1000 / n, 1) for k, v in cpu_seconds.items()},
                "first_failures": result.failures[:3],
            }
        )

    def summary(self) -> dict[str, Any]:
        n = max(self.completed, 1)
        per = {k: round(v * 1000 / n, 1) for k, v in sorted(self.cpu.items())}
        return {
            "completed": self.completed,
            "failed": self.failed,
            "seconds": round(self.seconds, 2),
            "lifecycles_per_s": round(self.completed / self.seconds, 3) if self.seconds else 0.0,
            "cpu_ms_per_lifecycle": per,
            "service_cpu_ms_per_lifecycle": round(sum(self.cpu.get(k, 0.0) for k in SERVICES) * 1000 / n, 1),
            "rss_peak_mb": dict(sorted(self.rss_peak_mb.items())),
            "latency": self.latencies.summary(),
            "rounds": self.rounds,
        }


async def interleave(
    variants: Sequence[Variant],
    shared_pids: dict[str, int],
    rounds: int,
    n: int,
    concurrency: int,
    next_day: Callable[[int], int],
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run each variant ``rounds`` times, N lifecycles at a time, in ABBA order.

    Returns each variant's sums, and the ratios of the second variant to the first:
    lifecycles/s and CPU milliseconds per lifecycle (each process and the service).
    """
    for r in range(rounds):
        order = variants if r % 2 == 0 else list(reversed(variants))
        for v in order:
            log(f"  round {r + 1}/{rounds}: {v.name} (N={n} C={concurrency})")
            meter = CpuMeter({**shared_pids, **v.pids})
            meter.start()
            with v.rss() as rss:
                result = await v.load(n, concurrency, next_day(n))
            used = meter.stop()["cpu_seconds"]
            assert isinstance(used, dict)
            v.add(result, used, rss.peak)
    return _outcome(variants, rounds, n, concurrency)


def _outcome(variants: Sequence[Variant], rounds: int, n: int, concurrency: int, **how: Any) -> dict[str, Any]:
    """The experiment's figures: each variant's sums, and with two, the ratios of B to A."""
    out: dict[str, Any] = {
        "rounds": rounds,
        "n_per_round": n,
        "concurrency": concurrency,
        **how,
        "variants": {v.name: v.summary() for v in variants},
    }
    if len(variants) == 2:
        out["ratio_b_to_a"] = ratios(out["variants"][variants[0].name], out["variants"][variants[1].name])
    return out


async def side_by_side(
    variants: Sequence[Variant],
    rounds: int,
    n: int,
    concurrency: int,
    next_day: Callable[[int], int],
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run the variants at the same time, ``rounds`` times, each N lifecycles at ``concurrency``.

    On a machine whose speed drifts by a tenth within minutes (issue 17: an A/A control of the
    turn-taking :func:`interleave` moved the service's CPU x0.92), the variants meet the same
    machine only when they run together. Each variant's own processes (its worker and API) are
    metered alone; the shared ones (Temporal, PostgreSQL) serve both at once and are not split,
    so this compares worker and API changes only (``service`` is their sum here).
    """
    for r in range(rounds):
        log(f"  round {r + 1}/{rounds}: {' and '.join(v.name for v in variants)} together (N={n} C={concurrency} each)")
        meters = [CpuMeter(v.pids) for v in variants]
        for m in meters:
            m.start()

        async def one(v: Variant, meter: CpuMeter, first_day: int) -> None:
            with v.rss() as rss:
                result = await v.load(n, concurrency, first_day)
            used = meter.stop()["cpu_seconds"]
            assert isinstance(used, dict)
            # the load generator and the machine are shared too: not this variant's
            v.add(result, {k: x for k, x in used.items() if k in v.pids}, rss.peak)

        await asyncio.gather(*(one(v, m, next_day(n)) for v, m in zip(variants, meters, strict=True)))
    return _outcome(variants, rounds, n, concurrency, side_by_side=True)


def ratios(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """B ÷ A for throughput and for CPU per lifecycle (per process, and the service's total)."""

    def div(x: float, y: float) -> float | None:
        return round(x / y, 3) if y else None

    ca, cb = a["cpu_ms_per_lifecycle"], b["cpu_ms_per_lifecycle"]
    ra, rb = a.get("rss_peak_mb", {}), b.get("rss_peak_mb", {})
    return {
        "lifecycles_per_s": div(b["lifecycles_per_s"], a["lifecycles_per_s"]),
        "rss_peak_mb": {k: div(rb[k], ra[k]) for k in ra if k in rb},
        "service_cpu_ms_per_lifecycle": div(b["service_cpu_ms_per_lifecycle"], a["service_cpu_ms_per_lifecycle"]),
        "cpu_ms_per_lifecycle": {k: div(cb.get(k, 0.0), ca[k]) for k in ca if k in cb},
    }
