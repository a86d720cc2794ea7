"""The API's side of the access-log witness (workflows/access_witness.py): started once per
API process at start-up (a no-op when it runs already), and asked at each verification.

Neither makes anything else wait on Temporal: a witness that cannot be started is logged and
tried again at the next start; one that does not answer leaves the verification to the chain.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from ilea.messages import WitnessedHead, WitnessInput
from ilea.settings import Settings
from workflows.access_witness import AccessLogWitness, witness_id

log = logging.getLogger("ilea.api")

#: how long a verification waits for the witness to answer
QUERY_TIMEOUT_S = 5.0


async def start_witness(client: Client, settings: Settings) -> None:
    """Start the witness unless it runs already."""
    try:
        await client.start_workflow(
            AccessLogWitness.run,
            WitnessInput(every_seconds=settings.access_witness_seconds),
            id=witness_id(settings.task_queue),
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except RPCError as err:
        log.warning("could not start the access-log witness: %s", err)


@dataclass(frozen=True)
class Witness:
    """What the witness said: whether it answered, and the highest head it has read."""

    answered: bool
    head: WitnessedHead | None = None


async def ask_witness(client: Client, settings: Settings) -> Witness:
    handle = client.get_workflow_handle_for(AccessLogWitness.run, witness_id(settings.task_queue))
    try:
        head = await asyncio.wait_for(handle.query(AccessLogWitness.head), QUERY_TIMEOUT_S)
    except (RPCError, WorkflowQueryFailedError, TimeoutError) as err:
        log.warning("the access-log witness did not answer: %s", err)
        return Witness(answered=False)
    return Witness(answered=True, head=head)
