"""The task inbox: what waits on the caller or their agency's seat, oldest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth import Principal
from api.deps import CurrentUser, Db
from api.schemas import Tasks
from ilea.db import proposals
from ilea.domain import Party, Role, parties_for

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


def parties_of(user: Principal) -> list[str]:
    """The pending-on parties the caller acts for."""
    parties = parties_for(user.agency, user.roles)
    if user.has(Role.program_officer) and Party.program_officer() not in parties:
        parties.append(Party.program_officer())  # any agency's program officer, as the inbox always had it
    return [str(p) for p in parties]


@router.get("", response_model=Tasks, summary="Actions pending on you or your agency's seat")
async def tasks(user: CurrentUser, db: Db, limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> dict[str, Any]:
    rows = await proposals.tasks_for(db, parties_of(user), exclude_reviews_by=user.sub, limit=limit)
    return {"items": rows}
