"""ISG review and Policy Board review on the time-skipping server (product.md "ISG review",
"Policy Board review", "At any time").

The test server's clock is shared by the whole session and jumps ahead whenever a test
sleeps, so every proposal here is dated from the server's clock, not the wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from ilea.db import audit, proposals
from ilea.domain import Agency, BoardDecision, BoardPosition, IsgVote, RequestStatus, Role, Stage
from ilea.messages import (
    Actor,
    BoardDecisionInput,
    BoardPositionInput,
    IsgVoteInput,
    ProposalView,
    ReadInput,
    RevisionInput,
    WithdrawInput,
)
from tests.support import CHAIR, PO, PO2, board, fields, isg, running_worker, start_proposal, vote_all
from workflows import rules
from workflows.proposal import ProposalWorkflow

Handle = WorkflowHandle[Any, Any]
T = TypeVar("T")


# --- helpers --------------------------------------------------------------------------------


class Review:
    """One test's proposals: dated from the server clock, terminated if a test leaves them running."""

    def __init__(self, env: WorkflowEnvironment, task_queue: str) -> None:
        self.env = env
        self.task_queue = task_queue
        self.handles: list[Handle] = []

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def start(self, *, submitter: Actor = PO, **kwargs: Any) -> tuple[str, Handle]:
        now = await self.now()
        f = fields(today=rules.eastern_date(now), **kwargs)
        pid, handle = await start_proposal(self.env.client, self.task_queue, f, submitter=submitter, submitted_at=now)
        self.handles.append(handle)
        await ready(handle)
        return pid, handle

    async def revision(self, handle: Handle, *, actor: Actor = PO, title: str = "Revised title") -> ProposalView:
        f = fields(today=rules.eastern_date(await self.now()), title=title)
        result = await handle.execute_update(
            ProposalWorkflow.revise, RevisionInput(actor=actor, proposal=f, comment="addressed the comments")
        )
        return result.proposal

    async def sleep_until(self, at: datetime) -> None:
        await self.env.sleep(at - await self.now())


async def ready(handle: Handle) -> None:
    """Wait until the submission is recorded, as the API does (update-with-start of `current`).

    An update that reaches the workflow in its very first activation is validated while the
    proposal is still `submitted`, before the round opens.
    """
    await handle.execute_update(ProposalWorkflow.current, ReadInput())


@pytest.fixture
async def review(ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str) -> AsyncIterator[Review]:
    r = Review(ts_env, task_queue)
    async with running_worker(ts_env.client, pool, task_queue):
        yield r
    for handle in r.handles:
        with contextlib.suppress(RPCError):
            await handle.terminate("test finished")


async def vote(
    handle: Handle, agency: Agency, v: IsgVote, comment: str | None = "see the attached note"
) -> ProposalView:
    result = await handle.execute_update(
        ProposalWorkflow.isg_vote, IsgVoteInput(actor=isg(agency), vote=v, comment=comment)
    )
    return result.proposal


async def votes(handle: Handle, *cast: IsgVote) -> ProposalView:
    view = None
    for agency, v in zip((Agency.STATE, Agency.TREASURY, Agency.DHS, Agency.DOJ), cast, strict=False):
        view = await vote(handle, agency, v)
    assert view is not None
    return view


async def decide(handle: Handle, decision: BoardDecision, comment: str | None = "noted") -> ProposalView:
    result = await handle.execute_update(
        ProposalWorkflow.board_decision, BoardDecisionInput(actor=CHAIR, decision=decision, comment=comment)
    )
    return result.proposal


async def position(handle: Handle, agency: Agency, p: BoardPosition) -> ProposalView:
    result = await handle.execute_update(
        ProposalWorkflow.board_position, BoardPositionInput(actor=board(agency), position=p, comment="our view")
    )
    return result.proposal


async def state(handle: Handle) -> ProposalView:
    return await handle.query(ProposalWorkflow.state)


async def eventually(probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], within: float = 10) -> T:
    """The probe's value once ``ok`` holds (timers fire, then the worker needs a moment)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if ok(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)


#: The time-skipping test server has no speculative workflow tasks: it keeps the task that ran
#: a refusing validator in history. Nothing else may appear (the real server keeps nothing:
#: see test_a_refused_update_leaves_no_history_on_the_real_server).
IN_FLIGHT = {EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED}
WORKFLOW_TASK = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
}


async def history(handle: Handle) -> list[HistoryEvent]:
    """The history once no workflow task is in flight (the first one may still be running)."""
    while True:
        events = [e async for e in handle.fetch_history_events()]
        if events[-1].event_type not in IN_FLIGHT:
            return events
        await asyncio.sleep(0.02)


async def refused(handle: Handle, update: Any, arg: Any) -> ApplicationError:
    """Run an update that must be refused by its validator; check it recorded nothing; return the refusal."""
    before = await history(handle)
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await handle.execute_update(update, arg)
    added = (await history(handle))[len(before) :]
    assert {e.event_type for e in added} <= WORKFLOW_TASK, [EventType.Name(e.event_type) for e in added]
    cause = info.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def actions(pool: asyncpg.Pool, pid: str) -> list[dict[str, Any]]:
    return await audit.fetch(pool, pid)


# --- ISG outcomes -----------------------------------------------------------------------------


async def test_unanimous_concur_goes_to_board_then_staffing(review: Review, pool: asyncpg.Pool) -> None:
    pid, handle = await review.start(cost="250000")
    view = await vote_all(handle)
    assert view.proposal.stage is Stage.board_review
    assert not view.proposal.fast_tracked and not view.proposal.dissent
    assert [v.vote for v in view.proposal.isg_votes] == [IsgVote.concur] * 4
    assert {p.party for p in view.proposal.pending_on} == {"board:TREASURY", "board:DHS", "board:DOJ", "board:chair"}
    approved = await decide(handle, BoardDecision.approve, comment=None)
    assert approved.stage is Stage.staffing
    assert [r.status for r in approved.instructor_requests] == [RequestStatus.open] * 3
    row = await proposals.get(pool, pid)
    assert row is not None and row["stage"] == "staffing"
    stages = [e["detail"]["to"] for e in await actions(pool, pid) if e["action"] == "stage_changed"]
    assert stages == ["isg_review", "board_review", "staffing"]


async def test_fast_track_skips_the_board_and_notifies_it(review: Review, pool: asyncpg.Pool) -> None:
    pid, handle = await review.start(cost="150000")
    view = (await vote_all(handle)).proposal
    assert view.stage is Stage.staffing
    assert view.fast_tracked
    assert view.board_decision is None and view.board_positions == []
    stages = [e["detail"]["to"] for e in await actions(pool, pid) if e["action"] == "stage_changed"]
    assert stages == ["isg_review", "staffing"]
    kinds = await pool.fetch("SELECT party, kind FROM notifications WHERE proposal_id = $1", pid)
    told = {r["party"] for r in kinds if r["kind"] == "fast_track"}
    assert told == {"board:TREASURY", "board:DHS", "board:DOJ", "board:chair"}


async def test_one_nonconcur_goes_to_board_with_dissent(review: Review) -> None:
    _, handle = await review.start(cost="1000")
    view = await votes(handle, IsgVote.concur, IsgVote.nonconcur, IsgVote.concur, IsgVote.concur)
    assert view.stage is Stage.board_review
    assert view.dissent and not view.fast_tracked


async def test_two_nonconcur_reject(review: Review, pool: asyncpg.Pool) -> None:
    pid, handle = await review.start()
    view = await votes(handle, IsgVote.nonconcur, IsgVote.concur, IsgVote.nonconcur, IsgVote.concur)
    assert view.stage is Stage.rejected
    assert (await handle.result()).stage is Stage.rejected
    closed = [e for e in await actions(pool, pid) if e["action"] == "isg_round_closed"]
    assert [e["detail"]["outcome"] for e in closed] == ["rejected"]


async def test_a_seat_may_change_its_vote_and_the_trail_keeps_both(review: Review, pool: asyncpg.Pool) -> None:
    pid, handle = await review.start()
    await vote(handle, Agency.DHS, IsgVote.nonconcur)
    view = await vote(handle, Agency.DHS, IsgVote.concur)
    assert [(v.agency, v.vote) for v in view.isg_votes] == [(Agency.DHS, IsgVote.concur)]
    assert view.stage is Stage.isg_review
    cast = [
        (e["detail"]["vote"], e["detail"]["replaces"]) for e in await actions(pool, pid) if e["action"] == "isg_vote"
    ]
    assert cast == [("nonconcur", None), ("concur", "nonconcur")]


# --- changes requested and revisions --------------------------------------------------------


async def test_request_changes_then_revision_opens_a_fresh_round(review: Review, pool: asyncpg.Pool) -> None:
    pid, handle = await review.start()
    view = await votes(handle, IsgVote.concur, IsgVote.request_changes, IsgVote.concur, IsgVote.concur)
    assert view.stage is Stage.changes_requested
    assert [(p.party, p.kind) for p in view.pending_on] == [("program_officer", "revise")]
    assert view.deadlines.revision_due is not None

    revised = await review.revision(handle, title="Countering financial crimes, revised")
    assert revised.stage is Stage.isg_review
    assert (revised.round, revised.revisions) == (2, 1)
    assert revised.isg_votes == []
    assert revised.title == "Countering financial crimes, revised"
    assert {p.party for p in revised.pending_on} == {"isg:STATE", "isg:TREASURY", "isg:DHS", "isg:DOJ"}

    assert (await vote_all(handle)).proposal.stage is Stage.board_review
    assert (await decide(handle, BoardDecision.approve)).stage is Stage.staffing
    events = await actions(pool, pid)
    assert [e["detail"]["outcome"] for e in events if e["action"] == "isg_round_closed"] == [
        "changes_requested",
        "board",
    ]
    assert [e["detail"]["revision"] for e in events if e["action"] == "revised"] == [1]


async def test_an_invalid_revision_is_refused(review: Review) -> None:
    _, handle = await review.start()
    await votes(handle, IsgVote.request_changes, IsgVote.concur, IsgVote.concur, IsgVote.concur)
    bad = fields(today=rules.eastern_date(await review.now()), lead_days=10)  # too soon to start
    err = await refused(handle, ProposalWorkflow.revise, RevisionInput(actor=PO, proposal=bad, comment="fixed"))
    assert err.type == "Invalid"
    assert (await state(handle)).stage is Stage.changes_requested


async def test_changes_requested_in_round_four_rejects(review: Review) -> None:
    _, handle = await review.start()
    for revision in (1, 2, 3):
        view = await votes(handle, IsgVote.request_changes, IsgVote.concur, IsgVote.concur, IsgVote.concur)
        assert view.stage is Stage.changes_requested
        view = await review.revision(handle, title=f"Revision {revision}")
        assert (view.round, view.revisions) == (revision + 1, revision)
    view = await votes(handle, IsgVote.request_changes, IsgVote.concur, IsgVote.concur, IsgVote.concur)
    assert view.stage is Stage.rejected
    assert (view.round, view.revisions) == (4, 3)
    assert (await handle.result()).stage is Stage.rejected


async def test_revision_window_lapses_to_expired(review: Review, pool: asyncpg.Pool) -> None:
    pid, handle = await review.start()
    view = await votes(handle, IsgVote.request_changes, IsgVote.concur, IsgVote.concur, IsgVote.concur)
    due = view.deadlines.revision_due
    assert due is not None
    # 20 business days: four weeks less the part of a day already gone, at the end of an Eastern day.
    assert due - view.updated_at >= timedelta(days=26)  # opened on a Sunday: 26 days 23 hours
    assert rules.end_of_day(rules.eastern_date(due - timedelta(seconds=1))) == due

    await review.sleep_until(due - timedelta(hours=1))
    assert (await state(handle)).stage is Stage.changes_requested
    await review.env.sleep(timedelta(hours=2))
    assert (await handle.result()).stage is Stage.expired
    row = await proposals.get(pool, pid)
    assert row is not None and row["stage"] == "expired"


# --- the silence procedure ---------------------------------------------------------------------


async def test_silent_seats_are_reminded_then_deemed_to_concur(review: Review, pool: asyncpg.Pool) -> None:
    pid, handle = await review.start(cost="1000")  # fast-track eligible, were the concurs explicit
    await vote(handle, Agency.STATE, IsgVote.concur)
    view = await vote(handle, Agency.TREASURY, IsgVote.concur)
    due, remind_at = view.deadlines.isg_round_due, view.deadlines.isg_reminder_at
    assert due is not None and remind_at is not None
    assert due == rules.business_deadline(view.submitted_at, 10)
    assert remind_at == rules.reminder_time(due, 2)

    await review.sleep_until(remind_at - timedelta(minutes=5))
    assert not [e for e in await actions(pool, pid) if e["action"] == "reminder"]
    await review.sleep_until(due - timedelta(minutes=5))
    early = await eventually(lambda: actions(pool, pid), lambda ev: any(e["action"] == "reminder" for e in ev))
    assert {e["agency"] for e in early if e["action"] == "reminder"} == {"DHS", "DOJ"}
    assert (await state(handle)).stage is Stage.isg_review

    await review.env.sleep(timedelta(minutes=10))
    view = await eventually(lambda: state(handle), lambda v: v.stage is not Stage.isg_review)
    assert view.stage is Stage.board_review
    assert not view.fast_tracked  # deemed concurs are not explicit concurs
    cast = {v.agency: (v.vote, v.by) for v in view.isg_votes}
    assert cast == {
        Agency.STATE: (IsgVote.concur, "isg-state"),
        Agency.TREASURY: (IsgVote.concur, "isg-treasury"),
        Agency.DHS: (IsgVote.deemed_concur, "system"),
        Agency.DOJ: (IsgVote.deemed_concur, "system"),
    }
    events = await actions(pool, pid)
    order = [(e["action"], e["agency"]) for e in events if e["action"] in ("reminder", "deemed_concur")]
    assert order == [("reminder", "DHS"), ("reminder", "DOJ"), ("deemed_concur", "DHS"), ("deemed_concur", "DOJ")]
    deemed = [e for e in events if e["action"] == "deemed_concur"]
    assert all(e["actor"] == "system" and e["at"] >= due for e in deemed)
    reminders = [e for e in events if e["action"] == "reminder"]
    assert all(remind_at <= e["at"] < due for e in reminders)


# --- the Policy Board ----------------------------------------------------------------------------


async def test_board_overdue_escalates_and_decides_nothing(review: Review, pool: asyncpg.Pool) -> None:
    pid, handle = await review.start()
    view = (await vote_all(handle)).proposal
    due = view.deadlines.board_due
    assert due is not None and due == rules.business_deadline(view.updated_at, 15)

    await review.sleep_until(due - timedelta(minutes=5))
    assert not (await state(handle)).overdue
    await review.env.sleep(timedelta(minutes=10))
    view = await eventually(lambda: state(handle), lambda v: v.overdue)
    assert view.overdue
    assert view.stage is Stage.board_review
    chair = [p for p in view.pending_on if p.party == "board:chair"]
    assert [p.kind for p in chair] == ["overdue_board"]

    events = await actions(pool, pid)
    names = [e["action"] for e in events]
    assert "escalation" in names
    assert names.index("reminder") < names.index("escalation")
    escalated = await pool.fetch("SELECT party FROM notifications WHERE proposal_id = $1 AND kind = 'escalation'", pid)
    assert {r["party"] for r in escalated} == {"board:chair", "person:po-1"}
    row = await proposals.get(pool, pid)
    assert row is not None and row["overdue"] and row["stage"] == "board_review"
    # Nothing was decided for the chair, who can still decide.
    assert (await decide(handle, BoardDecision.approve)).stage is Stage.staffing


async def test_chair_may_not_approve_over_two_nonconcurs(review: Review) -> None:
    _, handle = await review.start()
    await vote_all(handle)
    await position(handle, Agency.DHS, BoardPosition.nonconcur)
    await position(handle, Agency.TREASURY, BoardPosition.concur)
    await position(handle, Agency.DOJ, BoardPosition.nonconcur)
    err = await refused(
        handle, ProposalWorkflow.board_decision, BoardDecisionInput(actor=CHAIR, decision=BoardDecision.approve)
    )
    assert err.type == "ChairBlocked"
    assert "DHS, DOJ" in err.message
    assert (await state(handle)).stage is Stage.board_review
    # One nonconcur left does not block (a member may change its position).
    await position(handle, Agency.DOJ, BoardPosition.concur)
    assert (await decide(handle, BoardDecision.approve)).stage is Stage.staffing


async def test_chair_decisions_other_than_approve_need_a_comment(review: Review) -> None:
    _, handle = await review.start()
    await vote_all(handle)
    for decision in (BoardDecision.disapprove, BoardDecision.return_to_isg):
        err = await refused(
            handle,
            ProposalWorkflow.board_decision,
            BoardDecisionInput(actor=CHAIR, decision=decision, comment="  "),
        )
        assert err.type == "Invalid"


async def test_return_to_isg_requests_changes(review: Review) -> None:
    _, handle = await review.start()
    await vote_all(handle)
    view = await decide(handle, BoardDecision.return_to_isg, comment="the cost estimate needs detail")
    assert view.stage is Stage.changes_requested
    assert view.board_decision is not None and view.board_decision.decision is BoardDecision.return_to_isg
    revised = await review.revision(handle)
    assert (revised.stage, revised.round, revised.isg_votes) == (Stage.isg_review, 2, [])


async def test_disapprove_rejects(review: Review) -> None:
    _, handle = await review.start()
    await vote_all(handle)
    assert (await decide(handle, BoardDecision.disapprove, comment="not a priority")).stage is Stage.rejected
    assert (await handle.result()).stage is Stage.rejected


# --- withdrawal --------------------------------------------------------------------------------


async def _to_isg_review(review: Review, handle: Handle) -> None:
    return None


async def _to_changes_requested(review: Review, handle: Handle) -> None:
    await votes(handle, IsgVote.request_changes, IsgVote.concur, IsgVote.concur, IsgVote.concur)


async def _to_board_review(review: Review, handle: Handle) -> None:
    await vote_all(handle)


async def _to_staffing(review: Review, handle: Handle) -> None:
    await vote_all(handle)
    await decide(handle, BoardDecision.approve)


@pytest.mark.parametrize(
    ("stage", "reach"),
    [
        (Stage.isg_review, _to_isg_review),
        (Stage.changes_requested, _to_changes_requested),
        (Stage.board_review, _to_board_review),
        (Stage.staffing, _to_staffing),
    ],
)
async def test_withdraw(
    review: Review, pool: asyncpg.Pool, stage: Stage, reach: Callable[[Review, Handle], Awaitable[None]]
) -> None:
    pid, handle = await review.start()
    await reach(review, handle)
    assert (await state(handle)).stage is stage
    err = await refused(handle, ProposalWorkflow.withdraw, WithdrawInput(actor=PO, reason=" "))
    assert err.type == "Invalid"
    result = await handle.execute_update(
        ProposalWorkflow.withdraw, WithdrawInput(actor=PO2, reason="the host country postponed")
    )
    view = result.proposal
    assert view.stage is Stage.withdrawn
    assert view.pending_on == []
    assert all(r.status is RequestStatus.cancelled for r in view.instructor_requests)
    assert (await handle.result()).stage is Stage.withdrawn
    row = await proposals.get(pool, pid)
    assert row is not None and row["stage"] == "withdrawn"
    withdrawn = [e for e in await actions(pool, pid) if e["action"] == "withdrawn"]
    assert [(e["actor"], e["detail"]["reason"]) for e in withdrawn] == [("po-2", "the host country postponed")]


# --- refusals ------------------------------------------------------------------------------------


async def test_submitter_may_not_vote_four_eyes(review: Review) -> None:
    both = Actor(sub=PO.sub, name=PO.name, agency=Agency.STATE, roles=[Role.program_officer, Role.isg_member])
    _, handle = await review.start(submitter=PO)
    err = await refused(handle, ProposalWorkflow.isg_vote, IsgVoteInput(actor=both, vote=IsgVote.concur))
    assert err.type == "FourEyes"
    assert (await state(handle)).isg_votes == []


async def test_reviser_may_not_review_four_eyes(review: Review) -> None:
    _, handle = await review.start()
    await votes(handle, IsgVote.request_changes, IsgVote.concur, IsgVote.concur, IsgVote.concur)
    reviser = Actor(sub="po-2", name="Sam Officer", agency=Agency.STATE, roles=[Role.program_officer, Role.isg_member])
    await review.revision(handle, actor=reviser)
    err = await refused(handle, ProposalWorkflow.isg_vote, IsgVoteInput(actor=reviser, vote=IsgVote.concur))
    assert err.type == "FourEyes"


async def test_submitter_may_not_chair_four_eyes(review: Review) -> None:
    chairing_po = Actor(sub=PO.sub, name=PO.name, agency=Agency.STATE, roles=[Role.program_officer, Role.board_chair])
    _, handle = await review.start(submitter=PO)
    await vote_all(handle)
    err = await refused(
        handle,
        ProposalWorkflow.board_decision,
        BoardDecisionInput(actor=chairing_po, decision=BoardDecision.approve),
    )
    assert err.type == "FourEyes"


async def test_actions_in_the_wrong_stage_are_refused(review: Review) -> None:
    _, handle = await review.start()
    err = await refused(
        handle,
        ProposalWorkflow.board_position,
        BoardPositionInput(actor=board(Agency.DHS), position=BoardPosition.concur),
    )
    assert err.type == "WrongStage"
    err = await refused(
        handle, ProposalWorkflow.board_decision, BoardDecisionInput(actor=CHAIR, decision=BoardDecision.approve)
    )
    assert err.type == "WrongStage"
    new = fields(today=rules.eastern_date(await review.now()))
    err = await refused(handle, ProposalWorkflow.revise, RevisionInput(actor=PO, proposal=new, comment="early"))
    assert err.type == "WrongStage"

    await vote_all(handle)
    err = await refused(handle, ProposalWorkflow.isg_vote, IsgVoteInput(actor=isg(Agency.DHS), vote=IsgVote.concur))
    assert err.type in ("Closed", "WrongStage")
    assert [v.vote for v in (await state(handle)).isg_votes] == [IsgVote.concur] * 4


async def test_a_vote_other_than_concur_needs_a_comment(review: Review) -> None:
    _, handle = await review.start()
    for v in (IsgVote.nonconcur, IsgVote.request_changes, IsgVote.abstain):
        for comment in (None, "", "   "):
            bad = IsgVoteInput(actor=isg(Agency.DOJ), vote=v, comment=comment)
            err = await refused(handle, ProposalWorkflow.isg_vote, bad)
            assert err.type == "Invalid", (v, comment)
    assert (await state(handle)).isg_votes == []
    # A concur needs none.
    assert [x.vote for x in (await vote(handle, Agency.DOJ, IsgVote.concur, comment=None)).isg_votes] == [
        IsgVote.concur
    ]


async def test_people_may_not_cast_deemed_concur_or_vote_for_another_role(review: Review) -> None:
    _, handle = await review.start()
    err = await refused(
        handle, ProposalWorkflow.isg_vote, IsgVoteInput(actor=isg(Agency.DHS), vote=IsgVote.deemed_concur)
    )
    assert err.type == "Invalid"
    err = await refused(handle, ProposalWorkflow.isg_vote, IsgVoteInput(actor=board(Agency.DHS), vote=IsgVote.concur))
    assert err.type == "Forbidden"
    err = await refused(handle, ProposalWorkflow.withdraw, WithdrawInput(actor=isg(Agency.STATE), reason="mine"))
    assert err.type == "Forbidden"


async def test_a_refused_update_leaves_no_history_on_the_real_server(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str
) -> None:
    now = await dev_env.get_current_time()
    async with running_worker(dev_env.client, pool, task_queue):
        _, handle = await start_proposal(
            dev_env.client, task_queue, fields(today=rules.eastern_date(now)), submitted_at=now
        )
        try:
            await ready(handle)
            await vote(handle, Agency.STATE, IsgVote.concur)
            before = len(await history(handle))
            for bad in (
                IsgVoteInput(actor=isg(Agency.DHS), vote=IsgVote.nonconcur),  # no comment
                IsgVoteInput(actor=PO, vote=IsgVote.concur),  # not an ISG member
            ):
                with pytest.raises(WorkflowUpdateFailedError):
                    await handle.execute_update(ProposalWorkflow.isg_vote, bad)
            assert len(await history(handle)) == before
            # ... while an accepted update does leave a trace.
            await vote(handle, Agency.DHS, IsgVote.concur)
            assert len(await history(handle)) > before
        finally:
            await handle.terminate("test finished")
