"""How a proposal's state changes: the ISG round, the Policy Board, staffing, and what each
human action does once its check has passed.

Plain functions of a :class:`~workflows.state.ProposalState`, given the time (``now``) and,
where requests are sent, the id generator (``new_id``): the workflow passes ``workflow.now()``
and ``workflow.uuid4``, unit tests pass their own. Every change is recorded as an audit event
and, where someone must act or learn of it, a notification; both wait in the state's outbox
until :func:`outbox` hands them to the projection. No Temporal calls and no I/O here: the
bookings the workflow makes and releases through activities are its own business.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ilea import chain
    from ilea.activity_io import AuditEventIn, BookInput, ProjectInput
    from ilea.domain import (
        BOARD_MEMBERS,
        INSTRUCTOR_AGENCIES,
        ISG_SEATS,
        Agency,
        BoardDecision,
        Party,
        RequestStatus,
        Stage,
    )
    from ilea.messages import (
        AcceptInput,
        Actor,
        BoardDecisionInput,
        BoardDecisionRecord,
        BoardPositionInput,
        BoardPositionRecord,
        DeclineInput,
        InstructorRef,
        InstructorRequestView,
        IsgVoteInput,
        IsgVoteRecord,
        ProposalView,
        ReleaseInput,
        RetargetInput,
        RevisionInput,
    )
    from workflows import rules
    from workflows.staffing import NewId

from workflows import notices, views
from workflows.state import ProposalState

#: the actor of what the workflow does on its own (deadlines, the silence procedure)
SYSTEM = "system"


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


# --- bookkeeping ------------------------------------------------------------------------------


def record(
    state: ProposalState,
    action: str,
    actor: Actor | None,
    detail: dict[str, Any],
    agency: Agency | None = None,
    *,
    now: datetime,
) -> None:
    """An audit event: by ``actor`` (their agency), or by the system (on behalf of ``agency``)."""
    state.events.append(
        AuditEventIn(
            key="",
            at=now,
            actor=actor.sub if actor else SYSTEM,
            agency=(actor.agency.value if actor else (agency.value if agency else None)),
            action=action,
            detail=detail,
        )
    )


def set_stage(state: ProposalState, stage: Stage, actor: Actor | None, why: str, *, now: datetime) -> None:
    """The proposal moves to ``stage``: recorded, and told to the owner (and the ISG, for some)."""
    if stage is state.stage:
        return
    record(state, "stage_changed", actor, {"from": state.stage.value, "to": stage.value, "why": why}, now=now)
    subject = f"{state.fields.title}: {stage.value.replace('_', ' ')}"
    kind = "outcome" if stage in notices.OUTCOMES else "stage_changed"
    notices.notify(state, notices.owner(state), kind, subject, why, now=now)
    if stage in notices.TOLD_TO_THE_ISG:
        notices.tell_once(state, (Party.isg(a) for a in ISG_SEATS), "outcome", subject, why, now=now)
    state.stage = stage


class Rehearsed(NamedTuple):
    """What an action's rehearsal computed of the state it left, for the commit to take
    (:func:`outbox`) instead of computing it again."""

    #: the view, but for the version and time the commit gives the state
    view: ProposalView
    #: the workflow's audit chain after the waiting events, keyed as the commit will key them
    chain: tuple[int, str]


class Outbox(NamedTuple):
    """A new version: its view (for the workflow's search attributes) and what the projection writes."""

    view: ProposalView
    project: ProjectInput


def outbox(state: ProposalState, *, now: datetime, rehearsed: Rehearsed | None = None) -> Outbox:
    """A new version: the view, and the audit events and notifications recorded since the last.

    The outbox is emptied; each event and notification is keyed by version and position, so a
    projection that runs twice writes each once.

    ``rehearsed``: what an action's rehearsal computed of this very state (unchanged since,
    :attr:`workflows.actions.Attempted.rehearsed`): the view, taken with this version and time
    (of what this function changes the view shows only those two), and the audit chain, whose
    events it keyed as they are keyed here. tests/workflows/test_transitions.py compares both
    ways over a whole lifecycle.
    """
    state.version += 1
    state.updated_at = now
    for i, e in enumerate(state.events):
        e.key = f"{state.version}.{i}"
    for i, n in enumerate(state.notes):
        n.key = f"{state.version}.{i}"
    if rehearsed is None:
        if state.chain_kept:
            state.chain_events, state.chain_head = chain_after(state, state.version)
        snapshot = views.view(state)
    else:
        if state.chain_kept:
            state.chain_events, state.chain_head = rehearsed.chain
        snapshot = rehearsed.view.model_copy(update={"version": state.version, "updated_at": state.updated_at})
    events, notes = state.events, state.notes
    state.events, state.notes = [], []
    return Outbox(snapshot, ProjectInput.of(snapshot, events, notes))


def chain_after(state: ProposalState, version: int) -> tuple[int, str]:
    """The workflow's record of its audit chain once the events waiting in the outbox are
    written by the commit of ``version``, keyed as it keys them (:func:`outbox`; :mod:`ilea.chain`)."""
    events = ({**e.model_dump(), "key": f"{version}.{i}"} for i, e in enumerate(state.events))
    n, head = chain.workflow_chain(events, state.chain_head)
    return state.chain_events + n, head


# --- the ISG round ----------------------------------------------------------------------------


def submit(state: ProposalState, *, now: datetime) -> None:
    """The proposal is recorded and its first ISG round opens."""
    record(state, "submitted", state.submitter, {"title": state.fields.title}, now=now)
    notices.notify(state, notices.owner(state), "submitted", f"Proposal submitted: {state.fields.title}", now=now)
    open_round(state, now=now)


def open_round(state: ProposalState, *, now: datetime) -> None:
    state.round += 1
    state.votes = {}
    state.round_opened_at = now
    state.round_due = rules.business_deadline(now, state.rules.isg_round_business_days)
    state.round_reminder = rules.reminder_time(state.round_due, state.rules.isg_reminder_business_days)
    state.round_reminded = False
    set_stage(state, Stage.isg_review, None, f"ISG round {state.round} opened", now=now)
    for seat in ISG_SEATS:
        subject = f"ISG vote needed (round {state.round}): {state.fields.title}"
        notices.ask(state, Party.isg(seat), state.round_opened_at, subject, now=now)


def cast_vote(state: ProposalState, inp: IsgVoteInput, *, now: datetime, new_id: NewId) -> None:
    """A seat votes (again: the later vote replaces the earlier); the fourth vote closes the round."""
    agency = inp.actor.agency
    previous = state.votes.get(agency)
    state.votes[agency] = IsgVoteRecord(
        agency=agency, vote=inp.vote, comment=inp.comment, by=inp.actor.sub, by_name=inp.actor.name, at=now
    )
    detail = {
        "round": state.round,
        "vote": inp.vote.value,
        "comment": inp.comment,
        "replaces": previous.vote.value if previous else None,
    }
    record(state, "isg_vote", inp.actor, detail, now=now)
    if len(state.votes) == len(ISG_SEATS):
        close_round(state, now=now, new_id=new_id)


def close_round(state: ProposalState, *, now: datetime, new_id: NewId) -> None:
    """Every seat has voted (or is deemed to concur): the outcome decides where the proposal goes."""
    votes = {a: v.vote for a, v in state.votes.items()}
    f = state.fields
    outcome = rules.isg_outcome(votes, f.course_type, f.estimated_cost_usd, state.rules.fast_track_max_cost_usd)
    detail = {"round": state.round, "outcome": outcome.value, "votes": {a.value: v.value for a, v in votes.items()}}
    record(state, "isg_round_closed", None, detail, now=now)
    if outcome is rules.IsgOutcome.changes_requested:
        request_changes(state, "the Steering Group requested changes", now=now)
    elif outcome is rules.IsgOutcome.rejected:
        set_stage(state, Stage.rejected, None, "two or more ISG seats did not concur", now=now)
    elif outcome is rules.IsgOutcome.fast_track:
        state.fast_tracked = True
        board = [*(Party.board(a) for a in BOARD_MEMBERS), Party.chair()]
        notices.tell_once(state, board, "fast_track", f"Fast-tracked under delegated authority: {f.title}", "", now=now)
        enter_staffing(state, "fast-track: specialized, within cost, four explicit concurs", now=now, new_id=new_id)
    else:
        state.dissent = outcome is rules.IsgOutcome.board_with_dissent
        open_board(state, now=now)


def request_changes(state: ProposalState, why: str, *, now: datetime) -> None:
    """Back to the program officer for a revision, unless the revisions are used up."""
    if state.revisions >= state.rules.max_revisions:
        why = f"{why}; the limit of {state.rules.max_revisions} revisions is reached"
        set_stage(state, Stage.rejected, None, why, now=now)
        return
    state.revision_since = now
    state.revision_due = rules.business_deadline(now, state.rules.revision_window_business_days)
    set_stage(state, Stage.changes_requested, None, why, now=now)
    notices.ask(state, Party.program_officer(), now, f"Revision requested: {state.fields.title}", now=now)


def revise(state: ProposalState, inp: RevisionInput, *, now: datetime, keep_extension: bool = True) -> None:
    """The program officer's revision: new fields, a new author, a new ISG round.

    The staffing cutoff follows the new dates (:func:`rules.revised_cutoff`), keeping an
    extension that still fits (``keep_extension``; proposals revised before the cutoff only
    moved later went back to the default).
    """
    state.revisions += 1
    state.authors.add(inp.actor.sub)
    old_start, state.fields = state.fields.start_date, inp.proposal
    if not state.cutoff_passed and keep_extension:
        state.cutoff = rules.revised_cutoff(state.cutoff, old_start, inp.proposal.start_date, state.rules)
    elif not state.cutoff_passed:
        state.cutoff = rules.default_cutoff(inp.proposal.start_date, state.rules.staffing_cutoff_days)
    record(state, "revised", inp.actor, {"revision": state.revisions, "comment": inp.comment}, now=now)
    open_round(state, now=now)


# --- the Policy Board ------------------------------------------------------------------------


def open_board(state: ProposalState, *, now: datetime) -> None:
    state.positions = {}
    state.decision = None
    state.overdue = False
    state.board_since = now
    state.board_due = rules.business_deadline(now, state.rules.board_business_days)
    state.board_reminder = rules.reminder_time(state.board_due, state.rules.board_reminder_business_days)
    state.board_reminded = False
    why = "to the Policy Board" + (" with a dissent" if state.dissent else "")
    set_stage(state, Stage.board_review, None, why, now=now)
    for party in board_waiting(state):
        notices.ask(state, party, now, f"Policy Board review: {state.fields.title}", now=now)


def board_waiting(state: ProposalState) -> list[Party]:
    """The member departments yet to take a position, then the chair."""
    return [Party.board(a) for a in BOARD_MEMBERS if a not in state.positions] + [Party.chair()]


def take_position(state: ProposalState, inp: BoardPositionInput, *, now: datetime) -> None:
    agency = inp.actor.agency
    state.positions[agency] = BoardPositionRecord(
        agency=agency, position=inp.position, comment=inp.comment, by=inp.actor.sub, by_name=inp.actor.name, at=now
    )
    record(state, "board_position", inp.actor, {"position": inp.position.value, "comment": inp.comment}, now=now)


def decide(state: ProposalState, inp: BoardDecisionInput, *, now: datetime, new_id: NewId) -> None:
    """The chair's decision: to staffing, rejected, or back for a revision."""
    state.decision = BoardDecisionRecord(
        decision=inp.decision, comment=inp.comment, by=inp.actor.sub, by_name=inp.actor.name, at=now
    )
    record(state, "board_decision", inp.actor, {"decision": inp.decision.value, "comment": inp.comment}, now=now)
    if inp.decision is BoardDecision.approve:
        enter_staffing(state, "approved by the Policy Board", now=now, new_id=new_id)
    elif inp.decision is BoardDecision.disapprove:
        set_stage(state, Stage.rejected, inp.actor, "disapproved by the Policy Board", now=now)
    else:
        request_changes(state, "returned to the Steering Group by the Policy Board chair", now=now)


# --- staffing ----------------------------------------------------------------------------------


def enter_staffing(state: ProposalState, why: str, *, now: datetime, new_id: NewId) -> None:
    """Approved (or fast-tracked): one instructor request per slot goes out; the ISG is told."""
    set_stage(state, Stage.staffing, None, why, now=now)
    subject = f"{state.fields.title}: approved"
    notices.tell_once(state, (Party.isg(a) for a in ISG_SEATS), "outcome", subject, why, now=now)
    for r in state.staffing.open_all(state.fields.instructor_needs, now, new_id):
        request_sent(state, r, now=now)
    refresh_staffing_stage(state, None, now=now)


def request_sent(state: ProposalState, r: InstructorRequestView, *, now: datetime) -> None:
    detail = {"request_id": r.id, "slot": r.slot, "expertise": r.expertise.value, "due": iso(r.due)}
    record(state, "request_sent", None, detail, r.agency, now=now)
    subject = f"Instructor request ({r.expertise.value}): {state.fields.title}"
    notices.ask(state, Party.coordinators(r.agency), r.sent_at, subject, now=now, request_id=r.id)


def advance(
    state: ProposalState, r: InstructorRequestView, status: RequestStatus, reason: str, *, now: datetime, new_id: NewId
) -> None:
    """A declined or lapsed request: the next alternate agency is asked, or the slot is unfilled."""
    new = state.staffing.close_and_advance(r, status, reason, state.fields.instructor_needs, now, new_id)
    if new is not None:
        request_sent(state, new, now=now)
    else:
        record(state, "slot_unfilled", None, {"request_id": r.id, "slot": r.slot}, now=now)
        subject = f"Slot {r.slot} unfilled: {state.fields.title}"
        notices.ask(state, Party.program_officer(), r.sent_at, subject, now=now, request_id=r.id)


def refresh_staffing_stage(state: ProposalState, actor: Actor | None, *, now: datetime) -> None:
    """The staffing stage the slots call for: scheduled, at risk, or still staffing."""
    if state.staffing.all_filled():
        set_stage(state, Stage.scheduled, actor, "every instructor slot is filled", now=now)
    elif state.staffing.any_unfilled():
        set_stage(state, Stage.staffing_at_risk, actor, "a slot has no agency left to ask", now=now)
    else:
        set_stage(state, Stage.staffing, actor, "every slot has an open request or an instructor", now=now)


def booking(state: ProposalState, r: InstructorRequestView, instructor_id: str) -> BookInput:
    """What the roster is asked to book for an accepted request."""
    return BookInput(
        request_id=r.id,
        proposal_id=state.id,
        instructor_id=instructor_id,
        agency=r.agency,
        expertise=r.expertise,
        start_date=state.fields.start_date,
        end_date=state.fields.end_date,
        title=state.fields.title,
    )


def accepted(
    state: ProposalState, inp: AcceptInput, r: InstructorRequestView, instructor: InstructorRef, *, now: datetime
) -> None:
    """The roster booked ``instructor`` for the request."""
    state.staffing.accept(r, instructor)
    detail = {"request_id": r.id, "slot": r.slot, "instructor": instructor.model_dump()}
    record(state, "request_accepted", inp.actor, detail, now=now)
    refresh_staffing_stage(state, inp.actor, now=now)


def decline(state: ProposalState, inp: DeclineInput, r: InstructorRequestView, *, now: datetime, new_id: NewId) -> None:
    detail = {"request_id": r.id, "slot": r.slot, "reason": inp.reason}
    record(state, "request_declined", inp.actor, detail, now=now)
    subject = f"{r.agency.value} declined the instructor request for slot {r.slot}: {state.fields.title}"
    notices.notify(state, notices.owner(state), "staffing", subject, inp.reason, now=now)
    advance(state, r, RequestStatus.declined, inp.reason, now=now, new_id=new_id)
    refresh_staffing_stage(state, inp.actor, now=now)


def released(
    state: ProposalState, inp: ReleaseInput, r: InstructorRequestView, *, now: datetime, new_id: NewId
) -> None:
    """The roster released the request's instructor: the slot reopens to the same agency."""
    instructor = r.instructor.id if r.instructor else None
    reopened = state.staffing.release(r, inp.reason, state.fields.instructor_needs, now, new_id)
    detail = {"request_id": r.id, "instructor": instructor, "reason": inp.reason}
    record(state, "booking_released", inp.actor, detail, now=now)
    subject = f"{r.agency.value} released the instructor of slot {r.slot}: {state.fields.title}"
    notices.notify(state, notices.owner(state), "staffing", subject, inp.reason, now=now)
    request_sent(state, reopened, now=now)
    refresh_staffing_stage(state, inp.actor, now=now)


def retarget(
    state: ProposalState, inp: RetargetInput, r: InstructorRequestView, *, now: datetime, new_id: NewId
) -> InstructorRequestView:
    """An unfilled slot asked of another agency; returns the new request."""
    new = state.staffing.retarget(r, inp.agency, state.fields.instructor_needs, now, new_id)
    detail = {"request_id": r.id, "slot": r.slot, "agency": inp.agency.value, "new_request_id": new.id}
    record(state, "request_retargeted", inp.actor, detail, now=now)
    request_sent(state, new, now=now)
    refresh_staffing_stage(state, inp.actor, now=now)
    return new


def cancel_everything(state: ProposalState, stage: Stage, actor: Actor | None, reason: str, *, now: datetime) -> bool:
    """Compensation: every live request cancelled, every booking's release recorded, then ``stage``.

    Returns:
        whether bookings may be held (requests were sent): the workflow then releases them all,
        which takes an activity.
    """
    # Who is concerned, before the requests are cancelled: every agency with an open request or
    # a booking, and whoever the stage the proposal leaves was waiting on.
    holding = {r.agency for r in state.staffing.live() if r.status in (RequestStatus.open, RequestStatus.accepted)}
    waiting = [notices.addressee(Party.parse(p.party), state) for p in views.pending(state)]
    booked = state.staffing.cancel_all(reason)
    bookings_released(state, booked, actor, reason, now=now)
    set_stage(state, stage, actor, reason, now=now)
    concerned = [*(Party.coordinators(a) for a in INSTRUCTOR_AGENCIES if a in holding), *waiting]
    subject = f"{state.fields.title}: {stage.value}"
    notices.tell_once(state, concerned, "outcome", subject, reason, now=now)
    return state.staffing.started


def bookings_released(
    state: ProposalState, booked: Iterable[InstructorRequestView], actor: Actor | None, reason: str, *, now: datetime
) -> None:
    """The audit trail of a cancellation's released bookings (one event per booked request)."""
    for r in booked:
        detail = {"request_id": r.id, "instructor": r.instructor and r.instructor.id, "reason": reason}
        record(state, "booking_released", actor, detail, r.agency, now=now)
