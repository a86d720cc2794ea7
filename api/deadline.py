"""Every request answered in bounded time (product.md "Availability").

:class:`DeadlineMiddleware` gives each HTTP request a deadline,
``ILEA_REQUEST_TIMEOUT_SECONDS`` after it arrived. Inside it, :func:`action_deadline` bounds
the wait for a workflow Update a little before that, so an action that is not through answers
its own 503 (the action may still take effect; a retry with the same ``Idempotency-Key``
returns its result). Should anything else outlast the deadline (a database that hangs between
two statements, say) the middleware itself answers 503 and leaves the rest of the request to
finish, or be cancelled, in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError

from api.errors import Problem, problem_response

log = logging.getLogger("ilea.api")

#: Left for what follows an action once its Update is through (reading the read model, storing
#: the response for its Idempotency-Key): the action's own 503 comes this much before the
#: request's deadline.
RESERVE_S = 1.0

#: ``Retry-After`` of a 503 for an action that may still be under way.
RETRY_ACTION_AFTER_S = 5

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("ilea_request_deadline", default=None)

ACTION_PENDING = (
    "the action was not confirmed in time; it may still take effect. Retrying with the same "
    "Idempotency-Key returns its result, and has no second effect"
)
NOT_ANSWERED = (
    "the request was not answered within {seconds:.0f} s. An action may still take effect; retrying "
    "with the same Idempotency-Key returns its result, and has no second effect"
)


def remaining() -> float | None:
    """Seconds left before this request's deadline (None outside a request)."""
    at = _deadline.get()
    return None if at is None else at - asyncio.get_running_loop().time()


def action_pending() -> Problem:
    return Problem(503, ACTION_PENDING, kind="ActionPending", headers={"Retry-After": str(RETRY_ACTION_AFTER_S)})


@contextlib.asynccontextmanager
async def action_deadline() -> AsyncIterator[None]:
    """Bound the wait for a workflow Update to this request's deadline (less :data:`RESERVE_S`).

    Raises:
        Problem: 503 with ``Retry-After`` when the Update is not through in time (no worker
            polling, or one that cannot reach PostgreSQL).
    """
    at = _deadline.get()
    if at is None:  # not under DeadlineMiddleware (a script, a test calling the helper)
        yield
        return
    try:
        async with asyncio.timeout_at(at - RESERVE_S):
            yield
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # The SDK turns the cancellation of its update call into its own error type.
        raise action_pending() from None


class DeadlineMiddleware:
    """Answers 503 with ``Retry-After`` for a request still unanswered after ``seconds``."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        self._background: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        token = _deadline.set(loop.time() + self.seconds)
        started = False
        answered = False

        async def guarded(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the deadline's 503 went out instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            # A task of its own (it inherits the deadline), so that waiting for it can stop at
            # the deadline even when it is stuck in cleanup that ignores cancellation.
            task: asyncio.Task[None] = loop.create_task(self._run(scope, receive, guarded))
        finally:
            _deadline.reset(token)
        done, _ = await asyncio.wait({task}, timeout=self.seconds)
        if done:
            task.result()  # re-raise what the app raised
            return
        if started:
            await task  # the answer is already streaming: let it finish
            return
        answered = True
        task.cancel()
        self._background.add(task)
        task.add_done_callback(self._forget)
        log.warning("%s %s not answered in %.0f s: 503", scope["method"], scope["path"], self.seconds)
        response = problem_response(
            503,
            NOT_ANSWERED.format(seconds=self.seconds),
            kind="Timeout",
            headers={"Retry-After": str(RETRY_ACTION_AFTER_S)},
        )
        await response(scope, receive, send)

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.info("a request answered by its deadline ended with %r", task.exception())
