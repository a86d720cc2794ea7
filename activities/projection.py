"""The read model and audit trail, written from each committed workflow state."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from ilea.activity_io import ProjectInput
from ilea.db import proposals


class ProjectionActivities:
    """Writes to PostgreSQL; the pool is injected by the worker."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="project_proposal")
    async def project(self, inp: ProjectInput) -> None:
        """State, audit events and notifications in one transaction; idempotent by version and key."""
        async with self._pool.acquire() as con:
            applied = await proposals.project(con, inp)
        activity.logger.debug(
            "projected proposal %s v%s (%s)",
            inp.row.id,
            inp.row.version,
            "applied" if applied else "already there",
        )
