"""Each human action as a check and a change, and how an action is tried before it is applied.

No input can wedge a proposal (product.md "At any time"): an action is applied to a *copy* of
the state, and the copy replaces the state only once the whole change and everything the
commit and the main loop will compute from it (the view, the search attributes, the next
deadline) have worked. Any unexpected exception on the way refuses the action with an
``ApplicationError`` and leaves the proposal exactly as it was, instead of failing the workflow
task (which Temporal retries forever).

Deadlines come first: a validator judges the action on a copy to which every deadline that has
come by now has happened (:func:`dry_run`), so a vote that reaches the workflow after its
round's deadline is refused as "round closed" even if no worker was running when the deadline
passed. (The handler applies the same deadlines for real before its own check.)

Plain functions of the state, like :mod:`workflows.transitions`; the workflow supplies the
time, the id generator and the activities (bookings).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, NamedTuple, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError, TemporalError

with workflow.unsafe.imports_passed_through():
    from ilea.domain import Party, Stage
    from ilea.messages import (
        AcceptInput,
        ActionInput,
        BoardDecisionInput,
        BoardPositionInput,
        CutoffInput,
        DeclineInput,
        ErrorType,
        HandOverInput,
        InstructorRef,
        InstructorRequestView,
        IsgVoteInput,
        ReleaseInput,
        RetargetInput,
        RevisionInput,
        WithdrawInput,
    )
    from workflows import rules
    from workflows.staffing import NewId

from workflows import checks, deadlines, notices, views
from workflows import transitions as t
from workflows.state import ProposalState

I = TypeVar("I", bound=ActionInput)  # noqa: E741 - the input, as in the SDK's own generics
R = TypeVar("R")


@dataclass(frozen=True)
class Action(Generic[I, R]):
    """An Update's rule (``check``: refuses, or returns what it found) and its effect."""

    check: Callable[[ProposalState, I, datetime], R]
    #: changes the state; returns the instructor request to show in the answer, if any
    change: Callable[[ProposalState, I, R, datetime, NewId], InstructorRequestView | None]


# --- trying an action ---------------------------------------------------------------------------


@contextlib.contextmanager
def refusing_the_unexpected() -> Iterator[None]:
    """An unexpected exception becomes a refusal (Invalid, 422) instead of a failed workflow task.

    Deliberate refusals pass through as they are, and so do the SDK's own errors (nondeterminism,
    a read-only context): those are bugs in the workflow, not in the input, and must fail the task.
    """
    try:
        yield
    except (ApplicationError, TemporalError):
        raise
    except Exception as err:
        if workflow.in_workflow():  # (unit tests call this without one)
            workflow.logger.warning("action refused after an unexpected %s: %s", type(err).__name__, err)
        raise checks.refuse(
            ErrorType.invalid,
            f"the proposal cannot take this action ({type(err).__name__}: {err}); nothing was changed",
            ("body",),
        ) from None


class Attempted(NamedTuple):
    """An action applied to a copy of the state (:func:`attempt`)."""

    state: ProposalState
    #: the instructor request to show in the answer, if any
    shown: InstructorRequestView | None
    #: what the rehearsal computed of ``state`` (its view and audit chain), which
    #: :func:`workflows.transitions.outbox` takes instead of computing it again
    rehearsed: t.Rehearsed


def attempt(state: ProposalState, inp: I, action: Action[I, R], now: datetime, new_id: NewId) -> Attempted:
    """The state after the action, the request to show and what its rehearsal computed (view,
    audit chain): on a copy, so ``state`` is untouched whether it succeeds or is refused."""
    with refusing_the_unexpected():
        draft = state.draft()
        found = action.check(draft, inp, now)
        shown = action.change(draft, inp, found, now, new_id)
        rehearsed = rehearse(draft)
    return Attempted(draft, shown, rehearsed)


def judged(state: ProposalState, inp: I, action: Action[I, R], now: datetime) -> R:
    """The action's check on the state itself (it changes nothing), unexpected errors refused."""
    with refusing_the_unexpected():
        return action.check(state, inp, now)


@dataclass(frozen=True)
class Rehearsal:
    """A validator's whole action on a copy (:func:`dry_run`)."""

    draft: ProposalState
    shown: InstructorRequestView | None
    #: what it computed of the copy (:attr:`Attempted.rehearsed`)
    rehearsed: t.Rehearsed
    #: the copy is what :func:`attempt` would make of the same state, input and time: no
    #: deadline had come (the handler's own deadlines do nothing either), and no id was drawn
    #: (the validator's are placeholders; the handler's come from the workflow's random sequence)
    as_attempted: bool

    def attempted(self) -> Attempted:
        """The copy as the handler's :func:`attempt` would have made it (when :attr:`as_attempted`)."""
        return Attempted(self.draft, self.shown, self.rehearsed)


def dry_run(state: ProposalState, inp: I, action: Action[I, R], now: datetime) -> Rehearsal:
    """What a validator does: the whole action on a copy, after every deadline that has come.

    Ids are placeholders: a validator must not draw from the workflow's random sequence.
    """
    with refusing_the_unexpected():
        draft = state.draft()
        due = deadlines.is_due(draft, now)
        deadlines.catch_up(draft, now, placeholder_ids())
        ids = Placeholders()
        found = action.check(draft, inp, now)
        shown = action.change(draft, inp, found, now, ids)
        rehearsed = rehearse(draft)
    return Rehearsal(draft, shown, rehearsed, as_attempted=not due and ids.drawn == 0)


def rehearse(state: ProposalState) -> t.Rehearsed:
    """Compute what the commit and the main loop will compute from the state: whatever would
    fail there fails here, while the action can still be refused. Returns the view and the
    audit chain, which the commit of the next version takes instead of computing them again."""
    view = views.view(state)
    views.search_attributes(view)
    deadlines.next_due(state)
    return t.Rehearsed(view, t.chain_after(state, state.version + 1))


class Placeholders:
    """Ids for a rehearsal (``dry-run-1``, ``dry-run-2`` …), counting how many were drawn."""

    def __init__(self) -> None:
        self.drawn = 0

    def __call__(self) -> str:
        self.drawn += 1
        return f"dry-run-{self.drawn}"


def placeholder_ids() -> NewId:
    return Placeholders()


# --- the actions ----------------------------------------------------------------------------------


def _vote(s: ProposalState, inp: IsgVoteInput, _: None, now: datetime, new_id: NewId) -> None:
    t.cast_vote(s, inp, now=now, new_id=new_id)


def _revise(s: ProposalState, inp: RevisionInput, _: None, now: datetime, new_id: NewId) -> None:
    t.revise(s, inp, now=now)


def _revise_as_before_edition_2(s: ProposalState, inp: RevisionInput, _: None, now: datetime, new_id: NewId) -> None:
    t.revise(s, inp, now=now, keep_extension=False)


def _position(s: ProposalState, inp: BoardPositionInput, _: None, now: datetime, new_id: NewId) -> None:
    t.take_position(s, inp, now=now)


def _decide(s: ProposalState, inp: BoardDecisionInput, _: None, now: datetime, new_id: NewId) -> None:
    t.decide(s, inp, now=now, new_id=new_id)


def _withdraw(s: ProposalState, inp: WithdrawInput, _: None, now: datetime, new_id: NewId) -> None:
    t.record(s, "withdrawn", inp.actor, {"reason": inp.reason}, now=now)
    t.cancel_everything(s, Stage.withdrawn, inp.actor, f"withdrawn: {inp.reason}", now=now)


# --- the program office's own changes: ownership and the staffing cutoff -----------------------


def _hand_over(state: ProposalState, inp: HandOverInput, _: None, now: datetime, new_id: NewId) -> None:
    """Another program officer owns the proposal from now on: both are told, and the new owner
    is asked for whatever the program office has to do."""
    previous = state.owner
    state.owner, state.owner_name = inp.sub, inp.name
    detail = {"from": previous, "to": inp.sub, "to_name": inp.name}
    t.record(state, "handed_over", inp.actor, detail, now=now)
    subject = f"{state.fields.title}: handed over from {previous} to {inp.sub}"
    notices.tell_once(state, [Party.person(previous), notices.owner(state)], "handed_over", subject, "", now=now)
    for item in views.pending(state):
        if item.party == str(Party.program_officer()):
            notices.ask(
                state,
                Party.program_officer(),
                item.since,
                f"Now yours: {item.kind} on {state.fields.title}",
                now=now,
                request_id=item.request_id,
            )


def _move_cutoff(state: ProposalState, inp: CutoffInput, _: None, now: datetime, new_id: NewId) -> None:
    previous = state.cutoff
    state.cutoff = inp.cutoff
    detail = {"from": previous.isoformat(), "to": inp.cutoff.isoformat()}
    t.record(state, "cutoff_changed", inp.actor, detail, now=now)


def accepting(instructor: InstructorRef) -> Action[AcceptInput, InstructorRequestView]:
    """Accepting once the roster has booked ``instructor`` (the booking is an activity)."""

    def change(
        s: ProposalState, inp: AcceptInput, r: InstructorRequestView, now: datetime, new_id: NewId
    ) -> InstructorRequestView:
        t.accepted(s, inp, r, instructor, now=now)
        return r

    return Action(checks.check_accept, change)


def _accept_unbooked(
    s: ProposalState, inp: AcceptInput, r: InstructorRequestView, now: datetime, new_id: NewId
) -> InstructorRequestView:
    """The validator's acceptance: the roster is asked only by the handler."""
    t.accepted(s, inp, r, InstructorRef(id=inp.instructor_id, name=""), now=now)
    return r


def _decline(
    s: ProposalState, inp: DeclineInput, r: InstructorRequestView, now: datetime, new_id: NewId
) -> InstructorRequestView:
    t.decline(s, inp, r, now=now, new_id=new_id)
    return r


def _release(
    s: ProposalState, inp: ReleaseInput, r: InstructorRequestView, now: datetime, new_id: NewId
) -> InstructorRequestView:
    if s.stage is Stage.scheduled and now >= rules.end_of_day(s.cutoff):
        # Every slot was filled when the cutoff passed (it is not watched while scheduled):
        # the reopened slot has until the start, not an instant cancellation.
        s.cutoff_passed = True
    t.released(s, inp, r, now=now, new_id=new_id)
    return r


def _retarget(
    s: ProposalState, inp: RetargetInput, r: InstructorRequestView, now: datetime, new_id: NewId
) -> InstructorRequestView:
    return t.retarget(s, inp, r, now=now, new_id=new_id)


ISG_VOTE = Action(checks.check_isg_vote, _vote)
REVISE = Action(checks.check_revision, _revise)
BOARD_POSITION = Action(checks.check_board_position, _position)
BOARD_DECISION = Action(checks.check_board_decision, _decide)
WITHDRAW = Action(checks.check_withdraw, _withdraw)
STAFFING_CUTOFF = Action(checks.check_cutoff, _move_cutoff)
ACCEPT = Action(checks.check_accept, _accept_unbooked)
DECLINE = Action(checks.check_decline, _decline)
RELEASE = Action(checks.check_release, _release)
RETARGET = Action(checks.check_retarget, _retarget)
HAND_OVER = Action(checks.check_hand_over, _hand_over)

#: How proposals that moved or reset their cutoff before it only moved later (edition 2) go on
#: doing it in their handlers, so their histories replay (``PATCH_CUTOFF_ONLY_LATER``).
STAFFING_CUTOFF_AS_BEFORE = Action(checks.check_cutoff_as_before_edition_2, _move_cutoff)
REVISE_AS_BEFORE = Action(checks.check_revision, _revise_as_before_edition_2)
