"""Proposals: submission, tracking and every review action."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from api import actions
from api.deadline import action_deadline
from api.deps import (
    BoardChair,
    BoardMember,
    CurrentUser,
    Db,
    IsgMember,
    ProgramOfficer,
    SettingsDep,
    Temporal,
)
from api.errors import Problem
from api.idempotency import update_id
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
_NAMESPACE = uuid.UUID("6f1c1d7e-2a34-4c55-9a8e-1ea0c0de0001")


def _out(request: Request, doc: dict[str, Any]) -> dict[str, Any]:
    doc["history_url"] = str(request.url_for("proposal_events", proposal_id=doc["id"]))
    return doc


async def _current(request: Request, db: Db, proposal_id: str) -> dict[str, Any]:
    """The proposal as the read model has it (an action's effect is there when it returns)."""
    doc = await proposals.get(db, proposal_id)
    if doc is None:  # pragma: no cover - the workflow writes it before answering
        raise Problem(503, "the proposal is not recorded yet; retry shortly")
    return _out(request, doc)


def validation_problem(problems: list[rules.Problem]) -> Problem:
    return Problem(
        422,
        f"{len(problems)} rule(s) of a proposal are broken",
        kind="Invalid",
        errors=[{"loc": list(loc), "msg": msg} for loc, msg in problems],
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
    pid = str(uuid.uuid5(_NAMESPACE, f"{user.sub}\x00{idempotency_key}") if idempotency_key else uuid.uuid4())
    start = WithStartWorkflowOperation(
        ProposalWorkflow.run,
        ProposalInput(
            proposal_id=pid, fields=body, submitted_by=user.actor(), submitted_at=now, rules=settings.rules()
        ),
        id=workflow_id(pid),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    async with action_deadline():  # 503 when not through in time; a keyed retry gets the proposal
        await client.execute_update_with_start_workflow(
            ProposalWorkflow.current, ReadInput(return_state=False), start_workflow_operation=start
        )
    return await _current(request, db, pid)


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
async def get_proposal(request: Request, proposal_id: str, user: CurrentUser, db: Db) -> dict[str, Any]:
    doc = await proposals.get(db, proposal_id)
    if doc is None:
        raise Problem(404, f"no proposal {proposal_id}")
    return _out(request, doc)


@router.get(
    "/{proposal_id}/events", response_model=AuditEvents, name="proposal_events", summary="The audit trail, oldest first"
)
async def events(proposal_id: str, user: CurrentUser, db: Db) -> dict[str, Any]:
    if not await proposals.exists(db, proposal_id):
        raise Problem(404, f"no proposal {proposal_id}")
    return {"items": await audit.fetch(db, proposal_id)}


@router.get("/{proposal_id}/events/verify", response_model=ChainCheck, summary="Recompute the audit trail's hash chain")
async def verify_events(proposal_id: str, user: CurrentUser, db: Db) -> dict[str, Any]:
    items = await audit.fetch(db, proposal_id)
    if not items:
        raise Problem(404, f"no proposal {proposal_id}")
    broken = audit.verify_chain(proposal_id, items)
    return {"valid": broken is None, "events": len(items), "first_broken_seq": broken}


async def _act(
    request: Request,
    proposal_id: str,
    user: Any,
    db: Db,
    client: Temporal,
    update: Any,
    arg: Any,
    action: str,
    key: str | None,
) -> dict[str, Any]:
    if not await proposals.exists(db, proposal_id):
        raise Problem(404, f"no proposal {proposal_id}")
    await actions.send(client, db, proposal_id, user, update, arg, action=action, update_id=update_id(user.sub, key))
    return await _current(request, db, proposal_id)


@router.post("/{proposal_id}/isg-votes", response_model=Proposal, summary="Cast or change an ISG seat's vote")
async def isg_vote(
    request: Request,
    proposal_id: str,
    body: IsgVoteBody,
    user: IsgMember,
    db: Db,
    client: Temporal,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    arg = IsgVoteInput(actor=user.actor(), vote=body.vote, comment=body.comment)
    return await _act(
        request, proposal_id, user, db, client, ProposalWorkflow.isg_vote, arg, "isg_vote", idempotency_key
    )


@router.post("/{proposal_id}/revisions", response_model=Proposal, summary="Submit a revision")
async def revise(
    request: Request,
    proposal_id: str,
    body: RevisionBody,
    user: ProgramOfficer,
    db: Db,
    client: Temporal,
    settings: SettingsDep,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    problems = rules.validate_proposal(body.proposal, rules.eastern_date(datetime.now(UTC)), settings.rules())
    if problems:
        raise validation_problem([(("body", "proposal", *loc[1:]), msg) for loc, msg in problems])
    arg = RevisionInput(actor=user.actor(), proposal=body.proposal, comment=body.comment)
    return await _act(request, proposal_id, user, db, client, ProposalWorkflow.revise, arg, "revise", idempotency_key)


@router.post(
    "/{proposal_id}/board-positions",
    response_model=Proposal,
    summary="Record a department's position on the Policy Board",
)
async def board_position(
    request: Request,
    proposal_id: str,
    body: BoardPositionBody,
    user: BoardMember,
    db: Db,
    client: Temporal,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    arg = BoardPositionInput(actor=user.actor(), position=body.position, comment=body.comment)
    return await _act(
        request, proposal_id, user, db, client, ProposalWorkflow.board_position, arg, "board_position", idempotency_key
    )


@router.post("/{proposal_id}/board-decision", response_model=Proposal, summary="The chair's decision")
async def board_decision(
    request: Request,
    proposal_id: str,
    body: BoardDecisionBody,
    user: BoardChair,
    db: Db,
    client: Temporal,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    arg = BoardDecisionInput(actor=user.actor(), decision=body.decision, comment=body.comment)
    return await _act(
        request, proposal_id, user, db, client, ProposalWorkflow.board_decision, arg, "board_decision", idempotency_key
    )


@router.post("/{proposal_id}/withdraw", response_model=Proposal, summary="Withdraw a proposal")
async def withdraw(
    request: Request,
    proposal_id: str,
    body: WithdrawBody,
    user: ProgramOfficer,
    db: Db,
    client: Temporal,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    arg = WithdrawInput(actor=user.actor(), reason=body.reason)
    return await _act(
        request, proposal_id, user, db, client, ProposalWorkflow.withdraw, arg, "withdraw", idempotency_key
    )


@router.post("/{proposal_id}/staffing-cutoff", response_model=Proposal, summary="Move the staffing cutoff")
async def staffing_cutoff(
    request: Request,
    proposal_id: str,
    body: CutoffBody,
    user: ProgramOfficer,
    db: Db,
    client: Temporal,
    idempotency_key: IdemKey = None,
) -> dict[str, Any]:
    arg = CutoffInput(actor=user.actor(), cutoff=body.cutoff)
    return await _act(
        request,
        proposal_id,
        user,
        db,
        client,
        ProposalWorkflow.staffing_cutoff,
        arg,
        "staffing_cutoff",
        idempotency_key,
    )
