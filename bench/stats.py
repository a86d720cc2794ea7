"""Latency bookkeeping: samples per endpoint, summarised as count and percentiles in milliseconds."""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarise(seconds: Sequence[float]) -> dict[str, Any]:
    """Count, mean and p50/p95/p99/max in milliseconds."""
    ms = sorted(s * 1000 for s in seconds)
    return {
        "count": len(ms),
        "mean_ms": round(sum(ms) / len(ms), 2) if ms else 0.0,
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(ms[-1], 2) if ms else 0.0,
    }


#: how many of the slowest samples of each name :class:`Latencies` keeps
SLOWEST_KEPT = 3


class Latencies:
    """Samples by name (an endpoint or an update)."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        #: requests sent again after a 503 or 429 (with the same Idempotency-Key)
        self.retries: dict[str, int] = defaultdict(int)
        #: the slowest few of each name as ``(seconds, what, at)``, to find in the stack's logs
        self.worst: dict[str, list[tuple[float, str, str]]] = defaultdict(list)

    def add(self, name: str, seconds: float, what: str = "", at: str = "") -> None:
        """A sample; ``what`` (e.g. the URL) and ``at`` (when it was sent) name it among the slowest."""
        self.samples[name].append(seconds)
        self.add_worst(name, seconds, what, at)

    def error(self, name: str) -> None:
        self.errors[name] += 1

    def retried(self, name: str) -> None:
        self.retries[name] += 1

    def merge(self, other: Latencies) -> None:
        """Add another run's samples and counts to these."""
        for name, values in other.samples.items():
            self.samples[name].extend(values)
        for name, n in other.errors.items():
            self.errors[name] += n
        for name, n in other.retries.items():
            self.retries[name] += n
        for name, worst in other.worst.items():
            for seconds, what, at in worst:
                self.add_worst(name, seconds, what, at)

    def add_worst(self, name: str, seconds: float, what: str, at: str) -> None:
        worst = self.worst[name]
        if len(worst) < SLOWEST_KEPT:
            heapq.heappush(worst, (seconds, what, at))
        elif seconds > worst[0][0]:
            heapq.heapreplace(worst, (seconds, what, at))

    def slowest(self) -> dict[str, list[dict[str, Any]]]:
        """Each name's slowest samples, slowest first: milliseconds, what it was, when it was sent."""
        return {
            name: [
                {"ms": round(sec * 1000, 2), "what": what, "at": at} for sec, what, at in sorted(worst, reverse=True)
            ]
            for name, worst in sorted(self.worst.items())
        }

    def summary(self) -> dict[str, dict[str, Any]]:
        return {name: summarise(values) for name, values in sorted(self.samples.items())}
