"""The instructor roster, kept by each agency's coordinators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api import visibility
from api.auth import Principal
from api.deps import Coordinator, CurrentUser, Db
from api.errors import NotFound, Problem
from api.schemas import Instructor, InstructorBody, InstructorPatch, Instructors, RosterImport, RosterImportBody
from ilea.db import roster
from ilea.domain import COMPONENTS, INSTRUCTOR_AGENCIES, Agency, Topic
from ilea.messages import ErrorType
from ilea.roster_file import RosterInvalid, check_rows

router = APIRouter(prefix="/v1/instructors", tags=["instructors"])


@router.get("", response_model=Instructors, summary="The roster (optionally only those free on dates)")
async def list_instructors(
    user: CurrentUser,
    db: Db,
    agency: Agency | None = None,
    expertise: Topic | None = None,
    free_from: date | None = None,
    free_to: date | None = None,
) -> dict[str, Any]:
    if (free_from is None) != (free_to is None) or (free_from and free_to and free_to < free_from):
        raise Problem(
            422,
            "free_from and free_to go together, in order",
            errors=[{"loc": ["query", "free_to"], "msg": "give both dates, free_from first"}],
        )
    # An agency's roster is read by its coordinators, program officers, the chair and auditors.
    readable = visibility.visible_agencies(user)
    if readable is not None:
        if agency is not None and agency not in readable:
            raise Problem.from_refusal(ErrorType.wrong_agency, f"the {agency} roster is read by its own coordinators")
        if not readable:
            return {"items": []}
        (agency,) = readable if agency is None else (agency,)
    items = await roster.list_instructors(db, agency=agency, expertise=expertise, free_from=free_from, free_to=free_to)
    return {"items": items}


# The agency policy of each change is a dependency; the body is its parameter, so FastAPI
# validates the body (422) before the policy or the lookup runs (403, 404), as before.


def instructor_agency(user: Principal) -> Agency:
    """The coordinator's agency, if it provides instructors (else 403)."""
    if user.agency not in INSTRUCTOR_AGENCIES:
        raise Problem.from_refusal(ErrorType.wrong_agency, f"{user.agency} provides no instructors")
    return user.agency


async def own_roster_entry(user: Coordinator, body: InstructorBody) -> InstructorBody:
    """A new instructor, from a coordinator of an agency that provides instructors (else 403)."""
    instructor_agency(user)
    return body


@dataclass(frozen=True, slots=True)
class RosterChange:
    instructor_id: str
    body: InstructorPatch


async def own_roster_change(instructor_id: str, body: InstructorPatch, user: Coordinator, db: Db) -> RosterChange:
    """A change to an instructor (404 when there is none) on the coordinator's own roster (else 403)."""
    current = await roster.get_instructor(db, instructor_id)
    if current is None:
        raise NotFound("instructor", instructor_id)
    if current["agency"] != user.agency:
        raise Problem.from_refusal(ErrorType.wrong_agency, f"{current['name']} is on the {current['agency']} roster")
    return RosterChange(instructor_id, body)


@router.post("", status_code=201, response_model=Instructor, summary="Add an instructor to your agency's roster")
async def add_instructor(
    user: Coordinator, body: Annotated[InstructorBody, Depends(own_roster_entry)], db: Db
) -> dict[str, Any]:
    if body.component not in COMPONENTS[user.agency]:
        allowed = ", ".join(COMPONENTS[user.agency])
        raise Problem(
            422,
            f"{body.component} is not a {user.agency} component",
            errors=[{"loc": ["body", "component"], "msg": f"one of {allowed}"}],
        )
    return await roster.create_instructor(
        db,
        name=body.name,
        agency=user.agency.value,
        component=body.component,
        expertise=sorted({t.value for t in body.expertise}),
        languages=body.languages,
    )


@router.post(
    "/import",
    response_model=RosterImport,
    summary="Create or update many of your agency's instructors at once (all or nothing)",
)
async def import_instructors(body: RosterImportBody, user: Coordinator, db: Db) -> dict[str, Any]:
    """The rows of `ilea roster import`, as JSON: idempotent, every bad row reported at once."""
    agency = instructor_agency(user)
    entries = ((i, entry.model_dump(exclude_none=True)) for i, entry in enumerate(body.instructors))
    try:
        rows = check_rows(entries, agency=agency)
        result = await roster.import_roster(db, rows)
    except RosterInvalid as invalid:
        raise Problem(
            422,
            f"{len(invalid.errors)} problem(s) in the roster; nothing was changed",
            errors=[{"loc": ["body", "instructors", e.row, e.column], "msg": e.message} for e in invalid.errors],
        ) from None
    items = await roster.instructors_by_id(db, [row.instructor_id for row in rows])
    return {
        "created": len(result.created),
        "updated": len(result.updated),
        "unchanged": len(result.unchanged),
        "items": items,
    }


@router.patch("/{instructor_id}", response_model=Instructor, summary="Activate or deactivate an instructor")
async def patch_instructor(
    user: Coordinator, change: Annotated[RosterChange, Depends(own_roster_change)], db: Db
) -> dict[str, Any]:
    updated = await roster.set_active(db, change.instructor_id, change.body.active)
    assert updated is not None
    return updated
