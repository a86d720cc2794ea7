"""ProposalWorkflow: one course proposal from submission until the course ends.

Every human action is an Update whose validator refuses it before it touches
history; the handler changes state under a lock, writes the read model and the
audit trail (a local activity, awaited, so the caller reads its own write), and
answers with the new state. Timers drive the deadlines of product.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.projection import ProjectionActivities
    from activities.roster import RosterActivities
    from ilea.domain import (
        BOARD_MEMBERS,
        ISG_SEATS,
        TERMINAL_STAGES,
        Agency,
        BoardDecision,
        IsgVote,
        RequestStatus,
        Stage,
    )
    from ilea.messages import (
        AcceptInput,
        ActionInput,
        ActionResult,
        Actor,
        AuditEventIn,
        BoardDecisionInput,
        BoardDecisionRecord,
        BoardPositionInput,
        BoardPositionRecord,
        BookInput,
        CutoffInput,
        DeclineInput,
        InstructorRequestView,
        IsgVoteInput,
        IsgVoteRecord,
        NotificationIn,
        ProjectInput,
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
    from workflows.staffing import Staffing

from workflows.checks import STAFFING_STAGES, ProposalChecks
from workflows.views import ProposalViews

SYSTEM = "system"

#: ``workflow.patched`` ids of command changes; histories recorded before each change replay
#: through the old branch (tests/workflows/histories/legacy).
PATCH_LOCAL_BOOKING = "book-as-local-activity"


def workflow_id(proposal_id: str) -> str:
    """The Temporal workflow id of a proposal."""
    return f"proposal-{proposal_id}"


@workflow.defn
class ProposalWorkflow(ProposalChecks, ProposalViews):
    @workflow.init
    def __init__(self, inp: ProposalInput) -> None:
        self._id = inp.proposal_id
        self._fields = inp.fields
        self._rules = inp.rules
        self._submitter = inp.submitted_by
        self._submitted_at = inp.submitted_at
        #: everyone who submitted or revised the proposal: none of them may review it
        self._authors: set[str] = {inp.submitted_by.sub}
        self._stage = Stage.submitted
        self._round = 0
        self._revisions = 0
        self._votes: dict[Agency, IsgVoteRecord] = {}
        self._round_opened_at = inp.submitted_at
        self._round_due: datetime | None = None
        self._round_reminder: datetime | None = None
        self._round_reminded = False
        self._dissent = False
        self._fast_tracked = False
        self._revision_since: datetime | None = None
        self._revision_due: datetime | None = None
        self._positions: dict[Agency, BoardPositionRecord] = {}
        self._decision: BoardDecisionRecord | None = None
        self._board_since: datetime | None = None
        self._board_due: datetime | None = None
        self._board_reminder: datetime | None = None
        self._board_reminded = False
        self._overdue = False
        self._cutoff = rules.default_cutoff(inp.fields.start_date, inp.rules.staffing_cutoff_days)
        self._cutoff_passed = False
        self._staffing = Staffing(inp.proposal_id, inp.rules)
        self._version = 0
        self._updated_at = inp.submitted_at
        self._events: list[AuditEventIn] = []
        self._notes: list[NotificationIn] = []
        self._lock = asyncio.Lock()
        self._ready = False
        self._last_sa: dict[str, Any] = {}
        self._timer: asyncio.Future[None] | None = None
        self._timer_at: datetime | None = None

    # --- the main loop -------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: ProposalInput) -> ProposalOutcome:
        async with self._lock:
            self._record("submitted", inp.submitted_by, {"title": inp.fields.title})
            self._notify("program_officer", "submitted", f"Proposal submitted: {inp.fields.title}")
            self._open_round()
            await self._commit()
            self._ready = True
        while self._stage not in TERMINAL_STAGES:
            version = self._version
            wake_at = self._next_deadline()
            if wake_at is not None and wake_at <= workflow.now():
                due = True
            else:
                # One durable timer per distinct deadline: most actions leave the next
                # deadline where it was, so they neither cancel nor start a timer.
                self._arm_timer(wake_at)
                await workflow.wait_condition(self._woken(version))
                due = self._timer is not None and self._timer.done()
            if due:
                self._timer, self._timer_at = None, None
                async with self._lock:
                    if self._stage not in TERMINAL_STAGES:
                        await self._on_deadlines()
        self._arm_timer(None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ProposalOutcome(proposal_id=self._id, stage=self._stage)

    def _woken(self, version: int) -> Callable[[], bool]:
        return lambda: self._version != version or (self._timer is not None and self._timer.done())

    def _arm_timer(self, at: datetime | None) -> None:
        if at == self._timer_at and (at is None or self._timer is not None):
            return
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()
        self._timer_at = at
        self._timer = None
        if at is not None:
            delay = (at - workflow.now()).total_seconds()
            self._timer = asyncio.ensure_future(asyncio.sleep(delay))

    def _next_deadline(self) -> datetime | None:
        times: list[datetime | None] = []
        if self._stage is Stage.isg_review:
            times += [None if self._round_reminded else self._round_reminder, self._round_due]
        elif self._stage is Stage.changes_requested:
            times.append(self._revision_due)
        elif self._stage is Stage.board_review and not self._overdue:
            times += [None if self._board_reminded else self._board_reminder, self._board_due]
        elif self._stage in STAFFING_STAGES:
            for r in self._staffing.with_status(RequestStatus.open):
                times += [None if r.reminded else self._request_reminder(r), r.due]
            if not self._cutoff_passed:
                times.append(rules.end_of_day(self._cutoff))
            times.append(rules.start_of_day(self._fields.start_date))
        elif self._stage is Stage.scheduled:
            times.append(rules.end_of_day(self._fields.end_date))
        due = [t for t in times if t is not None]
        return min(due) if due else None

    async def _on_deadlines(self) -> None:
        now = workflow.now()
        changed = False
        if self._stage is Stage.isg_review:
            if not self._round_reminded and self._round_reminder and now >= self._round_reminder:
                self._round_reminded = changed = True
                for seat in ISG_SEATS:
                    if seat not in self._votes:
                        self._record(
                            "reminder", None, {"party": f"isg:{seat}", "due": self._iso(self._round_due)}, seat
                        )
                        self._notify(
                            f"isg:{seat}", "reminder", f"Reminder: your ISG vote is due on {self._fields.title}"
                        )
            if self._round_due and now >= self._round_due:
                for seat in ISG_SEATS:
                    if seat not in self._votes:
                        self._votes[seat] = IsgVoteRecord(
                            agency=seat,
                            vote=IsgVote.deemed_concur,
                            by=SYSTEM,
                            comment="silence procedure: no vote by the deadline",
                            at=now,
                        )
                        self._record("deemed_concur", None, {"round": self._round}, seat)
                self._close_round()
                changed = True
        elif self._stage is Stage.changes_requested:
            if self._revision_due and now >= self._revision_due:
                self._set_stage(Stage.expired, None, "no revision within the revision window")
                changed = True
        elif self._stage is Stage.board_review:
            if not self._board_reminded and self._board_reminder and now >= self._board_reminder:
                self._board_reminded = changed = True
                self._record("reminder", None, {"party": "board", "due": self._iso(self._board_due)})
                for party in self._board_waiting():
                    self._notify(party, "reminder", f"Reminder: the Policy Board is due on {self._fields.title}")
            if self._board_due and now >= self._board_due and not self._overdue:
                self._overdue = changed = True
                self._record(
                    "escalation", None, {"reason": "Policy Board deadline passed", "due": self._iso(self._board_due)}
                )
                for party in ("board:chair", "program_officer"):
                    self._notify(party, "escalation", f"Overdue at the Policy Board: {self._fields.title}")
        elif self._stage in STAFFING_STAGES:
            changed = await self._staffing_deadlines(now)
        elif self._stage is Stage.scheduled and now >= rules.end_of_day(self._fields.end_date):
            self._set_stage(Stage.delivered, None, "the course has ended")
            changed = True
        if changed:
            await self._commit()

    async def _staffing_deadlines(self, now: datetime) -> bool:
        changed = False
        for r in self._staffing.with_status(RequestStatus.open):
            reminder = self._request_reminder(r)
            if not r.reminded and now >= reminder:
                r.reminded = changed = True
                self._record("reminder", None, {"party": f"agency:{r.agency}", "request_id": r.id}, r.agency)
                self._notify(f"agency:{r.agency}", "reminder", f"Reminder: instructor request for {self._fields.title}")
            if now >= r.due:
                changed = True
                self._record("request_expired", None, {"request_id": r.id, "slot": r.slot}, r.agency)
                self._advance(r, RequestStatus.expired, "no answer by the deadline (counts as a decline)")
        if not self._cutoff_passed and now >= rules.end_of_day(self._cutoff):
            self._cutoff_passed = changed = True
            if not self._staffing.all_filled():
                unfilled = [r.slot for r in self._staffing.live() if r.status is not RequestStatus.accepted]
                await self._cancel_everything(
                    Stage.cancelled, None, f"staffing cutoff {self._cutoff} passed with slots {unfilled} unfilled"
                )
        if self._stage in STAFFING_STAGES and now >= rules.start_of_day(self._fields.start_date):
            # A slot reopened after the cutoff and was never filled again.
            changed = True
            await self._cancel_everything(Stage.cancelled, None, "the course start came with slots unfilled")
        if self._stage in STAFFING_STAGES:
            self._refresh_staffing_stage(None)
        return changed

    def _request_reminder(self, r: InstructorRequestView) -> datetime:
        return rules.reminder_time(r.due, self._rules.request_reminder_business_days)

    # --- the ISG round --------------------------------------------------------------------

    def _open_round(self) -> None:
        now = workflow.now()
        self._round += 1
        self._votes = {}
        self._round_opened_at = now
        self._round_due = rules.business_deadline(now, self._rules.isg_round_business_days)
        self._round_reminder = rules.reminder_time(self._round_due, self._rules.isg_reminder_business_days)
        self._round_reminded = False
        self._set_stage(Stage.isg_review, None, f"ISG round {self._round} opened")
        for seat in ISG_SEATS:
            self._notify(f"isg:{seat}", "action", f"ISG vote needed (round {self._round}): {self._fields.title}")

    def _close_round(self) -> None:
        votes = {a: v.vote for a, v in self._votes.items()}
        outcome = rules.isg_outcome(
            votes,
            self._fields.course_type,
            self._fields.estimated_cost_usd,
            self._rules.fast_track_max_cost_usd,
        )
        self._record(
            "isg_round_closed",
            None,
            {"round": self._round, "outcome": outcome.value, "votes": {a.value: v.value for a, v in votes.items()}},
        )
        if outcome is rules.IsgOutcome.changes_requested:
            self._request_changes("the Steering Group requested changes")
        elif outcome is rules.IsgOutcome.rejected:
            self._set_stage(Stage.rejected, None, "two or more ISG seats did not concur")
        elif outcome is rules.IsgOutcome.fast_track:
            self._fast_tracked = True
            self._notify("board", "fast_track", f"Fast-tracked under delegated authority: {self._fields.title}")
            self._enter_staffing("fast-track: specialized, within cost, four explicit concurs")
        else:
            self._dissent = outcome is rules.IsgOutcome.board_with_dissent
            self._open_board()

    def _request_changes(self, why: str) -> None:
        if self._revisions >= self._rules.max_revisions:
            self._set_stage(
                Stage.rejected, None, f"{why}; the limit of {self._rules.max_revisions} revisions is reached"
            )
            return
        now = workflow.now()
        self._revision_since = now
        self._revision_due = rules.business_deadline(now, self._rules.revision_window_business_days)
        self._set_stage(Stage.changes_requested, None, why)
        self._notify("program_officer", "action", f"Revision requested: {self._fields.title}")

    # --- the Policy Board --------------------------------------------------------------------

    def _open_board(self) -> None:
        now = workflow.now()
        self._positions = {}
        self._decision = None
        self._overdue = False
        self._board_since = now
        self._board_due = rules.business_deadline(now, self._rules.board_business_days)
        self._board_reminder = rules.reminder_time(self._board_due, self._rules.board_reminder_business_days)
        self._board_reminded = False
        self._set_stage(Stage.board_review, None, "to the Policy Board" + (" with a dissent" if self._dissent else ""))
        for party in self._board_waiting():
            self._notify(party, "action", f"Policy Board review: {self._fields.title}")

    def _board_waiting(self) -> list[str]:
        return [f"board:{a}" for a in BOARD_MEMBERS if a not in self._positions] + ["board:chair"]

    # --- staffing ---------------------------------------------------------------------------------

    def _enter_staffing(self, why: str) -> None:
        self._set_stage(Stage.staffing, None, why)
        for r in self._staffing.open_all(self._fields.instructor_needs, workflow.now(), self._new_id):
            self._request_sent(r)
        self._refresh_staffing_stage(None)

    def _request_sent(self, r: InstructorRequestView) -> None:
        self._record(
            "request_sent",
            None,
            {"request_id": r.id, "slot": r.slot, "expertise": r.expertise.value, "due": self._iso(r.due)},
            r.agency,
        )
        self._notify(f"agency:{r.agency}", "action", f"Instructor request ({r.expertise.value}): {self._fields.title}")

    def _advance(self, r: InstructorRequestView, status: RequestStatus, reason: str) -> None:
        new = self._staffing.close_and_advance(
            r, status, reason, self._fields.instructor_needs, workflow.now(), self._new_id
        )
        if new is not None:
            self._request_sent(new)
        else:
            self._record("slot_unfilled", None, {"request_id": r.id, "slot": r.slot})
            self._notify("program_officer", "action", f"Slot {r.slot} unfilled: {self._fields.title}")

    def _refresh_staffing_stage(self, actor: Actor | None) -> None:
        if self._staffing.all_filled():
            self._set_stage(Stage.scheduled, actor, "every instructor slot is filled")
        elif self._staffing.any_unfilled():
            self._set_stage(Stage.staffing_at_risk, actor, "a slot has no agency left to ask")
        else:
            self._set_stage(Stage.staffing, actor, "every slot has an open request or an instructor")

    async def _release_bookings(self, request_id: str | None, reason: str) -> None:
        await workflow.execute_activity_method(
            RosterActivities.release_bookings,
            ReleaseBookingsInput(proposal_id=self._id, request_id=request_id, reason=reason),
            start_to_close_timeout=timedelta(seconds=30),
        )

    async def _cancel_everything(self, stage: Stage, actor: Actor | None, reason: str) -> None:
        """Compensation: cancel every live request and release every booking, then the stage."""
        booked = self._staffing.cancel_all(reason)
        if self._staffing.started:
            await self._release_bookings(None, reason)
        for r in booked:
            self._record(
                "booking_released",
                actor,
                {"request_id": r.id, "instructor": r.instructor and r.instructor.id, "reason": reason},
                r.agency,
            )
        self._set_stage(stage, actor, reason)

    # --- common bookkeeping --------------------------------------------------------------------

    def _new_id(self) -> str:
        return str(workflow.uuid4())

    @staticmethod
    def _iso(at: datetime | None) -> str | None:
        return at.isoformat() if at else None

    def _set_stage(self, stage: Stage, actor: Actor | None, why: str) -> None:
        if stage is self._stage:
            return
        self._record("stage_changed", actor, {"from": self._stage.value, "to": stage.value, "why": why})
        if stage in TERMINAL_STAGES or stage in (Stage.scheduled, Stage.staffing_at_risk):
            self._notify("program_officer", "outcome", f"{self._fields.title}: {stage.value}", why)
        self._stage = stage

    def _record(self, action: str, actor: Actor | None, detail: dict[str, Any], agency: Agency | None = None) -> None:
        self._events.append(
            AuditEventIn(
                key="",
                at=workflow.now(),
                actor=actor.sub if actor else SYSTEM,
                agency=(actor.agency.value if actor else (agency.value if agency else None)),
                action=action,
                detail=detail,
            )
        )

    def _notify(self, party: str, kind: str, subject: str, body: str = "") -> None:
        self._notes.append(
            NotificationIn(key="", at=workflow.now(), party=party, kind=kind, subject=subject, body=body)
        )

    async def _commit(self) -> None:
        """Write the new state, its audit events and notifications; keep search attributes current."""
        self._version += 1
        self._updated_at = workflow.now()
        for i, e in enumerate(self._events):
            e.key = f"{self._version}.{i}"
        for i, n in enumerate(self._notes):
            n.key = f"{self._version}.{i}"
        view = self._view()
        events, notes = self._events, self._notes
        self._events, self._notes = [], []
        await workflow.execute_local_activity_method(
            ProjectionActivities.project,
            ProjectInput(snapshot=view, events=events, notifications=notes),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
        )
        self._upsert_search_attributes(view)

    def _result(self, inp: ActionInput | ReadInput, request: InstructorRequestView | None = None) -> ActionResult:
        return ActionResult(
            proposal_id=self._id,
            version=self._version,
            proposal=self._view() if inp.return_state else None,
            request=request.model_copy() if request else None,
        )

    # --- updates -----------------------------------------------------------------------------------

    @workflow.update
    async def current(self, inp: ReadInput) -> ActionResult:
        """The state once the proposal is recorded (used with update-with-start)."""
        await workflow.wait_condition(lambda: self._ready)
        return self._result(inp)

    @workflow.update
    async def isg_vote(self, inp: IsgVoteInput) -> ActionResult:
        async with self._lock:
            self._check_isg_vote(inp)
            agency = inp.actor.agency
            previous = self._votes.get(agency)
            self._votes[agency] = IsgVoteRecord(
                agency=agency,
                vote=inp.vote,
                comment=inp.comment,
                by=inp.actor.sub,
                by_name=inp.actor.name,
                at=workflow.now(),
            )
            self._record(
                "isg_vote",
                inp.actor,
                {
                    "round": self._round,
                    "vote": inp.vote.value,
                    "comment": inp.comment,
                    "replaces": previous.vote.value if previous else None,
                },
            )
            if len(self._votes) == len(ISG_SEATS):
                self._close_round()
            await self._commit()
            return self._result(inp)

    @isg_vote.validator
    def _validate_isg_vote(self, inp: IsgVoteInput) -> None:
        self._check_isg_vote(inp)

    @workflow.update
    async def revise(self, inp: RevisionInput) -> ActionResult:
        async with self._lock:
            self._check_revision(inp)
            self._revisions += 1
            self._authors.add(inp.actor.sub)
            self._fields = inp.proposal
            if not self._cutoff_passed:
                self._cutoff = rules.default_cutoff(inp.proposal.start_date, self._rules.staffing_cutoff_days)
            self._record("revised", inp.actor, {"revision": self._revisions, "comment": inp.comment})
            self._open_round()
            await self._commit()
            return self._result(inp)

    @revise.validator
    def _validate_revise(self, inp: RevisionInput) -> None:
        self._check_revision(inp)

    @workflow.update
    async def board_position(self, inp: BoardPositionInput) -> ActionResult:
        async with self._lock:
            self._check_board_position(inp)
            agency = inp.actor.agency
            self._positions[agency] = BoardPositionRecord(
                agency=agency,
                position=inp.position,
                comment=inp.comment,
                by=inp.actor.sub,
                by_name=inp.actor.name,
                at=workflow.now(),
            )
            self._record("board_position", inp.actor, {"position": inp.position.value, "comment": inp.comment})
            await self._commit()
            return self._result(inp)

    @board_position.validator
    def _validate_board_position(self, inp: BoardPositionInput) -> None:
        self._check_board_position(inp)

    @workflow.update
    async def board_decision(self, inp: BoardDecisionInput) -> ActionResult:
        async with self._lock:
            self._check_board_decision(inp)
            self._decision = BoardDecisionRecord(
                decision=inp.decision, comment=inp.comment, by=inp.actor.sub, by_name=inp.actor.name, at=workflow.now()
            )
            self._record("board_decision", inp.actor, {"decision": inp.decision.value, "comment": inp.comment})
            if inp.decision is BoardDecision.approve:
                self._enter_staffing("approved by the Policy Board")
            elif inp.decision is BoardDecision.disapprove:
                self._set_stage(Stage.rejected, inp.actor, "disapproved by the Policy Board")
            else:
                self._request_changes("returned to the Steering Group by the Policy Board chair")
            await self._commit()
            return self._result(inp)

    @board_decision.validator
    def _validate_board_decision(self, inp: BoardDecisionInput) -> None:
        self._check_board_decision(inp)

    @workflow.update
    async def withdraw(self, inp: WithdrawInput) -> ActionResult:
        async with self._lock:
            self._check_withdraw(inp)
            self._record("withdrawn", inp.actor, {"reason": inp.reason})
            await self._cancel_everything(Stage.withdrawn, inp.actor, f"withdrawn: {inp.reason}")
            await self._commit()
            return self._result(inp)

    @withdraw.validator
    def _validate_withdraw(self, inp: WithdrawInput) -> None:
        self._check_withdraw(inp)

    @workflow.update
    async def staffing_cutoff(self, inp: CutoffInput) -> ActionResult:
        async with self._lock:
            self._check_cutoff(inp)
            previous = self._cutoff
            self._cutoff = inp.cutoff
            self._record("cutoff_changed", inp.actor, {"from": previous.isoformat(), "to": inp.cutoff.isoformat()})
            await self._commit()
            return self._result(inp)

    @staffing_cutoff.validator
    def _validate_staffing_cutoff(self, inp: CutoffInput) -> None:
        self._check_cutoff(inp)

    @workflow.update
    async def accept_request(self, inp: AcceptInput) -> ActionResult:
        async with self._lock:
            r = self._check_answer(inp.request_id, inp.actor)
            book = BookInput(
                request_id=r.id,
                proposal_id=self._id,
                instructor_id=inp.instructor_id,
                agency=r.agency,
                expertise=r.expertise,
                start_date=self._fields.start_date,
                end_date=self._fields.end_date,
                title=self._fields.title,
            )
            retry = RetryPolicy(maximum_interval=timedelta(seconds=10))
            try:
                if workflow.patched(PATCH_LOCAL_BOOKING):
                    # One short transaction: run it in this workflow task, like the projection
                    # write after it, instead of a round trip through an activity task queue.
                    booked = await workflow.execute_local_activity_method(
                        RosterActivities.book, book, start_to_close_timeout=timedelta(seconds=30), retry_policy=retry
                    )
                else:  # proposals that booked through an activity task before this change
                    booked = await workflow.execute_activity_method(
                        RosterActivities.book, book, start_to_close_timeout=timedelta(seconds=30), retry_policy=retry
                    )
            except ActivityError as err:
                cause = err.cause
                if isinstance(cause, ApplicationError):
                    raise ApplicationError(cause.message, *cause.details, type=cause.type, non_retryable=True) from None
                raise
            self._staffing.accept(r, booked.instructor)
            self._record(
                "request_accepted",
                inp.actor,
                {"request_id": r.id, "slot": r.slot, "instructor": booked.instructor.model_dump()},
            )
            self._refresh_staffing_stage(inp.actor)
            await self._commit()
            return self._result(inp, r)

    @accept_request.validator
    def _validate_accept(self, inp: AcceptInput) -> None:
        self._check_answer(inp.request_id, inp.actor)

    @workflow.update
    async def decline_request(self, inp: DeclineInput) -> ActionResult:
        async with self._lock:
            r = self._check_answer(inp.request_id, inp.actor)
            self._need_comment(inp.reason, "to decline (reason)")
            self._record("request_declined", inp.actor, {"request_id": r.id, "slot": r.slot, "reason": inp.reason})
            self._advance(r, RequestStatus.declined, inp.reason)
            self._refresh_staffing_stage(inp.actor)
            await self._commit()
            return self._result(inp, r)

    @decline_request.validator
    def _validate_decline(self, inp: DeclineInput) -> None:
        self._check_answer(inp.request_id, inp.actor)
        self._need_comment(inp.reason, "to decline (reason)")

    @workflow.update
    async def release_request(self, inp: ReleaseInput) -> ActionResult:
        async with self._lock:
            r = self._check_release(inp)
            if self._stage is Stage.scheduled and workflow.now() >= rules.end_of_day(self._cutoff):
                # Every slot was filled when the cutoff passed (it is not watched while
                # scheduled): the reopened slot has until the start, not an instant cancellation.
                self._cutoff_passed = True
            await self._release_bookings(r.id, inp.reason)
            instructor = r.instructor.id if r.instructor else None
            reopened = self._staffing.release(
                r, inp.reason, self._fields.instructor_needs, workflow.now(), self._new_id
            )
            self._record(
                "booking_released", inp.actor, {"request_id": r.id, "instructor": instructor, "reason": inp.reason}
            )
            self._request_sent(reopened)
            self._refresh_staffing_stage(inp.actor)
            await self._commit()
            return self._result(inp, r)

    @release_request.validator
    def _validate_release(self, inp: ReleaseInput) -> None:
        self._check_release(inp)

    @workflow.update
    async def retarget_request(self, inp: RetargetInput) -> ActionResult:
        async with self._lock:
            r = self._check_retarget(inp)
            new = self._staffing.retarget(r, inp.agency, self._fields.instructor_needs, workflow.now(), self._new_id)
            self._record(
                "request_retargeted",
                inp.actor,
                {"request_id": r.id, "slot": r.slot, "agency": inp.agency.value, "new_request_id": new.id},
            )
            self._request_sent(new)
            self._refresh_staffing_stage(inp.actor)
            await self._commit()
            return self._result(inp, new)

    @retarget_request.validator
    def _validate_retarget(self, inp: RetargetInput) -> None:
        self._check_retarget(inp)

    @workflow.query
    def state(self) -> ProposalView:
        """The live state (the read model holds the same after each commit)."""
        return self._view()
