"""What the workflow hands its activities, and what they answer: the projection into the read
model (snapshot, audit events, notifications), bookings, and the workflow's own record of its
audit chain. Like :mod:`ilea.messages`, imported by both the worker's activities and the
workflows (through ``imports_passed_through``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from ilea.domain import Agency, Topic
from ilea.messages import InstructorRef, ProposalView


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


class ProjectInput(BaseModel):
    snapshot: ProposalView
    events: list[AuditEventIn] = Field(default_factory=list)
    notifications: list[NotificationIn] = Field(default_factory=list)


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
