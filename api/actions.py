"""The one path of every human action to a proposal's workflow, and what a refusal becomes.

The JSON routes (``api/routes``) and the web forms (``api/web/forms.py``) both call :func:`send`
with a workflow Update (``ProposalWorkflow.isg_vote``) and its input model (``IsgVoteInput``); the
type checker holds the two together. Beside it: how an ``Idempotency-Key`` becomes the Update's
id (and a new proposal's id), so Temporal deduplicates a retried action too.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import TypeAlias, TypeVar

import asyncpg
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from api.auth import Principal
from api.deadline import action_deadline
from api.deps import ProposalRef
from api.errors import NotFound, Problem
from api.refusals import record_refusal
from ilea.db import proposals
from ilea.messages import ActionInput, ActionResult, ErrorType
from workflows.proposal import ProposalWorkflow, workflow_id

log = logging.getLogger("ilea.api")

InputT = TypeVar("InputT", bound=ActionInput)

#: A human action: an Update of the proposal workflow taking one action input, e.g.
#: ``ProposalWorkflow.isg_vote`` (``IsgVoteInput`` → ``ActionResult``).
ActionUpdate: TypeAlias = UpdateMethodMultiParam[[ProposalWorkflow, InputT], ActionResult]

_PROPOSAL_IDS = uuid.UUID("6f1c1d7e-2a34-4c55-9a8e-1ea0c0de0001")


def update_id(caller: str, key: str | None) -> str | None:
    """The Temporal Update id of ``caller``'s action sent with ``key`` (None without a key)."""
    if not key:
        return None
    return "idem-" + hashlib.sha256(f"{caller}\x00{key}".encode()).hexdigest()[:32]


def new_proposal_id(caller: str, key: str | None) -> str:
    """The id of the proposal ``caller`` submits with ``key``: the same for a retry, random without a key."""
    return str(uuid.uuid5(_PROPOSAL_IDS, f"{caller}\x00{key}") if key else uuid.uuid4())


def action_name(update: ActionUpdate[InputT]) -> str:
    """The Update's registered name, which is the action's name in logs and the audit trail."""
    name = update._defn.name  # set by @workflow.update; declared on the SDK's UpdateMethod protocol
    assert name is not None, "a dynamic Update is no action"
    return name


async def send(
    client: Client,
    pool: asyncpg.Pool,
    user: Principal,
    proposal: ProposalRef,
    update: ActionUpdate[InputT],
    arg: InputT,
    *,
    key: str | None = None,
    return_state: bool = False,
) -> ActionResult:
    """Execute one action's Update and return its result, or raise the matching :class:`Problem`.

    Args:
        client: the Temporal client.
        pool: the database, for the audit record of a refusal.
        user: who acts (the Update's id is theirs: two callers' keys never collide).
        proposal: the proposal acted on; one Temporal does not know is looked up in the read
            model: :class:`NotFound` (404) when it has none, else refused as finished (409).
        update: the workflow Update, e.g. ``ProposalWorkflow.isg_vote``.
        arg: its input, e.g. ``IsgVoteInput``.
        key: the caller's ``Idempotency-Key`` (or a web form's id): the same key is the same
            Update, which Temporal runs once.
        return_state: whether the result carries the whole proposal. Callers read the state
            from the read model (written before the Update returns) instead, so by default the
            result, kept in the workflow's history, does not.

    Business refusals (the Update's validator or handler) are recorded in the audit trail.
    """
    action = action_name(update)
    handle = client.get_workflow_handle_for(ProposalWorkflow.run, workflow_id(proposal.id))
    arg = arg.model_copy(update={"return_state": return_state})
    try:
        async with action_deadline():  # 503 when not through in time; a keyed retry gets the result
            return await handle.execute_update(update, arg, id=update_id(user.sub, key))
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if not isinstance(cause, ApplicationError):
            raise
        problem = Problem.from_refusal(cause.type, cause.message, list(cause.details), action=action)
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        if not await proposals.exists(pool, proposal.id):
            raise NotFound("proposal", proposal.id) from None  # not a refusal: nothing to record
        finished = "the proposal's workflow has finished; nothing more can change"
        problem = Problem.from_refusal(ErrorType.closed, finished)
    log.info("refused %s on proposal %s: %s", action, proposal.id, problem.detail, extra={"proposal_id": proposal.id})
    await record_refusal(pool, proposal.id, user, action, problem)
    raise problem
