"""The task inbox: what waits on the caller or their agency's seat, oldest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth import Principal
from api.deps import CurrentUser, Db
from api.errors import Problem
from api.schemas import Tasks
from ilea.db import proposals
from ilea.domain import Party, parties_for

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


def parties_of(user: Principal) -> list[Party]:
    """The parties the caller acts for, themselves included (``person:<sub>``: what is theirs alone,
    e.g. as a proposal's owner)."""
    return parties_for(user.agency, user.roles, sub=user.sub)


#: A page the inbox can show at once; ``next_cursor`` fetches the rest.
DEFAULT_PAGE = 50
MAX_PAGE = 500


@router.get("", response_model=Tasks, summary="Actions pending on you or your agency's seat, oldest first")
async def tasks(
    user: CurrentUser,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> dict[str, Any]:
    try:
        rows, next_cursor = await proposals.tasks_page(
            db, parties_of(user), exclude_reviews_by=user.sub, limit=limit, cursor=cursor
        )
    except ValueError as err:
        raise Problem(422, str(err), errors=[{"loc": ["query", "cursor"], "msg": str(err)}]) from None
    return {"items": rows, "next_cursor": next_cursor}
