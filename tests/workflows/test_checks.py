"""Who may do what, and when: workflows.checks called directly, without Temporal.

Each refusal is asserted by its ``ErrorType`` (which the API maps to an HTTP status) and its
message (which the caller reads); each allowed action by what the check returns.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from ilea.domain import Agency, BoardDecision, BoardPosition, IsgVote, RequestStatus, Role, Stage
from ilea.messages import (
    AcceptInput,
    Actor,
    BoardDecisionInput,
    BoardPositionInput,
    CutoffInput,
    DeclineInput,
    ErrorType,
    InstructorRef,
    IsgVoteInput,
    ReleaseInput,
    RetargetInput,
    RevisionInput,
    WithdrawInput,
)
from tests.support import CHAIR, PO, board, coordinator, fields, isg
from tests.workflows.states import (
    START,
    SUBMITTED,
    Ids,
    at_board,
    changes_requested,
    later,
    need,
    staffing,
    submitted,
)
from workflows import checks, transitions
from workflows.state import ProposalState


def refusal(check: Callable[..., Any], *args: Any) -> tuple[str | None, str]:
    """The (type, message) of the refusal ``check(*args)`` raises."""
    with pytest.raises(ApplicationError) as refused:
        check(*args)
    assert refused.value.non_retryable
    return refused.value.type, refused.value.message


# --- the ISG round -----------------------------------------------------------------------------


def test_an_isg_member_of_a_seat_may_vote() -> None:
    state = submitted()
    checks.check_isg_vote(state, IsgVoteInput(actor=isg(Agency.DHS), vote=IsgVote.concur), SUBMITTED)


@pytest.mark.parametrize(
    ("inp", "expected"),
    [
        (
            IsgVoteInput(actor=PO, vote=IsgVote.concur),
            (ErrorType.forbidden, "this action needs the isg_member role"),
        ),
        (
            IsgVoteInput(actor=isg(Agency.DHS, sub=PO.sub), vote=IsgVote.concur),
            (ErrorType.four_eyes, "four-eyes rule: whoever submitted or revised a proposal may not review it"),
        ),
        (
            IsgVoteInput(actor=isg(Agency.DOJ), vote=IsgVote.deemed_concur),
            (ErrorType.invalid, "deemed_concur is recorded only by the system"),
        ),
        (
            IsgVoteInput(actor=isg(Agency.DOJ), vote=IsgVote.nonconcur, comment="  "),
            (ErrorType.invalid, "a comment is required with a nonconcur vote"),
        ),
    ],
    ids=["not-isg", "author", "deemed", "no-comment"],
)
def test_isg_vote_refusals(inp: IsgVoteInput, expected: tuple[ErrorType, str]) -> None:
    assert refusal(checks.check_isg_vote, submitted(), inp, SUBMITTED) == (expected[0].value, expected[1])


def withdrawn() -> ProposalState:
    state = submitted()
    transitions.set_stage(state, Stage.withdrawn, PO, "withdrawn", now=SUBMITTED)
    return state


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (at_board, "ISG round 1 is closed; the proposal is board_review"),
        (withdrawn, "an ISG vote is possible only in isg_review; the proposal is withdrawn"),
    ],
    ids=["round-closed", "proposal-closed"],
)
def test_a_vote_once_the_round_is_over_is_refused_as_closed(build: Callable[[], ProposalState], message: str) -> None:
    inp = IsgVoteInput(actor=isg(Agency.DHS), vote=IsgVote.concur)
    assert refusal(checks.check_isg_vote, build(), inp, SUBMITTED) == (ErrorType.closed.value, message)


def test_a_revision_must_keep_the_proposal_valid() -> None:
    state = changes_requested()
    assert state.stage is Stage.changes_requested
    too_soon = fields(today=SUBMITTED.date(), lead_days=10)
    with pytest.raises(ApplicationError) as refused:
        checks.check_revision(state, RevisionInput(actor=PO, proposal=too_soon, comment="sooner"), SUBMITTED)
    assert refused.value.type == ErrorType.invalid.value
    assert refused.value.message == "The course must start at least 60 days after submission (on or after 2027-07-31)"
    assert list(refused.value.details) == [
        {
            "loc": ["body", "proposal", "start_date"],
            "msg": "The course must start at least 60 days after submission (on or after 2027-07-31)",
        }
    ]
    good = RevisionInput(actor=PO, proposal=fields(today=SUBMITTED.date()), comment="narrower")
    checks.check_revision(state, good, SUBMITTED)
    assert refusal(checks.check_revision, state, good.model_copy(update={"comment": ""}), SUBMITTED) == (
        ErrorType.invalid.value,
        "a comment is required with a revision",
    )


# --- the Policy Board --------------------------------------------------------------------------


def test_board_position_refusals() -> None:
    concur = BoardPositionInput(actor=board(Agency.DHS), position=BoardPosition.concur)
    assert refusal(checks.check_board_position, submitted(), concur, SUBMITTED) == (
        ErrorType.wrong_stage.value,
        "a Board position is possible only in board_review; the proposal is isg_review",
    )
    state = at_board()
    checks.check_board_position(state, concur, SUBMITTED)
    state_member = Actor(sub="board-state", agency=Agency.STATE, roles=[Role.board_member])
    assert refusal(
        checks.check_board_position, state, concur.model_copy(update={"actor": state_member}), SUBMITTED
    ) == (ErrorType.wrong_agency.value, "STATE has no member seat on the Policy Board")
    bare = concur.model_copy(update={"position": BoardPosition.nonconcur})
    assert refusal(checks.check_board_position, state, bare, SUBMITTED) == (
        ErrorType.invalid.value,
        "a comment is required with a nonconcur position",
    )


def test_the_chair_may_not_approve_over_two_nonconcurs() -> None:
    state = at_board()
    approve = BoardDecisionInput(actor=CHAIR, decision=BoardDecision.approve)
    checks.check_board_decision(state, approve, SUBMITTED)
    for agency in (Agency.DOJ, Agency.DHS):
        inp = BoardPositionInput(actor=board(agency), position=BoardPosition.nonconcur, comment="no")
        transitions.take_position(state, inp, now=SUBMITTED)
    assert refusal(checks.check_board_decision, state, approve, SUBMITTED) == (
        ErrorType.chair_blocked.value,
        "2 Board members have recorded nonconcur (DHS, DOJ); the chair may not approve",
    )
    disapprove = BoardDecisionInput(actor=CHAIR, decision=BoardDecision.disapprove, comment="as the members say")
    checks.check_board_decision(state, disapprove, SUBMITTED)
    treasury_chair = CHAIR.model_copy(update={"agency": Agency.TREASURY})
    assert refusal(
        checks.check_board_decision, state, disapprove.model_copy(update={"actor": treasury_chair}), SUBMITTED
    ) == (ErrorType.wrong_agency.value, "the Policy Board is chaired by STATE")


# --- the program officer --------------------------------------------------------------------


def test_withdrawal_until_the_course_starts() -> None:
    state = submitted()
    inp = WithdrawInput(actor=PO, reason="postponed")
    checks.check_withdraw(state, inp, later(100))
    assert refusal(checks.check_withdraw, state, inp, later(120)) == (
        ErrorType.wrong_stage.value,
        "the course has started; it can no longer be withdrawn",
    )
    transitions.set_stage(state, Stage.rejected, None, "rejected", now=SUBMITTED)
    assert refusal(checks.check_withdraw, state, inp, SUBMITTED) == (
        ErrorType.closed.value,
        "the proposal is already rejected",
    )


def test_the_cutoff_moves_within_its_window() -> None:
    state = submitted()
    latest = START - timedelta(days=7)
    checks.check_cutoff(state, CutoffInput(actor=PO, cutoff=latest), SUBMITTED)
    assert refusal(checks.check_cutoff, state, CutoffInput(actor=PO, cutoff=latest + timedelta(days=1)), SUBMITTED) == (
        ErrorType.invalid.value,
        "the cutoff may be no later than 2027-09-22 (7 days before the start)",
    )
    assert refusal(checks.check_cutoff, state, CutoffInput(actor=PO, cutoff=date(2027, 5, 31)), SUBMITTED) == (
        ErrorType.invalid.value,
        "2 rules are broken: the cutoff only moves later: it is 2027-08-30, and 2027-05-31 is not later;"
        " the cutoff 2027-05-31 is in the past",
    )
    state.cutoff_passed = True
    assert refusal(checks.check_cutoff, state, CutoffInput(actor=PO, cutoff=latest), SUBMITTED) == (
        ErrorType.closed.value,
        "the staffing cutoff has already passed",
    )


# --- the agencies' answers ------------------------------------------------------------------


def test_an_open_request_is_answered_by_its_own_agency() -> None:
    state = staffing([need(Agency.TREASURY), need(Agency.DOJ)])
    accept = AcceptInput(actor=coordinator(Agency.DOJ), request_id="r2", instructor_id="i-1")
    found = checks.check_accept(state, accept, SUBMITTED)
    assert (found.id, found.agency, found.slot) == ("r2", Agency.DOJ, 2)
    assert refusal(checks.check_accept, state, accept.model_copy(update={"request_id": "r1"}), SUBMITTED) == (
        ErrorType.wrong_agency.value,
        "this request is addressed to TREASURY, not DOJ",
    )
    assert refusal(checks.check_accept, state, accept.model_copy(update={"request_id": "nope"}), SUBMITTED) == (
        ErrorType.not_found.value,
        "no instructor request nope on this proposal",
    )
    assert refusal(checks.check_accept, state, accept.model_copy(update={"actor": PO}), SUBMITTED) == (
        ErrorType.forbidden.value,
        "this action needs the agency_coordinator role",
    )
    decline = DeclineInput(actor=coordinator(Agency.DOJ), request_id="r2", reason="")
    assert refusal(checks.check_decline, state, decline, SUBMITTED) == (
        ErrorType.invalid.value,
        "a reason is required to decline",
    )


def test_an_answered_request_cannot_be_answered_again() -> None:
    state = staffing([need(Agency.DOJ)])
    decline = DeclineInput(actor=coordinator(Agency.DOJ), request_id="r1", reason="nobody free")
    r = checks.check_decline(state, decline, SUBMITTED)
    transitions.decline(state, decline, r, now=SUBMITTED, new_id=Ids())
    assert refusal(checks.check_decline, state, decline, SUBMITTED) == (
        ErrorType.closed.value,
        "the request is unfilled; this needs it open",
    )


def accepted_state() -> ProposalState:
    state = staffing([need(Agency.DOJ)])
    r = state.staffing.requests[0]
    accept = AcceptInput(actor=coordinator(Agency.DOJ), request_id=r.id, instructor_id="i-1")
    transitions.accepted(state, accept, r, InstructorRef(id="i-1", name="Dana"), now=SUBMITTED)
    return state


def test_release_needs_an_accepted_request_before_the_start() -> None:
    state = accepted_state()
    assert state.stage is Stage.scheduled
    release = ReleaseInput(actor=coordinator(Agency.DOJ), request_id="r1", reason="sick")
    assert checks.check_release(state, release, later(100)).status is RequestStatus.accepted
    assert refusal(checks.check_release, state, release, later(120)) == (
        ErrorType.closed.value,
        "the course has started; instructors can no longer be released",
    )
    open_state = staffing([need(Agency.DOJ)])
    assert refusal(checks.check_release, open_state, release, SUBMITTED) == (
        ErrorType.closed.value,
        "the request is open; this needs it accepted",
    )


def test_only_an_unfilled_slot_is_retargeted_and_only_to_an_instructor_agency() -> None:
    state = staffing([need(Agency.DOJ)])
    retarget = RetargetInput(actor=PO, request_id="r1", agency=Agency.DHS)
    assert refusal(checks.check_retarget, state, retarget, SUBMITTED) == (
        ErrorType.closed.value,
        "only an unfilled slot can be re-targeted; this request is open",
    )
    decline = DeclineInput(actor=coordinator(Agency.DOJ), request_id="r1", reason="nobody free")
    transitions.decline(state, decline, state.staffing.requests[0], now=SUBMITTED, new_id=Ids())
    assert checks.check_retarget(state, retarget, SUBMITTED).status is RequestStatus.unfilled
    assert refusal(checks.check_retarget, state, retarget.model_copy(update={"agency": Agency.STATE}), SUBMITTED) == (
        ErrorType.invalid.value,
        "instructors come from TREASURY, DHS or DOJ, not STATE",
    )
