"""The messages that cross the Temporal boundary and the HTTP boundary.

Workflow input and outcome, every Update's input and result, the views of a proposal and
of an instructor request that the workflow returns and the read model stores, and the
activities' inputs and results (:mod:`ilea.activity_io`). Both the API and the worker import this module; workflows
import it through ``imports_passed_through``. Every workflow, Update and activity takes one
of these as its single argument so fields can be added without breaking running workflows.

The product's words these messages are made of (agencies, stages, topics, parties) live in
:mod:`ilea.domain`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from ilea.domain import (
    Academy,
    Agency,
    BoardDecision,
    BoardPosition,
    CourseType,
    IsgVote,
    RequestStatus,
    Role,
    Stage,
    Topic,
)


class ErrorType(StrEnum):
    """``ApplicationError.type`` values; the API maps each to one HTTP status."""

    forbidden = "Forbidden"
    four_eyes = "FourEyes"
    wrong_agency = "WrongAgency"
    wrong_stage = "WrongStage"
    closed = "Closed"
    chair_blocked = "ChairBlocked"
    booking_conflict = "BookingConflict"
    invalid = "Invalid"
    not_found = "NotFound"


def _has_nul(value: object) -> bool:
    """A text holding NUL. ``type()`` and the MRO rather than ``isinstance``: this runs for every
    field of every model, workflow code's too, where the sandbox routes ``isinstance`` through
    a wrapper (issue 17)."""
    kind = type(value)
    return (kind is str or str in kind.__mro__) and "\x00" in value  # type: ignore[operator]


class Strict(BaseModel):
    """Request bodies: unknown fields are refused, so a client cannot set `stage`.

    So is NUL in any text: PostgreSQL cannot store it, and a proposal whose state holds one
    could never be projected (its workflow would retry the projection forever).
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if any(_has_nul(t) for t in value) if type(value) is list else _has_nul(value):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return value


InstructorAgency = Annotated[Agency, Field(description="TREASURY, DHS or DOJ")]


class InstructorNeed(Strict):
    agency: InstructorAgency
    expertise: Topic
    count: int = Field(ge=1, le=5)
    alternate_agencies: list[InstructorAgency] = Field(default_factory=list, max_length=2)


class ProposalFields(Strict):
    """Every editable field of a proposal (product.md "A proposal")."""

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=200)]
    academy: Academy
    course_type: CourseType
    topic: Topic
    start_date: date
    end_date: date
    seats: int = Field(ge=1, le=60)
    participating_countries: list[str] = Field(min_length=1, max_length=30)
    estimated_cost_usd: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    justification: str = Field(default="", max_length=5000)
    instructor_needs: list[InstructorNeed] = Field(min_length=1, max_length=10)


class Actor(BaseModel):
    """Who performs an action, from the verified token."""

    sub: str
    name: str = ""
    agency: Agency
    roles: list[Role] = Field(default_factory=list)


class RuleConfig(BaseModel):
    """Deadlines and limits the workflow runs by; fixed per proposal at submission."""

    isg_round_business_days: int = 10
    isg_reminder_business_days: int = 2
    revision_window_business_days: int = 20
    max_revisions: int = 3
    board_business_days: int = 15
    board_reminder_business_days: int = 3
    request_business_days: int = 10
    request_reminder_business_days: int = 2
    staffing_cutoff_days: int = 30
    staffing_cutoff_min_days: int = 7
    min_lead_days: int = 60
    #: the latest a course may start, in days after its submission (or revision): 3 years
    max_horizon_days: int = 1095
    fast_track_max_cost_usd: Decimal = Decimal("150000")


# --- state shown to people --------------------------------------------------


class IsgVoteRecord(BaseModel):
    agency: Agency
    vote: IsgVote
    comment: str | None = None
    by: str
    by_name: str = ""
    at: datetime


class BoardPositionRecord(BaseModel):
    agency: Agency
    position: BoardPosition
    comment: str | None = None
    by: str
    by_name: str = ""
    at: datetime


class BoardDecisionRecord(BaseModel):
    decision: BoardDecision
    comment: str | None = None
    by: str
    by_name: str = ""
    at: datetime


def task_key(party: str, since: datetime, request_id: str | None = None) -> str:
    """What identifies one pending action: who, since when, for which request.

    A notification asking a party to act carries the key of the action (``NotificationIn.task``);
    the projection clears it once no pending item has that key (the action is done, or moot).
    """
    return f"{party}|{request_id or ''}|{since.astimezone(UTC).isoformat()}"


class PendingItem(BaseModel):
    party: str
    since: datetime
    due: datetime | None = None
    kind: str
    request_id: str | None = None

    @property
    def task(self) -> str:
        return task_key(self.party, self.since, self.request_id)


class InstructorRef(BaseModel):
    id: str
    name: str
    component: str | None = None


class InstructorRequestView(BaseModel):
    id: str
    proposal_id: str
    slot: int
    need_index: int
    agency: Agency
    expertise: Topic
    status: RequestStatus
    instructor: InstructorRef | None = None
    due: datetime
    reason: str | None = None
    sent_at: datetime
    attempt: int = 1
    reminded: bool = False
    #: agencies asked for this slot so far, this one last (alternates are tried in order)
    asked_agencies: list[Agency] = Field(default_factory=list)
    #: declined/expired: what a request that became `unfilled` would revert to on retarget
    closed_as: RequestStatus | None = None


class Deadlines(BaseModel):
    isg_round_due: datetime | None = None
    isg_reminder_at: datetime | None = None
    revision_due: datetime | None = None
    board_due: datetime | None = None
    board_reminder_at: datetime | None = None
    staffing_cutoff: date | None = None
    course_starts_at: datetime | None = None
    course_ends_at: datetime | None = None


class ProposalView(ProposalFields):
    """The workflow's state: the read model's document and the API's Proposal."""

    model_config = ConfigDict(extra="ignore")

    id: str
    stage: Stage
    #: the program officer who owns the proposal (its submitter, until handed over): the one notified;
    #: None in states recorded before the workflow kept one (the read model's owner column stands)
    owner: str | None = None
    owner_name: str = ""
    overdue: bool = False
    dissent: bool = False
    fast_tracked: bool = False
    round: int = 1
    revisions: int = 0
    submitted_by: str
    submitted_by_name: str = ""
    submitted_at: datetime
    updated_at: datetime
    #: everyone who submitted or revised the proposal: the four-eyes rule bars them all
    authors: list[str] = Field(default_factory=list)
    isg_votes: list[IsgVoteRecord] = Field(default_factory=list)
    board_positions: list[BoardPositionRecord] = Field(default_factory=list)
    board_decision: BoardDecisionRecord | None = None
    pending_on: list[PendingItem] = Field(default_factory=list)
    instructor_requests: list[InstructorRequestView] = Field(default_factory=list)
    deadlines: Deadlines = Field(default_factory=Deadlines)
    version: int = 0


# --- workflow input/output and updates ----------------------------------------


class ProposalInput(BaseModel):
    proposal_id: str
    fields: ProposalFields
    submitted_by: Actor
    submitted_at: datetime
    rules: RuleConfig = Field(default_factory=RuleConfig)


class ProposalOutcome(BaseModel):
    proposal_id: str
    stage: Stage


class ReadInput(BaseModel):
    """Input of the read-only `current` update used with update-with-start."""

    return_state: bool = True


class ActionInput(BaseModel):
    """What every human action carries: who acts, and whether the answer includes the state.

    The API reads the state back from the read model (written before the Update returns),
    so it asks for none: the Update's result is kept in history, and the whole proposal
    in every result was most of each history's size.
    """

    actor: Actor
    return_state: bool = True


class IsgVoteInput(ActionInput):
    vote: IsgVote
    comment: str | None = None


class RevisionInput(ActionInput):
    proposal: ProposalFields
    comment: str


class BoardPositionInput(ActionInput):
    position: BoardPosition
    comment: str | None = None


class BoardDecisionInput(ActionInput):
    decision: BoardDecision
    comment: str | None = None


class WithdrawInput(ActionInput):
    reason: str


class CutoffInput(ActionInput):
    cutoff: date


class AcceptInput(ActionInput):
    request_id: str
    instructor_id: str


class DeclineInput(ActionInput):
    request_id: str
    reason: str


class ReleaseInput(ActionInput):
    request_id: str
    reason: str


class RetargetInput(ActionInput):
    request_id: str
    agency: Agency


class HandOverInput(ActionInput):
    """A program officer hands the proposal over to another program officer (``sub``)."""

    sub: str
    name: str = ""


class ActionResult(BaseModel):
    proposal_id: str
    version: int
    #: the whole state, unless the action asked for none (``return_state=False``)
    proposal: ProposalView | None = None
    request: InstructorRequestView | None = None


# --- the access-log witness (workflows/access_witness.py) ---------------------------------------


class LogHead(BaseModel):
    """The newest entry of the access log: its seq and hash."""

    seq: int
    hash: str


class ReadHeadInput(BaseModel):
    """What the witness asks the access log (nothing yet: room for fields later)."""


class ReadHeadResult(BaseModel):
    #: the log's newest entry (None while it is empty)
    head: LogHead | None = None


class WitnessedHead(LogHead):
    """The highest head the witness has read, and when it first read it."""

    at: datetime


class WitnessInput(BaseModel):
    #: seconds between two reads of the head
    every_seconds: float = 30
    #: reads per run; then the workflow continues as new, so its history stays bounded
    reads_per_run: int = 200
    #: what the previous run had witnessed
    head: WitnessedHead | None = None
