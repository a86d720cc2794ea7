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

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.projection import ProjectionActivities
    from activities.roster import RosterActivities
    from ilea.domain import TERMINAL_STAGES, Stage
    from ilea.messages import (
        AcceptInput,
        ActionResult,
        Actor,
        BoardDecisionInput,
        BoardPositionInput,
        BookInput,
        BookResult,
        CutoffInput,
        DeclineInput,
        IsgVoteInput,
        ProposalInput,
        ProposalOutcome,
        ProposalView,
        ReadInput,
        ReleaseBookingsInput,
        ReleaseInput,
        RetargetInput,
        RevisionInput,
        WithdrawInput,
    )
    from workflows import rules

from workflows import checks, deadlines, views
from workflows import transitions as t
from workflows.state import STAFFING_STAGES, ProposalState
from workflows.timer import DeadlineTimer

#: ``workflow.patched`` ids of command changes; histories recorded before each change replay
#: through the old branch (tests/workflows/histories/legacy).
PATCH_LOCAL_BOOKING = "book-as-local-activity"
PATCH_VISIBILITY = "search-attributes-on-change-without-pending-on"

TIMEOUT = timedelta(seconds=30)
RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))


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
        #: one Update (or the deadline handling) at a time: handlers await activities
        self._lock = asyncio.Lock()
        self._timer = DeadlineTimer()

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
        """Let every deadline that has come happen, in the order the stage lists them."""
        stage, now = self._state.stage, workflow.now()
        due = [d for d in deadlines.deadlines(self._state) if d.due_at <= now]
        for deadline in due:
            if self._state.stage is not stage:
                break  # an earlier deadline ended the stage; the rest were the stage's own
            cancellation = deadline.happens(self._state, workflow.now(), self._new_id)
            if cancellation is not None:
                await self._cancel_everything(Stage.cancelled, None, cancellation.reason)
        if self._state.stage in STAFFING_STAGES:
            t.refresh_staffing_stage(self._state, None, now=workflow.now())
        if due:
            await self._commit()

    # --- what takes an activity -------------------------------------------------------------

    async def _commit(self) -> None:
        """Write the new state, its audit events and notifications; keep search attributes current."""
        project = t.outbox(self._state, now=workflow.now())
        await workflow.execute_local_activity_method(
            ProjectionActivities.project, project, start_to_close_timeout=TIMEOUT, retry_policy=RETRY
        )
        self._keep_search_attributes(project.snapshot)

    def _keep_search_attributes(self, v: ProposalView) -> None:
        """Upsert the search attributes whose value changed (a stage change, a revision), and
        no others: most actions change none and send no command (a visibility write each)."""
        if workflow.patched(PATCH_VISIBILITY):
            changed = views.search_attribute_changes(v, self._state.last_sa)
            if changed:
                self._state.last_sa = views.search_attributes(v)
                workflow.upsert_search_attributes(changed)
            return
        # proposals started before edition 2: all five, IleaPendingOn too, when any changed
        wanted = views.legacy_search_attributes(v)
        if wanted != self._state.last_sa:
            self._state.last_sa = wanted
            workflow.upsert_search_attributes(views.legacy_search_attribute_updates(v))

    async def _release_bookings(self, request_id: str | None, reason: str) -> None:
        await workflow.execute_activity_method(
            RosterActivities.release_bookings,
            ReleaseBookingsInput(proposal_id=self._state.id, request_id=request_id, reason=reason),
            start_to_close_timeout=TIMEOUT,
        )

    async def _cancel_everything(self, stage: Stage, actor: Actor | None, reason: str) -> None:
        """Compensation: cancel every live request and release every booking, then the stage."""
        booked = self._state.staffing.cancel_all(reason)
        if self._state.staffing.started:
            await self._release_bookings(None, reason)
        t.bookings_released(self._state, booked, actor, reason, now=workflow.now())
        t.set_stage(self._state, stage, actor, reason, now=workflow.now())

    async def _book(self, book: BookInput) -> BookResult:
        """The roster books the instructor; its refusal (a booking conflict) becomes the Update's."""
        try:
            if workflow.patched(PATCH_LOCAL_BOOKING):
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

    def _new_id(self) -> str:
        return str(workflow.uuid4())

    # --- updates -----------------------------------------------------------------------------------

    @workflow.update
    async def current(self, inp: ReadInput) -> ActionResult:
        """The state once the proposal is recorded (used with update-with-start). Anyone; refuses nothing."""
        await workflow.wait_condition(lambda: self._state.ready)
        return views.action_result(self._state, inp)

    @workflow.update
    async def isg_vote(self, inp: IsgVoteInput) -> ActionResult:
        """An ISG member's vote for their agency's seat; the fourth vote closes the round.

        Refuses: no ``isg_member`` role (Forbidden); an agency without a seat (WrongAgency); the
        round closed or the proposal not in ISG review (Closed, WrongStage); an author of the
        proposal (FourEyes); ``deemed_concur``, or any vote but concur without a comment (Invalid).
        """
        async with self._lock:
            checks.check_isg_vote(self._state, inp, workflow.now())
            t.cast_vote(self._state, inp, now=workflow.now(), new_id=self._new_id)
            await self._commit()
            return views.action_result(self._state, inp)

    @isg_vote.validator
    def _validate_isg_vote(self, inp: IsgVoteInput) -> None:
        checks.check_isg_vote(self._state, inp, workflow.now())

    @workflow.update
    async def revise(self, inp: RevisionInput) -> ActionResult:
        """The program officer's revision after changes were requested; opens a new ISG round.

        Refuses: no ``program_officer`` role (Forbidden); not in changes_requested (WrongStage,
        Closed); no comment, or revised fields that break the proposal rules (Invalid).
        """
        async with self._lock:
            checks.check_revision(self._state, inp, workflow.now())
            t.revise(self._state, inp, now=workflow.now())
            await self._commit()
            return views.action_result(self._state, inp)

    @revise.validator
    def _validate_revise(self, inp: RevisionInput) -> None:
        checks.check_revision(self._state, inp, workflow.now())

    @workflow.update
    async def board_position(self, inp: BoardPositionInput) -> ActionResult:
        """A Policy Board member department's position (TREASURY, DHS, DOJ); may be changed.

        Refuses: no ``board_member`` role (Forbidden); STATE or another agency without a member
        seat (WrongAgency); not in board_review (WrongStage, Closed); an author (FourEyes); a
        nonconcur without a comment (Invalid).
        """
        async with self._lock:
            checks.check_board_position(self._state, inp, workflow.now())
            t.take_position(self._state, inp, now=workflow.now())
            await self._commit()
            return views.action_result(self._state, inp)

    @board_position.validator
    def _validate_board_position(self, inp: BoardPositionInput) -> None:
        checks.check_board_position(self._state, inp, workflow.now())

    @workflow.update
    async def board_decision(self, inp: BoardDecisionInput) -> ActionResult:
        """The Board chair's (STATE) decision: approve (to staffing), disapprove, or return to the ISG.

        Refuses: no ``board_chair`` role (Forbidden); a chair not of STATE (WrongAgency); not in
        board_review (WrongStage, Closed); an author (FourEyes); disapprove or return without a
        comment (Invalid); approve over a member's nonconcur (ChairBlocked).
        """
        async with self._lock:
            checks.check_board_decision(self._state, inp, workflow.now())
            t.decide(self._state, inp, now=workflow.now(), new_id=self._new_id)
            await self._commit()
            return views.action_result(self._state, inp)

    @board_decision.validator
    def _validate_board_decision(self, inp: BoardDecisionInput) -> None:
        checks.check_board_decision(self._state, inp, workflow.now())

    @workflow.update
    async def withdraw(self, inp: WithdrawInput) -> ActionResult:
        """The program officer withdraws the proposal: requests cancelled, bookings released.

        Refuses: no ``program_officer`` role (Forbidden); already in a terminal stage (Closed);
        the course has started (WrongStage); no reason (Invalid).
        """
        async with self._lock:
            checks.check_withdraw(self._state, inp, workflow.now())
            t.record(self._state, "withdrawn", inp.actor, {"reason": inp.reason}, now=workflow.now())
            await self._cancel_everything(Stage.withdrawn, inp.actor, f"withdrawn: {inp.reason}")
            await self._commit()
            return views.action_result(self._state, inp)

    @withdraw.validator
    def _validate_withdraw(self, inp: WithdrawInput) -> None:
        checks.check_withdraw(self._state, inp, workflow.now())

    @workflow.update
    async def staffing_cutoff(self, inp: CutoffInput) -> ActionResult:
        """The program officer moves the staffing cutoff, before it passes.

        Refuses: no ``program_officer`` role (Forbidden); scheduled or a terminal stage
        (WrongStage, Closed); a date in the past or later than the minimum days before the start
        (Invalid); the cutoff already passed (Closed).
        """
        async with self._lock:
            checks.check_cutoff(self._state, inp, workflow.now())
            t.move_cutoff(self._state, inp, now=workflow.now())
            await self._commit()
            return views.action_result(self._state, inp)

    @staffing_cutoff.validator
    def _validate_staffing_cutoff(self, inp: CutoffInput) -> None:
        checks.check_cutoff(self._state, inp, workflow.now())

    @workflow.update
    async def accept_request(self, inp: AcceptInput) -> ActionResult:
        """The addressed agency's coordinator accepts an open request with one of its instructors.

        Refuses: no ``agency_coordinator`` role (Forbidden); not staffing (WrongStage, Closed); an
        unknown request (NotFound); another agency's request (WrongAgency); a request no longer
        open (Closed); an instructor the roster cannot book (the roster's type, BookingConflict).
        """
        async with self._lock:
            r = checks.check_accept(self._state, inp, workflow.now())
            booked = await self._book(t.booking(self._state, r, inp.instructor_id))
            t.accepted(self._state, inp, r, booked.instructor, now=workflow.now())
            await self._commit()
            return views.action_result(self._state, inp, r)

    @accept_request.validator
    def _validate_accept(self, inp: AcceptInput) -> None:
        checks.check_accept(self._state, inp, workflow.now())

    @workflow.update
    async def decline_request(self, inp: DeclineInput) -> ActionResult:
        """The addressed agency's coordinator declines an open request; the next alternate is asked.

        Refuses as ``accept_request`` does (bar the booking), and a decline without a reason (Invalid).
        """
        async with self._lock:
            r = checks.check_decline(self._state, inp, workflow.now())
            t.decline(self._state, inp, r, now=workflow.now(), new_id=self._new_id)
            await self._commit()
            return views.action_result(self._state, inp, r)

    @decline_request.validator
    def _validate_decline(self, inp: DeclineInput) -> None:
        checks.check_decline(self._state, inp, workflow.now())

    @workflow.update
    async def release_request(self, inp: ReleaseInput) -> ActionResult:
        """The agency's coordinator releases an accepted instructor; the slot reopens to the agency.

        Refuses: no ``agency_coordinator`` role (Forbidden); not staffing or scheduled (WrongStage,
        Closed); an unknown request (NotFound); another agency's (WrongAgency); a request not
        accepted, or the course started (Closed); no reason (Invalid).
        """
        async with self._lock:
            r = checks.check_release(self._state, inp, workflow.now())
            if self._state.stage is Stage.scheduled and workflow.now() >= rules.end_of_day(self._state.cutoff):
                # Every slot was filled when the cutoff passed (it is not watched while
                # scheduled): the reopened slot has until the start, not an instant cancellation.
                self._state.cutoff_passed = True
            await self._release_bookings(r.id, inp.reason)
            t.released(self._state, inp, r, now=workflow.now(), new_id=self._new_id)
            await self._commit()
            return views.action_result(self._state, inp, r)

    @release_request.validator
    def _validate_release(self, inp: ReleaseInput) -> None:
        checks.check_release(self._state, inp, workflow.now())

    @workflow.update
    async def retarget_request(self, inp: RetargetInput) -> ActionResult:
        """The program officer sends an unfilled slot to another instructor-providing agency.

        Refuses: no ``program_officer`` role (Forbidden); not staffing (WrongStage, Closed); an
        agency that provides no instructors (Invalid); an unknown request (NotFound); a slot not
        unfilled (Closed).
        """
        async with self._lock:
            r = checks.check_retarget(self._state, inp, workflow.now())
            new = t.retarget(self._state, inp, r, now=workflow.now(), new_id=self._new_id)
            await self._commit()
            return views.action_result(self._state, inp, new)

    @retarget_request.validator
    def _validate_retarget(self, inp: RetargetInput) -> None:
        checks.check_retarget(self._state, inp, workflow.now())

    @workflow.query
    def state(self) -> ProposalView:
        """The live state (the read model holds the same after each commit)."""
        return views.view(self._state)
