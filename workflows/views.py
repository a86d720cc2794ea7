"""What a proposal looks like from outside: the view the read model and Updates carry, the
actions pending on whom, and the Temporal search attributes kept in step with them.

Plain functions of a :class:`~workflows.state.ProposalState`; none changes it or calls
Temporal (the workflow upserts what :func:`search_attribute_changes` lists).
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, SearchAttributeUpdate, TypedSearchAttributes

with workflow.unsafe.imports_passed_through():
    from ilea import search_attributes as sa
    from ilea.activity_io import AuditChain
    from ilea.domain import BOARD_MEMBERS, ISG_SEATS, Party, RequestStatus, Stage
    from ilea.messages import (
        ActionInput,
        ActionResult,
        Deadlines,
        InstructorRequestView,
        PendingItem,
        ProposalFields,
        ProposalView,
        ReadInput,
    )
    from workflows import rules

from workflows.state import STAFFING_STAGES, ProposalState


def pending(state: ProposalState) -> list[PendingItem]:
    """Who the proposal waits on now, since when, until when, for what."""
    items: list[PendingItem] = []
    if state.stage is Stage.isg_review:
        items += [
            PendingItem(party=str(Party.isg(s)), since=state.round_opened_at, due=state.round_due, kind="isg_vote")
            for s in ISG_SEATS
            if s not in state.votes
        ]
    elif state.stage is Stage.changes_requested and state.revision_since:
        items.append(
            PendingItem(
                party=str(Party.program_officer()), since=state.revision_since, due=state.revision_due, kind="revise"
            )
        )
    elif state.stage is Stage.board_review and state.board_since:
        items += [
            PendingItem(party=str(Party.board(a)), since=state.board_since, due=state.board_due, kind="board_position")
            for a in BOARD_MEMBERS
            if a not in state.positions
        ]
        items.append(
            PendingItem(
                party=str(Party.chair()),
                since=state.board_since,
                due=state.board_due,
                kind="overdue_board" if state.overdue else "board_decision",
            )
        )
    elif state.stage in STAFFING_STAGES:
        for r in state.staffing.live():
            if r.status is RequestStatus.open:
                items.append(
                    PendingItem(
                        party=str(Party.coordinators(r.agency)),
                        since=r.sent_at,
                        due=r.due,
                        kind="instructor_request",
                        request_id=r.id,
                    )
                )
            elif r.status is RequestStatus.unfilled:
                items.append(
                    PendingItem(
                        party=str(Party.program_officer()),
                        since=r.sent_at,
                        due=rules.end_of_day(state.cutoff),
                        kind="retarget",
                        request_id=r.id,
                    )
                )
    return items


def view(state: ProposalState) -> ProposalView:
    """The whole proposal as the read model stores it and the API shows it."""
    in_round, at_board = state.stage is Stage.isg_review, state.stage is Stage.board_review
    return ProposalView(
        **state.fields.model_dump(),
        id=state.id,
        stage=state.stage,
        owner=state.owner,
        owner_name=state.owner_name,
        overdue=state.overdue,
        dissent=state.dissent,
        fast_tracked=state.fast_tracked,
        round=max(state.round, 1),
        revisions=state.revisions,
        submitted_by=state.submitter.sub,
        submitted_by_name=state.submitter.name,
        submitted_at=state.submitted_at,
        authors=sorted(state.authors),
        updated_at=state.updated_at,
        isg_votes=[state.votes[s] for s in ISG_SEATS if s in state.votes],
        board_positions=[state.positions[a] for a in BOARD_MEMBERS if a in state.positions],
        board_decision=state.decision,
        pending_on=pending(state),
        instructor_requests=[r.model_copy() for r in state.staffing.requests],
        deadlines=Deadlines(
            isg_round_due=state.round_due if in_round else None,
            isg_reminder_at=state.round_reminder if in_round else None,
            revision_due=state.revision_due if state.stage is Stage.changes_requested else None,
            board_due=state.board_due if at_board else None,
            board_reminder_at=state.board_reminder if at_board else None,
            staffing_cutoff=state.cutoff,
            course_starts_at=rules.start_of_day(state.fields.start_date),
            course_ends_at=rules.end_of_day(state.fields.end_date),
        ),
        version=state.version,
    )


def audit_chain(state: ProposalState) -> AuditChain:
    """The workflow's record of its audit events (``/events/verify`` compares it with the database)."""
    return AuditChain(kept=state.chain_kept, events=state.chain_events, head=state.chain_head)


def action_result(
    state: ProposalState, inp: ActionInput | ReadInput, request: InstructorRequestView | None = None
) -> ActionResult:
    """What an Update answers: the version, and the whole view unless the caller asked for none."""
    return ActionResult(
        proposal_id=state.id,
        version=state.version,
        proposal=view(state) if inp.return_state else None,
        request=request.model_copy() if request else None,
    )


def search_attributes(v: ProposalView) -> dict[str, Any]:
    """Name → value of each search attribute (:data:`ilea.search_attributes.ALL`) for this view."""
    return _attributes(v.stage, v)


def _attributes(stage: Stage, f: ProposalFields) -> dict[str, Any]:
    """The search attributes of a proposal with these fields in ``stage``."""
    return {
        sa.STAGE.name: stage.value,
        sa.ACADEMY.name: f.academy.value,
        sa.TOPIC.name: f.topic.value,
        sa.START_DATE.name: rules.start_of_day(f.start_date),
    }


def search_attributes_at_start(fields: ProposalFields) -> TypedSearchAttributes:
    """What a proposal's workflow is started with: its attributes once its first commit has
    opened the ISG round. The start records them with the workflow, so that commit upserts none
    (a visibility write and a history event fewer per proposal); were they ever not what it
    computes, it would upsert the difference (:func:`started_with`)."""
    values = _attributes(Stage.isg_review, fields)
    return TypedSearchAttributes([SearchAttributePair(key, values[key.name]) for key in sa.ALL])


def started_with(attributes: TypedSearchAttributes) -> dict[str, Any]:
    """The search attributes a workflow was started with, as :func:`search_attributes` gives
    them (the workflow's record of what Temporal holds before its first upsert; empty for a
    proposal started without them)."""
    return {key.name: attributes.get(key) for key in sa.ALL if key in attributes}


def search_attribute_changes(v: ProposalView, last: dict[str, Any]) -> list[SearchAttributeUpdate[Any]]:
    """The upsert that takes the attributes from ``last`` (as :func:`search_attributes` gave
    them) to this view: only those whose value changed; empty when none did (most actions)."""
    wanted = search_attributes(v)
    return [key.value_set(wanted[key.name]) for key in sa.ALL if wanted[key.name] != last.get(key.name)]


# --- proposals started before IleaPendingOn left (``workflow.patched`` in ProposalWorkflow._commit)


def legacy_search_attributes(v: ProposalView) -> dict[str, Any]:
    """What such a proposal compared with its last upsert: the pending parties too."""
    return {
        "stage": v.stage.value,
        "academy": v.academy.value,
        "topic": v.topic.value,
        "pending": sorted({p.party for p in v.pending_on}),
        "start": v.start_date,
    }


def legacy_search_attribute_updates(v: ProposalView) -> list[SearchAttributeUpdate[Any]]:
    """Its upsert: every attribute, ``IleaPendingOn`` included, whenever any of them changed."""
    return [
        sa.STAGE.value_set(v.stage.value),
        sa.ACADEMY.value_set(v.academy.value),
        sa.TOPIC.value_set(v.topic.value),
        sa.LEGACY_PENDING_ON.value_set(sorted({p.party for p in v.pending_on})),
        sa.START_DATE.value_set(rules.start_of_day(v.start_date)),
    ]


def search_attribute_upserts(
    v: ProposalView, last: dict[str, Any], *, edition_2: bool
) -> tuple[dict[str, Any], list[SearchAttributeUpdate[Any]]]:
    """The search attributes to keep as sent, and the upserts to send now (often none).

    Edition 2: only the attributes whose value changed (a stage change, a revision); most actions
    change none and send no command (a visibility write each). Proposals started before it: all
    five, ``IleaPendingOn`` too, whenever any changed.
    """
    if edition_2:
        changed = search_attribute_changes(v, last)
        return (search_attributes(v), changed) if changed else (last, [])
    wanted = legacy_search_attributes(v)
    if wanted == last:
        return last, []
    return wanted, legacy_search_attribute_updates(v)
