"""Who may do what, and when: the check each Update's validator runs, and its handler runs
again under the lock (the state may have moved between validation and execution).

Each check is a plain function of ``(state, input, now)``: it reads the state and raises, or
returns (the instructor request it found, for the request actions). A refusal is an
``ApplicationError`` whose ``type`` is an :class:`ErrorType`; the API maps each type to one
HTTP status. Nothing here changes state or calls Temporal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import MappingProxyType

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
        subject_problem,
    )
    from ilea.messages import (
        AcceptInput,
        Actor,
        BoardDecisionInput,
        BoardPositionInput,
        CutoffInput,
        DeclineInput,
        ErrorType,
        HandOverInput,
        InstructorRequestView,
        IsgVoteInput,
        ReleaseInput,
        RetargetInput,
        RevisionInput,
        WithdrawInput,
    )
    from workflows import rules

from workflows.state import STAFFING_STAGES, ProposalState

#: where a broken rule is, as in the API's 422 ``errors`` (``["body", "comment"]``)
Loc = Sequence[str | int]


def refuse(kind: ErrorType, message: str, loc: Loc = ("body",)) -> ApplicationError:
    """A deliberate refusal; the API maps ``kind`` to an HTTP status.

    An ``Invalid`` refusal also names the field it concerns (``loc``), like every 422.
    """
    if kind is ErrorType.invalid:
        return invalid([(loc, message)])
    return ApplicationError(message, type=kind.value, non_retryable=True)


def invalid(problems: Sequence[tuple[Loc, str]]) -> ApplicationError:
    """Every broken rule in one refusal (422): its details are ``{"loc", "msg"}``, one per rule."""
    summary = (
        problems[0][1]
        if len(problems) == 1
        else f"{len(problems)} rules are broken: " + "; ".join(msg for _, msg in problems)
    )
    details = [{"loc": list(loc), "msg": msg} for loc, msg in problems]
    return ApplicationError(summary, *details, type=ErrorType.invalid.value, non_retryable=True)


def refuse_all(problems: Sequence[tuple[Loc, str]]) -> None:
    if problems:
        raise invalid(problems)


# --- the pieces every check is made of ------------------------------------------------------


def need_role(actor: Actor, role: Role) -> None:
    if role not in actor.roles:
        raise refuse(ErrorType.forbidden, f"this action needs the {role.value} role")


def four_eyes(state: ProposalState, actor: Actor) -> None:
    if actor.sub in state.authors:
        raise refuse(ErrorType.four_eyes, "four-eyes rule: whoever submitted or revised a proposal may not review it")


def need_stage(state: ProposalState, what: str, *stages: Stage) -> None:
    if state.stage not in stages:
        kind = ErrorType.closed if state.stage in TERMINAL_STAGES else ErrorType.wrong_stage
        wanted = " or ".join(s.value for s in stages)
        raise refuse(kind, f"{what} is possible only in {wanted}; the proposal is {state.stage.value}")


def blank(text: str | None) -> bool:
    return not (text and text.strip())


def need_comment(comment: str | None, why: str, field: str = "comment") -> None:
    if blank(comment):
        noun = "a reason" if field == "reason" else "a comment"
        raise refuse(ErrorType.invalid, f"{noun} is required {why}", ("body", field))


# --- the ISG round and the Policy Board --------------------------------------------------------


def check_isg_vote(state: ProposalState, inp: IsgVoteInput, now: datetime) -> None:
    need_role(inp.actor, Role.isg_member)
    if inp.actor.agency not in ISG_SEATS:
        raise refuse(ErrorType.wrong_agency, f"{inp.actor.agency} has no ISG seat")
    if state.stage is not Stage.isg_review and state.round >= 1 and state.stage not in TERMINAL_STAGES:
        raise refuse(ErrorType.closed, f"ISG round {state.round} is closed; the proposal is {state.stage.value}")
    need_stage(state, "an ISG vote", Stage.isg_review)
    four_eyes(state, inp.actor)
    if inp.vote is IsgVote.deemed_concur:
        raise refuse(ErrorType.invalid, "deemed_concur is recorded only by the system", ("body", "vote"))
    if inp.vote is not IsgVote.concur:
        need_comment(inp.comment, f"with a {inp.vote.value} vote")


def check_revision(state: ProposalState, inp: RevisionInput, now: datetime) -> None:
    need_role(inp.actor, Role.program_officer)
    need_stage(state, "a revision", Stage.changes_requested)
    problems: list[tuple[Loc, str]] = []
    if blank(inp.comment):
        problems.append((("body", "comment"), "a comment is required with a revision"))
    for loc, msg in rules.validate_proposal(inp.proposal, rules.eastern_date(now), state.rules):
        problems.append((("body", "proposal", *loc[1:]), msg))  # the fields are the body's `proposal`
    refuse_all(problems)


def check_board_position(state: ProposalState, inp: BoardPositionInput, now: datetime) -> None:
    need_role(inp.actor, Role.board_member)
    if inp.actor.agency not in BOARD_MEMBERS:
        raise refuse(ErrorType.wrong_agency, f"{inp.actor.agency} has no member seat on the Policy Board")
    need_stage(state, "a Board position", Stage.board_review)
    four_eyes(state, inp.actor)
    if inp.position is BoardPosition.nonconcur:
        need_comment(inp.comment, "with a nonconcur position")


#: what the chair does, in words (for the reasons a refusal gives)
DECIDING = MappingProxyType(
    {
        BoardDecision.approve: "approve",
        BoardDecision.disapprove: "disapprove",
        BoardDecision.return_to_isg: "return the proposal to the Steering Group",
    }
)


def check_board_decision(state: ProposalState, inp: BoardDecisionInput, now: datetime) -> None:
    need_role(inp.actor, Role.board_chair)
    if inp.actor.agency is not Agency.STATE:
        raise refuse(ErrorType.wrong_agency, "the Policy Board is chaired by STATE")
    need_stage(state, "the Board decision", Stage.board_review)
    four_eyes(state, inp.actor)
    if inp.decision is not BoardDecision.approve:
        need_comment(inp.comment, f"to {DECIDING[inp.decision]}")
    else:
        blocked = rules.chair_block_reason({a: p.position for a, p in state.positions.items()})
        if blocked:
            raise refuse(ErrorType.chair_blocked, blocked)


# --- the program officer's actions -------------------------------------------------------------


def check_withdraw(state: ProposalState, inp: WithdrawInput, now: datetime) -> None:
    need_role(inp.actor, Role.program_officer)
    if state.stage in TERMINAL_STAGES:
        raise refuse(ErrorType.closed, f"the proposal is already {state.stage.value}")
    if now >= rules.start_of_day(state.fields.start_date):
        raise refuse(ErrorType.wrong_stage, "the course has started; it can no longer be withdrawn")
    need_comment(inp.reason, "to withdraw", "reason")


#: the stages in which the staffing cutoff can be moved
CUTOFF_STAGES = (Stage.isg_review, Stage.changes_requested, Stage.board_review, Stage.staffing, Stage.staffing_at_risk)


def check_cutoff(state: ProposalState, inp: CutoffInput, now: datetime) -> None:
    _check_cutoff(state, inp, now, only_later=True)


def check_cutoff_as_before_edition_2(state: ProposalState, inp: CutoffInput, now: datetime) -> None:
    """The cutoff check of proposals whose histories moved a cutoff before it only moved later."""
    _check_cutoff(state, inp, now, only_later=False)


def _check_cutoff(state: ProposalState, inp: CutoffInput, now: datetime, *, only_later: bool) -> None:
    """Who, when, and the new cutoff: later than the current one (``only_later``), not past, and
    at least the minimum days before the start."""
    need_role(inp.actor, Role.program_officer)
    need_stage(state, "moving the staffing cutoff", *CUTOFF_STAGES)
    if state.cutoff_passed:
        raise refuse(ErrorType.closed, "the staffing cutoff has already passed")
    loc = ("body", "cutoff")
    days = state.rules.staffing_cutoff_min_days
    latest = rules.days_before(state.fields.start_date, days)
    problems: list[tuple[Loc, str]] = []
    if only_later and inp.cutoff <= state.cutoff:
        problems.append((loc, f"the cutoff only moves later: it is {state.cutoff}, and {inp.cutoff} is not later"))
    if inp.cutoff > latest:
        problems.append((loc, f"the cutoff may be no later than {latest} ({days} days before the start)"))
    if inp.cutoff < rules.eastern_date(now):
        problems.append((loc, f"the cutoff {inp.cutoff} is in the past"))
    refuse_all(problems)


def check_hand_over(state: ProposalState, inp: HandOverInput, now: datetime) -> None:
    """Any program officer may hand a proposal over (INL works as one office), to another person.

    Whether the new owner is a program officer is the API's to check (it knows the grants).
    """
    need_role(inp.actor, Role.program_officer)
    if state.stage in TERMINAL_STAGES:
        raise refuse(ErrorType.closed, f"the proposal is already {state.stage.value}")
    problem = subject_problem(inp.sub)
    if problem is None and inp.sub == state.owner:
        problem = f"{inp.sub} already owns this proposal"
    if problem is not None:
        raise refuse(ErrorType.invalid, problem, ("body", "sub"))


def check_retarget(state: ProposalState, inp: RetargetInput, now: datetime) -> InstructorRequestView:
    need_role(inp.actor, Role.program_officer)
    need_stage(state, "re-targeting a slot", *STAFFING_STAGES)
    if inp.agency not in INSTRUCTOR_AGENCIES:
        message = f"instructors come from TREASURY, DHS or DOJ, not {inp.agency}"
        raise refuse(ErrorType.invalid, message, ("body", "agency"))
    r = state.staffing.get(inp.request_id)
    if r is None:
        raise refuse(ErrorType.not_found, f"no instructor request {inp.request_id} on this proposal")
    if r.status is not RequestStatus.unfilled:
        raise refuse(ErrorType.closed, f"only an unfilled slot can be re-targeted; this request is {r.status.value}")
    return r


# --- the agencies' answers -------------------------------------------------------------------


def request_for(state: ProposalState, request_id: str, actor: Actor, *statuses: RequestStatus) -> InstructorRequestView:
    """The live request ``request_id``, addressed to the actor's agency, in one of ``statuses``."""
    r = state.staffing.get(request_id)
    if r is None:
        raise refuse(ErrorType.not_found, f"no instructor request {request_id} on this proposal")
    if actor.agency is not r.agency:
        raise refuse(ErrorType.wrong_agency, f"this request is addressed to {r.agency}, not {actor.agency}")
    live = {x.id for x in state.staffing.live()}
    if r.status not in statuses or r.id not in live:
        raise refuse(
            ErrorType.closed,
            f"the request is {r.status.value}; this needs it {' or '.join(s.value for s in statuses)}",
        )
    return r


def _check_answer(state: ProposalState, request_id: str, actor: Actor) -> InstructorRequestView:
    need_role(actor, Role.agency_coordinator)
    need_stage(state, "answering an instructor request", *STAFFING_STAGES)
    return request_for(state, request_id, actor, RequestStatus.open)


def check_accept(state: ProposalState, inp: AcceptInput, now: datetime) -> InstructorRequestView:
    return _check_answer(state, inp.request_id, inp.actor)


def check_decline(state: ProposalState, inp: DeclineInput, now: datetime) -> InstructorRequestView:
    r = _check_answer(state, inp.request_id, inp.actor)
    need_comment(inp.reason, "to decline", "reason")
    return r


def check_release(state: ProposalState, inp: ReleaseInput, now: datetime) -> InstructorRequestView:
    need_role(inp.actor, Role.agency_coordinator)
    need_stage(state, "releasing an instructor", Stage.staffing, Stage.staffing_at_risk, Stage.scheduled)
    r = request_for(state, inp.request_id, inp.actor, RequestStatus.accepted)
    if now >= rules.start_of_day(state.fields.start_date):
        raise refuse(ErrorType.closed, "the course has started; instructors can no longer be released")
    need_comment(inp.reason, "to release an instructor", "reason")
    return r
