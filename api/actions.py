"""Sending a human action to a proposal's workflow, and what a refusal becomes."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Principal
from api.deadline import action_deadline
from api.errors import Problem
from ilea.db import audit
from ilea.messages import ActionResult
from workflows.proposal import workflow_id

log = logging.getLogger("ilea.api")


async def record_refusal(pool: asyncpg.Pool, proposal_id: str, user: Principal, action: str, problem: Problem) -> None:
    """Refusals are part of the audit trail (e.g. a four-eyes attempt)."""
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


async def send(
    client: Client,
    pool: asyncpg.Pool,
    proposal_id: str,
    user: Principal,
    update: Any,
    arg: Any,
    *,
    action: str,
    update_id: str | None = None,
) -> ActionResult:
    """Execute one Update and return its result, or raise the matching :class:`Problem`.

    Business refusals (validator or handler) are recorded in the audit trail.
    """
    handle = client.get_workflow_handle(workflow_id(proposal_id))
    # The caller reads the state from the read model (already written when the Update
    # returns), so the Update's result, kept in history, need not carry it.
    arg = arg.model_copy(update={"return_state": False})
    try:
        async with action_deadline():  # 503 when not through in time; a keyed retry gets the result
            result: ActionResult = await handle.execute_update(update, arg, id=update_id)
        return result
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if not isinstance(cause, ApplicationError):
            raise
        problem = Problem.from_refusal(cause.type, cause.message, list(cause.details))
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            problem = Problem(409, "the proposal's workflow has finished; nothing more can change", kind="Closed")
        else:
            raise
    log.info("refused %s on proposal %s: %s", action, proposal_id, problem.detail, extra={"proposal_id": proposal_id})
    await record_refusal(pool, proposal_id, user, action, problem)
    raise problem
