"""Form POSTs: each sends the same workflow update as the JSON API, then redirects (POST-redirect-GET).

A refusal (Problem) is shown on the next page with its reason; the workflow is
the one place that decides, so the forms never re-check stages themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api import actions
from api.actions import ActionUpdate, InputT
from api.auth import Principal
from api.deps import Db, Policy, Temporal, find_proposal, find_request
from api.errors import NotFound, Problem
from api.web.render import message, safe_next, to_login
from api.web.session import CsrfError, check_csrf, flash, read_form, viewer
from ilea.domain import Role
from ilea.messages import (
    AcceptInput,
    BoardDecisionInput,
    BoardPositionInput,
    CutoffInput,
    DeclineInput,
    IsgVoteInput,
    ReleaseInput,
    RetargetInput,
    WithdrawInput,
)
from workflows.proposal import ProposalWorkflow

router = APIRouter(include_in_schema=False)


class Stop(Exception):
    """Ends a form action early with a response (login, CSRF refusal)."""

    def __init__(self, response: Response) -> None:
        self.response = response


async def begin(request: Request) -> tuple[Principal, dict[str, str]]:
    user = viewer(request)
    if user is None:
        raise Stop(to_login(request))
    form = await read_form(request)
    try:
        check_csrf(request, form)
    except CsrfError as err:
        raise Stop(message(request, "Refused", str(err), user=user, status=403)) from None
    return user, form


def _done(request: Request, form: dict[str, str], default: str, kind: str, message: str) -> RedirectResponse:
    response = RedirectResponse(safe_next(form.get("next"), default), status_code=303)
    flash(response, request, kind, message)
    return response


def comment_of(form: dict[str, str], key: str = "comment") -> str | None:
    text = (form.get(key) or "").strip()
    return text[:5000] or None


async def _proposal_action(
    request: Request,
    proposal_id: str,
    db: Db,
    client: Temporal,
    role: Role,
    update: ActionUpdate[InputT],
    make: Callable[[Principal, dict[str, str]], InputT],
    ok: str,
) -> Response:
    try:
        user, form = await begin(request)
    except Stop as stop:
        return stop.response
    page = f"/ui/proposals/{proposal_id}"
    try:
        Policy(role).check(user)
        proposal = await find_proposal(db, proposal_id)
        await actions.send(client, db, user, proposal, update, make(user, form), key=form.get("form_id"))
    except Problem as problem:
        return _done(request, form, page, "error", f"Refused: {problem.detail}")
    except (ValidationError, ValueError) as err:
        return _done(request, form, page, "error", f"Refused: {_first_error(err)}")
    return _done(request, form, page, "ok", ok)


def _first_error(err: Exception) -> str:
    if isinstance(err, ValidationError):
        e = err.errors()[0]
        return f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}"
    return str(err)


@router.post("/ui/proposals/{proposal_id}/vote", response_model=None)
async def vote(request: Request, proposal_id: str, db: Db, client: Temporal) -> Response:
    return await _proposal_action(
        request,
        proposal_id,
        db,
        client,
        Role.isg_member,
        ProposalWorkflow.isg_vote,
        lambda u, f: IsgVoteInput(actor=u.actor(), vote=f.get("vote", ""), comment=comment_of(f)),
        "Your vote is recorded.",
    )


@router.post("/ui/proposals/{proposal_id}/position", response_model=None)
async def position(request: Request, proposal_id: str, db: Db, client: Temporal) -> Response:
    return await _proposal_action(
        request,
        proposal_id,
        db,
        client,
        Role.board_member,
        ProposalWorkflow.board_position,
        lambda u, f: BoardPositionInput(actor=u.actor(), position=f.get("position", ""), comment=comment_of(f)),
        "Your Board position is recorded.",
    )


@router.post("/ui/proposals/{proposal_id}/decision", response_model=None)
async def decision(request: Request, proposal_id: str, db: Db, client: Temporal) -> Response:
    return await _proposal_action(
        request,
        proposal_id,
        db,
        client,
        Role.board_chair,
        ProposalWorkflow.board_decision,
        lambda u, f: BoardDecisionInput(actor=u.actor(), decision=f.get("decision", ""), comment=comment_of(f)),
        "The decision is recorded.",
    )


def _required(form: dict[str, str], key: str, what: str) -> str:
    text = comment_of(form, key)
    if not text:
        raise ValueError(f"{what} is required")
    return text


@router.post("/ui/proposals/{proposal_id}/withdraw", response_model=None)
async def withdraw(request: Request, proposal_id: str, db: Db, client: Temporal) -> Response:
    return await _proposal_action(
        request,
        proposal_id,
        db,
        client,
        Role.program_officer,
        ProposalWorkflow.withdraw,
        lambda u, f: WithdrawInput(actor=u.actor(), reason=_required(f, "reason", "a reason")),
        "The proposal is withdrawn.",
    )


@router.post("/ui/proposals/{proposal_id}/cutoff", response_model=None)
async def cutoff(request: Request, proposal_id: str, db: Db, client: Temporal) -> Response:
    return await _proposal_action(
        request,
        proposal_id,
        db,
        client,
        Role.program_officer,
        ProposalWorkflow.staffing_cutoff,
        lambda u, f: CutoffInput(actor=u.actor(), cutoff=date.fromisoformat(f.get("cutoff", ""))),
        "The staffing cutoff is moved.",
    )


# --- instructor requests -------------------------------------------------------------------


async def _request_action(
    request: Request,
    request_id: str,
    db: Db,
    client: Temporal,
    role: Role,
    update: ActionUpdate[InputT],
    make: Callable[[Principal, dict[str, str]], InputT],
    ok: str,
) -> Response:
    try:
        user, form = await begin(request)
    except Stop as stop:
        return stop.response
    found = await find_request(db, request_id)
    page = f"/ui/proposals/{found.proposal.id}" if found else "/ui/inbox"
    try:
        Policy(role).check(user)
        if found is None:
            raise NotFound("instructor request", request_id)
        await actions.send(client, db, user, found.proposal, update, make(user, form), key=form.get("form_id"))
    except Problem as problem:
        return _done(request, form, page, "error", f"Refused: {problem.detail}")
    except (ValidationError, ValueError) as err:
        return _done(request, form, page, "error", f"Refused: {_first_error(err)}")
    return _done(request, form, page, "ok", ok)


@router.post("/ui/requests/{request_id}/accept", response_model=None)
async def accept(request: Request, request_id: str, db: Db, client: Temporal) -> Response:
    return await _request_action(
        request,
        request_id,
        db,
        client,
        Role.agency_coordinator,
        ProposalWorkflow.accept_request,
        lambda u, f: AcceptInput(
            actor=u.actor(), request_id=request_id, instructor_id=_required(f, "instructor_id", "an instructor")
        ),
        "The instructor is booked.",
    )


@router.post("/ui/requests/{request_id}/decline", response_model=None)
async def decline(request: Request, request_id: str, db: Db, client: Temporal) -> Response:
    return await _request_action(
        request,
        request_id,
        db,
        client,
        Role.agency_coordinator,
        ProposalWorkflow.decline_request,
        lambda u, f: DeclineInput(actor=u.actor(), request_id=request_id, reason=_required(f, "reason", "a reason")),
        "The request is declined.",
    )


@router.post("/ui/requests/{request_id}/release", response_model=None)
async def release(request: Request, request_id: str, db: Db, client: Temporal) -> Response:
    return await _request_action(
        request,
        request_id,
        db,
        client,
        Role.agency_coordinator,
        ProposalWorkflow.release_request,
        lambda u, f: ReleaseInput(actor=u.actor(), request_id=request_id, reason=_required(f, "reason", "a reason")),
        "The instructor is released.",
    )


@router.post("/ui/requests/{request_id}/retarget", response_model=None)
async def retarget(request: Request, request_id: str, db: Db, client: Temporal) -> Response:
    return await _request_action(
        request,
        request_id,
        db,
        client,
        Role.program_officer,
        ProposalWorkflow.retarget_request,
        lambda u, f: RetargetInput(actor=u.actor(), request_id=request_id, agency=f.get("agency", "")),
        "The slot is sent to the other agency.",
    )
