"""Who may do what, and when: the checks each Update's validator runs, and its handler runs
again under the lock (the state may have moved between validation and execution).

A refusal is an ``ApplicationError`` whose ``type`` is an :class:`ErrorType`; the API maps
each type to one HTTP status. Nothing here changes state.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from ilea.domain import (
        BOARD_MEMBERS,
        INSTRUCTOR_AGENCIES,
        ISG_SEATS,
        TERMINAL_STAGES,
        Agency,
        BoardDecision,
        BoardPosition,
        IsgVote,
        RequestStatus,
        Role,
        Stage,
    )
    from ilea.messages import (
        Actor,
        BoardDecisionInput,
        BoardPositionInput,
        BoardPositionRecord,
        CutoffInput,
        ErrorType,
        InstructorRequestView,
        IsgVoteInput,
        ProposalFields,
        ReleaseInput,
        RetargetInput,
        RevisionInput,
        RuleConfig,
        WithdrawInput,
    )
    from workflows import rules
    from workflows.staffing import Staffing

STAFFING_STAGES = frozenset({Stage.staffing, Stage.staffing_at_risk})


def refuse(kind: ErrorType, message: str) -> ApplicationError:
    """A deliberate refusal; the API maps ``kind`` to an HTTP status."""
    return ApplicationError(message, type=kind.value, non_retryable=True)


class ProposalChecks:
    """The checks; :class:`ProposalWorkflow` holds the state they read."""

    _stage: Stage
    _round: int
    _authors: set[str]
    _rules: RuleConfig
    _fields: ProposalFields
    _positions: dict[Agency, BoardPositionRecord]
    _cutoff_passed: bool
    _staffing: Staffing

    def _need_role(self, actor: Actor, role: Role) -> None:
        if role not in actor.roles:
            raise refuse(ErrorType.forbidden, f"this action needs the {role.value} role")

    def _four_eyes(self, actor: Actor) -> None:
        if actor.sub in self._authors:
            raise refuse(
                ErrorType.four_eyes, "four-eyes rule: whoever submitted or revised a proposal may not review it"
            )

    def _need_stage(self, what: str, *stages: Stage) -> None:
        if self._stage not in stages:
            kind = ErrorType.closed if self._stage in TERMINAL_STAGES else ErrorType.wrong_stage
            wanted = " or ".join(s.value for s in stages)
            raise refuse(kind, f"{what} is possible only in {wanted}; the proposal is {self._stage.value}")

    @staticmethod
    def _need_comment(comment: str | None, why: str) -> None:
        if not (comment and comment.strip()):
            raise refuse(ErrorType.invalid, f"a comment is required {why}")

    def _check_isg_vote(self, inp: IsgVoteInput) -> None:
        self._need_role(inp.actor, Role.isg_member)
        if inp.actor.agency not in ISG_SEATS:
            raise refuse(ErrorType.wrong_agency, f"{inp.actor.agency} has no ISG seat")
        if self._stage is not Stage.isg_review and self._round >= 1 and self._stage not in TERMINAL_STAGES:
            raise refuse(ErrorType.closed, f"ISG round {self._round} is closed; the proposal is {self._stage.value}")
        self._need_stage("an ISG vote", Stage.isg_review)
        self._four_eyes(inp.actor)
        if inp.vote is IsgVote.deemed_concur:
            raise refuse(ErrorType.invalid, "deemed_concur is recorded only by the system")
        if inp.vote is not IsgVote.concur:
            self._need_comment(inp.comment, f"with {inp.vote.value}")

    def _check_revision(self, inp: RevisionInput) -> None:
        self._need_role(inp.actor, Role.program_officer)
        self._need_stage("a revision", Stage.changes_requested)
        self._need_comment(inp.comment, "with a revision")
        problems = rules.validate_proposal(inp.proposal, rules.eastern_date(workflow.now()), self._rules)
        if problems:
            raise ApplicationError(
                "the revised proposal is invalid",
                [{"loc": list(loc), "msg": msg} for loc, msg in problems],
                type=ErrorType.invalid.value,
                non_retryable=True,
            )

    def _check_board_position(self, inp: BoardPositionInput) -> None:
        self._need_role(inp.actor, Role.board_member)
        if inp.actor.agency not in BOARD_MEMBERS:
            raise refuse(ErrorType.wrong_agency, f"{inp.actor.agency} has no member seat on the Policy Board")
        self._need_stage("a Board position", Stage.board_review)
        self._four_eyes(inp.actor)
        if inp.position is BoardPosition.nonconcur:
            self._need_comment(inp.comment, "with nonconcur")

    def _check_board_decision(self, inp: BoardDecisionInput) -> None:
        self._need_role(inp.actor, Role.board_chair)
        if inp.actor.agency is not Agency.STATE:
            raise refuse(ErrorType.wrong_agency, "the Policy Board is chaired by STATE")
        self._need_stage("the Board decision", Stage.board_review)
        self._four_eyes(inp.actor)
        if inp.decision is not BoardDecision.approve:
            self._need_comment(inp.comment, f"with {inp.decision.value}")
        else:
            blocked = rules.chair_block_reason({a: p.position for a, p in self._positions.items()})
            if blocked:
                raise refuse(ErrorType.chair_blocked, blocked)

    def _check_withdraw(self, inp: WithdrawInput) -> None:
        self._need_role(inp.actor, Role.program_officer)
        if self._stage in TERMINAL_STAGES:
            raise refuse(ErrorType.closed, f"the proposal is already {self._stage.value}")
        if workflow.now() >= rules.start_of_day(self._fields.start_date):
            raise refuse(ErrorType.wrong_stage, "the course has started; it can no longer be withdrawn")
        self._need_comment(inp.reason, "to withdraw (reason)")

    def _check_cutoff(self, inp: CutoffInput) -> None:
        self._need_role(inp.actor, Role.program_officer)
        self._need_stage(
            "moving the staffing cutoff",
            Stage.isg_review,
            Stage.changes_requested,
            Stage.board_review,
            Stage.staffing,
            Stage.staffing_at_risk,
        )
        latest = self._fields.start_date - timedelta(days=self._rules.staffing_cutoff_min_days)
        today = rules.eastern_date(workflow.now())
        if inp.cutoff > latest:
            raise refuse(
                ErrorType.invalid,
                f"the cutoff may be no later than {latest} "
                f"({self._rules.staffing_cutoff_min_days} days before the start)",
            )
        if inp.cutoff < today:
            raise refuse(ErrorType.invalid, f"the cutoff {inp.cutoff} is in the past")
        if self._cutoff_passed:
            raise refuse(ErrorType.closed, "the staffing cutoff has already passed")

    def _request_for(self, request_id: str, actor: Actor, *statuses: RequestStatus) -> InstructorRequestView:
        r = self._staffing.get(request_id)
        if r is None:
            raise refuse(ErrorType.not_found, f"no instructor request {request_id} on this proposal")
        if actor.agency is not r.agency:
            raise refuse(ErrorType.wrong_agency, f"this request is addressed to {r.agency}, not {actor.agency}")
        live = {x.id for x in self._staffing.live()}
        if r.status not in statuses or r.id not in live:
            raise refuse(
                ErrorType.closed,
                f"the request is {r.status.value}; this needs it {' or '.join(s.value for s in statuses)}",
            )
        return r

    def _check_answer(self, request_id: str, actor: Actor) -> InstructorRequestView:
        self._need_role(actor, Role.agency_coordinator)
        self._need_stage("answering an instructor request", *STAFFING_STAGES)
        return self._request_for(request_id, actor, RequestStatus.open)

    def _check_release(self, inp: ReleaseInput) -> InstructorRequestView:
        self._need_role(inp.actor, Role.agency_coordinator)
        self._need_stage("releasing an instructor", Stage.staffing, Stage.staffing_at_risk, Stage.scheduled)
        r = self._request_for(inp.request_id, inp.actor, RequestStatus.accepted)
        if workflow.now() >= rules.start_of_day(self._fields.start_date):
            raise refuse(ErrorType.closed, "the course has started; instructors can no longer be released")
        self._need_comment(inp.reason, "to release an instructor (reason)")
        return r

    def _check_retarget(self, inp: RetargetInput) -> InstructorRequestView:
        self._need_role(inp.actor, Role.program_officer)
        self._need_stage("re-targeting a slot", *STAFFING_STAGES)
        if inp.agency not in INSTRUCTOR_AGENCIES:
            raise refuse(ErrorType.invalid, "instructors come from TREASURY, DHS or DOJ")
        r = self._staffing.get(inp.request_id)
        if r is None:
            raise refuse(ErrorType.not_found, f"no instructor request {inp.request_id} on this proposal")
        if r.status is not RequestStatus.unfilled:
            raise refuse(
                ErrorType.closed, f"only an unfilled slot can be re-targeted; this request is {r.status.value}"
            )
        return r
