"""Proposals: submission, tracking and every review action."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, SkipValidation
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from api import actions, visibility
from api.auth import Principal
from api.deadline import action_deadline
from api.deps import (
    AuditedProposalDep,
    BoardChair,
    BoardMember,
    CurrentUser,
    Db,
    IsgMember,
    KnownProposal,
    ProgramOfficer,
    ProposalAction,
    ProposalDoc,
    ProposalRef,
    SettingsDep,
    Temporal,
    find_proposal,
    proposal_action,
)
from api.errors import Problem
from api.idempotency import EffectKey
from api.refusals import refuse
from api.schemas import (
    AuditEvents,
    AuditTrailCheck,
    BoardDecisionBody,
    BoardPositionBody,
    CutoffBody,
    HandOverBody,
    IsgVoteBody,
    Proposal,
    ProposalBody,
    ProposalPage,
    RevisionBody,
    WithdrawBody,
)
from api.validation import check_proposal
from ilea.db import audit, people, proposals
from ilea.domain import Academy, Role, Stage, Topic
from ilea.messages import (
    BoardDecisionInput,
    BoardPositionInput,
    CutoffInput,
    HandOverInput,
    IsgVoteInput,
    ProposalInput,
    ReadInput,
    RevisionInput,
    WithdrawInput,
)
from ilea.settings import Settings
from workflows import rules, views
from workflows.proposal import ProposalWorkflow, workflow_id

router = APIRouter(prefix="/v1/proposals", tags=["proposals"])


def _out(request: Request, doc: dict[str, Any], user: Principal) -> dict[str, Any]:
    """The proposal as ``user`` may read it (api/visibility.py), with its history's URL."""
    doc = visibility.proposal(doc, visibility.seer(user))
    doc["history_url"] = str(request.url_for("proposal_events", proposal_id=doc["id"]))
    return doc


async def _current(request: Request, db: Db, proposal: ProposalRef, user: Principal) -> dict[str, Any]:
    """The proposal as the read model has it (an action's effect is there when it returns)."""
    doc = await proposals.get(db, proposal.id)
    if doc is None:  # pragma: no cover - the workflow writes it before answering
        raise Problem(503, "the proposal is not recorded yet; retry shortly", headers={"Retry-After": "1"})
    return _out(request, doc, user)


#: A proposal body as sent. Its OpenAPI schema is the model's, but it is validated in the route
#: (``api.validation.check_proposal``): field rules and proposal rules in one 422.
Unvalidated = SkipValidation


@router.post("", status_code=201, response_model=Proposal, summary="Submit a course proposal")
async def submit(
    request: Request,
    body: Annotated[ProposalBody, Unvalidated, Body()],
    user: ProgramOfficer,
    db: Db,
    client: Temporal,
    settings: SettingsDep,
    idempotency_key: EffectKey,
) -> dict[str, Any]:
    return await start_proposal(request, body, user, db, client, settings, idempotency_key)


async def start_proposal(
    request: Request, raw: Any, user: Principal, db: Db, client: Temporal, settings: Settings, key: str | None
) -> dict[str, Any]:
    """Check a proposal as sent (``raw``: every rule, one 422), start its workflow, answer it as recorded."""
    now = datetime.now(UTC)
    proposal, errors = check_proposal(raw, rules.eastern_date(now), settings.rules(), ProposalBody)
    if proposal is None:
        raise Problem.invalid(errors)
    pid = actions.new_proposal_id(user.sub, key)
    start = WithStartWorkflowOperation(
        ProposalWorkflow.run,
        ProposalInput(
            proposal_id=pid,
            fields=proposal.fields(),
            submitted_by=user.actor(),
            submitted_at=now,
            rules=settings.rules(),
        ),
        id=workflow_id(pid),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=views.search_attributes_at_start(proposal.fields()),
    )
    async with action_deadline():  # 503 when not through in time; a keyed retry gets the proposal
        await client.execute_update_with_start_workflow(
            ProposalWorkflow.current, ReadInput(return_state=False), start_workflow_operation=start
        )
    return await _current(request, db, ProposalRef(pid), user)


@router.get("", response_model=ProposalPage, summary="List proposals, newest first")
async def list_proposals(
    user: CurrentUser,
    db: Db,
    stage: Stage | None = None,
    academy: Academy | None = None,
    topic: Topic | None = None,
    pending_on: Annotated[str | None, Query(pattern="^(STATE|TREASURY|DHS|DOJ)$")] = None,
    owner: Annotated[str | None, Query(max_length=128, description="a sub, or `me`")] = None,
    q: Annotated[str | None, Query(max_length=200, description="text in the title or the reference")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    flt = proposals.ListFilter(
        stage=stage,
        academy=academy,
        topic=topic,
        pending_on=pending_on,
        owner=user.sub if owner == "me" else owner,
        q=q,
    )
    try:
        rows, next_cursor = await proposals.list_summaries(db, flt, limit, cursor)
    except ValueError as err:
        raise Problem(422, str(err), errors=[{"loc": ["query", "cursor"], "msg": str(err)}]) from None
    return {"items": rows, "next_cursor": next_cursor}


@router.get("/{proposal_id}", response_model=Proposal, summary="One proposal as it stands")
async def get_proposal(request: Request, user: CurrentUser, doc: ProposalDoc) -> dict[str, Any]:
    return _out(request, doc, user)


@router.get(
    "/{proposal_id}/events", response_model=AuditEvents, name="proposal_events", summary="The audit trail, oldest first"
)
async def events(user: CurrentUser, proposal: KnownProposal, db: Db) -> dict[str, Any]:
    return {"items": visibility.events(await audit.fetch(db, proposal.id), visibility.seer(user))}


@router.get("/{proposal_id}/events/verify", response_model=AuditTrailCheck, summary="Verify the audit trail")
async def verify_events(user: CurrentUser, proposal: AuditedProposalDep, db: Db) -> dict[str, Any]:
    """Recompute the database's hash chain, and compare its events with the workflow's own record.

    The workflow's record (how many events it wrote, and their chain's head) is kept where the
    database cannot rewrite it, so deleting the newest events, or rewriting events and
    recomputing the chain, is found too; a proposal with no audit rows left is tampered.
    """
    verdict = audit.verify(proposal.id, await audit.fetch(db, proposal.id), proposal.kept)
    return {
        "valid": verdict.valid,
        "events": verdict.events,
        "first_broken_seq": verdict.first_broken_seq,
        "problems": verdict.problems,
        "workflow": proposal.kept,
    }


# Every action: the caller's role policy first (401/403), then the body and the proposal from
# the action's dependency (422, then 404), then the one action path; the answer is the proposal
# as the read model has it once the Update has returned.


@router.post("/{proposal_id}/isg-votes", response_model=Proposal, summary="Cast or change an ISG seat's vote")
async def isg_vote(
    request: Request,
    user: IsgMember,
    act: Annotated[ProposalAction[IsgVoteBody], Depends(proposal_action(IsgVoteBody))],
    db: Db,
    client: Temporal,
    idempotency_key: EffectKey,
) -> dict[str, Any]:
    arg = IsgVoteInput(actor=user.actor(), vote=act.body.vote, comment=act.body.comment)
    await actions.send(client, db, user, act.proposal, ProposalWorkflow.isg_vote, arg, key=idempotency_key)
    return await _current(request, db, act.proposal, user)


async def revision(
    proposal_id: str,
    body: Annotated[RevisionBody, Unvalidated, Body()],
    db: Db,
    settings: SettingsDep,
    caller: CurrentUser,
) -> ProposalAction[RevisionBody]:
    """A revision, checked against every rule (422) before its proposal is looked up (404)."""
    return await check_revision(proposal_id, body, db, settings, caller)


async def check_revision(
    proposal_id: str, raw: Any, db: Db, settings: Settings, caller: Principal
) -> ProposalAction[RevisionBody]:
    """A revision as sent (``raw``), checked against every rule at once (one 422), then its proposal.

    A refused revision of a proposal that exists is recorded in its audit trail, as the
    workflow's own refusals are.
    """
    today = rules.eastern_date(datetime.now(UTC))
    revised, errors = check_proposal(raw, today, settings.rules(), RevisionBody, at=("proposal",))
    if revised is None:
        await refuse(db, proposal_id, caller, actions.action_name(ProposalWorkflow.revise), Problem.invalid(errors))
    return ProposalAction(revised, await find_proposal(db, proposal_id))


@router.post("/{proposal_id}/revisions", response_model=Proposal, summary="Submit a revision")
async def revise(
    request: Request,
    user: ProgramOfficer,
    act: Annotated[ProposalAction[RevisionBody], Depends(revision)],
    db: Db,
    client: Temporal,
    idempotency_key: EffectKey,
) -> dict[str, Any]:
    arg = RevisionInput(actor=user.actor(), proposal=act.body.proposal.fields(), comment=act.body.comment)
    await actions.send(client, db, user, act.proposal, ProposalWorkflow.revise, arg, key=idempotency_key)
    return await _current(request, db, act.proposal, user)


@router.post(
    "/{proposal_id}/board-positions",
    response_model=Proposal,
    summary="Record a department's position on the Policy Board",
)
async def board_position(
    request: Request,
    user: BoardMember,
    act: Annotated[ProposalAction[BoardPositionBody], Depends(proposal_action(BoardPositionBody))],
    db: Db,
    client: Temporal,
    idempotency_key: EffectKey,
) -> dict[str, Any]:
    arg = BoardPositionInput(actor=user.actor(), position=act.body.position, comment=act.body.comment)
    await actions.send(client, db, user, act.proposal, ProposalWorkflow.board_position, arg, key=idempotency_key)
    return await _current(request, db, act.proposal, user)


@router.post("/{proposal_id}/board-decision", response_model=Proposal, summary="The chair's decision")
async def board_decision(
    request: Request,
    user: BoardChair,
    act: Annotated[ProposalAction[BoardDecisionBody], Depends(proposal_action(BoardDecisionBody))],
    db: Db,
    client: Temporal,
    idempotency_key: EffectKey,
) -> dict[str, Any]:
    arg = BoardDecisionInput(actor=user.actor(), decision=act.body.decision, comment=act.body.comment)
    await actions.send(client, db, user, act.proposal, ProposalWorkflow.board_decision, arg, key=idempotency_key)
    return await _current(request, db, act.proposal, user)


@router.post("/{proposal_id}/withdraw", response_model=Proposal, summary="Withdraw a proposal")
async def withdraw(
    request: Request,
    user: ProgramOfficer,
    act: Annotated[ProposalAction[WithdrawBody], Depends(proposal_action(WithdrawBody))],
    db: Db,
    client: Temporal,
    idempotency_key: EffectKey,
) -> dict[str, Any]:
    arg = WithdrawInput(actor=user.actor(), reason=act.body.reason)
    await actions.send(client, db, user, act.proposal, ProposalWorkflow.withdraw, arg, key=idempotency_key)
    return await _current(request, db, act.proposal, user)


@router.post("/{proposal_id}/staffing-cutoff", response_model=Proposal, summary="Move the staffing cutoff")
async def staffing_cutoff(
    request: Request,
    user: ProgramOfficer,
    act: Annotated[ProposalAction[CutoffBody], Depends(proposal_action(CutoffBody))],
    db: Db,
    client: Temporal,
    idempotency_key: EffectKey,
) -> dict[str, Any]:
    arg = CutoffInput(actor=user.actor(), cutoff=act.body.cutoff)
    await actions.send(client, db, user, act.proposal, ProposalWorkflow.staffing_cutoff, arg, key=idempotency_key)
    return await _current(request, db, act.proposal, user)


class NewOwner(BaseModel):
    """A hand-over's new owner, with the name ILEA's grant gives them ("" without a grant)."""

    sub: str
    name: str


async def owner_for(db: Db, settings: Settings, caller: Principal, proposal_id: str, sub: str) -> NewOwner:
    """The hand-over's new owner ``sub``, checked against the grants ILEA keeps; a refusal (422 on
    ``sub``) is recorded in the proposal's trail. The JSON route and the proposal page both ask here.

    A person ILEA grants roles to must hold ``program_officer`` (actively). A sub ILEA has no
    grant for is accepted only where roles come from tokens (development, service accounts):
    there is no registry to ask, and the workflow checks only that it names a person.
    """
    grant = await people.grant_of(db, sub)
    problem = None
    if grant is not None and not (grant.active and Role.program_officer in grant.roles):
        problem = f"{sub} is not a program officer in ILEA: only a program officer can own a proposal"
    elif grant is None and not settings.roles_from_claims:
        problem = f"ILEA grants no role to {sub}: only a program officer can own a proposal"
    if problem:
        refusal = Problem.invalid([{"loc": ["body", "sub"], "msg": problem}])
        await refuse(db, proposal_id, caller, actions.action_name(ProposalWorkflow.hand_over), refusal)
    return NewOwner(sub=sub, name=grant.name if grant else "")


async def new_owner(
    proposal_id: str, body: HandOverBody, db: Db, settings: SettingsDep, caller: CurrentUser
) -> ProposalAction[NewOwner]:
    """The hand-over's new owner (:func:`owner_for`, 422), then the proposal (404)."""
    owner = await owner_for(db, settings, caller, proposal_id, body.sub)
    return ProposalAction(owner, await find_proposal(db, proposal_id))


@router.post("/{proposal_id}/owner", response_model=Proposal, summary="Hand a proposal over to another program officer")
async def hand_over(
    request: Request,
    user: ProgramOfficer,
    act: Annotated[ProposalAction[NewOwner], Depends(new_owner)],
    db: Db,
    client: Temporal,
    idempotency_key: EffectKey,
) -> dict[str, Any]:
    arg = HandOverInput(actor=user.actor(), sub=act.body.sub, name=act.body.name)
    await actions.send(client, db, user, act.proposal, ProposalWorkflow.hand_over, arg, key=idempotency_key)
    return await _current(request, db, act.proposal, user)
