"""Who is told what (product.md "What people see", the notification table), one test per row,
with workflows.transitions and workflows.deadlines called directly (no Temporal).

| event | told |
|---|---|
| a new pending action, its reminder | the party who must act |
| Board overdue (escalation) | the chair and the owner |
| every stage change, every outcome | the owner |
| fast-track | each Board member seat and the chair |
| approved, rejected, withdrawn, cancelled, scheduled | also each ISG seat |
| withdrawal or cancellation | also every agency with an open request or a booking, and whoever was |
|   | asked to act in the stage it left |
| an instructor released, a request declined or expired | the owner |

The owner is a person (the submitter ``po-1`` here): ``person:po-1``, not the whole program office.
Parties are written out as the strings the notifications table holds.
"""

from __future__ import annotations

from datetime import timedelta

from ilea.domain import (
    Agency,
    BoardDecision,
    BoardPosition,
    IsgVote,
    Party,
    RequestStatus,
    Role,
    Stage,
    all_parties,
    parties_for,
)
from ilea.mailer import addresses_for
from ilea.messages import (
    AcceptInput,
    BoardDecisionInput,
    BoardPositionInput,
    DeclineInput,
    InstructorRef,
    IsgVoteInput,
    ReleaseInput,
    RevisionInput,
    WithdrawInput,
)
from ilea.settings import Settings
from tests.support import CHAIR, PO, PO2, board, coordinator, fields, isg
from tests.workflows.states import (
    ISG_DUE,
    ISG_REMINDER,
    SUBMITTED,
    Ids,
    at_board,
    changes_requested,
    later,
    need,
    staffing,
    submitted,
    vote,
)
from workflows import actions, deadlines, transitions, views
from workflows.state import ProposalState

OWNER = "person:po-1"
SEATS = ["isg:STATE", "isg:TREASURY", "isg:DHS", "isg:DOJ"]
BOARD = ["board:TREASURY", "board:DHS", "board:DOJ", "board:chair"]
BOARD_DUE = ISG_DUE + timedelta(days=8)  # after the 15 business days from SUBMITTED


def told(state: ProposalState, *kinds: str) -> list[str]:
    """The parties told since the outbox was last emptied (of ``kinds``, when given)."""
    return [n.party for n in state.notes if not kinds or n.kind in kinds]


def fresh(state: ProposalState) -> ProposalState:
    state.events, state.notes = [], []
    return state


def pending_tasks(state: ProposalState) -> set[str]:
    return {p.task for p in views.pending(state)}


def happen(state: ProposalState, what: str, at: object) -> object:
    deadline = next(d for d in deadlines.deadlines(state) if d.what == what)
    return deadline.happens(state, at, Ids())  # type: ignore[arg-type]


# --- a new pending action, its reminder: the party who must act ----------------------------------


def test_a_new_pending_action_and_its_reminder_go_to_the_party_who_must_act() -> None:
    state = submitted()
    asked = [n for n in state.notes if n.kind == "action"]
    assert [n.party for n in asked] == SEATS
    # each names its pending action, so it clears once that action is done
    assert {n.task for n in asked} == pending_tasks(state)
    vote(state, Agency.STATE)
    fresh(state)
    happen(state, "isg_reminder", ISG_REMINDER)
    assert told(state) == ["isg:TREASURY", "isg:DHS", "isg:DOJ"]
    assert {n.task for n in state.notes} == pending_tasks(state)

    board = at_board()
    assert [n.party for n in board.notes if n.kind == "action"][-4:] == BOARD
    assert {n.task for n in board.notes if n.kind == "action" and n.party.startswith("board")} == pending_tasks(board)

    requests = staffing([need(Agency.TREASURY), need(Agency.DOJ)])
    assert told(requests, "action")[-2:] == ["agency:TREASURY", "agency:DOJ"]
    fresh(requests)
    happen(requests, "request_reminder", ISG_REMINDER)
    assert told(requests) == ["agency:TREASURY"]


def test_what_the_program_office_must_do_is_asked_of_the_owner() -> None:
    revise = changes_requested()
    assert [n.party for n in revise.notes if n.kind == "action" and n.subject.startswith("Revision")] == [OWNER]
    unfilled = staffing([need(Agency.DOJ)])
    fresh(unfilled)
    transitions.advance(
        unfilled, unfilled.staffing.requests[0], RequestStatus.declined, "none", now=SUBMITTED, new_id=Ids()
    )
    assert [(n.party, n.kind) for n in unfilled.notes if n.subject.startswith("Slot 1 unfilled")] == [(OWNER, "action")]


# --- Board overdue: the chair and the owner ----------------------------------------------------


def test_an_overdue_board_is_escalated_to_the_chair_and_the_owner() -> None:
    state = fresh(at_board())
    happen(state, "board_due", BOARD_DUE)
    assert sorted(told(state, "escalation")) == sorted(["board:chair", OWNER])


# --- every stage change, every outcome: the owner ------------------------------------------------


def test_every_stage_change_is_told_to_the_owner() -> None:
    state = submitted(cost="150000", needs=[need(Agency.DOJ)])
    vote(state, Agency.DHS, IsgVote.request_changes)
    for seat in (Agency.STATE, Agency.TREASURY, Agency.DOJ):
        vote(state, seat)
    revision = fields(today=SUBMITTED.date(), cost="150000", needs=[need(Agency.DOJ)])
    transitions.revise(state, RevisionInput(actor=PO, proposal=revision, comment="done"), now=later(1))
    for seat in (Agency.STATE, Agency.TREASURY, Agency.DHS, Agency.DOJ):
        vote(state, seat, at=later(2))
    r = state.staffing.requests[0]
    accept = AcceptInput(actor=coordinator(Agency.DOJ), request_id=r.id, instructor_id="i-1")
    transitions.accepted(state, accept, r, InstructorRef(id="i-1", name="Dana"), now=later(3))
    assert state.stage is Stage.scheduled
    changes = [e.detail["to"] for e in state.events if e.action == "stage_changed"]
    assert changes == ["isg_review", "changes_requested", "isg_review", "staffing", "scheduled"]
    to_owner = [n.subject for n in state.notes if n.party == OWNER and n.kind in ("stage_changed", "outcome")]
    assert to_owner == [f"Countering financial crimes: {stage.replace('_', ' ')}" for stage in changes]
    assert "program_officer" not in told(state)


# --- fast-track: each Board member seat and the chair ------------------------------------------


def test_a_fast_track_is_told_to_each_board_seat_and_the_chair() -> None:
    state = submitted(cost="150000", needs=[need(Agency.DOJ)])
    for seat in (Agency.STATE, Agency.TREASURY, Agency.DHS):
        vote(state, seat)
    fresh(state)
    transitions.cast_vote(state, IsgVoteInput(actor=isg(Agency.DOJ), vote=IsgVote.concur), now=SUBMITTED, new_id=Ids())
    assert state.fast_tracked
    assert told(state, "fast_track") == BOARD
    assert "board" not in told(state)


# --- approved, rejected, withdrawn, cancelled, scheduled: also each ISG seat ---------------------


def test_approval_rejection_and_scheduling_are_told_to_every_isg_seat() -> None:
    approved = fresh(at_board())
    decision = BoardDecisionInput(actor=CHAIR, decision=BoardDecision.approve)
    transitions.decide(approved, decision, now=SUBMITTED, new_id=Ids())
    assert [p for p in told(approved, "outcome") if p.startswith("isg:")] == SEATS

    rejected = submitted()
    vote(rejected, Agency.DHS, IsgVote.nonconcur)
    vote(rejected, Agency.DOJ, IsgVote.nonconcur)
    vote(rejected, Agency.STATE)
    fresh(rejected)
    vote(rejected, Agency.TREASURY)
    assert rejected.stage is Stage.rejected
    assert sorted(told(rejected, "outcome")) == sorted([OWNER, *SEATS])

    scheduled = fresh(staffing([need(Agency.DOJ)]))
    r = scheduled.staffing.requests[0]
    accept = AcceptInput(actor=coordinator(Agency.DOJ), request_id=r.id, instructor_id="i-1")
    transitions.accepted(scheduled, accept, r, InstructorRef(id="i-1", name="Dana"), now=SUBMITTED)
    assert scheduled.stage is Stage.scheduled
    assert sorted(told(scheduled, "outcome")) == sorted([OWNER, *SEATS])


# --- withdrawal or cancellation: also the agencies holding requests, and whoever had to act -------


def test_a_cancellation_is_told_to_the_agencies_holding_requests_and_whoever_had_to_act() -> None:
    state = staffing([need(Agency.TREASURY), need(Agency.DOJ), need(Agency.DHS, 1)])
    r1, _, r3 = state.staffing.requests
    state.staffing.accept(r1, InstructorRef(id="i-1", name="Dana"))  # a booking at TREASURY
    transitions.advance(state, r3, RequestStatus.declined, "none", now=SUBMITTED, new_id=Ids())  # DHS: unfilled
    fresh(state)
    cancellation = happen(state, "staffing_cutoff", later(90))
    assert cancellation is not None
    transitions.cancel_everything(state, Stage.cancelled, None, "cutoff passed", now=later(90))
    assert state.stage is Stage.cancelled
    # TREASURY (booking) and DOJ (open request); not DHS, whose request had closed; the owner had
    # the unfilled slot to re-target; every ISG seat is told of a cancellation anyway
    assert sorted(told(state, "outcome")) == sorted([OWNER, *SEATS, "agency:TREASURY", "agency:DOJ"])
    assert len(told(state, "outcome")) == len(set(told(state, "outcome")))  # once each


def test_a_withdrawal_at_the_board_is_told_to_the_board_parties_still_to_act() -> None:
    state = at_board()
    position = BoardPositionInput(actor=board(Agency.DHS), position=BoardPosition.concur)
    transitions.take_position(state, position, now=SUBMITTED)
    fresh(state)
    withdraw = WithdrawInput(actor=PO2, reason="postponed")
    withdrawn = actions.attempt(state, withdraw, actions.WITHDRAW, SUBMITTED, Ids()).state
    assert withdrawn.stage is Stage.withdrawn
    assert sorted(told(withdrawn, "outcome")) == sorted([OWNER, *SEATS, "board:TREASURY", "board:DOJ", "board:chair"])


# --- an instructor released, a request declined or expired: the owner ----------------------------


def test_releases_declines_and_lapses_are_told_to_the_owner() -> None:
    state = staffing([need(Agency.TREASURY, 1, Agency.DOJ), need(Agency.DOJ)])
    r1, r2 = state.staffing.requests
    fresh(state)
    ids = Ids()
    ids.n = 2
    transitions.decline(
        state,
        DeclineInput(actor=coordinator(Agency.TREASURY), request_id=r1.id, reason="busy"),
        r1,
        now=SUBMITTED,
        new_id=ids,
    )
    assert [(n.party, n.kind, n.body) for n in state.notes if n.party == OWNER] == [(OWNER, "staffing", "busy")]

    fresh(state)
    accept = AcceptInput(actor=coordinator(Agency.DOJ), request_id=r2.id, instructor_id="i-1")
    transitions.accepted(state, accept, r2, InstructorRef(id="i-1", name="Dana"), now=SUBMITTED)
    fresh(state)
    release = ReleaseInput(actor=coordinator(Agency.DOJ), request_id=r2.id, reason="sick")
    transitions.released(state, release, r2, now=later(1), new_id=ids)
    assert (OWNER, "staffing", "sick") in [(n.party, n.kind, n.body) for n in state.notes]

    fresh(state)
    lapse = next(d for d in deadlines.deadlines(state) if d.what == "request_due")
    lapse.happens(state, lapse.due_at, ids)
    assert any(n.party == OWNER and n.kind == "staffing" and "did not answer" in n.subject for n in state.notes)


# --- every party the workflow names reaches someone ---------------------------------------------


def named_parties() -> set[str]:
    """Every party the workflow names, in notifications and as pending, along the paths above."""
    states = [submitted(), changes_requested(), at_board(), staffing([need(Agency.TREASURY), need(Agency.DOJ)])]
    fast = submitted(cost="150000")
    for seat in (Agency.STATE, Agency.TREASURY, Agency.DHS, Agency.DOJ):
        vote(fast, seat)
    overdue = at_board()
    happen(overdue, "board_due", BOARD_DUE)
    unfilled = staffing([need(Agency.DHS)])
    transitions.advance(
        unfilled, unfilled.staffing.requests[0], RequestStatus.declined, "no", now=SUBMITTED, new_id=Ids()
    )
    cancelled = staffing([need(Agency.TREASURY), need(Agency.DOJ)])
    transitions.cancel_everything(cancelled, Stage.cancelled, None, "cutoff", now=later(90))
    named = set()
    for state in [*states, fast, overdue, unfilled, cancelled]:
        named |= {n.party for n in state.notes} | {p.party for p in views.pending(state)}
    return named


def test_every_party_the_workflow_names_reaches_a_person_and_an_address() -> None:
    named = named_parties()
    assert {str(p) for p in all_parties()} <= named  # the paths above name every party there is
    assert OWNER in named
    settings = Settings()
    for text in sorted(named):
        party = Party.parse(text)  # a party no one reads (a bare "board") would not parse
        # someone's inbox and notifications page: a person whose roles and agency make them act for it
        readers = [
            (agency, role)
            for agency in Agency
            for role in Role
            if party in parties_for(agency, [role], sub="po-1" if role is Role.program_officer else None)
        ]
        assert readers, f"{text}: nobody reads it"
        assert addresses_for(text, settings), f"{text}: no address"
    # the owner is written to at the address ILEA has on file for them, when it has one
    assert addresses_for(OWNER, settings, email="pat.officer@state.gov") == ["pat.officer@state.gov"]
