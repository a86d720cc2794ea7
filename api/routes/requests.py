"""Instructor requests: what agency coordinators answer, and program officers re-target."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api import actions, visibility
from api.actions import ActionUpdate, InputT
from api.auth import Principal
from api.deps import (
    Coordinator,
    Db,
    ProgramOfficer,
    RequestAction,
    RequestReader,
    RequestRef,
    Temporal,
    request_action,
)
from api.errors import Problem
from api.idempotency import EffectKey
from api.schemas import AcceptBody, InstructorRequest, InstructorRequests, ReasonBody, RetargetBody
from ilea.db import roster
from ilea.domain import Agency, RequestStatus, Role
from ilea.messages import AcceptInput, DeclineInput, ErrorType, ReleaseInput, RetargetInput
from workflows.proposal import ProposalWorkflow

router = APIRouter(prefix="/v1/instructor-requests", tags=["instructor requests"])


@dataclass(frozen=True, slots=True)
class RequestFilter:
    status: RequestStatus | None
    agency: Agency | None
    proposal_id: str | None


async def request_filter(
    user: RequestReader,
    status: RequestStatus | None = None,
    agency: Agency | None = None,
    proposal_id: str | None = None,
) -> RequestFilter:
    """The caller's filter, within what they may read: a coordinator sees only their own agency's requests."""
    if not user.has(Role.program_officer, Role.auditor):
        if agency is not None and agency is not user.agency:
            raise Problem.from_refusal(
                ErrorType.wrong_agency, f"a {user.agency} coordinator sees only {user.agency} requests"
            )
        agency = user.agency
    return RequestFilter(status, agency, proposal_id)


#: A page, as ``/v1/proposals`` pages; ``next_cursor`` fetches the rest.
DEFAULT_PAGE = 50
MAX_PAGE = 200


@router.get("", response_model=InstructorRequests, summary="Instructor requests, soonest due first (own agency only)")
async def list_requests(
    user: RequestReader,
    flt: Annotated[RequestFilter, Depends(request_filter)],
    db: Db,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    try:
        items, next_cursor = await roster.list_requests(
            db, status=flt.status, agency=flt.agency, proposal_id=flt.proposal_id, limit=limit, cursor=cursor
        )
    except ValueError as err:
        raise Problem(422, str(err), errors=[{"loc": ["query", "cursor"], "msg": str(err)}]) from None
    return {"items": visibility.requests(items, visibility.seer(user)), "next_cursor": next_cursor}


# Every action: the caller's role policy first (401/403), then the body and the request from the
# action's dependency (422, then 404), then the one action path; the answer is the request as the
# workflow returns it. Whether the caller coordinates the request's agency is the workflow's rule.


async def _answer(
    client: Temporal,
    db: Db,
    user: Principal,
    request: RequestRef,
    update: ActionUpdate[InputT],
    arg: InputT,
    key: str | None,
) -> dict[str, Any]:
    result = await actions.send(client, db, user, request.proposal, update, arg, key=key)
    if result.request is None:  # pragma: no cover - every request action returns its request
        raise Problem(500, "the workflow did not return the request")
    return visibility.request(result.request.model_dump(mode="json"), visibility.seer(user))


@router.post("/{request_id}/accept", response_model=InstructorRequest, summary="Accept, naming an instructor")
async def accept(
    user: Coordinator,
    act: Annotated[RequestAction[AcceptBody], Depends(request_action(AcceptBody))],
    db: Db,
    client: Temporal,
    idempotency_key: EffectKey,
) -> dict[str, Any]:
    arg = AcceptInput(actor=user.actor(), request_id=act.request.id, instructor_id=act.body.instructor_id)
    return await _answer(client, db, user, act.request, ProposalWorkflow.accept_request, arg, idempotency_key)


@router.post("/{request_id}/decline", response_model=InstructorRequest, summary="Decline, with a reason")
async def decline(
    user: Coordinator,
    act: Annotated[RequestAction[ReasonBody], Depends(request_action(ReasonBody))],
    db: Db,
    client: Temporal,
    idempotency_key: EffectKey,
) -> dict[str, Any]:
    arg = DeclineInput(actor=user.actor(), request_id=act.request.id, reason=act.body.reason)
    return await _answer(client, db, user, act.request, ProposalWorkflow.decline_request, arg, idempotency_key)


@router.post(
    "/{request_id}/release",
    response_model=InstructorRequest,
    summary="Release a booked instructor before the course starts",
)
async def release(
    user: Coordinator,
    act: Annotated[RequestAction[ReasonBody], Depends(request_action(ReasonBody))],
    db: Db,
    client: Temporal,
    idempotency_key: EffectKey,
) -> dict[str, Any]:
    arg = ReleaseInput(actor=user.actor(), request_id=act.request.id, reason=act.body.reason)
    return await _answer(client, db, user, act.request, ProposalWorkflow.release_request, arg, idempotency_key)


@router.post(
    "/{request_id}/retarget", response_model=InstructorRequest, summary="Send an unfilled slot to another agency"
)
async def retarget(
    user: ProgramOfficer,
    act: Annotated[RequestAction[RetargetBody], Depends(request_action(RetargetBody))],
    db: Db,
    client: Temporal,
    idempotency_key: EffectKey,
) -> dict[str, Any]:
    arg = RetargetInput(actor=user.actor(), request_id=act.request.id, agency=act.body.agency)
    return await _answer(client, db, user, act.request, ProposalWorkflow.retarget_request, arg, idempotency_key)
