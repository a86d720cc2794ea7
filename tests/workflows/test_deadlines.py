"""The deadlines of each stage and what happens when they come: workflows.deadlines called
directly, without Temporal (the timer that waits for them is exercised in test_timers.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from ilea.domain import Agency, IsgVote, Stage
from ilea.messages import InstructorRef
from tests.workflows.states import (
    ISG_DUE,
    ISG_REMINDER,
    Ids,
    at_board,
    changes_requested,
    need,
    staffing,
    submitted,
    vote,
)
from workflows import deadlines, transitions
from workflows.deadlines import Cancellation
from workflows.state import ProposalState

BOARD_REMINDER = datetime(2027, 6, 18, 4, 0, tzinfo=UTC)  # Thursday 17 June: the 18th is Juneteenth observed
BOARD_DUE = datetime(2027, 6, 24, 4, 0, tzinfo=UTC)
CUTOFF_ENDS = datetime(2027, 8, 31, 4, 0, tzinfo=UTC)
COURSE_STARTS = datetime(2027, 9, 29, 4, 0, tzinfo=UTC)
COURSE_ENDS = datetime(2027, 10, 9, 4, 0, tzinfo=UTC)  # the ten-day course ends Friday 8 October


def listed(state: ProposalState) -> list[tuple[str, datetime]]:
    return [(d.what, d.due_at) for d in deadlines.deadlines(state)]


def happen(state: ProposalState, what: str, at: datetime, ids: Ids | None = None) -> Cancellation | None:
    """Let the first deadline named ``what`` happen at ``at``."""
    deadline = next(d for d in deadlines.deadlines(state) if d.what == what)
    return deadline.happens(state, at, ids or Ids())


def actions(state: ProposalState) -> list[str]:
    return [e.action for e in state.events]


def test_the_isg_round_reminds_the_silent_seats_once() -> None:
    state = submitted()
    assert listed(state) == [("isg_reminder", ISG_REMINDER), ("isg_round_due", ISG_DUE)]
    assert deadlines.next_due(state) == ISG_REMINDER
    vote(state, Agency.STATE)
    state.events, state.notes = [], []
    happen(state, "isg_reminder", ISG_REMINDER)
    assert [(e.action, e.agency, e.detail) for e in state.events] == [
        ("reminder", a, {"party": f"isg:{a}", "due": "2027-06-16T04:00:00+00:00"}) for a in ("TREASURY", "DHS", "DOJ")
    ]
    assert [(n.party, n.kind) for n in state.notes] == [
        ("isg:TREASURY", "reminder"),
        ("isg:DHS", "reminder"),
        ("isg:DOJ", "reminder"),
    ]
    assert listed(state) == [("isg_round_due", ISG_DUE)]


def test_silence_at_the_round_deadline_is_deemed_concurrence() -> None:
    state = submitted()
    vote(state, Agency.STATE)
    vote(state, Agency.TREASURY)
    state.events = []
    assert happen(state, "isg_round_due", ISG_DUE) is None
    assert {a: (v.vote, v.by) for a, v in state.votes.items() if a in (Agency.DHS, Agency.DOJ)} == {
        Agency.DHS: (IsgVote.deemed_concur, "system"),
        Agency.DOJ: (IsgVote.deemed_concur, "system"),
    }
    assert actions(state) == ["deemed_concur", "deemed_concur", "isg_round_closed", "stage_changed"]
    assert state.events[2].detail["outcome"] == "board"
    assert state.stage is Stage.board_review
    # Opened on 16 June: fifteen business days skip Juneteenth (18 June) and 5 July (the 4th observed).
    assert listed(state) == [
        ("board_reminder", datetime(2027, 7, 7, 4, 0, tzinfo=UTC)),
        ("board_due", datetime(2027, 7, 10, 4, 0, tzinfo=UTC)),
    ]


def test_an_unanswered_revision_request_expires_the_proposal() -> None:
    state = changes_requested()
    (deadline,) = deadlines.deadlines(state)
    assert (deadline.what, deadline.due_at) == ("revision_due", datetime(2027, 7, 1, 4, 0, tzinfo=UTC))
    state.notes = []
    deadline.happens(state, deadline.due_at, Ids())
    assert state.stage is Stage.expired
    assert [(n.party, n.kind, n.subject) for n in state.notes] == [
        ("person:po-1", "outcome", "Countering financial crimes: expired")
    ]
    assert listed(state) == []


def test_the_board_is_reminded_then_escalated_and_then_waits_without_a_timer() -> None:
    state = at_board()
    state.events, state.notes = [], []
    happen(state, "board_reminder", BOARD_REMINDER)
    # one reminder per Board party yet to act, as for the ISG seats (not the bare "board")
    assert [(e.action, e.agency, e.detail) for e in state.events] == [
        ("reminder", agency, {"party": party, "due": "2027-06-24T04:00:00+00:00"})
        for agency, party in (
            ("TREASURY", "board:TREASURY"),
            ("DHS", "board:DHS"),
            ("DOJ", "board:DOJ"),
            ("STATE", "board:chair"),
        )
    ]
    assert [n.party for n in state.notes] == ["board:TREASURY", "board:DHS", "board:DOJ", "board:chair"]
    assert listed(state) == [("board_due", BOARD_DUE)]
    state.notes = []
    happen(state, "board_due", BOARD_DUE)
    assert state.overdue and state.stage is Stage.board_review
    assert [(n.party, n.kind) for n in state.notes] == [
        ("board:chair", "escalation"),
        ("person:po-1", "escalation"),
    ]
    assert deadlines.deadlines(state) == [] and deadlines.next_due(state) is None


def test_staffing_lists_each_request_then_the_cutoff_then_the_start() -> None:
    state = staffing([need(Agency.TREASURY, 1, Agency.DOJ), need(Agency.DOJ)])
    assert listed(state) == [
        ("request_reminder", ISG_REMINDER),
        ("request_due", ISG_DUE),
        ("request_reminder", ISG_REMINDER),
        ("request_due", ISG_DUE),
        ("staffing_cutoff", CUTOFF_ENDS),
        ("course_start", COURSE_STARTS),
    ]
    state.events, state.notes = [], []
    happen(state, "request_reminder", ISG_REMINDER)
    r1 = state.staffing.get("r1")
    assert r1 is not None and r1.reminded
    assert [(n.party, n.kind) for n in state.notes] == [("agency:TREASURY", "reminder")]
    assert [d.what for d in deadlines.deadlines(state)][:3] == ["request_due", "request_reminder", "request_due"]


def test_a_lapsed_request_goes_to_the_alternate_or_leaves_the_slot_unfilled() -> None:
    state = staffing([need(Agency.TREASURY, 1, Agency.DOJ), need(Agency.DOJ)])
    state.events = []
    ids = Ids()
    ids.n = 2  # r1 and r2 are out
    happen(state, "request_due", ISG_DUE, ids)
    assert actions(state) == ["request_expired", "request_sent"]
    r3 = state.staffing.get("r3")
    assert r3 is not None and (r3.slot, r3.agency, r3.attempt) == (1, Agency.DOJ, 2)
    state.events, state.notes = [], []
    r2 = next(d for d in deadlines.deadlines(state) if d.what == "request_due" and d.due_at == ISG_DUE)
    r2.happens(state, ISG_DUE, ids)
    assert actions(state) == ["request_expired", "slot_unfilled"]
    assert [(n.party, n.subject) for n in state.notes] == [
        ("person:po-1", "DOJ did not answer the instructor request for slot 2: Countering financial crimes"),
        ("person:po-1", "Slot 2 unfilled: Countering financial crimes"),
    ]
    assert state.staffing.any_unfilled()


def test_the_cutoff_cancels_a_course_with_a_slot_unfilled() -> None:
    state = staffing([need(Agency.TREASURY), need(Agency.DOJ)])
    r1 = state.staffing.requests[0]
    state.staffing.accept(r1, InstructorRef(id="i-1", name="Dana"))
    assert happen(state, "staffing_cutoff", CUTOFF_ENDS) == Cancellation(
        "staffing cutoff 2027-08-30 passed with slots [2] unfilled"
    )
    assert state.cutoff_passed
    assert "staffing_cutoff" not in [d.what for d in deadlines.deadlines(state)]
    assert happen(state, "course_start", COURSE_STARTS) == Cancellation("the course start came with slots unfilled")


def test_a_staffed_course_passes_the_cutoff_and_is_delivered_when_it_ends() -> None:
    state = staffing([need(Agency.DOJ)])
    r1 = state.staffing.requests[0]
    state.staffing.accept(r1, InstructorRef(id="i-1", name="Dana"))
    assert happen(state, "staffing_cutoff", CUTOFF_ENDS) is None
    transitions.refresh_staffing_stage(state, None, now=CUTOFF_ENDS)
    assert state.stage is Stage.scheduled
    assert listed(state) == [("course_end", COURSE_ENDS)]
    happen(state, "course_end", COURSE_ENDS)
    assert state.stage is Stage.delivered
    assert listed(state) == []
