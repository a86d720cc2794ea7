"""Request bodies and response shapes of the HTTP contract (api.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictBool, StringConstraints

from ilea.domain import Agency, BoardDecision, BoardPosition, IsgVote, Stage, Topic
from ilea.messages import InstructorRequestView, ProposalFields, ProposalView, Strict

Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class IsgVoteBody(Strict):
    vote: IsgVote
    comment: Comment | None = None


class RevisionBody(Strict):
    proposal: ProposalFields
    comment: Reason


class BoardPositionBody(Strict):
    position: BoardPosition
    comment: Comment | None = None


class BoardDecisionBody(Strict):
    decision: BoardDecision
    comment: Comment | None = None


class WithdrawBody(Strict):
    reason: Reason


class CutoffBody(Strict):
    cutoff: date


class AcceptBody(Strict):
    instructor_id: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class ReasonBody(Strict):
    reason: Reason


class RetargetBody(Strict):
    agency: Agency


class InstructorBody(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
    component: str
    expertise: list[Topic] = Field(min_length=1, max_length=11)
    languages: list[Annotated[str, StringConstraints(min_length=2, max_length=40)]] = Field(
        default_factory=list, max_length=20
    )


class InstructorPatch(Strict):
    active: StrictBool  # `{"active": 0}` or `"off"` is refused, not read as false


class Proposal(ProposalView):
    history_url: str


class PendingOut(BaseModel):
    party: str
    since: datetime
    due: datetime | None


class ProposalSummary(BaseModel):
    id: str
    title: str
    academy: str
    topic: str
    course_type: str
    stage: Stage
    start_date: date
    pending_on: list[PendingOut]
    updated_at: datetime
    overdue: bool = False


class ProposalPage(BaseModel):
    items: list[ProposalSummary]
    next_cursor: str | None


class AuditEvent(BaseModel):
    seq: int
    at: datetime
    actor: str
    agency: str | None
    action: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class AuditEvents(BaseModel):
    items: list[AuditEvent]


class ChainCheck(BaseModel):
    valid: bool
    events: int
    first_broken_seq: int | None


class Task(BaseModel):
    kind: str
    proposal_id: str
    title: str
    since: datetime
    due: datetime | None
    request_id: str | None = None
    party: str


class Tasks(BaseModel):
    items: list[Task]
    #: the next page's ``cursor`` (None on the last page); api.md's `{items}` plus this
    next_cursor: str | None = None


class InstructorRequest(InstructorRequestView):
    pass


class InstructorRequests(BaseModel):
    items: list[InstructorRequest]


class Instructor(BaseModel):
    id: str
    name: str
    agency: Agency
    component: str
    expertise: list[Topic]
    languages: list[str]
    active: bool


class Instructors(BaseModel):
    items: list[Instructor]


class CycleTime(BaseModel):
    stage: Stage
    academy: str | None
    topic: str | None
    count: int
    median_days: float
    p90_days: float


class CycleTimes(BaseModel):
    items: list[CycleTime]
    counts_by_stage: dict[str, int]


class RosterEntry(Strict):
    """One instructor of a roster import; ilea/roster_file.py checks the values."""

    key: str = Field(max_length=100, description="the agency's own identifier for the person, or a roster id")
    name: str = Field(max_length=200)
    agency: Agency | None = Field(None, description="the caller's agency when left out")
    component: str = Field(max_length=40)
    expertise: list[str] = Field(max_length=11)
    languages: list[str] = Field(default_factory=list, max_length=20)
    active: StrictBool = True


class RosterImportBody(Strict):
    instructors: list[RosterEntry] = Field(min_length=1, max_length=5000)


class RosterImport(BaseModel):
    """What an import did; ``items`` are the instructors of the import, in its order."""

    created: int
    updated: int
    unchanged: int
    items: list[Instructor]
