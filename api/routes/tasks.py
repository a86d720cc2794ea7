"""The task inbox: what waits on the caller or their agency's seat, oldest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth import Principal
from api.deps import CurrentUser, Db
from api.schemas import Tasks
from ilea.db import proposals
from ilea.domain import Party, parties_for

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


def parties_of(user: Principal) -> list[Party]:
    """The parties the caller acts for, themselves included (``person:<sub>``: what is theirs alone,
    e.g. as a proposal's owner)."""
    return parties_for(user.agency, user.roles, sub=user.sub)


@router.get("", response_model=Tasks, summary="Actions pending on you or your agency's seat")
async def tasks(user: CurrentUser, db: Db, limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> dict[str, Any]:
    rows = await proposals.tasks_for(db, parties_of(user), exclude_reviews_by=user.sub, limit=limit)
    return {"items": rows}
