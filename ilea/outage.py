"""An outage of a dependency as one process sees it, logged once when it starts and once when
it ends, however many attempts fail in between (they retry with bounded backoff)."""

from __future__ import annotations

import logging
import time


class Outage:
    """Call :meth:`failed` on each attempt that met the outage, :meth:`recovered` on each that
    did not; only the transitions are logged."""

    def __init__(self, what: str, log: logging.Logger, retrying: str) -> None:
        self.what = what
        self.log = log
        self.retrying = retrying
        self.since: float | None = None
        self.failures = 0

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def failed(self, err: BaseException) -> None:
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
            self.log.warning("%s unavailable (%s: %s); %s", self.what, type(err).__name__, err, self.retrying)

    def recovered(self) -> None:
        if self.since is None:
            return
        took = time.monotonic() - self.since
        self.log.warning("%s available again after %.0f s (%d failed attempts)", self.what, took, self.failures)
        self.since = None
        self.failures = 0

    def backoff(self, first: float, cap: float) -> float:
        """Seconds before the next attempt: ``first``, doubling with each failure, at most ``cap``."""
        return min(cap, first * 2 ** max(0, self.failures - 1))
