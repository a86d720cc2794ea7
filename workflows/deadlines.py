"""The deadlines of product.md: for each stage, when something happens and what.

:func:`deadlines` is the one place that lists them, as ``(due_at, what happens)`` pairs
(:class:`Deadline`); the workflow sleeps until the earliest (:class:`~workflows.timer.DeadlineTimer`)
and then lets every deadline that has come happen, in the order listed. What happens is a
plain function of the state, like the rest of :mod:`workflows.transitions`; when a deadline
ends the course (the staffing cutoff or the start with slots unfilled), it returns a
:class:`Cancellation` and the workflow releases the bookings, which takes an activity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ilea.domain import ISG_SEATS, TERMINAL_STAGES, IsgVote, Party, RequestStatus, Stage
    from ilea.messages import InstructorRequestView, IsgVoteRecord
    from workflows import rules
    from workflows.staffing import NewId

from workflows import notices
from workflows import transitions as t
from workflows.state import STAFFING_STAGES, ProposalState


@dataclass(frozen=True)
class Cancellation:
    """A deadline ended the course: cancel every request and release every booking, for ``reason``."""

    reason: str


#: What happens when a deadline comes: changes the state, or asks for a cancellation.
Happening = Callable[[ProposalState, datetime, NewId], Cancellation | None]


@dataclass(frozen=True)
class Deadline:
    due_at: datetime
    #: a name for logs and tests, e.g. ``isg_round_due``
    what: str
    happens: Happening


def deadlines(state: ProposalState) -> list[Deadline]:
    """Every deadline still to come in the proposal's stage, in the order they are handled.

    When several have come at once they happen in this order, which is not always the order of
    their times: a slot's reminder before its expiry, the requests before the cutoff.
    """
    listed: list[tuple[datetime | None, str, Happening]] = []
    if state.stage is Stage.isg_review:
        listed += [
            (None if state.round_reminded else state.round_reminder, "isg_reminder", remind_isg),
            (state.round_due, "isg_round_due", close_isg_round),
        ]
    elif state.stage is Stage.changes_requested:
        listed.append((state.revision_due, "revision_due", revision_lapsed))
    elif state.stage is Stage.board_review and not state.overdue:
        listed += [
            (None if state.board_reminded else state.board_reminder, "board_reminder", remind_board),
            (state.board_due, "board_due", escalate_board),
        ]
    elif state.stage in STAFFING_STAGES:
        for r in state.staffing.with_status(RequestStatus.open):
            listed += _request_deadlines(state, r)
        if not state.cutoff_passed:
            listed.append((rules.end_of_day(state.cutoff), "staffing_cutoff", cutoff_passes))
        listed.append((rules.start_of_day(state.fields.start_date), "course_start", course_starts_unstaffed))
    elif state.stage is Stage.scheduled:
        listed.append((rules.end_of_day(state.fields.end_date), "course_end", course_ends))
    return [Deadline(at, what, happens) for at, what, happens in listed if at is not None]


def next_due(state: ProposalState) -> datetime | None:
    """When the workflow must next wake up, or None while nothing but people can move it."""
    return min((d.due_at for d in deadlines(state)), default=None)


def happen(state: ProposalState, now: datetime, new_id: NewId) -> tuple[bool, Cancellation | None]:
    """Let every deadline of the stage that has come by ``now`` happen, in the order listed.

    One stage at a time: a deadline that ends the stage ends the batch (the rest were the
    stage's own), and the next stage's deadlines are the next batch's. A cancellation is
    applied to the state (:func:`~workflows.transitions.cancel_everything`) and returned,
    because releasing the bookings it leaves takes an activity.

    Returns:
        whether any deadline happened, and the cancellation, if one did.
    """
    stage = state.stage
    due = [d for d in deadlines(state) if d.due_at <= now]
    cancellation = None
    for deadline in due:
        if state.stage is not stage:
            break
        cancellation = deadline.happens(state, now, new_id)
        if cancellation is not None:
            t.cancel_everything(state, Stage.cancelled, None, cancellation.reason, now=now)
    if state.stage in STAFFING_STAGES:
        t.refresh_staffing_stage(state, None, now=now)
    return bool(due), cancellation


def catch_up(state: ProposalState, now: datetime, new_id: NewId) -> None:
    """Every deadline that has come by ``now``, stage after stage (what a validator judges after).

    Pure: a cancellation's bookings are left to the caller (a validator has none to release).
    """
    for _ in range(MAX_BATCHES):
        if state.stage in TERMINAL_STAGES or not is_due(state, now):
            return
        happen(state, now, new_id)


def is_due(state: ProposalState, now: datetime) -> bool:
    """True when a deadline has come and not yet happened."""
    due = next_due(state)
    return due is not None and due <= now


#: Deadlines happen stage after stage; each batch ends a stage or spends its deadlines, so a
#: handful of batches always suffices. The bound only makes a mistake finite.
MAX_BATCHES = 20


# --- the ISG round -----------------------------------------------------------------------------


def remind_isg(state: ProposalState, now: datetime, new_id: NewId) -> None:
    state.round_reminded = True
    for seat in ISG_SEATS:
        if seat not in state.votes:
            party = Party.isg(seat)
            t.record(state, "reminder", None, {"party": str(party), "due": t.iso(state.round_due)}, seat, now=now)
            subject = f"Reminder: your ISG vote is due on {state.fields.title}"
            notices.ask(state, party, state.round_opened_at, subject, now=now, kind="reminder")


def close_isg_round(state: ProposalState, now: datetime, new_id: NewId) -> None:
    """The silence procedure: a seat that has not voted is deemed to concur, and the round closes."""
    for seat in ISG_SEATS:
        if seat not in state.votes:
            state.votes[seat] = IsgVoteRecord(
                agency=seat,
                vote=IsgVote.deemed_concur,
                by=t.SYSTEM,
                comment="silence procedure: no vote by the deadline",
                at=now,
            )
            t.record(state, "deemed_concur", None, {"round": state.round}, seat, now=now)
    t.close_round(state, now=now, new_id=new_id)


def revision_lapsed(state: ProposalState, now: datetime, new_id: NewId) -> None:
    t.set_stage(state, Stage.expired, None, "no revision within the revision window", now=now)


# --- the Policy Board ---------------------------------------------------------------------------


def remind_board(state: ProposalState, now: datetime, new_id: NewId) -> None:
    """Each Board party yet to act is reminded (one audit event each, as the ISG seats are)."""
    state.board_reminded = True
    assert state.board_since is not None  # in board_review
    for party in t.board_waiting(state):
        t.record(state, "reminder", None, {"party": str(party), "due": t.iso(state.board_due)}, party.agency, now=now)
        subject = f"Reminder: the Policy Board is due on {state.fields.title}"
        notices.ask(state, party, state.board_since, subject, now=now, kind="reminder")


def escalate_board(state: ProposalState, now: datetime, new_id: NewId) -> None:
    """The Board's deadline passed: the chair (whose decision it waits on) and the owner are told;
    nothing else moves."""
    state.overdue = True
    assert state.board_since is not None  # in board_review
    detail = {"reason": "Policy Board deadline passed", "due": t.iso(state.board_due)}
    t.record(state, "escalation", None, detail, now=now)
    subject = f"Overdue at the Policy Board: {state.fields.title}"
    notices.ask(state, Party.chair(), state.board_since, subject, now=now, kind="escalation")
    notices.notify(state, notices.owner(state), "escalation", subject, now=now)


# --- staffing and the course ----------------------------------------------------------------


def _request_deadlines(state: ProposalState, r: InstructorRequestView) -> list[tuple[datetime | None, str, Happening]]:
    """An open request's reminder (once) and its expiry."""

    def remind(state: ProposalState, now: datetime, new_id: NewId) -> None:
        r.reminded = True
        party = Party.coordinators(r.agency)
        t.record(state, "reminder", None, {"party": str(party), "request_id": r.id}, r.agency, now=now)
        subject = f"Reminder: instructor request for {state.fields.title}"
        notices.ask(state, party, r.sent_at, subject, now=now, request_id=r.id, kind="reminder")

    def expire(state: ProposalState, now: datetime, new_id: NewId) -> None:
        t.record(state, "request_expired", None, {"request_id": r.id, "slot": r.slot}, r.agency, now=now)
        reason = "no answer by the deadline (counts as a decline)"
        subject = f"{r.agency.value} did not answer the instructor request for slot {r.slot}: {state.fields.title}"
        notices.notify(state, notices.owner(state), "staffing", subject, reason, now=now)
        t.advance(state, r, RequestStatus.expired, reason, now=now, new_id=new_id)

    reminder = rules.reminder_time(r.due, state.rules.request_reminder_business_days)
    return [(None if r.reminded else reminder, "request_reminder", remind), (r.due, "request_due", expire)]


def cutoff_passes(state: ProposalState, now: datetime, new_id: NewId) -> Cancellation | None:
    """The staffing cutoff: a course with a slot still unfilled is cancelled."""
    state.cutoff_passed = True
    if state.staffing.all_filled():
        return None
    unfilled = [r.slot for r in state.staffing.live() if r.status is not RequestStatus.accepted]
    return Cancellation(f"staffing cutoff {state.cutoff} passed with slots {unfilled} unfilled")


def course_starts_unstaffed(state: ProposalState, now: datetime, new_id: NewId) -> Cancellation:
    """The start came while still staffing: a slot reopened after the cutoff and was never filled again."""
    return Cancellation("the course start came with slots unfilled")


def course_ends(state: ProposalState, now: datetime, new_id: NewId) -> None:
    t.set_stage(state, Stage.delivered, None, "the course has ended", now=now)
