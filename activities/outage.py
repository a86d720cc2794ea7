"""Activities through a database outage: retried by Temporal with bounded backoff (the
workflow's retry policies), logged once per outage rather than once per failed attempt."""

from __future__ import annotations

import logging
from typing import Any

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from ilea.db import TRANSIENT_DB_ERRORS
from ilea.outage import Outage

log = logging.getLogger("ilea.worker")


class DatabaseOutageInterceptor(Interceptor):
    """Turns a transient database error in any activity (local ones included) into a retryable
    ``DatabaseUnavailable`` failure of the *benign* category, which the SDK logs at DEBUG
    instead of a warning with a traceback per attempt; the outage itself is logged when it
    starts and when the first activity gets through again."""

    def __init__(self) -> None:
        self.outage = Outage("PostgreSQL", log, "activities retry with their retry policies' backoff")

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self.outage)


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, outage: Outage) -> None:
        super().__init__(next)
        self._outage = outage

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            result = await super().execute_activity(input)
        except TRANSIENT_DB_ERRORS as err:
            self._outage.failed(err)
            raise ApplicationError(
                f"the database is unavailable: {type(err).__name__}: {err}",
                type="DatabaseUnavailable",
                category=ApplicationErrorCategory.BENIGN,
            ) from err
        self._outage.recovered()
        return result
