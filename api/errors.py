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
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind
        self.errors = errors
        self.extra = extra or {}

    @classmethod
    def from_refusal(cls, kind: str | None, message: str, details: list[Any] | None = None) -> Problem:
        """The problem for a refusal of type ``kind`` (an :class:`ErrorType` value), its status from
        :data:`STATUS_BY_TYPE`: the workflow's ``ApplicationError`` and the API's own refusals alike."""
        status = STATUS_BY_TYPE.get(kind or "", 500)
        errors = None
        extra: dict[str, Any] = {}
        if kind == ErrorType.invalid and details and isinstance(details[0], dict) and "loc" in details[0]:
            errors = details
        elif kind == ErrorType.booking_conflict and details:
            extra["conflict"] = details[0]
        return cls(status, message, kind=kind, errors=errors, extra=extra)


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


def _loc(loc: tuple[Any, ...] | list[Any]) -> list[Any]:
    return list(loc)


def install(app: FastAPI) -> None:
    """Register the one mapping from exception types to problem responses."""

    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.detail, kind=exc.kind, errors=exc.errors, extra=exc.extra)

    @app.exception_handler(AuthError)
    async def _auth(_: Request, exc: AuthError) -> JSONResponse:
        return problem_response(401, str(exc), headers={"WWW-Authenticate": 'Bearer realm="ilea"'})

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": _loc(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return problem_response(422, f"{len(errors)} field(s) are invalid", errors=errors)

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

    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.exceptions.OperatorInterventionError)  # "the database system is shutting down"
    @app.exception_handler(OSError)
    async def _db_down(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return problem_response(503, "the database is unavailable; retry shortly", headers={"Retry-After": "2"})


#: What an unreachable or stopping database raises (refused or dropped connections).
DB_DOWN = (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError, OSError)


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
        except DB_DOWN as exc:
            log.warning("database unavailable: %s", exc)
            if sent["done"]:
                return  # the answer is out (e.g. storing it for its Idempotency-Key failed)
            if sent["started"]:
                raise
            response = problem_response(503, "the database is unavailable; retry shortly", headers={"Retry-After": "2"})
            await response(scope, receive, send)
