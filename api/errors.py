"""Errors as RFC 9457 problem documents, mapped to HTTP in one place, by type."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import AuthError
from api.validation import explain_all
from ilea.db import TRANSIENT_DB_ERRORS
from ilea.messages import ErrorType

log = logging.getLogger("ilea.api")

PROBLEM = "application/problem+json"

STATUS_BY_TYPE: dict[str, int] = {
    ErrorType.forbidden: 403,
    ErrorType.four_eyes: 403,
    ErrorType.wrong_agency: 403,
    ErrorType.wrong_stage: 409,
    ErrorType.closed: 409,
    ErrorType.chair_blocked: 409,
    ErrorType.booking_conflict: 409,
    ErrorType.invalid: 422,
    ErrorType.not_found: 404,
}

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ProblemDocument(BaseModel):
    """The body of every error response (RFC 9457), as the OpenAPI document describes it."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    code: str | None = None
    errors: list[dict[str, Any]] | None = None


#: Added to every /v1 route's OpenAPI responses: errors are problem documents, never
#: FastAPI's default `{"detail": [...]}` validation shape.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {PROBLEM: {"schema": ProblemDocument.model_json_schema()}}}
    for status, description in (
        ("4XX", "Refused: unauthenticated, forbidden, missing, conflicting or invalid (a problem document)"),
        ("503", "PostgreSQL or Temporal is unavailable; retry after `Retry-After` seconds"),
    )
}


class Problem(Exception):
    """An error response; ``kind`` names the rule that refused (e.g. ``FourEyes``)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.errors = errors
        self.extra = extra or {}
        self.headers = headers

    @classmethod
    def from_refusal(
        cls, kind: str | None, message: str, details: list[Any] | None = None, *, action: str | None = None
    ) -> Problem:
        """The problem for a refusal of type ``kind`` (an :class:`ErrorType` value), its status from
        :data:`STATUS_BY_TYPE`: the workflow's ``ApplicationError`` and the API's own refusals alike.

        An ``Invalid`` refusal always carries ``errors``: the ``{loc, msg}`` items in ``details``
        (the workflow's shape: ``ApplicationError(message, {"loc": [...], "msg": ...}, ...)``, or
        one list of them), else one error for the field :data:`INVALID_FIELD` names for ``action``.
        """
        status = STATUS_BY_TYPE.get(kind or "", 500)
        errors = None
        extra: dict[str, Any] = {}
        if kind == ErrorType.invalid:
            errors = located(details) or [{"loc": ["body", *INVALID_FIELD.get(action or "", ())], "msg": message}]
        elif kind == ErrorType.booking_conflict and details:
            extra["conflict"] = details[0]
        return cls(status, message, kind=kind, errors=errors, extra=extra)

    @classmethod
    def invalid(cls, errors: list[dict[str, Any]]) -> Problem:
        """A 422 listing every broken rule of a request."""
        detail = errors[0]["msg"] if len(errors) == 1 else f"{len(errors)} problems with this request (see errors)"
        return cls(422, detail, kind=ErrorType.invalid, errors=errors)


#: The body field a workflow's ``Invalid`` refusal of an action concerns, when its details
#: name none: a vote or position without its comment, a blank reason, a cutoff out of range,
#: an instructor who cannot be booked, a slot re-targeted to an agency with no instructors.
INVALID_FIELD: dict[str, tuple[str, ...]] = {
    "isg_vote": ("comment",),
    "revise": ("comment",),
    "board_position": ("comment",),
    "board_decision": ("comment",),
    "withdraw": ("reason",),
    "staffing_cutoff": ("cutoff",),
    "accept_request": ("instructor_id",),
    "decline_request": ("reason",),
    "release_request": ("reason",),
    "retarget_request": ("agency",),
    "hand_over": ("sub",),
}


def located(details: list[Any] | None) -> list[dict[str, Any]]:
    """The ``{loc, msg}`` items of a refusal's details (given one by one, or as one list)."""
    items = details[0] if details and len(details) == 1 and isinstance(details[0], list) else details or []
    return [
        {"loc": list(d["loc"]), "msg": str(d["msg"])}
        for d in items
        if isinstance(d, dict) and isinstance(d.get("loc"), list) and "msg" in d
    ]


class NotFound(Problem):
    """A resource named in the path does not exist: 404, with no ``code`` (no rule refused)."""

    def __init__(self, what: str, key: str) -> None:
        super().__init__(404, f"no {what} {key}")


def problem_response(
    status: int,
    detail: str,
    *,
    kind: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://ilea.state.gov/problems/{(kind or TITLES.get(status, 'error')).replace(' ', '-').lower()}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if kind:
        body["code"] = kind
    if errors is not None:
        body["errors"] = errors
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install(app: FastAPI) -> None:
    """Register the one mapping from exception types to problem responses."""

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status, exc.detail, kind=exc.kind, errors=exc.errors, extra=exc.extra, headers=exc.headers
        )

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        return problem_response(401, str(exc), headers={"WWW-Authenticate": 'Bearer realm="ilea"'})

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problem = Problem.invalid(explain_all(exc.errors()))
        return problem_response(422, problem.detail, kind=problem.kind, errors=problem.errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RPCError)
    async def _temporal(_: Request, exc: RPCError) -> JSONResponse:
        if exc.status is RPCStatusCode.NOT_FOUND:
            return problem_response(404, "no such proposal workflow")
        log.warning("temporal unavailable: %s", exc)
        return problem_response(503, "the workflow service is unavailable; retry shortly", headers={"Retry-After": "2"})

    @app.exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError)
    async def _update_timeout(_: Request, exc: WorkflowUpdateRPCTimeoutOrCancelledError) -> JSONResponse:
        # The action may still take effect: retrying with the same Idempotency-Key is safe.
        log.warning("workflow update timed out: %s", exc)
        return problem_response(
            503,
            "the workflow service is slow to answer; retry with the same Idempotency-Key",
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(asyncpg.exceptions.CharacterNotInRepertoireError)
    @app.exception_handler(asyncpg.exceptions.UntranslatableCharacterError)
    async def _unstorable_text(_: Request, exc: Exception) -> JSONResponse:
        # A path or query value PostgreSQL cannot take (NUL, `%00`): the request's fault, not a 500.
        return problem_response(400, "text must not contain NUL (\\u0000) characters")

    for transient in DB_UNAVAILABLE:
        app.add_exception_handler(transient, _db_unavailable)


#: What a database that is down, hung or just back raises: refused or dropped connections,
#: timeouts (connect, statement, pool acquire), a server shutting down or cancelling, and
#: asyncpg's own state errors on a connection caught mid-cancel. Never the request's fault.
DB_UNAVAILABLE: tuple[type[Exception], ...] = TRANSIENT_DB_ERRORS


async def _db_unavailable(_: Request, exc: Exception) -> JSONResponse:
    return db_unavailable_response(exc)


def db_unavailable_response(exc: BaseException) -> JSONResponse:
    log.warning("database unavailable: %r", exc)
    return problem_response(
        503, "the database is unavailable; retry shortly", kind="Unavailable", headers={"Retry-After": "2"}
    )


class DatabaseDownMiddleware:
    """A database outage met outside the routes (the idempotency middleware's own queries)
    is a 503 too, not a 500 and a dropped keep-alive connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = {"started": False, "done": False}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["started"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                sent["done"] = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except DB_UNAVAILABLE as exc:
            if sent["done"]:
                log.warning("database unavailable after the answer went out: %r", exc)
                return  # e.g. storing it for its Idempotency-Key failed
            if sent["started"]:
                raise
            await db_unavailable_response(exc)(scope, receive, send)
