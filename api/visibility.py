"""Visibility across agencies (product.md edition 2, "What people see"), for the JSON API and
the web pages alike.

Everyone authenticated sees a proposal's fields, stage, votes, Board positions and decision,
pending parties and each instructor slot's agency, status and due date. Who the instructor is,
a decline's reason and an agency's roster are seen only by that agency's coordinators, program
officers, the Board chair and auditors; for other readers those fields are ``null`` in the
Proposal, the InstructorRequest and the AuditEvent ``detail``. Only the answer is redacted:
the read model and the audit trail keep everything, so ``/events/verify`` recomputes the
hashes over what was stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from api.auth import Principal
from ilea.domain import Agency, Role

#: Readers who see every agency's staffing details.
ALL_AGENCIES = (Role.program_officer, Role.board_chair, Role.auditor)

#: Whether the reader sees the staffing details of an agency (by its name).
Sees = Callable[[str], bool]

#: The fields of an audit event's detail that belong to the agency it concerns, by action.
_EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "request_accepted": ("instructor",),
    "request_declined": ("reason",),
    "booking_released": ("instructor", "reason"),
}
#: A refused answer to a request may name the instructor in its reason.
_REFUSED_ANSWERS = frozenset({"accept_request", "decline_request", "release_request", "accept", "decline", "release"})


def seer(user: Principal) -> Sees:
    """Whose instructors, decline reasons and roster ``user`` sees: program officers, the Board
    chair and auditors every agency's; a coordinator their own agency's; anyone else none."""
    every = user.has(*ALL_AGENCIES)
    own = user.agency.value if user.has(Role.agency_coordinator) else None
    return lambda agency: every or agency == own


def visible_agencies(user: Principal) -> set[Agency] | None:
    """The agencies whose roster ``user`` reads; None for every agency."""
    if user.has(*ALL_AGENCIES):
        return None
    return {user.agency} if user.has(Role.agency_coordinator) else set()


def request(doc: dict[str, Any], sees: Sees) -> dict[str, Any]:
    """An instructor request as the reader may read it."""
    if sees(str(doc.get("agency"))):
        return doc
    return {**doc, "instructor": None, "reason": None}


def requests(docs: Iterable[dict[str, Any]], sees: Sees) -> list[dict[str, Any]]:
    return [request(d, sees) for d in docs]


def proposal(doc: dict[str, Any], sees: Sees) -> dict[str, Any]:
    """A proposal document as the reader may read it."""
    if not doc.get("instructor_requests"):
        return doc
    return {**doc, "instructor_requests": requests(doc["instructor_requests"], sees)}


def event(doc: dict[str, Any], sees: Sees, agency_of: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An audit event as the reader may read it (its ``hash`` is over the stored detail).

    The agency it concerns is its request's (``agency_of``, request id → agency, when given),
    else the event's own.
    """
    action, detail = doc["action"], doc.get("detail") or {}
    withheld = _EVENT_FIELDS.get(action, ())
    if action == "refused" and detail.get("attempted") in _REFUSED_ANSWERS:
        withheld = ("reason",)
    agency = (agency_of or {}).get(str(detail.get("request_id")), str(doc.get("agency") or ""))
    if not withheld or sees(agency):
        return doc
    return {**doc, "detail": {**detail, **{k: None for k in withheld if k in detail}}}


def events(
    docs: Iterable[dict[str, Any]], sees: Sees, agency_of: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    return [event(d, sees, agency_of) for d in docs]
