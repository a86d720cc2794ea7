"""What the workflow hands its activities, and what they answer: the projection into the read
model (the proposal's row and document, audit events, notifications), bookings, and the
workflow's own record of its audit chain. Like :mod:`ilea.messages`, imported by both the
worker's activities and the workflows (through ``imports_passed_through``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from ilea.domain import Academy, Agency, CourseType, Stage, Topic
from ilea.messages import InstructorRef, PendingItem, ProposalView


class AuditEventIn(BaseModel):
    key: str
    at: datetime
    actor: str
    agency: str | None = None
    action: str
    detail: dict[str, Any] = Field(default_factory=dict)


class NotificationIn(BaseModel):
    key: str
    at: datetime
    party: str
    kind: str
    subject: str
    body: str = ""
    #: the pending action it asks for (:func:`task_key`), cleared once that action is no longer pending
    task: str | None = None


class AuditChain(BaseModel):
    """The workflow's own record of its audit events: how many, and the hash of their chain.

    Kept in the workflow (a store the database cannot rewrite); ``/events/verify`` compares it
    with the events the database holds (:mod:`ilea.chain`). ``kept`` is False for proposals
    submitted before the workflow kept one.
    """

    kept: bool
    events: int = 0
    head: str = ""


class ProposalRow(BaseModel):
    """What the read model keeps of a proposal's view in columns of its own (what lists filter,
    sort and count by, and its tasks): the fields of :class:`ProposalView` of the same names."""

    id: str
    title: str
    academy: Academy
    course_type: CourseType
    topic: Topic
    stage: Stage
    start_date: date
    end_date: date
    overdue: bool
    submitted_by: str
    submitted_at: datetime
    updated_at: datetime
    version: int
    authors: list[str]
    pending_on: list[PendingItem]


class ProjectInput(BaseModel):
    """One committed state for the read model: its row, its document, and the audit events and
    notifications recorded since the last.

    The document is the view as JSON text, serialized once in the workflow and written as it
    comes: the projection reads only the row, so nothing decodes the whole view again (built
    from its model, the activity's input validated it field by field and serialized it back,
    about 2 % of the worker's CPU under load).
    """

    row: ProposalRow
    #: the :class:`ProposalView` as ``model_dump_json`` gives it
    document: str
    events: list[AuditEventIn] = Field(default_factory=list)
    notifications: list[NotificationIn] = Field(default_factory=list)

    @classmethod
    def of(
        cls,
        view: ProposalView,
        events: list[AuditEventIn] | None = None,
        notifications: list[NotificationIn] | None = None,
    ) -> ProjectInput:
        row = ProposalRow.model_validate(view, from_attributes=True)
        return cls(row=row, document=view.model_dump_json(), events=events or [], notifications=notifications or [])

    def view(self) -> ProposalView:
        """The whole view again (tests and the old projection kept for benchmarks; the projection
        itself needs only :attr:`row` and :attr:`document`)."""
        return ProposalView.model_validate_json(self.document)


class BookInput(BaseModel):
    request_id: str
    proposal_id: str
    instructor_id: str
    agency: Agency
    expertise: Topic
    start_date: date
    end_date: date
    title: str


class BookResult(BaseModel):
    instructor: InstructorRef


class ReleaseBookingsInput(BaseModel):
    proposal_id: str
    #: one request's booking, or every booking of the proposal when None
    request_id: str | None = None
    reason: str


class ReleaseBookingsResult(BaseModel):
    released: int
