"""Latency bookkeeping: samples per endpoint, summarised as count and percentiles in milliseconds."""

from __future__ import annotations

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


class Latencies:
    """Samples by name (an endpoint or an update)."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        #: requests sent again after a 503 or 429 (with the same Idempotency-Key)
        self.retries: dict[str, int] = defaultdict(int)

    def add(self, name: str, seconds: float) -> None:
        self.samples[name].append(seconds)

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

    def summary(self) -> dict[str, dict[str, Any]]:
        return {name: summarise(values) for name, values in sorted(self.samples.items())}
