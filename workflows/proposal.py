"""ProposalWorkflow: one course proposal from submission until the course ends.

Every human action is an Update whose validator refuses it before it touches history; the
handler checks again under a lock, changes the state, writes the read model and the audit
trail (a local activity, awaited, so the caller reads its own write), and answers with the new
state. The deadlines of product.md wake the main loop through one durable timer.

The workflow holds one :class:`~workflows.state.ProposalState`; who may do what is in
:mod:`workflows.checks`, how the state changes in :mod:`workflows.transitions`, what happens
when in :mod:`workflows.deadlines`, and what the outside sees in :mod:`workflows.views`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.projection import ProjectionActivities
    from activities.roster import RosterActivities
    from ilea.activity_io import AuditChain, BookInput, BookResult, ReleaseBookingsInput
    from ilea.domain import TERMINAL_STAGES
    from ilea.messages import (
        AcceptInput,
        ActionInput,
        ActionResult,
        BoardDecisionInput,
        BoardPositionInput,
        CutoffInput,
        DeclineInput,
        HandOverInput,
        IsgVoteInput,
        ProposalInput,
        ProposalOutcome,
        ProposalView,
        ReadInput,
        ReleaseInput,
        RetargetInput,
        RevisionInput,
        WithdrawInput,
    )

from workflows import actions, deadlines, views
from workflows import transitions as t
from workflows.rehearsals import Rehearsals, Turns, current_update_id
from workflows.state import ProposalState
from workflows.timer import DeadlineTimer

#: ``workflow.patched`` ids of command changes; histories recorded before each change replay
#: through the old branch (tests/workflows/histories/legacy).
PATCH_LOCAL_BOOKING = "book-as-local-activity"
PATCH_DEADLINES_FIRST = "deadlines-before-actions"
PATCH_CUTOFF_ONLY_LATER = "cutoff-only-later"
PATCH_CHAIN_KEPT = "audit-chain-kept"
PATCH_VISIBILITY = "search-attributes-on-change-without-pending-on"
#: One marker for all five changes above. Each ``workflow.patched`` id costs a proposal a marker
#: and an upsert of ``TemporalChangeVersion`` (a visibility write) the first time it is asked;
#: a proposal started since this change asks only this one and takes every new branch. Older
#: histories have no such marker, so they go on asking the five as they did.
PATCH_EDITION_2 = "edition-2-since-start"

TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))

I = TypeVar("I", bound=ActionInput)  # noqa: E741 - an Update's input


def workflow_id(proposal_id: str) -> str:
    """The Temporal workflow id of a proposal."""
    return f"proposal-{proposal_id}"


@workflow.defn
class ProposalWorkflow:
    """One proposal: the ISG round, the Policy Board, staffing, until the course is delivered.

    Started by the API when a program officer submits a proposal (its first commit is awaited
    through the ``current`` Update, with update-with-start). Every other change comes from an
    Update below, each refused by its validator (and again under the lock) with an
    ``ApplicationError`` whose type is an ``ErrorType`` (``Forbidden``, ``WrongAgency``,
    ``FourEyes``, ``WrongStage``, ``Closed``, ``Invalid``, ...), or from a deadline. Ends in a
    terminal stage once every Update handler has finished.
    """

    @workflow.init
    def __init__(self, inp: ProposalInput) -> None:
        self._state = ProposalState.submitted(inp)
        #: what Temporal holds already: the attributes the proposal was started with, if any
        self._state.last_sa = views.started_with(workflow.info().typed_search_attributes)
        #: one Update (or the deadline handling) at a time: handlers await activities
        self._lock = Turns()
        #: the validators' rehearsals, which their handlers apply when nothing came between
        self._rehearsals = Rehearsals(self._lock)
        self._timer = DeadlineTimer()
        #: whether this proposal takes every change of :data:`PATCH_EDITION_2` (asked once, lazily)
        self._since_edition_2: bool | None = None

    # --- the main loop -------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: ProposalInput) -> ProposalOutcome:
        async with self._lock:
            t.submit(self._state, now=workflow.now())
            await self._commit()
            self._state.ready = True
        while self._state.stage not in TERMINAL_STAGES:
            version = self._state.version
            if await self._timer.wait(deadlines.next_due(self._state), self._committed_since(version)):
                async with self._lock:
                    if self._state.stage not in TERMINAL_STAGES:
                        await self._on_deadlines()
        self._timer.cancel()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ProposalOutcome(proposal_id=self._state.id, stage=self._state.stage)

    def _committed_since(self, version: int) -> Callable[[], bool]:
        """True once an Update has committed (the next deadline may have moved)."""
        return lambda: self._state.version != version

    async def _on_deadlines(self) -> None:
        """Let every deadline of the stage that has come happen (:func:`deadlines.happen`)."""
        happened, cancellation = deadlines.happen(self._state, workflow.now(), self._new_id)
        if cancellation is not None and self._state.staffing.started:
            await self._release_bookings(None, cancellation.reason)
        if happened:
            await self._commit()

    async def _deadlines_first(self) -> None:
        """Before an action is judged, every deadline that has come by now happens (and is committed).

        Usually the main loop has done it already; not when the deadline passed while no worker
        was running, because an Update is handled before the timer that fired meanwhile.
        """
        for _ in range(deadlines.MAX_BATCHES):
            if self._state.stage in TERMINAL_STAGES or not deadlines.is_due(self._state, workflow.now()):
                return
            # Proposals that handled actions before this change never did this: their histories
            # have no such commits where an action found a deadline due.
            if not self._patched(PATCH_DEADLINES_FIRST):
                return
            await self._on_deadlines()

    # --- what takes an activity -------------------------------------------------------------

    async def _commit(self, rehearsed: t.Rehearsed | None = None) -> None:
        """Write the new state, its audit events and notifications; keep search attributes current.

        ``rehearsed``: what an action's attempt (or rehearsal) computed of this state (its view
        and audit chain), if nothing changed it since (:func:`transitions.outbox`)."""
        if self._state.version == 0:
            # The workflow keeps its own record of the audit chain from its first commit on;
            # proposals submitted before it did have none (their histories hold no such marker).
            self._state.chain_kept = self._patched(PATCH_CHAIN_KEPT)
        view, project = t.outbox(self._state, now=workflow.now(), rehearsed=rehearsed)
        await workflow.execute_local_activity_method(
            ProjectionActivities.project, project, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
        )
        self._keep_search_attributes(view)

    def _keep_search_attributes(self, v: ProposalView) -> None:
        """Upsert the search attributes whose value changed (:func:`views.search_attribute_upserts`)."""
        edition_2 = self._patched(PATCH_VISIBILITY)
        self._state.last_sa, updates = views.search_attribute_upserts(v, self._state.last_sa, edition_2=edition_2)
        if updates:
            workflow.upsert_search_attributes(updates)

    async def _release_bookings(self, request_id: str | None, reason: str) -> None:
        await workflow.execute_activity_method(
            RosterActivities.release_bookings,
            ReleaseBookingsInput(proposal_id=self._state.id, request_id=request_id, reason=reason),
            start_to_close_timeout=TIMEOUT,
        )

    async def _book(self, book: BookInput) -> BookResult:
        """The roster books the instructor; its refusal (a booking conflict) becomes the Update's."""
        try:
            if self._patched(PATCH_LOCAL_BOOKING):
                # One short transaction: run it in this workflow task, like the projection
                # write after it, instead of a round trip through an activity task queue.
                return await workflow.execute_local_activity_method(
                    RosterActivities.book, book, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
                )
            # proposals that booked through an activity task before this change
            return await workflow.execute_activity_method(
                RosterActivities.book, book, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError):
                raise ApplicationError(cause.message, *cause.details, type=cause.type, non_retryable=True) from None
            raise

    def _patched(self, change: str) -> bool:
        """``workflow.patched(change)`` for a proposal recorded before :data:`PATCH_EDITION_2`;
        True without asking for one recorded since (it asked that one marker instead)."""
        if self._since_edition_2 is None:
            self._since_edition_2 = workflow.patched(PATCH_EDITION_2)
        return self._since_edition_2 or workflow.patched(change)

    def _new_id(self) -> str:
        return str(workflow.uuid4())

    # --- updates -----------------------------------------------------------------------------------

    @workflow.update
    async def current(self, inp: ReadInput) -> ActionResult:
        """The state once the proposal is recorded (used with update-with-start). Anyone; refuses nothing."""
        await workflow.wait_condition(lambda: self._state.ready)
        return views.action_result(self._state, inp)

    async def _act(self, inp: I, action: actions.Action[I, Any]) -> ActionResult:
        """Deadlines first, then the action on a copy of the state that replaces it once whole
        (the validator's copy when nothing came between them: :mod:`workflows.rehearsals`)."""
        kept = self._rehearsals.take(current_update_id())
        async with self._lock:
            await self._deadlines_first()
            now = workflow.now()
            taken = self._rehearsals.result(kept, self._state, inp, action, now)
            self._state, shown, rehearsed = taken or actions.attempt(self._state, inp, action, now, self._new_id)
            await self._commit(rehearsed)
            return views.action_result(self._state, inp, shown)

    def _validate(self, inp: I, action: actions.Action[I, Any]) -> None:
        """The validator of an Update whose handler is not :meth:`_act` (its rehearsal is not kept)."""
        actions.dry_run(self._state, inp, action, workflow.now())

    def _rehearse(self, inp: I, action: actions.Action[I, Any]) -> None:
        """The validator of an Update handled by :meth:`_act`: its rehearsal is kept for the handler."""
        now = workflow.now()
        rehearsal = actions.dry_run(self._state, inp, action, now)
        self._rehearsals.keep(current_update_id(), self._state, inp, action, now, rehearsal)

    def _cutoff_only_later(self) -> bool:
        """False in proposals whose histories moved or reset a cutoff before it only moved later.

        (Validators always judge by today's rule; they do not run on replay.)
        """
        return self._patched(PATCH_CUTOFF_ONLY_LATER)

    @workflow.update
    async def isg_vote(self, inp: IsgVoteInput) -> ActionResult:
        """An ISG member's vote for their agency's seat; the fourth vote closes the round.

        Refuses: no ``isg_member`` role (Forbidden); an agency without a seat (WrongAgency); the
        round closed or the proposal not in ISG review (Closed, WrongStage); an author of the
        proposal (FourEyes); ``deemed_concur``, or any vote but concur without a comment (Invalid).
        """
        return await self._act(inp, actions.ISG_VOTE)

    @isg_vote.validator
    def _validate_isg_vote(self, inp: IsgVoteInput) -> None:
        self._rehearse(inp, actions.ISG_VOTE)

    @workflow.update
    async def revise(self, inp: RevisionInput) -> ActionResult:
        """The program officer's revision after changes were requested; opens a new ISG round.

        Refuses: no ``program_officer`` role (Forbidden); not in changes_requested (WrongStage,
        Closed); no comment, or revised fields that break the proposal rules (Invalid).
        """
        return await self._act(inp, actions.REVISE if self._cutoff_only_later() else actions.REVISE_AS_BEFORE)

    @revise.validator
    def _validate_revise(self, inp: RevisionInput) -> None:
        self._rehearse(inp, actions.REVISE)

    @workflow.update
    async def board_position(self, inp: BoardPositionInput) -> ActionResult:
        """A Policy Board member department's position (TREASURY, DHS, DOJ); may be changed.

        Refuses: no ``board_member`` role (Forbidden); STATE or another agency without a member
        seat (WrongAgency); not in board_review (WrongStage, Closed); an author (FourEyes); a
        nonconcur without a comment (Invalid).
        """
        return await self._act(inp, actions.BOARD_POSITION)

    @board_position.validator
    def _validate_board_position(self, inp: BoardPositionInput) -> None:
        self._rehearse(inp, actions.BOARD_POSITION)

    @workflow.update
    async def board_decision(self, inp: BoardDecisionInput) -> ActionResult:
        """The Board chair's (STATE) decision: approve (to staffing), disapprove, or return to the ISG.

        Refuses: no ``board_chair`` role (Forbidden); a chair not of STATE (WrongAgency); not in
        board_review (WrongStage, Closed); an author (FourEyes); disapprove or return without a
        comment (Invalid); approve over a member's nonconcur (ChairBlocked).
        """
        return await self._act(inp, actions.BOARD_DECISION)

    @board_decision.validator
    def _validate_board_decision(self, inp: BoardDecisionInput) -> None:
        self._rehearse(inp, actions.BOARD_DECISION)

    @workflow.update
    async def withdraw(self, inp: WithdrawInput) -> ActionResult:
        """The program officer withdraws the proposal: requests cancelled, bookings released.

        Refuses: no ``program_officer`` role (Forbidden); already in a terminal stage (Closed);
        the course has started (WrongStage); no reason (Invalid).
        """
        async with self._lock:
            await self._deadlines_first()
            withdrawn, _, rehearsed = actions.attempt(self._state, inp, actions.WITHDRAW, workflow.now(), self._new_id)
            if withdrawn.staffing.started:
                await self._release_bookings(None, f"withdrawn: {inp.reason}")
            self._state = withdrawn
            await self._commit(rehearsed)
            return views.action_result(self._state, inp)

    @withdraw.validator
    def _validate_withdraw(self, inp: WithdrawInput) -> None:
        self._validate(inp, actions.WITHDRAW)

    @workflow.update
    async def staffing_cutoff(self, inp: CutoffInput) -> ActionResult:
        """The program officer moves the staffing cutoff later, before it passes.

        Refuses: no ``program_officer`` role (Forbidden); scheduled or a terminal stage
        (WrongStage, Closed); a date earlier than the cutoff, in the past, or later than the
        minimum days before the start (Invalid); the cutoff already passed (Closed).
        """
        action = actions.STAFFING_CUTOFF if self._cutoff_only_later() else actions.STAFFING_CUTOFF_AS_BEFORE
        return await self._act(inp, action)

    @staffing_cutoff.validator
    def _validate_staffing_cutoff(self, inp: CutoffInput) -> None:
        self._rehearse(inp, actions.STAFFING_CUTOFF)

    @workflow.update
    async def accept_request(self, inp: AcceptInput) -> ActionResult:
        """The addressed agency's coordinator accepts an open request with one of its instructors.

        Refuses: no ``agency_coordinator`` role (Forbidden); not staffing (WrongStage, Closed); an
        unknown request (NotFound); another agency's request (WrongAgency); a request no longer
        open (Closed); an instructor the roster cannot book (the roster's type, BookingConflict).
        """
        async with self._lock:
            await self._deadlines_first()
            r = actions.judged(self._state, inp, actions.ACCEPT, workflow.now())
            booked = await self._book(t.booking(self._state, r, inp.instructor_id))
            try:
                accepting = actions.accepting(booked.instructor)
                now = workflow.now()  # (the booking took an activity: a later workflow task)
                self._state, shown, rehearsed = actions.attempt(self._state, inp, accepting, now, self._new_id)
            except ApplicationError:
                await self._release_bookings(r.id, "the acceptance could not be recorded")  # compensation
                raise
            await self._commit(rehearsed)
            return views.action_result(self._state, inp, shown)

    @accept_request.validator
    def _validate_accept(self, inp: AcceptInput) -> None:
        self._validate(inp, actions.ACCEPT)

    @workflow.update
    async def decline_request(self, inp: DeclineInput) -> ActionResult:
        """The addressed agency's coordinator declines an open request; the next alternate is asked.

        Refuses as ``accept_request`` does (bar the booking), and a decline without a reason (Invalid).
        """
        return await self._act(inp, actions.DECLINE)

    @decline_request.validator
    def _validate_decline(self, inp: DeclineInput) -> None:
        self._rehearse(inp, actions.DECLINE)

    @workflow.update
    async def release_request(self, inp: ReleaseInput) -> ActionResult:
        """The agency's coordinator releases an accepted instructor; the slot reopens to the agency.

        Refuses: no ``agency_coordinator`` role (Forbidden); not staffing or scheduled (WrongStage,
        Closed); an unknown request (NotFound); another agency's (WrongAgency); a request not
        accepted, or the course started (Closed); no reason (Invalid).
        """
        async with self._lock:
            await self._deadlines_first()
            # Rehearsed first (placeholder ids), so a release the state cannot take is refused
            # before the booking is let go; then applied as of the time the roster answers.
            r = actions.attempt(self._state, inp, actions.RELEASE, workflow.now(), actions.placeholder_ids()).shown
            assert r is not None
            await self._release_bookings(r.id, inp.reason)
            now = workflow.now()  # (as of the time the roster answered)
            self._state, shown, rehearsed = actions.attempt(self._state, inp, actions.RELEASE, now, self._new_id)
            await self._commit(rehearsed)
            return views.action_result(self._state, inp, shown)

    @release_request.validator
    def _validate_release(self, inp: ReleaseInput) -> None:
        self._validate(inp, actions.RELEASE)

    @workflow.update
    async def retarget_request(self, inp: RetargetInput) -> ActionResult:
        """The program officer sends an unfilled slot to another instructor-providing agency.

        Refuses: no ``program_officer`` role (Forbidden); not staffing (WrongStage, Closed); an
        agency that provides no instructors (Invalid); an unknown request (NotFound); a slot not
        unfilled (Closed).
        """
        return await self._act(inp, actions.RETARGET)

    @retarget_request.validator
    def _validate_retarget(self, inp: RetargetInput) -> None:
        self._rehearse(inp, actions.RETARGET)

    @workflow.update
    async def hand_over(self, inp: HandOverInput) -> ActionResult:
        """A program officer hands the proposal over to another (``inp.sub``), who owns it from now on.

        Refuses: no ``program_officer`` role (Forbidden); a terminal stage (Closed); no valid sub,
        or the owner already (Invalid).
        """
        return await self._act(inp, actions.HAND_OVER)

    @hand_over.validator
    def _validate_hand_over(self, inp: HandOverInput) -> None:
        self._rehearse(inp, actions.HAND_OVER)

    @workflow.query
    def audit_chain(self) -> AuditChain:
        """The workflow's own record of the proposal's audit events (their number and chain head)."""
        return views.audit_chain(self._state)

    @workflow.query
    def state(self) -> ProposalView:
        """The live state (the read model holds the same after each commit)."""
        return views.view(self._state)
