"""Refusals are part of a proposal's audit trail: the workflow's own (four-eyes, wrong stage, ...)
and the API's (a role or an agency refused on an existing proposal, a revision that breaks the
proposal rules)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import NoReturn

import asyncpg
from starlette.requests import Request

from api.auth import Principal
from api.errors import Problem
from ilea.db import audit, proposals, roster


async def record_refusal(pool: asyncpg.Pool, proposal_id: str, user: Principal, action: str, problem: Problem) -> None:
    """Append a ``refused`` event: who attempted what, and the answer they got."""
    async with pool.acquire() as con, con.transaction():
        await audit.lock_proposal(con, proposal_id)
        await audit.append(
            con,
            proposal_id,
            [
                (
                    f"refused:{uuid.uuid4()}",
                    datetime.now(UTC),
                    user.sub,
                    user.agency.value,
                    "refused",
                    {"attempted": action, "code": problem.kind, "status": problem.status, "reason": problem.detail},
                )
            ],
        )


async def refuse(pool: asyncpg.Pool, proposal_id: str, user: Principal, action: str, problem: Problem) -> NoReturn:
    """Raise ``problem``, first recorded in the trail of proposal ``proposal_id`` if it exists.

    For an action's body refused before its proposal is looked up (the 422 comes before a 404).
    """
    if await proposals.exists(pool, proposal_id):
        await record_refusal(pool, proposal_id, user, action, problem)
    raise problem


async def record_if_targeted(request: Request, user: Principal, problem: Problem) -> None:
    """Record ``problem`` in the trail of the proposal an action names in its path, if it exists.

    For the refusals decided before the action's resource is loaded (its role policy, a role
    the caller's agency cannot hold); reads and actions on nothing are not recorded.
    """
    if request.method != "POST":
        return
    pool: asyncpg.Pool = request.app.state.pool
    params = request.path_params
    proposal_id: str | None = None
    if "proposal_id" in params and await proposals.exists(pool, params["proposal_id"]):
        proposal_id = params["proposal_id"]
    elif "request_id" in params:
        row = await roster.get_request(pool, params["request_id"])
        proposal_id = row["proposal_id"] if row else None
    if proposal_id is not None:
        route = request.scope.get("route")
        await record_refusal(pool, proposal_id, user, getattr(route, "name", request.url.path), problem)
