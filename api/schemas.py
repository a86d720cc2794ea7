"""Request bodies and response shapes of the HTTP contract (api.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StringConstraints, field_validator

from api.text import LINE, CalendarDate, Comment, Cost, Justification, Reason, Title
from ilea.activity_io import AuditChain
from ilea.domain import Agency, BoardDecision, BoardPosition, IsgVote, Stage, Topic, subject_problem
from ilea.messages import (
    InstructorRequestView,
    ProposalFields,
    ProposalView,
    Strict,
)

#: The votes a person casts (``deemed_concur`` is recorded by the system only).
CastVote = Literal[IsgVote.concur, IsgVote.nonconcur, IsgVote.request_changes, IsgVote.abstain]


class ProposalBody(ProposalFields):
    """A proposal as a person sends it: :class:`ProposalFields` with the input rules of
    product.md edition 2 (``api/text.py``), which the workflow's own model does not repeat."""

    title: Title
    start_date: CalendarDate
    end_date: CalendarDate
    estimated_cost_usd: Cost
    justification: Justification = ""

    def fields(self) -> ProposalFields:
        """The workflow's model of the same values."""
        return ProposalFields.model_validate(self.model_dump())


class IsgVoteBody(Strict):
    vote: CastVote
    comment: Comment | None = None


class RevisionBody(Strict):
    proposal: ProposalBody
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
    cutoff: CalendarDate


class HandOverBody(Strict):
    """``POST /v1/proposals/{id}/owner``: the program officer who owns the proposal from now on."""

    sub: Annotated[str, StringConstraints(min_length=1, max_length=128)]

    @field_validator("sub")
    @classmethod
    def _a_person(cls, sub: str) -> str:
        problem = subject_problem(sub)
        if problem:
            raise ValueError(problem)
        return sub


class AcceptBody(Strict):
    instructor_id: Annotated[str, StringConstraints(min_length=1, max_length=100), LINE]


class ReasonBody(Strict):
    reason: Reason


class RetargetBody(Strict):
    agency: Agency


class InstructorBody(Strict):
    name: Annotated[str, StringConstraints(min_length=2, max_length=200), LINE]
    component: Annotated[str, StringConstraints(max_length=40), LINE]
    expertise: list[Topic] = Field(min_length=1, max_length=11)
    languages: list[Annotated[str, StringConstraints(min_length=2, max_length=40), LINE]] = Field(
        default_factory=list, max_length=20
    )


class InstructorPatch(Strict):
    active: StrictBool  # `{"active": 0}` or `"off"` is refused, not read as false


class Proposal(ProposalView):
    """The proposal as the workflow keeps it (its ``owner`` too: the submitter, until handed
    over), with what the database adds."""

    #: ILEA-<fiscal year>-<nnnn>, given when the proposal was first recorded
    reference: str | None = None
    history_url: str


class PendingOut(BaseModel):
    party: str
    since: datetime
    due: datetime | None


class ProposalSummary(BaseModel):
    id: str
    reference: str | None = None
    owner: str | None = None
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
    #: each difference found, in words (empty when valid)
    problems: list[str] = []


class AuditTrailCheck(ChainCheck):
    """A proposal's audit trail verified, against the database's chain and the workflow's record."""

    #: the workflow's own record of its audit events, which the database's were compared with;
    #: null when the workflow could not be asked (then only the database's chain was checked)
    workflow: AuditChain | None = None


class Notification(BaseModel):
    id: int
    party: str
    kind: str
    proposal_id: str
    subject: str
    body: str
    created_at: datetime
    #: whether the caller has read it (read state is per person)
    read: bool
    email: Literal["not_configured", "queued", "sent", "failed"]
    #: a request to act clears itself once the action is done (or moot): when it did, else null
    cleared_at: datetime | None = None


class Notifications(BaseModel):
    items: list[Notification]


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
    #: the next page's ``cursor`` (None on the last page); api.md's `{items}` plus this
    next_cursor: str | None = None


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
