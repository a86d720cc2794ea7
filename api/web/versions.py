"""What a proposal said in each ISG round, read back from its workflow's history, and a redline between two.

Round 1 is what was submitted (the workflow's input); each revision the workflow
accepted and completed opens the next round with its fields. Refused revisions are
not in history as completed updates, so they never count.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError

from api.web.present import topic_label, usd
from ilea.messages import ProposalFields, ProposalInput, RevisionInput
from workflows.proposal import workflow_id

log = logging.getLogger("ilea.api")


async def fields_by_round(client: Client, proposal_id: str) -> dict[int, ProposalFields]:
    """Each round's proposal fields; empty when the history cannot be read."""
    try:
        history = await client.get_workflow_handle(workflow_id(proposal_id)).fetch_history()
    except RPCError as err:
        log.warning("no history for the redline of %s: %s", proposal_id, err, extra={"proposal_id": proposal_id})
        return {}
    converter = client.data_converter
    rounds: dict[int, ProposalFields] = {}
    revisions: dict[str, ProposalFields] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            (start,) = await converter.decode(payloads, [ProposalInput])
            rounds[1] = start.fields
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            req = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if req.input.name == "revise":
                (rev,) = await converter.decode(req.input.args.payloads, [RevisionInput])
                revisions[req.meta.update_id] = rev.proposal
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            done = event.workflow_execution_update_completed_event_attributes
            fields = revisions.pop(done.meta.update_id, None)
            if fields is not None and done.outcome.HasField("success"):
                rounds[len(rounds) + 1] = fields
    return rounds


@dataclass(frozen=True)
class Change:
    field: str
    was: str
    now: str


LABELS = {
    "title": "Title",
    "academy": "Academy",
    "course_type": "Course type",
    "topic": "Topic",
    "start_date": "Start date",
    "end_date": "End date",
    "seats": "Seats",
    "participating_countries": "Countries",
    "estimated_cost_usd": "Estimated cost",
    "justification": "Justification",
    "instructor_needs": "Instructors needed",
}


def _text(field: str, value: Any) -> str:
    if field == "estimated_cost_usd":
        return usd(value)
    if field == "topic":
        return topic_label(value)
    if field == "participating_countries":
        return ", ".join(str(v) for v in value)
    if field == "instructor_needs":
        return "; ".join(
            f"{n['count']} x {n['agency']} ({topic_label(n['expertise'])})"
            + (f", else {', '.join(n['alternate_agencies'])}" if n.get("alternate_agencies") else "")
            for n in value
        )
    return str(value)


def redline(before: ProposalFields | Mapping[str, Any], after: ProposalFields | Mapping[str, Any]) -> list[Change]:
    """The fields that differ, in the form's order, as the reader sees them."""
    a = before.model_dump(mode="json") if isinstance(before, ProposalFields) else dict(before)
    b = after.model_dump(mode="json") if isinstance(after, ProposalFields) else dict(after)
    out = []
    for field, label in LABELS.items():
        was, now = _text(field, a.get(field, "")), _text(field, b.get(field, ""))
        if was != now:
            out.append(Change(label, was, now))
    return out
