"""What the access-log witness reads (workflows/access_witness.py)."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from ilea.db import people
from ilea.messages import ReadHeadInput, ReadHeadResult


class AccessLogActivities:
    """Reads of the access log; the pool is injected by the worker."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="read_access_log_head")
    async def read_head(self, inp: ReadHeadInput) -> ReadHeadResult:
        """The log's newest entry (None while it is empty)."""
        return ReadHeadResult(head=await people.head(self._pool))
