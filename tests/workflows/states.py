"""Proposal states built without Temporal, for the unit tests of checks, views, transitions and
deadlines: the same functions the workflow calls, given a fixed clock and predictable ids.

The clock: submitted Tuesday 1 June 2027, 10:00 Eastern (EDT); the course starts 120 days later,
Wednesday 29 September 2027. No federal holiday falls in the ISG round; Juneteenth (Saturday
19 June, observed Friday 18 June) falls in the Policy Board's fifteen business days.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ilea.domain import ISG_SEATS, Agency, BoardDecision, IsgVote, Topic
from ilea.messages import BoardDecisionInput, InstructorNeed, IsgVoteInput, ProposalInput, RuleConfig
from tests.support import CHAIR, PO, fields, isg
from workflows import transitions
from workflows.state import ProposalState

SUBMITTED = datetime(2027, 6, 1, 14, 0, tzinfo=UTC)
START = date(2027, 9, 29)
#: end of the 10th business day after 1 June (Tuesday 15 June), in UTC
ISG_DUE = datetime(2027, 6, 16, 4, 0, tzinfo=UTC)
#: end of the 2nd business day before it (Friday 11 June)
ISG_REMINDER = datetime(2027, 6, 12, 4, 0, tzinfo=UTC)
EXPERTISE = Topic.corruption_financial_crimes


class Ids:
    """``new_id`` for the transitions: r1, r2, ... in the order requests are sent."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"r{self.n}"


def need(agency: Agency, count: int = 1, *alternates: Agency) -> InstructorNeed:
    return InstructorNeed(agency=agency, expertise=EXPERTISE, count=count, alternate_agencies=list(alternates))


def submitted(*, cost: str = "250000", needs: list[InstructorNeed] | None = None) -> ProposalState:
    """A proposal just submitted by ``PO`` at :data:`SUBMITTED`: its first ISG round is open."""
    f = fields(today=SUBMITTED.date(), cost=cost, needs=needs)
    assert f.start_date == START
    inp = ProposalInput(proposal_id="p-1", fields=f, submitted_by=PO, submitted_at=SUBMITTED, rules=RuleConfig())
    state = ProposalState.submitted(inp)
    transitions.submit(state, now=SUBMITTED)
    return state


def vote(state: ProposalState, agency: Agency, v: IsgVote = IsgVote.concur, *, at: datetime = SUBMITTED) -> None:
    comment = None if v is IsgVote.concur else "because"
    transitions.cast_vote(state, IsgVoteInput(actor=isg(agency), vote=v, comment=comment), now=at, new_id=Ids())


def changes_requested() -> ProposalState:
    """DHS requested changes, the other seats concurred: back to the program officer."""
    state = submitted()
    vote(state, Agency.DHS, IsgVote.request_changes)
    for seat in (Agency.STATE, Agency.TREASURY, Agency.DOJ):
        vote(state, seat)
    return state


def at_board(*, at: datetime = SUBMITTED) -> ProposalState:
    """Four concurs on a course over the fast-track cost: at the Policy Board."""
    state = submitted()
    for seat in ISG_SEATS:
        vote(state, seat, at=at)
    return state


def staffing(
    needs: list[InstructorNeed] | None = None, *, at: datetime = SUBMITTED, ids: Ids | None = None
) -> ProposalState:
    """Approved by the chair at ``at``: one request per slot is out (ids r1, r2, ...)."""
    state = at_board(at=at)
    if needs is not None:
        state.fields = state.fields.model_copy(update={"instructor_needs": needs})
    decision = BoardDecisionInput(actor=CHAIR, decision=BoardDecision.approve, comment="approved")
    transitions.decide(state, decision, now=at, new_id=ids or Ids())
    return state


def later(days: int) -> datetime:
    return SUBMITTED + timedelta(days=days)


def dump(state: ProposalState) -> dict[str, Any]:
    """Every field's value, the staffing's requests included (to compare two states by value)."""

    def plain(v: Any) -> Any:
        if hasattr(v, "model_dump"):
            return v.model_dump()
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, set):
            return sorted(v)
        if isinstance(v, list):
            return [plain(x) for x in v]
        if hasattr(v, "requests"):
            return [r.model_dump() for r in v.requests]
        return v

    return {f.name: plain(getattr(state, f.name)) for f in dataclasses.fields(state)}
