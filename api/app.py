"""The FastAPI app factory: one pool and one Temporal client per process, opened in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import asyncpg
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from api import errors
from api.access_witness import start_witness
from api.auth import TokenVerifier
from api.deadline import DeadlineMiddleware
from api.idempotency import IdempotencyMiddleware
from api.limits import RateLimitMiddleware
from api.oidc import OidcClient
from api.routes import health, instructors, notifications, people, proposals, reports, requests, tasks
from api.web import routes as web_routes
from api.web.signin import SessionMiddleware
from ilea.db import TRANSIENT_DB_ERRORS, audit, create_pool, sessions
from ilea.db import idempotency as idempotency_keys
from ilea.db import people as people_db
from ilea.observability import HttpMetrics, MetricsMiddleware, serve_metrics
from ilea.settings import Settings
from ilea.temporal import connect


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413 before any handler reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Content Too Large",
                "status": 413,
                "detail": f"request bodies are limited to {self.max_bytes} bytes",
            }
        ).encode()
        await send(
            {"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/problem+json")]}
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


log = logging.getLogger("ilea.api")

#: Expired keys are deleted this many at a time, so one delete never holds locks for long.
EXPIRE_BATCH = 5000


async def periodically(every: float, what: str, job: Callable[[], Awaitable[object]]) -> None:
    """Run ``job`` every ``every`` seconds for ever; a database that is down is tried next time.

    Every API process runs each of these; the jobs are idempotent, so replicas need no
    coordination.
    """
    while True:
        await asyncio.sleep(every)
        try:
            await job()
        except (asyncpg.PostgresError, *TRANSIENT_DB_ERRORS) as err:  # the database is down: next time
            log.warning("could not %s: %s", what, err)


async def maintain_idempotency_keys(pool: asyncpg.Pool, retention: timedelta, every: float = 10.0) -> None:
    """Delete keys past their retention, every ``every`` seconds. (Keys left in progress by a
    dead process are taken over by the next retry instead: see ``api.idempotency.abandoned_after``.)"""
    await periodically(every, "sweep idempotency keys", lambda: sweep_idempotency_keys(pool, retention))


async def maintain_sessions(pool: asyncpg.Pool, idle: timedelta, every: float = 60.0) -> None:
    """Delete web sessions that ended an hour ago or more, idle or past their absolute end
    (``ilea.db.sessions.purge_ended``, each logged), every ``every`` seconds."""
    await periodically(every, "purge ended sessions", lambda: sessions.purge_ended(pool, idle))


async def sweep_idempotency_keys(pool: asyncpg.Pool, retention: timedelta) -> int:
    """One sweep; returns how many expired keys it deleted."""
    expired = 0
    while True:
        n = await idempotency_keys.expire(pool, retention, EXPIRE_BATCH)
        expired += n
        if n < EXPIRE_BATCH:
            break
    if expired:
        log.info("deleted %d idempotency keys older than %s", expired, retention)
    return expired


def create_app(settings: Settings, *, pool: asyncpg.Pool | None = None, temporal: Client | None = None) -> FastAPI:
    """Build the app; a given pool or client is used as is (tests), otherwise opened here."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_pool = pool is None
        if pool is None:
            if not settings.database_url:
                raise RuntimeError("ILEA_DATABASE_URL is not set (use `ilea dev` for the embedded stack)")
            app.state.pool = await create_pool(
                settings.database_url,
                min_size=settings.db_pool_min,
                max_size=settings.db_pool_max,
                db_timeout=settings.db_timeout_seconds,
            )
        else:
            app.state.pool = pool
        try:
            if own_pool:  # the login the deployment gave us may not be able to rewrite audit rows
                await audit.check_app_login(app.state.pool, strict=settings.env == "production")
            app.state.temporal = temporal or await connect(settings)
            await start_witness(app.state.temporal, settings)
            reclaimer = asyncio.create_task(
                maintain_idempotency_keys(app.state.pool, timedelta(hours=settings.idempotency_retention_hours))
            )
            purger = asyncio.create_task(
                maintain_sessions(app.state.pool, timedelta(minutes=settings.session_idle_minutes))
            )
            # /metrics on a port of its own: never reachable through the API's port.
            exporter = serve_metrics(app.state.metrics, settings) if settings.api_metrics_port else None
            try:
                yield
            finally:
                reclaimer.cancel()
                purger.cancel()
                if exporter is not None:
                    exporter.shutdown()
        finally:
            if own_pool:
                await app.state.pool.close()

    app = FastAPI(
        title="ILEA course approval and staffing",
        version="1.0.0",
        summary="Interagency review, Policy Board approval and instructor staffing of ILEA courses",
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    app.state.settings = settings

    async def grant_of(sub: str) -> people_db.Grant | None:  # roles from grants kept in ILEA (issue 18)
        return await people_db.grant_of(app.state.pool, sub)

    app.state.grants = grant_of
    app.state.verifier = TokenVerifier(settings, grants=grant_of)
    app.state.oidc = OidcClient(settings) if settings.oidc_issuer else None
    errors.install(app)
    for module in (health, proposals, requests, instructors, tasks, notifications, reports, people):
        app.include_router(module.router, responses=None if module is health else errors.PROBLEM_RESPONSES)
    web_routes.install(app)
    app.state.metrics = HttpMetrics() if settings.api_metrics_port else None

    app.add_middleware(SessionMiddleware)  # who the session cookie names, once per request
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimitMiddleware, per_minute=settings.rate_limit_per_minute, burst=settings.rate_limit_burst)
    app.add_middleware(errors.DatabaseDownMiddleware)
    app.add_middleware(DeadlineMiddleware, seconds=settings.request_timeout_seconds)
    if app.state.metrics is not None:
        app.add_middleware(
            MetricsMiddleware, metrics=app.state.metrics
        )  # outermost: also covers the middlewares' queries
    return app
