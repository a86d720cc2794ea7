"""All of a proposal's state, in one object.

After samples-python ``message_passing/safe_message_handlers`` (``ClusterManagerState``): the
workflow holds one :class:`ProposalState`; the checks (:mod:`workflows.checks`), the views
(:mod:`workflows.views`), the state changes (:mod:`workflows.transitions`) and the deadlines
(:mod:`workflows.deadlines`) are plain functions of it, which unit tests call without Temporal.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ilea import chain
    from ilea.activity_io import AuditEventIn, NotificationIn
    from ilea.domain import Agency, Stage
    from ilea.messages import (
        Actor,
        BoardDecisionRecord,
        BoardPositionRecord,
        IsgVoteRecord,
        ProposalFields,
        ProposalInput,
        RuleConfig,
    )
    from workflows import rules
    from workflows.staffing import Staffing

#: the stages in which instructor requests are out and the staffing deadlines run
STAFFING_STAGES = frozenset({Stage.staffing, Stage.staffing_at_risk})


@dataclass(kw_only=True)
class ProposalState:
    """One proposal, from submission until the course ends.

    The lock that serialises the Updates and the durable timer are the workflow's machinery,
    not state, and stay on :class:`~workflows.proposal.ProposalWorkflow`.
    """

    id: str
    fields: ProposalFields
    #: deadlines and limits, fixed at submission
    rules: RuleConfig
    submitter: Actor
    submitted_at: datetime
    #: the staffing cutoff (a date in Eastern Time; it passes at the end of that day)
    cutoff: date
    staffing: Staffing
    #: everyone who submitted or revised the proposal: none of them may review it
    authors: set[str]
    #: the program officer who owns the proposal (the submitter until handed over): the one told
    owner: str
    owner_name: str = ""
    stage: Stage = Stage.submitted
    updated_at: datetime

    # --- the ISG round
    round: int = 0
    revisions: int = 0
    votes: dict[Agency, IsgVoteRecord] = field(default_factory=dict)
    round_opened_at: datetime
    round_due: datetime | None = None
    round_reminder: datetime | None = None
    round_reminded: bool = False
    dissent: bool = False
    fast_tracked: bool = False
    revision_since: datetime | None = None
    revision_due: datetime | None = None

    # --- the Policy Board
    positions: dict[Agency, BoardPositionRecord] = field(default_factory=dict)
    decision: BoardDecisionRecord | None = None
    board_since: datetime | None = None
    board_due: datetime | None = None
    board_reminder: datetime | None = None
    board_reminded: bool = False
    overdue: bool = False

    # --- staffing
    cutoff_passed: bool = False

    # --- what has been written out
    #: the read model's version: one per commit
    version: int = 0
    #: audit events and notifications since the last commit, written by the next one
    events: list[AuditEventIn] = field(default_factory=list)
    notes: list[NotificationIn] = field(default_factory=list)
    #: the first commit is done: the proposal is in the read model
    ready: bool = False
    #: the search attributes last upserted (an upsert is a command: only changes are sent)
    last_sa: dict[str, Any] = field(default_factory=dict)
    #: the workflow's own record of the audit chain (ilea.chain): kept from the first commit of
    #: proposals submitted since the workflow keeps one; how many events, and their chain's head
    chain_kept: bool = False
    chain_events: int = 0
    chain_head: str = chain.GENESIS

    #: What :meth:`draft` gives the copy as they are: no change alters them in place, it puts a
    #: new one in their place (pydantic records, values, and the staffing's rule set).
    SHARED = frozenset(
        {"id", "fields", "rules", "submitter", "submitted_at", "cutoff", "owner", "owner_name", "stage"}
        | {"updated_at", "round", "revisions", "round_opened_at", "round_due", "round_reminder", "round_reminded"}
        | {"dissent", "fast_tracked", "revision_since", "revision_due", "decision", "board_since", "board_due"}
        | {"board_reminder", "board_reminded", "overdue", "cutoff_passed", "version", "ready", "chain_kept"}
        | {"chain_events", "chain_head"}
    )
    #: What it copies: the containers changes add to, and the staffing, whose requests change in place.
    COPIED = frozenset({"staffing", "authors", "votes", "positions", "events", "notes", "last_sa"})

    def draft(self) -> ProposalState:
        """A copy an action may change without touching this state (``actions.attempt``, ``dry_run``).

        The same as ``copy.deepcopy`` for every change the workflow makes, at a fraction of its
        cost (a deep copy of every pydantic record was most of an action's rehearsal):
        :data:`SHARED` fields are shared, :data:`COPIED` ones copied as deep as changes reach.
        tests/workflows/test_actions.py pins that every field is one or the other, and that no
        action, applied or refused, changes the state it was drafted from.
        """
        new = copy.copy(self)
        new.staffing = self.staffing.copy()
        new.authors = set(self.authors)
        new.votes = dict(self.votes)
        new.positions = dict(self.positions)
        new.events = list(self.events)
        new.notes = list(self.notes)
        new.last_sa = dict(self.last_sa)
        return new

    @classmethod
    def submitted(cls, inp: ProposalInput) -> ProposalState:
        """The state of a proposal just submitted, before anything is recorded."""
        return cls(
            id=inp.proposal_id,
            fields=inp.fields,
            rules=inp.rules,
            submitter=inp.submitted_by,
            submitted_at=inp.submitted_at,
            cutoff=rules.default_cutoff(inp.fields.start_date, inp.rules.staffing_cutoff_days),
            staffing=Staffing(inp.proposal_id, inp.rules),
            authors={inp.submitted_by.sub},
            owner=inp.submitted_by.sub,
            owner_name=inp.submitted_by.name,
            updated_at=inp.submitted_at,
            round_opened_at=inp.submitted_at,
        )
