"""Actions tried on a copy (workflows.actions), without Temporal: an action that fails half-way
leaves the proposal exactly as it was, and a validator judges after every deadline that has come.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta

import pytest
from temporalio.exceptions import ApplicationError

from ilea.domain import Agency, IsgVote, Stage
from ilea.messages import CutoffInput, ErrorType, IsgVoteInput, RevisionInput
from tests.support import PO, fields, isg
from tests.workflows.states import ISG_DUE, START, SUBMITTED, Ids, changes_requested, submitted
from workflows import actions, rules, views
from workflows.actions import Action
from workflows.state import ProposalState


def snapshot(state: ProposalState) -> tuple[object, ...]:
    """What a half-applied change would have left behind."""
    return (views.view(state).model_dump(), [e.model_dump() for e in state.events], state.version)


def test_a_change_that_fails_half_way_is_refused_and_changes_nothing() -> None:
    state = submitted()
    before = snapshot(state)

    def votes_then_fails(s: ProposalState, inp: IsgVoteInput, _: None, now: object, new_id: object) -> None:
        actions.ISG_VOTE.change(s, inp, None, SUBMITTED, Ids())  # the vote is recorded ...
        raise ZeroDivisionError("division by zero")  # ... then something unexpected happens

    broken = Action(actions.ISG_VOTE.check, votes_then_fails)
    vote = IsgVoteInput(actor=isg(Agency.DHS), vote=IsgVote.concur)
    with pytest.raises(ApplicationError) as refused:
        actions.attempt(state, vote, broken, SUBMITTED, Ids())
    assert refused.value.type == ErrorType.invalid.value and refused.value.non_retryable
    assert "ZeroDivisionError: division by zero" in refused.value.message
    assert list(refused.value.details) == [{"loc": ["body"], "msg": refused.value.message}]
    assert snapshot(state) == before
    # the validator refuses it the same way
    with pytest.raises(ApplicationError):
        actions.dry_run(state, vote, broken, SUBMITTED)
    assert snapshot(state) == before


def test_an_action_that_works_replaces_the_state_with_the_changed_copy() -> None:
    state = submitted()
    untouched = copy.deepcopy(state)
    vote = IsgVoteInput(actor=isg(Agency.DHS), vote=IsgVote.concur)
    changed, _, _ = actions.attempt(state, vote, actions.ISG_VOTE, SUBMITTED, Ids())
    assert [v.agency for v in changed.votes.values()] == [Agency.DHS]
    assert snapshot(state) == snapshot(untouched)


def test_a_validator_judges_after_the_deadlines_that_have_come() -> None:
    state = submitted()
    vote = IsgVoteInput(actor=isg(Agency.DHS), vote=IsgVote.concur)
    actions.dry_run(state, vote, actions.ISG_VOTE, ISG_DUE - timedelta(seconds=1))
    with pytest.raises(ApplicationError) as refused:
        actions.dry_run(state, vote, actions.ISG_VOTE, ISG_DUE)
    assert (refused.value.type, refused.value.message) == (
        ErrorType.closed.value,
        "ISG round 1 is closed; the proposal is board_review",
    )
    assert state.stage is Stage.isg_review and state.votes == {}  # judged on a copy


def test_a_revision_to_the_end_of_the_calendar_is_taken_not_overflowed() -> None:
    state = changes_requested()
    # The API's horizon (3 years) refuses such dates now; the workflow's arithmetic is bounded
    # whatever a proposal's rules let through (proposals submitted before the horizon had none).
    state.rules = state.rules.model_copy(update={"max_horizon_days": 10**7})
    last = fields(today=SUBMITTED.date()).model_copy(
        update={"start_date": date.max - timedelta(days=9), "end_date": date.max}
    )
    revision = RevisionInput(actor=PO, proposal=last, comment="much later")
    changed, _, _ = actions.attempt(state, revision, actions.REVISE, SUBMITTED, Ids())
    assert changed.stage is Stage.isg_review
    assert views.view(changed).deadlines.course_ends_at == rules.start_of_day(date.max)
    assert rules.end_of_day(date.max) == rules.start_of_day(date.max)


# --- the staffing cutoff only moves later ------------------------------------------------------


def test_the_cutoff_never_moves_earlier() -> None:
    state = submitted()
    default = state.cutoff
    assert default == START - timedelta(days=30)
    for earlier in (default - timedelta(days=1), default):
        with pytest.raises(ApplicationError) as refused:
            actions.attempt(state, CutoffInput(actor=PO, cutoff=earlier), actions.STAFFING_CUTOFF, SUBMITTED, Ids())
        assert refused.value.type == ErrorType.invalid.value
        assert list(refused.value.details) == [
            {
                "loc": ["body", "cutoff"],
                "msg": f"the cutoff only moves later: it is {default}, and {earlier} is not later",
            }
        ]
    later, _, _ = actions.attempt(
        state, CutoffInput(actor=PO, cutoff=default + timedelta(days=5)), actions.STAFFING_CUTOFF, SUBMITTED, Ids()
    )
    assert later.cutoff == default + timedelta(days=5)


@pytest.mark.parametrize(
    ("extension", "shift", "expected"),
    [
        # an extension that still fits the new dates is kept
        (10, 5, "extension"),
        # the dates moved so much later that the new default is later than the extension
        (10, 40, "default"),
        # the dates moved earlier: the extension is now less than 7 days before the new start
        (20, -5, "default"),
        # no extension: the default follows the dates
        (0, 12, "default"),
    ],
)
def test_a_revision_recomputes_the_default_and_keeps_an_extension_that_fits(
    extension: int, shift: int, expected: str
) -> None:
    state = changes_requested()
    default = state.cutoff
    if extension:
        extended = CutoffInput(actor=PO, cutoff=default + timedelta(days=extension))
        state, _, _ = actions.attempt(state, extended, actions.STAFFING_CUTOFF, SUBMITTED, Ids())
    moved = fields(today=SUBMITTED.date(), lead_days=120 + shift)
    revision = RevisionInput(actor=PO, proposal=moved, comment="new dates")
    revised, _, _ = actions.attempt(state, revision, actions.REVISE, SUBMITTED, Ids())
    new_default = moved.start_date - timedelta(days=30)
    assert revised.cutoff == (default + timedelta(days=extension) if expected == "extension" else new_default)
    assert revised.cutoff <= moved.start_date - timedelta(days=7)
