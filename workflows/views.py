"""What a proposal looks like from outside: the view the read model and Updates carry, the
actions pending on whom, and the Temporal search attributes kept in step with them.

Read-only over the state :class:`~workflows.proposal.ProposalWorkflow` holds, except for
remembering the search attributes last upserted.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ilea.domain import BOARD_MEMBERS, ISG_SEATS, Agency, RequestStatus, Stage
    from ilea.messages import (
        Actor,
        BoardDecisionRecord,
        BoardPositionRecord,
        Deadlines,
        IsgVoteRecord,
        PendingItem,
        ProposalFields,
        ProposalView,
    )
    from ilea.search_attributes import ACADEMY as SA_ACADEMY
    from ilea.search_attributes import PENDING_ON as SA_PENDING
    from ilea.search_attributes import STAGE as SA_STAGE
    from ilea.search_attributes import START_DATE as SA_START
    from ilea.search_attributes import TOPIC as SA_TOPIC
    from workflows import rules
    from workflows.staffing import Staffing

from workflows.checks import STAFFING_STAGES


class ProposalViews:
    """The view and the search attributes; :class:`ProposalWorkflow` holds the state they read."""

    _id: str
    _fields: ProposalFields
    _stage: Stage
    _overdue: bool
    _dissent: bool
    _fast_tracked: bool
    _round: int
    _revisions: int
    _submitter: Actor
    _submitted_at: datetime
    _authors: set[str]
    _updated_at: datetime
    _votes: dict[Agency, IsgVoteRecord]
    _positions: dict[Agency, BoardPositionRecord]
    _decision: BoardDecisionRecord | None
    _staffing: Staffing
    _round_opened_at: datetime
    _round_due: datetime | None
    _round_reminder: datetime | None
    _revision_since: datetime | None
    _revision_due: datetime | None
    _board_since: datetime | None
    _board_due: datetime | None
    _board_reminder: datetime | None
    _cutoff: date
    _version: int
    _last_sa: dict[str, Any]

    def _pending(self) -> list[PendingItem]:
        items: list[PendingItem] = []
        if self._stage is Stage.isg_review:
            items += [
                PendingItem(party=f"isg:{s}", since=self._round_opened_at, due=self._round_due, kind="isg_vote")
                for s in ISG_SEATS
                if s not in self._votes
            ]
        elif self._stage is Stage.changes_requested and self._revision_since:
            items.append(
                PendingItem(party="program_officer", since=self._revision_since, due=self._revision_due, kind="revise")
            )
        elif self._stage is Stage.board_review and self._board_since:
            items += [
                PendingItem(party=f"board:{a}", since=self._board_since, due=self._board_due, kind="board_position")
                for a in BOARD_MEMBERS
                if a not in self._positions
            ]
            items.append(
                PendingItem(
                    party="board:chair",
                    since=self._board_since,
                    due=self._board_due,
                    kind="overdue_board" if self._overdue else "board_decision",
                )
            )
        elif self._stage in STAFFING_STAGES:
            for r in self._staffing.live():
                if r.status is RequestStatus.open:
                    items.append(
                        PendingItem(
                            party=f"agency:{r.agency}",
                            since=r.sent_at,
                            due=r.due,
                            kind="instructor_request",
                            request_id=r.id,
                        )
                    )
                elif r.status is RequestStatus.unfilled:
                    items.append(
                        PendingItem(
                            party="program_officer",
                            since=r.sent_at,
                            due=rules.end_of_day(self._cutoff),
                            kind="retarget",
                            request_id=r.id,
                        )
                    )
        return items

    def _view(self) -> ProposalView:
        return ProposalView(
            **self._fields.model_dump(),
            id=self._id,
            stage=self._stage,
            overdue=self._overdue,
            dissent=self._dissent,
            fast_tracked=self._fast_tracked,
            round=max(self._round, 1),
            revisions=self._revisions,
            submitted_by=self._submitter.sub,
            submitted_by_name=self._submitter.name,
            submitted_at=self._submitted_at,
            authors=sorted(self._authors),
            updated_at=self._updated_at,
            isg_votes=[self._votes[s] for s in ISG_SEATS if s in self._votes],
            board_positions=[self._positions[a] for a in BOARD_MEMBERS if a in self._positions],
            board_decision=self._decision,
            pending_on=self._pending(),
            instructor_requests=[r.model_copy() for r in self._staffing.requests],
            deadlines=Deadlines(
                isg_round_due=self._round_due if self._stage is Stage.isg_review else None,
                isg_reminder_at=self._round_reminder if self._stage is Stage.isg_review else None,
                revision_due=self._revision_due if self._stage is Stage.changes_requested else None,
                board_due=self._board_due if self._stage is Stage.board_review else None,
                board_reminder_at=self._board_reminder if self._stage is Stage.board_review else None,
                staffing_cutoff=self._cutoff,
                course_starts_at=rules.start_of_day(self._fields.start_date),
                course_ends_at=rules.end_of_day(self._fields.end_date),
            ),
            version=self._version,
        )

    def _upsert_search_attributes(self, view: ProposalView) -> None:
        pending = sorted({p.party for p in view.pending_on})
        wanted: dict[str, Any] = {
            "stage": view.stage.value,
            "academy": view.academy.value,
            "topic": view.topic.value,
            "pending": pending,
            "start": view.start_date,
        }
        if wanted == self._last_sa:
            return
        self._last_sa = wanted
        workflow.upsert_search_attributes(
            [
                SA_STAGE.value_set(view.stage.value),
                SA_ACADEMY.value_set(view.academy.value),
                SA_TOPIC.value_set(view.topic.value),
                SA_PENDING.value_set(pending),
                SA_START.value_set(rules.start_of_day(view.start_date)),
            ]
        )
