"""The instructor roster, kept by each agency's coordinators."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter

from api.deps import Coordinator, CurrentUser, Db
from api.errors import Problem
from api.schemas import Instructor, InstructorBody, InstructorPatch, Instructors
from ilea.db import roster
from ilea.domain import COMPONENTS, INSTRUCTOR_AGENCIES, Agency, Topic

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
    items = await roster.list_instructors(db, agency=agency, expertise=expertise, free_from=free_from, free_to=free_to)
    return {"items": items}


@router.post("", status_code=201, response_model=Instructor, summary="Add an instructor to your agency's roster")
async def add_instructor(body: InstructorBody, user: Coordinator, db: Db) -> dict[str, Any]:
    if user.agency not in INSTRUCTOR_AGENCIES:
        raise Problem(403, f"{user.agency} provides no instructors", kind="WrongAgency")
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


@router.patch("/{instructor_id}", response_model=Instructor, summary="Activate or deactivate an instructor")
async def patch_instructor(instructor_id: str, body: InstructorPatch, user: Coordinator, db: Db) -> dict[str, Any]:
    current = await roster.get_instructor(db, instructor_id)
    if current is None:
        raise Problem(404, f"no instructor {instructor_id}")
    if current["agency"] != user.agency:
        raise Problem(403, f"{current['name']} is on the {current['agency']} roster", kind="WrongAgency")
    updated = await roster.set_active(db, instructor_id, body.active)
    assert updated is not None
    return updated
