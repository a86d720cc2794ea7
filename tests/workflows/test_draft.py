"""``ProposalState.draft()``: the copy an action is tried on shares what no change alters in place
(workflows/state.py). Every field is classified, and no action, applied or refused, in any stage,
changes the state it was drafted from, and each gives what it gave on a deep copy.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from ilea.domain import ISG_SEATS, Agency, BoardDecision, BoardPosition, IsgVote
from ilea.messages import (
    AcceptInput,
    BoardDecisionInput,
    BoardPositionInput,
    DeclineInput,
    HandOverInput,
    IsgVoteInput,
    ReleaseInput,
    RetargetInput,
    RevisionInput,
    WithdrawInput,
)
from tests.support import CHAIR, PO, PO2, board, coordinator, fields, isg
from tests.workflows.states import SUBMITTED, Ids, at_board, changes_requested, dump, need, staffing, submitted
from workflows import actions, transitions
from workflows.actions import Action
from workflows.state import ProposalState


def test_every_field_is_shared_or_copied() -> None:
    names = {f.name for f in dataclasses.fields(ProposalState)}
    assert names == ProposalState.SHARED | ProposalState.COPIED
    assert not ProposalState.SHARED & ProposalState.COPIED


def accepted_staffing() -> ProposalState:
    """In staffing with one request accepted (r1) and one open (r2)."""
    state = staffing([need(Agency.TREASURY, 1, Agency.DHS), need(Agency.DOJ)])
    r1 = state.staffing.get("r1")
    assert r1 is not None
    inp = AcceptInput(actor=coordinator(Agency.TREASURY), request_id="r1", instructor_id="i-1")
    actions.attempt(state, inp, actions.ACCEPT, SUBMITTED, Ids())  # (a warm-up of the same path)
    transitions.accepted(state, inp, r1, actions.InstructorRef(id="i-1", name="Ida"), now=SUBMITTED)
    return state


STATES = {
    "isg_review": submitted,
    "changes_requested": changes_requested,
    "board_review": at_board,
    "staffing": accepted_staffing,
}


def attempts() -> Iterator[tuple[Any, Action[Any, Any]]]:
    """Inputs of every action, each meant for some stage: in the others they are refused."""
    for seat in ISG_SEATS:
        yield IsgVoteInput(actor=isg(seat), vote=IsgVote.concur), actions.ISG_VOTE
    yield IsgVoteInput(actor=isg(Agency.DHS), vote=IsgVote.request_changes), actions.ISG_VOTE  # no comment
    yield IsgVoteInput(actor=isg(Agency.DHS), vote=IsgVote.nonconcur, comment="no"), actions.ISG_VOTE
    revised = fields(today=SUBMITTED.date(), cost="300000")
    yield RevisionInput(actor=PO, proposal=revised, comment="revised"), actions.REVISE
    for seat in (Agency.TREASURY, Agency.DHS):
        yield BoardPositionInput(actor=board(seat), position=BoardPosition.concur), actions.BOARD_POSITION
    yield BoardPositionInput(actor=board(Agency.DOJ), position=BoardPosition.nonconcur), actions.BOARD_POSITION
    for decision in BoardDecision:
        yield BoardDecisionInput(actor=CHAIR, decision=decision, comment="decided"), actions.BOARD_DECISION
    yield BoardDecisionInput(actor=CHAIR, decision=BoardDecision.disapprove), actions.BOARD_DECISION
    for rid in ("r1", "r2", "r9"):
        yield DeclineInput(actor=coordinator(Agency.DOJ), request_id=rid, reason="busy"), actions.DECLINE
        yield AcceptInput(actor=coordinator(Agency.DOJ), request_id=rid, instructor_id="i-2"), actions.ACCEPT
        yield ReleaseInput(actor=coordinator(Agency.TREASURY), request_id=rid, reason="ill"), actions.RELEASE
        yield RetargetInput(actor=PO, request_id=rid, agency=Agency.DHS), actions.RETARGET
    yield HandOverInput(actor=PO, sub=PO2.sub, name=PO2.name), actions.HAND_OVER
    yield WithdrawInput(actor=PO, reason="no longer needed"), actions.WITHDRAW


def on_a_deep_copy(state: ProposalState, inp: Any, action: Action[Any, Any]) -> dict[str, Any] | str:
    """What the action made of a deep copy (the way every action was tried before ``draft``)."""
    deep = copy.deepcopy(state)
    try:
        with actions.refusing_the_unexpected():
            found = action.check(deep, inp, SUBMITTED)
            action.change(deep, inp, found, SUBMITTED, Ids())
    except ApplicationError as refused:
        return f"refused: {refused.type} {refused.message}"
    return dump(deep)


@pytest.mark.parametrize("stage", STATES)
def test_no_action_changes_the_state_it_was_drafted_from(stage: str) -> None:
    tried = applied = 0
    for inp, action in attempts():
        state = STATES[stage]()
        before = dump(state)
        expected = on_a_deep_copy(state, inp, action)
        try:
            drafted = actions.attempt(state, inp, action, SUBMITTED, Ids()).state
            got: dict[str, Any] | str = dump(drafted)
            applied += 1
        except ApplicationError as refused:
            got = f"refused: {refused.type} {refused.message}"
        tried += 1
        assert dump(state) == before, f"{type(inp).__name__} changed the state it was drafted from"
        assert got == expected, f"{type(inp).__name__}: the draft and a deep copy differ"
        # the validator's rehearsal, too
        with contextlib.suppress(ApplicationError):
            actions.dry_run(state, inp, action, SUBMITTED)
        assert dump(state) == before
    assert applied >= 2 and tried > applied  # each stage applies some and refuses others
