"""Who is told what (product.md "Notifications"): the helpers every transition tells people with.

A notification waits in the state's outbox (``state.notes``) until the next commit. What asks a
party to act carries the pending action's key (:func:`ilea.messages.task_key`), so the
projection clears it once the action is done; what the program office must do, or know, goes to
the proposal's owner, a person (``person:<sub>``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ilea.activity_io import NotificationIn
    from ilea.domain import TERMINAL_STAGES, Party, Stage
    from ilea.messages import (
        task_key,
    )

from workflows.state import ProposalState

#: the stages whose arrival every ISG seat is told of, beside the owner (product.md "Notifications");
#: approval is told where the proposal enters staffing from a review (:func:`workflows.transitions.enter_staffing`)
TOLD_TO_THE_ISG = frozenset({Stage.rejected, Stage.withdrawn, Stage.cancelled, Stage.scheduled})
#: outcomes, as a notification's kind; any other stage change is a ``stage_changed``
OUTCOMES = TERMINAL_STAGES | {Stage.scheduled}


def notify(
    state: ProposalState,
    party: Party,
    kind: str,
    subject: str,
    body: str = "",
    *,
    now: datetime,
    task: str | None = None,
) -> None:
    """A notification to ``party``; ``task`` names the pending action it asks for, if any."""
    state.notes.append(
        NotificationIn(key="", at=now, party=str(party), kind=kind, subject=subject, body=body, task=task)
    )


def owner(state: ProposalState) -> Party:
    """The owner, as a person: what is the program office's to do or to know, the owner is told."""
    return Party.person(state.owner)


def addressee(party: Party, state: ProposalState) -> Party:
    """Who is told of an action pending on ``party``: the owner for the program office's."""
    return owner(state) if party == Party.program_officer() else party


def ask(
    state: ProposalState,
    party: Party,
    since: datetime,
    subject: str,
    *,
    now: datetime,
    request_id: str | None = None,
    kind: str = "action",
) -> None:
    """``party`` must act (or is reminded to): the notification clears once the action is done."""
    task = task_key(str(party), since, request_id)
    notify(state, addressee(party, state), kind, subject, now=now, task=task)


def tell_once(
    state: ProposalState, parties: Iterable[Party], kind: str, subject: str, body: str, *, now: datetime
) -> None:
    """One notification per party, none to a party the same news already reached (in this commit)."""
    told = {(n.party, n.subject) for n in state.notes}
    for party in parties:
        if (str(party), subject) not in told:
            told.add((str(party), subject))
            notify(state, party, kind, subject, body, now=now)
