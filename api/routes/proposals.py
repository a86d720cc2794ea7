"""Proposals: submission, tracking and every review action."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from api import actions
from api.deps import (
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
from api.schemas import (
    AuditEvents,
    BoardDecisionBody,
    BoardPositionBody,
    ChainCheck,
    CutoffBody,
    IsgVoteBody,
    Proposal,
    ProposalPage,
    RevisionBody,
    WithdrawBody,
)
from ilea.db import audit, proposals
from ilea.domain import Academy, Stage, Topic
from ilea.messages import (
    BoardDecisionInput,
    BoardPositionInput,
    CutoffInput,
    ErrorType,
    IsgVoteInput,
    ProposalFields,
    ProposalInput,
    ReadInput,
    RevisionInput,
    WithdrawInput,
)
from workflows import rules
from workflows.proposal import ProposalWorkflow, workflow_id

router = APIRouter(prefix="/v1/proposals", tags=["proposals"])

IdemKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def _out(request: Request, doc: dict[str, Any]) -> dict[str, Any]:
    doc["history_url"] = str(request.url_for("proposal_events", proposal_id=doc["id"]))
    return doc


async def _current(request: Request, db: Db, proposal: ProposalRef) -> dict[str, Any]:
    """The proposal as the read model has it (an action's effect is there when it returns)."""
    doc = await proposals.get(db, proposal.id)
    if doc is None:  # pragma: no cover - the workflow writes it before answering
        raise Problem(503, "the proposal is not recorded yet; retry shortly")
    return _out(request, doc)


def validation_problem(problems: list[rules.Problem]) -> Problem:
    return Problem.from_refusal(
        ErrorType.invalid,
        f"{len(problems)} rule(s) of a proposal are broken",
        [{"loc": list(loc), "msg": msg} for loc, msg in problems],
    )


@router.post("", status_code=201, response_model=Proposal, summary="Submit a course proposal")
async def submit(
    request: Request,
    body: ProposalFields,
    user: ProgramOfficer,
    db: Db,
    client: Temporal,
    settings: SettingsDep,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    problems = rules.validate_proposal(body, rules.eastern_date(now), settings.rules())
    if problems:
        raise validation_problem(problems)
    pid = actions.new_proposal_id(user.sub, idempotency_key)
    start = WithStartWorkflowOperation(
        ProposalWorkflow.run,
        ProposalInput(
            proposal_id=pid, fields=body, submitted_by=user.actor(), submitted_at=now, rules=settings.rules()
        ),
        id=workflow_id(pid),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await client.execute_update_with_start_workflow(
        ProposalWorkflow.current, ReadInput(return_state=False), start_workflow_operation=start
    )
    return await _current(request, db, ProposalRef(pid))


@router.get("", response_model=ProposalPage, summary="List proposals, newest first")
async def list_proposals(
    user: CurrentUser,
    db: Db,
    stage: Stage | None = None,
    academy: Academy | None = None,
    topic: Topic | None = None,
    pending_on: Annotated[str | None, Query(pattern="^(STATE|TREASURY|DHS|DOJ)$")] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    flt = proposals.ListFilter(stage=stage, academy=academy, topic=topic, pending_on=pending_on, q=q)
    try:
        rows, next_cursor = await proposals.list_summaries(db, flt, limit, cursor)
    except ValueError as err:
        raise Problem(422, str(err), errors=[{"loc": ["query", "cursor"], "msg": str(err)}]) from None
    return {"items": rows, "next_cursor": next_cursor}


@router.get("/{proposal_id}", response_model=Proposal, summary="One proposal as it stands")
async def get_proposal(request: Request, user: CurrentUser, doc: ProposalDoc) -> dict[str, Any]:
    return _out(request, doc)


@router.get(
    "/{proposal_id}/events", response_model=AuditEvents, name="proposal_events", summary="The audit trail, oldest first"
)
async def events(user: CurrentUser, proposal: KnownProposal, db: Db) -> dict[str, Any]:
    return {"items": await audit.fetch(db, proposal.id)}


@router.get("/{proposal_id}/events/verify", response_model=ChainCheck, summary="Recompute the audit trail's hash chain")
async def verify_events(user: CurrentUser, proposal: KnownProposal, db: Db) -> dict[str, Any]:
    items = await audit.fetch(db, proposal.id)
    broken = audit.verify_chain(proposal.id, items)
    return {"valid": broken is None, "events": len(items), "first_broken_seq": broken}


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
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    arg = IsgVoteInput(actor=user.actor(), vote=act.body.vote, comment=act.body.comment)
    await actions.send(client, db, user, act.proposal, ProposalWorkflow.isg_vote, arg, key=idempotency_key)
    return await _current(request, db, act.proposal)


async def revision(
    proposal_id: str, body: RevisionBody, db: Db, settings: SettingsDep, caller: CurrentUser
) -> ProposalAction[RevisionBody]:
    """A revision, checked against the proposal rules (422) before its proposal is looked up (404)."""
    problems = rules.validate_proposal(body.proposal, rules.eastern_date(datetime.now(UTC)), settings.rules())
    if problems:
        raise validation_problem([(("body", "proposal", *loc[1:]), msg) for loc, msg in problems])
    return ProposalAction(body, await find_proposal(db, proposal_id))


@router.post("/{proposal_id}/revisions", response_model=Proposal, summary="Submit a revision")
async def revise(
    request: Request,
    user: ProgramOfficer,
    act: Annotated[ProposalAction[RevisionBody], Depends(revision)],
    db: Db,
    client: Temporal,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    arg = RevisionInput(actor=user.actor(), proposal=act.body.proposal, comment=act.body.comment)
    await actions.send(client, db, user, act.proposal, ProposalWorkflow.revise, arg, key=idempotency_key)
    return await _current(request, db, act.proposal)


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
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    arg = BoardPositionInput(actor=user.actor(), position=act.body.position, comment=act.body.comment)
    await actions.send(client, db, user, act.proposal, ProposalWorkflow.board_position, arg, key=idempotency_key)
    return await _current(request, db, act.proposal)


@router.post("/{proposal_id}/board-decision", response_model=Proposal, summary="The chair's decision")
async def board_decision(
    request: Request,
    user: BoardChair,
    act: Annotated[ProposalAction[BoardDecisionBody], Depends(proposal_action(BoardDecisionBody))],
    db: Db,
    client: Temporal,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    arg = BoardDecisionInput(actor=user.actor(), decision=act.body.decision, comment=act.body.comment)
    await actions.send(client, db, user, act.proposal, ProposalWorkflow.board_decision, arg, key=idempotency_key)
    return await _current(request, db, act.proposal)


@router.post("/{proposal_id}/withdraw", response_model=Proposal, summary="Withdraw a proposal")
async def withdraw(
    request: Request,
    user: ProgramOfficer,
    act: Annotated[ProposalAction[WithdrawBody], Depends(proposal_action(WithdrawBody))],
    db: Db,
    client: Temporal,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    arg = WithdrawInput(actor=user.actor(), reason=act.body.reason)
    await actions.send(client, db, user, act.proposal, ProposalWorkflow.withdraw, arg, key=idempotency_key)
    return await _current(request, db, act.proposal)


@router.post("/{proposal_id}/staffing-cutoff", response_model=Proposal, summary="Move the staffing cutoff")
async def staffing_cutoff(
    request: Request,
    user: ProgramOfficer,
    act: Annotated[ProposalAction[CutoffBody], Depends(proposal_action(CutoffBody))],
    db: Db,
    client: Temporal,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    arg = CutoffInput(actor=user.actor(), cutoff=act.body.cutoff)
    await actions.send(client, db, user, act.proposal, ProposalWorkflow.staffing_cutoff, arg, key=idempotency_key)
    return await _current(request, db, act.proposal)
