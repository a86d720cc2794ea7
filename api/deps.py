"""Dependencies: the caller, the pool, the Temporal client, the settings, role policies."""

from __future__ import annotations

from typing import Annotated, cast

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from api.auth import VERIFIED, AuthError, Principal
from api.errors import Problem
from ilea.domain import Role
from ilea.settings import Settings

_bearer = HTTPBearer(auto_error=False)


# Every dependency here is ``async def``: FastAPI runs a plain ``def`` dependency on its thread
# pool, and these five per request (none of which blocks) were a hand-off each way, on every
# call (bench profile of the API, issue 6).


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_db(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


async def get_temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The verified caller; 401 with ``WWW-Authenticate: Bearer`` when there is none."""
    token = credentials.credentials if credentials else None
    if token is None and (request.method == "GET" or not request.url.path.startswith("/v1/")):
        # The web pages' session cookie; /v1 actions need an explicit bearer token, so a
        # cross-site form can never drive the JSON API with a visitor's cookie.
        token = request.cookies.get("ilea_session")
    if not token:
        raise AuthError("a bearer token is required")
    # The idempotency middleware verified this request's bearer token already.
    seen = request.scope.get("state", {}).get(VERIFIED)
    if seen is not None and seen[0] == token:
        return cast(Principal, seen[1])
    principal: Principal = await request.app.state.verifier.verify_async(token)
    return principal


class Policy:
    """Who may call a route: any authenticated caller, or one holding one of ``roles``.

    Declared once per route (``Depends(Policy(...))``); the handler body never
    re-checks roles. Agency checks that depend on the resource live in the
    workflow's validators.
    """

    def __init__(self, *roles: Role) -> None:
        self.roles = roles

    async def __call__(self, user: Annotated[Principal, Depends(current_user)]) -> Principal:
        return self.check(user)

    def check(self, user: Principal) -> Principal:
        """The same check outside dependency injection (the web forms)."""
        if self.roles and not user.has(*self.roles):
            wanted = " or ".join(r.value for r in self.roles)
            raise Problem(403, f"this action needs the {wanted} role", kind="Forbidden")
        return user


SettingsDep = Annotated[Settings, Depends(get_settings)]
Db = Annotated[asyncpg.Pool, Depends(get_db)]
Temporal = Annotated[Client, Depends(get_temporal)]
CurrentUser = Annotated[Principal, Depends(Policy())]
ProgramOfficer = Annotated[Principal, Depends(Policy(Role.program_officer))]
IsgMember = Annotated[Principal, Depends(Policy(Role.isg_member))]
BoardMember = Annotated[Principal, Depends(Policy(Role.board_member))]
BoardChair = Annotated[Principal, Depends(Policy(Role.board_chair))]
Coordinator = Annotated[Principal, Depends(Policy(Role.agency_coordinator))]
RequestReader = Annotated[Principal, Depends(Policy(Role.agency_coordinator, Role.program_officer, Role.auditor))]
Reporter = Annotated[Principal, Depends(Policy(Role.program_officer, Role.auditor))]
