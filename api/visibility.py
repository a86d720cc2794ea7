"""Visibility across agencies (product.md edition 2, "What people see").

Everyone authenticated sees a proposal's fields, stage, votes, Board positions and decision,
pending parties and each instructor slot's agency, status and due date. Who the instructor is,
a decline's reason and an agency's roster are seen only by that agency's coordinators, program
officers, the Board chair and auditors; for other readers those fields are ``null`` in the
Proposal, the InstructorRequest and the AuditEvent ``detail``. Only the answer is redacted:
the read model and the audit trail keep everything, so ``/events/verify`` recomputes the
hashes over what was stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from api.auth import Principal
from ilea.domain import Agency, Role

#: Readers who see every agency's staffing details.
ALL_AGENCIES = (Role.program_officer, Role.board_chair, Role.auditor)

#: The fields of an audit event's detail that belong to the agency it concerns, by action.
_EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "request_accepted": ("instructor",),
    "request_declined": ("reason",),
    "booking_released": ("instructor", "reason"),
}
#: A refused answer to a request may name the instructor in its reason.
_REFUSED_ANSWERS = frozenset({"accept_request", "decline_request", "release_request", "accept", "decline", "release"})


def sees(user: Principal, agency: Agency | str | None) -> bool:
    """Whether ``user`` sees the instructors, decline reasons and roster of ``agency``."""
    if user.has(*ALL_AGENCIES):
        return True
    return agency is not None and user.has(Role.agency_coordinator) and user.agency.value == str(agency)


def visible_agencies(user: Principal) -> set[Agency] | None:
    """The agencies whose roster ``user`` reads; None for every agency."""
    if user.has(*ALL_AGENCIES):
        return None
    return {user.agency} if user.has(Role.agency_coordinator) else set()


def request(doc: dict[str, Any], user: Principal) -> dict[str, Any]:
    """An instructor request as ``user`` may read it."""
    if sees(user, doc.get("agency")):
        return doc
    return {**doc, "instructor": None, "reason": None}


def requests(docs: Iterable[dict[str, Any]], user: Principal) -> list[dict[str, Any]]:
    return [request(d, user) for d in docs]


def proposal(doc: dict[str, Any], user: Principal) -> dict[str, Any]:
    """A proposal document as ``user`` may read it."""
    if user.has(*ALL_AGENCIES) or not doc.get("instructor_requests"):
        return doc
    return {**doc, "instructor_requests": requests(doc["instructor_requests"], user)}


def event(doc: dict[str, Any], user: Principal) -> dict[str, Any]:
    """An audit event as ``user`` may read it (its ``hash`` is over the stored detail)."""
    action, detail = doc["action"], doc["detail"]
    withheld = _EVENT_FIELDS.get(action, ())
    if action == "refused" and detail.get("attempted") in _REFUSED_ANSWERS:
        withheld = ("reason",)
    if not withheld or sees(user, doc.get("agency")):
        return doc
    return {**doc, "detail": {**detail, **{k: None for k in withheld if k in detail}}}


def events(docs: Iterable[dict[str, Any]], user: Principal) -> list[dict[str, Any]]:
    return [event(d, user) for d in docs]
