"""Instructor requests: what agency coordinators answer, and program officers re-target."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header

from api import actions
from api.deps import Coordinator, Db, ProgramOfficer, RequestReader, Temporal
from api.errors import Problem
from api.idempotency import update_id
from api.schemas import AcceptBody, InstructorRequest, InstructorRequests, ReasonBody, RetargetBody
from ilea.db import roster
from ilea.domain import Agency, RequestStatus, Role
from ilea.messages import AcceptInput, DeclineInput, ReleaseInput, RetargetInput
from workflows.proposal import ProposalWorkflow

router = APIRouter(prefix="/v1/instructor-requests", tags=["instructor requests"])

IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


@router.get("", response_model=InstructorRequests, summary="Instructor requests (own agency for coordinators)")
async def list_requests(
    user: RequestReader,
    db: Db,
    status: RequestStatus | None = None,
    agency: Agency | None = None,
    proposal_id: str | None = None,
) -> dict[str, Any]:
    if not user.has(Role.program_officer, Role.auditor):
        if agency is not None and agency is not user.agency:
            raise Problem(403, f"a {user.agency} coordinator sees only {user.agency} requests", kind="WrongAgency")
        agency = user.agency
    items = await roster.list_requests(db, status=status, agency=agency, proposal_id=proposal_id)
    return {"items": items}


async def _act(
    request_id: str, user: Any, db: Db, client: Temporal, update: Any, arg: Any, action: str, key: str | None
) -> dict[str, Any]:
    row = await roster.get_request(db, request_id)
    if row is None:
        raise Problem(404, f"no instructor request {request_id}")
    result = await actions.send(
        client, db, row["proposal_id"], user, update, arg, action=action, update_id=update_id(user.sub, key)
    )
    if result.request is None:  # pragma: no cover - every request action returns its request
        raise Problem(500, "the workflow did not return the request")
    return result.request.model_dump(mode="json")


@router.post("/{request_id}/accept", response_model=InstructorRequest, summary="Accept, naming an instructor")
async def accept(
    request_id: str, body: AcceptBody, user: Coordinator, db: Db, client: Temporal, idempotency_key: IdemKey = None
) -> dict[str, Any]:
    return await _act(
        request_id,
        user,
        db,
        client,
        ProposalWorkflow.accept_request,
        AcceptInput(actor=user.actor(), request_id=request_id, instructor_id=body.instructor_id),
        "accept_request",
        idempotency_key,
    )


@router.post("/{request_id}/decline", response_model=InstructorRequest, summary="Decline, with a reason")
async def decline(
    request_id: str, body: ReasonBody, user: Coordinator, db: Db, client: Temporal, idempotency_key: IdemKey = None
) -> dict[str, Any]:
    return await _act(
        request_id,
        user,
        db,
        client,
        ProposalWorkflow.decline_request,
        DeclineInput(actor=user.actor(), request_id=request_id, reason=body.reason),
        "decline_request",
        idempotency_key,
    )


@router.post(
    "/{request_id}/release",
    response_model=InstructorRequest,
    summary="Release a booked instructor before the course starts",
)
async def release(
    request_id: str, body: ReasonBody, user: Coordinator, db: Db, client: Temporal, idempotency_key: IdemKey = None
) -> dict[str, Any]:
    return await _act(
        request_id,
        user,
        db,
        client,
        ProposalWorkflow.release_request,
        ReleaseInput(actor=user.actor(), request_id=request_id, reason=body.reason),
        "release_request",
        idempotency_key,
    )


@router.post(
    "/{request_id}/retarget", response_model=InstructorRequest, summary="Send an unfilled slot to another agency"
)
async def retarget(
    request_id: str, body: RetargetBody, user: ProgramOfficer, db: Db, client: Temporal, idempotency_key: IdemKey = None
) -> dict[str, Any]:
    return await _act(
        request_id,
        user,
        db,
        client,
        ProposalWorkflow.retarget_request,
        RetargetInput(actor=user.actor(), request_id=request_id, agency=body.agency),
        "retarget_request",
        idempotency_key,
    )
