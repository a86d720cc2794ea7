"""Dependencies: the caller, the pool, the Temporal client, the settings, role policies, and the
proposals and instructor requests named in a path (loaded once; 404 when missing)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Generic, TypeVar, cast

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import VERIFIED, AuthError, Principal, misplaced_role_reason
from api.errors import NotFound, Problem
from api.refusals import record_if_targeted
from api.web.signin import session_principal
from ilea.activity_io import AuditChain
from ilea.db import notifications, proposals, roster
from ilea.domain import Role
from ilea.messages import (
    ErrorType,
)
from ilea.settings import Settings
from workflows.proposal import ProposalWorkflow, workflow_id

log = logging.getLogger("ilea.api")

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
    seen = request.scope.get("state", {}).get(VERIFIED)
    if token is None and (request.method == "GET" or not request.url.path.startswith("/v1/")):
        # The web pages' session (resolved once by the session middleware); /v1 actions need an
        # explicit bearer token, so a cross-site form can never drive the JSON API with a cookie.
        principal = session_principal(request)
    elif not token:
        raise AuthError("a bearer token is required")
    elif seen is not None and seen[0] == token:  # the idempotency middleware verified it already
        principal = cast(Principal, seen[1])
    else:
        principal = await request.app.state.verifier.verify_async(token)
    misplaced = misplaced_role_reason(principal)
    if misplaced:
        problem = Problem.from_refusal(ErrorType.wrong_agency, misplaced)
        await record_if_targeted(request, principal, problem)
        raise problem
    return principal


class Policy:
    """Who may call a route: any authenticated caller, or one holding one of ``roles``.

    Declared once per route (``Depends(Policy(...))``); the handler body never
    re-checks roles. Agency checks that depend on the resource live in the
    workflow's validators.
    """

    def __init__(self, *roles: Role) -> None:
        self.roles = roles

    async def __call__(self, request: Request, user: Annotated[Principal, Depends(current_user)]) -> Principal:
        try:
            return self.check(user)
        except Problem as problem:  # a role refused on an existing proposal is part of its trail
            await record_if_targeted(request, user, problem)
            raise

    def check(self, user: Principal) -> Principal:
        """The same check outside dependency injection (the web forms)."""
        if self.roles and not user.has(*self.roles):
            wanted = " or ".join(r.value for r in self.roles)
            raise Problem.from_refusal(ErrorType.forbidden, f"this action needs the {wanted} role")
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


# --- the resource a path names: loaded once, here; a route never looks it up again -----------
#
# After fastapi-realworld-example-app's ``api/dependencies/articles.py``. Each loader depends on
# the authenticated caller, so an anonymous request learns nothing (401), not even whether the
# id exists; a route lists its role policy before its resource, so 403 comes before 404.

BodyT = TypeVar("BodyT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ProposalRef:
    """A proposal a request names: one the read model has (:func:`find_proposal`), or, for an
    action, the target of an Update, which finds the proposal's workflow or answers 404
    (:func:`api.actions.send`)."""

    id: str


@dataclass(frozen=True, slots=True)
class RequestRef:
    """An instructor request the read model has, and the proposal whose workflow owns it."""

    id: str
    proposal: ProposalRef


@dataclass(frozen=True, slots=True)
class ProposalAction(Generic[BodyT]):
    """What an action on a proposal needs from the request: its validated body and its target."""

    body: BodyT
    proposal: ProposalRef


@dataclass(frozen=True, slots=True)
class RequestAction(Generic[BodyT]):
    """What an action on an instructor request needs: its validated body and its target."""

    body: BodyT
    request: RequestRef


async def find_proposal(db: asyncpg.Pool, proposal_id: str) -> ProposalRef:
    """The proposal ``proposal_id``; :class:`NotFound` when there is none."""
    if not await proposals.exists(db, proposal_id):
        raise NotFound("proposal", proposal_id)
    return ProposalRef(proposal_id)


async def find_request(db: asyncpg.Pool, request_id: str) -> RequestRef | None:
    """The instructor request ``request_id``, or None."""
    row = await roster.get_request(db, request_id)
    return RequestRef(request_id, ProposalRef(row["proposal_id"])) if row else None


async def load_proposal_doc(proposal_id: str, db: Db, caller: CurrentUser) -> dict[str, Any]:
    """The proposal in the path as the read model has it (the JSON document a GET answers)."""
    doc: dict[str, Any] | None = await proposals.get(db, proposal_id)
    if doc is None:
        raise NotFound("proposal", proposal_id)
    return doc


async def load_proposal(proposal_id: str, db: Db, caller: CurrentUser) -> ProposalRef:
    """The proposal in the path (checked to exist; its document is not read)."""
    return await find_proposal(db, proposal_id)


@dataclass(frozen=True, slots=True)
class AuditedProposal:
    """A proposal whose audit trail is to be verified, and its workflow's own record of the trail
    (None when the workflow could not be asked)."""

    id: str
    kept: AuditChain | None


async def load_audited_proposal(proposal_id: str, db: Db, client: Temporal, caller: CurrentUser) -> AuditedProposal:
    """The proposal in the path as far as its read model or its workflow knows it: verification is
    for a trail whose rows (even the read model's row) may have been deleted; 404 when neither does."""
    kept = await workflow_record(client, proposal_id)
    if kept is None and not await proposals.exists(db, proposal_id):
        raise NotFound("proposal", proposal_id)
    return AuditedProposal(proposal_id, kept)


async def workflow_record(client: Client, proposal_id: str) -> AuditChain | None:
    """The proposal workflow's record of its audit chain (the ``audit_chain`` query); None when
    there is no such workflow, or it does not answer in time (a worker replays a closed one)."""
    handle = client.get_workflow_handle(workflow_id(proposal_id))
    try:
        record: AuditChain = await handle.query(ProposalWorkflow.audit_chain, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            log.warning("the workflow of %s did not answer for its audit chain: %s", proposal_id, err)
        return None
    except WorkflowQueryFailedError as err:  # a workflow recorded before it kept a chain, on an old worker
        log.warning("the workflow of %s cannot tell its audit chain: %s", proposal_id, err)
        return None
    return record


#: how long verification waits for the workflow's answer before checking the database alone
QUERY_TIMEOUT = timedelta(seconds=5)


async def load_request(request_id: str, db: Db, caller: CurrentUser) -> RequestRef:
    """The instructor request in the path."""
    found = await find_request(db, request_id)
    if found is None:
        raise NotFound("instructor request", request_id)
    return found


# An action's body is a parameter of its dependency, not of the route: FastAPI validates a
# dependency's own parameters before calling it and skips it when they are invalid, so a bad
# body answers 422 before its target is looked up (a 404), as when routes looked targets up
# themselves. One dependency per body model, made by these two factories.


def proposal_action(model: type[BodyT]) -> Callable[..., Awaitable[ProposalAction[BodyT]]]:
    """A dependency answering :class:`ProposalAction`: the body as ``model``, and the proposal
    named in the path, not looked up: the action's Update finds its workflow, and only when
    Temporal knows no such workflow does :func:`api.actions.send` ask the read model (404, or 409
    for a proposal whose workflow is gone). A read of the read model less on every action."""

    async def dependency(proposal_id: str, body: BodyT, caller: CurrentUser) -> ProposalAction[BodyT]:
        return ProposalAction(body, ProposalRef(proposal_id))

    # FastAPI reads the body's model from the annotation; ``BodyT`` is the type checker's name for it.
    dependency.__annotations__["body"] = model
    return dependency


def request_action(model: type[BodyT]) -> Callable[..., Awaitable[RequestAction[BodyT]]]:
    """A dependency answering :class:`RequestAction`: the body as ``model``, then the request."""

    async def dependency(request_id: str, body: BodyT, db: Db, caller: CurrentUser) -> RequestAction[BodyT]:
        return RequestAction(body, await load_request(request_id, db, caller))

    dependency.__annotations__["body"] = model
    return dependency


async def load_notification(notification_id: int, db: Db, caller: CurrentUser) -> dict[str, Any]:
    """The notification in the path, with whether the caller has read it."""
    row = await notifications.get_for_reader(db, notification_id, caller.sub)
    if row is None:
        raise NotFound("notification", str(notification_id))
    return row


ProposalDoc = Annotated[dict[str, Any], Depends(load_proposal_doc)]
KnownNotification = Annotated[dict[str, Any], Depends(load_notification)]
KnownProposal = Annotated[ProposalRef, Depends(load_proposal)]
AuditedProposalDep = Annotated[AuditedProposal, Depends(load_audited_proposal)]
