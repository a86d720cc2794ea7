"""Staffing on the time-skipping server: requests, alternates, deadlines, cutoff, releases, refusals.

Every test ends with :func:`check_invariants`, which compares the workflow's own state (query
``state``) with the bookings table: a live booking exists exactly for each live accepted request,
and no instructor holds two overlapping live bookings.

The time-skipping server's clock is shared by the whole session and only moves forward, so each
proposal is dated from the server's current time, never from the wall clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from ilea.db import audit, roster
from ilea.domain import Agency, BoardDecision, RequestStatus, Stage, Topic
from ilea.messages import (
    AcceptInput,
    ActionResult,
    BoardDecisionInput,
    CutoffInput,
    DeclineInput,
    InstructorNeed,
    InstructorRequestView,
    ProposalOutcome,
    ProposalView,
    ReadInput,
    ReleaseInput,
    RetargetInput,
    WithdrawInput,
)
from tests.support import CHAIR, PO, coordinator, fields, running_worker, seed_instructors, start_proposal, vote_all
from workflows import rules
from workflows.proposal import ProposalWorkflow

Handle = WorkflowHandle[Any, Any]
EXPERTISE = Topic.corruption_financial_crimes
LIVE_BOOKINGS = "SELECT count(*) FROM bookings WHERE proposal_id = $1 AND released_at IS NULL"


def need(agency: Agency, count: int = 1, *alternates: Agency) -> InstructorNeed:
    return InstructorNeed(agency=agency, expertise=EXPERTISE, count=count, alternate_agencies=list(alternates))


# --- helpers ----------------------------------------------------------------------------------------


class Proposals:
    """Starts proposals for one test and terminates those still running when it ends.

    A workflow left running after its worker has stopped would stall the shared
    time-skipping server as soon as one of its timers falls due in a later test.
    """

    def __init__(self, env: WorkflowEnvironment, task_queue: str) -> None:
        self.env = env
        self.task_queue = task_queue
        self.handles: list[Handle] = []

    async def to_staffing(
        self,
        *,
        needs: list[InstructorNeed] | None = None,
        title: str = "Countering financial crimes",
        lead_days: int = 120,
    ) -> tuple[str, Handle, ProposalView]:
        """Submit a proposal dated from the server clock, concur all four seats, approve it."""
        now = await self.env.get_current_time()
        f = fields(today=rules.eastern_date(now), needs=needs, title=title, lead_days=lead_days)
        pid, handle = await start_proposal(self.env.client, self.task_queue, f, submitted_at=now)
        self.handles.append(handle)
        return pid, handle, await approve(handle)

    async def close(self) -> None:
        for handle in self.handles:
            if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test over")


@pytest.fixture
async def proposals(ts_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Proposals]:
    p = Proposals(ts_env, task_queue)
    try:
        yield p
    finally:
        await p.close()


async def approve(handle: Handle) -> ProposalView:
    """Concur all four ISG seats and have the chair approve: the proposal enters staffing."""
    # Until its first task has run the workflow is still `submitted` and refuses votes.
    await handle.execute_update(ProposalWorkflow.current, ReadInput())
    await vote_all(handle)
    decided = await handle.execute_update(
        ProposalWorkflow.board_decision, BoardDecisionInput(actor=CHAIR, decision=BoardDecision.approve)
    )
    assert decided.proposal.stage is Stage.staffing
    return decided.proposal


def live_requests(view: ProposalView) -> dict[int, InstructorRequestView]:
    """The current request of each slot (the last one sent for it)."""
    latest: dict[int, InstructorRequestView] = {}
    for r in view.instructor_requests:
        latest[r.slot] = r
    return latest


def slot(view: ProposalView, n: int) -> InstructorRequestView:
    return live_requests(view)[n]


async def accept(handle: Handle, request: InstructorRequestView, instructor_id: str) -> ActionResult:
    return await handle.execute_update(
        ProposalWorkflow.accept_request,
        AcceptInput(actor=coordinator(request.agency), request_id=request.id, instructor_id=instructor_id),
    )


async def accept_all(handle: Handle, view: ProposalView, ids: dict[Agency, list[str]]) -> ActionResult:
    """Accept every open live request, each with a different instructor of its agency."""
    used: dict[Agency, int] = {}
    result: ActionResult | None = None
    for r in live_requests(view).values():
        if r.status is not RequestStatus.open:
            continue
        n = used.get(r.agency, 0)
        used[r.agency] = n + 1
        result = await accept(handle, r, ids[r.agency][n])
        assert result.request is not None and result.request.status is RequestStatus.accepted
    assert result is not None
    return result


async def refused(update: Awaitable[Any]) -> ApplicationError:
    """The ApplicationError an update was refused with."""
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await update
    cause = info.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause


async def sleep_until(env: WorkflowEnvironment, at: datetime) -> None:
    delta = at - await env.get_current_time()
    if delta > timedelta(0):
        await env.sleep(delta)


async def finish(env: WorkflowEnvironment, handle: Handle, at: datetime) -> ProposalOutcome:
    """Skip the clock to ``at``, then read the outcome without letting the server skip on.

    Awaiting a result with automatic time skipping lets the test server run on past the
    workflow's completion to the next timer it holds, which can be a closed workflow's
    ten-year execution timeout: the shared clock would leap a decade per test.
    """
    await sleep_until(env, at)
    with env.auto_time_skipping_disabled():
        outcome: ProposalOutcome = await asyncio.wait_for(handle.result(), timeout=30)
    return outcome


async def state(handle: Handle) -> ProposalView:
    view: ProposalView = await handle.query(ProposalWorkflow.state)
    return view


async def live_booking_count(pool: asyncpg.Pool, pid: str) -> int:
    count: int = await pool.fetchval(LIVE_BOOKINGS, pid)
    return count


async def check_invariants(pool: asyncpg.Pool, handle: Handle, pid: str) -> ProposalView:
    """The workflow's requests and the bookings table agree; no instructor is double-booked."""
    view = await state(handle)
    live = live_requests(view)
    live_ids = {r.id for r in live.values()}
    for r in view.instructor_requests:
        if r.id not in live_ids:
            assert r.status not in (RequestStatus.open, RequestStatus.accepted, RequestStatus.unfilled), r
    accepted = set()
    for r in live.values():
        if r.status is RequestStatus.accepted:
            assert r.instructor is not None, r
            accepted.add((r.id, r.instructor.id))
    rows = await pool.fetch(
        "SELECT request_id, instructor_id FROM bookings WHERE proposal_id = $1 AND released_at IS NULL", pid
    )
    booked = {(row["request_id"], row["instructor_id"]) for row in rows}
    assert len(booked) == len(rows), "two live bookings for one request"
    assert booked <= accepted, f"live bookings without a live accepted request: {booked - accepted}"
    assert accepted <= booked, f"accepted requests without a live booking: {accepted - booked}"
    overlaps = await pool.fetch(
        "SELECT a.id, b.id FROM bookings a JOIN bookings b"
        " ON a.instructor_id = b.instructor_id AND a.id < b.id AND a.during && b.during"
        " WHERE a.released_at IS NULL AND b.released_at IS NULL"
    )
    assert overlaps == [], "an instructor has two overlapping live bookings"
    return view


async def stage_reasons(pool: asyncpg.Pool, pid: str, to: Stage) -> list[str]:
    events = await audit.fetch(pool, pid)
    return [e["detail"]["why"] for e in events if e["action"] == "stage_changed" and e["detail"]["to"] == to.value]


# --- the paths through staffing ---------------------------------------------------------------------


async def test_all_accepted_scheduled_then_delivered(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str, proposals: Proposals
) -> None:
    ids = await seed_instructors(pool)
    async with running_worker(ts_env.client, pool, task_queue):
        pid, handle, view = await proposals.to_staffing()
        assert [(r.slot, r.agency, r.status) for r in view.instructor_requests] == [
            (1, Agency.TREASURY, RequestStatus.open),
            (2, Agency.DOJ, RequestStatus.open),
            (3, Agency.DOJ, RequestStatus.open),
        ]
        result = await accept_all(handle, view, ids)
        assert result.proposal.stage is Stage.scheduled
        assert result.proposal.pending_on == []
        assert await live_booking_count(pool, pid) == 3
        await check_invariants(pool, handle, pid)

        await sleep_until(ts_env, rules.end_of_day(view.end_date) - timedelta(hours=1))
        assert (await state(handle)).stage is Stage.scheduled
        outcome = await finish(ts_env, handle, rules.end_of_day(view.end_date) + timedelta(minutes=1))
        assert outcome.stage is Stage.delivered
        final = await check_invariants(pool, handle, pid)
        assert final.stage is Stage.delivered
        assert all(r.status is RequestStatus.accepted for r in final.instructor_requests)
    # the course was given: its bookings stay on the instructors' calendars
    assert await live_booking_count(pool, pid) == 3


async def test_decline_moves_to_the_next_alternate(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str, proposals: Proposals
) -> None:
    ids = await seed_instructors(pool)
    async with running_worker(ts_env.client, pool, task_queue):
        pid, handle, view = await proposals.to_staffing(needs=[need(Agency.TREASURY, 1, Agency.DOJ)])
        first = slot(view, 1)
        declined = await handle.execute_update(
            ProposalWorkflow.decline_request,
            DeclineInput(actor=coordinator(Agency.TREASURY), request_id=first.id, reason="nobody free"),
        )
        assert declined.request is not None and declined.request.status is RequestStatus.declined
        assert declined.proposal.stage is Stage.staffing
        second = slot(declined.proposal, 1)
        assert second.id != first.id
        assert (second.agency, second.status, second.attempt) == (Agency.DOJ, RequestStatus.open, 2)
        assert second.asked_agencies == [Agency.TREASURY, Agency.DOJ]
        assert [(p.party, p.request_id) for p in declined.proposal.pending_on] == [("agency:DOJ", second.id)]

        # the declined request is closed for good
        err = await refused(accept(handle, first, ids[Agency.TREASURY][0]))
        assert err.type == "Closed"

        accepted = await accept(handle, second, ids[Agency.DOJ][0])
        assert accepted.proposal.stage is Stage.scheduled
        await check_invariants(pool, handle, pid)


async def test_decline_without_alternate_is_unfilled_then_retargeted(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str, proposals: Proposals
) -> None:
    ids = await seed_instructors(pool)
    async with running_worker(ts_env.client, pool, task_queue):
        pid, handle, view = await proposals.to_staffing(needs=[need(Agency.TREASURY), need(Agency.DOJ)])
        await accept(handle, slot(view, 1), ids[Agency.TREASURY][0])
        doj = slot(view, 2)
        declined = await handle.execute_update(
            ProposalWorkflow.decline_request,
            DeclineInput(actor=coordinator(Agency.DOJ), request_id=doj.id, reason="no one with the expertise"),
        )
        assert declined.request is not None and declined.request.status is RequestStatus.unfilled
        assert declined.request.closed_as is RequestStatus.declined
        assert declined.proposal.stage is Stage.staffing_at_risk
        assert [(p.party, p.kind, p.request_id) for p in declined.proposal.pending_on] == [
            ("program_officer", "retarget", doj.id)
        ]
        await check_invariants(pool, handle, pid)

        # only the program officer re-targets, and only to an instructor-providing agency
        err = await refused(
            handle.execute_update(
                ProposalWorkflow.retarget_request,
                RetargetInput(actor=coordinator(Agency.DOJ), request_id=doj.id, agency=Agency.DHS),
            )
        )
        assert err.type == "Forbidden"
        err = await refused(
            handle.execute_update(
                ProposalWorkflow.retarget_request, RetargetInput(actor=PO, request_id=doj.id, agency=Agency.STATE)
            )
        )
        assert err.type == "Invalid"

        retargeted = await handle.execute_update(
            ProposalWorkflow.retarget_request, RetargetInput(actor=PO, request_id=doj.id, agency=Agency.DHS)
        )
        assert retargeted.proposal.stage is Stage.staffing
        dhs = slot(retargeted.proposal, 2)
        assert retargeted.request is not None and retargeted.request.id == dhs.id
        assert (dhs.agency, dhs.status) == (Agency.DHS, RequestStatus.open)
        old = next(r for r in retargeted.proposal.instructor_requests if r.id == doj.id)
        assert old.status is RequestStatus.declined

        # a slot that is no longer unfilled cannot be re-targeted again
        err = await refused(
            handle.execute_update(
                ProposalWorkflow.retarget_request, RetargetInput(actor=PO, request_id=doj.id, agency=Agency.TREASURY)
            )
        )
        assert err.type == "Closed"

        done = await accept(handle, dhs, ids[Agency.DHS][0])
        assert done.proposal.stage is Stage.scheduled
        await check_invariants(pool, handle, pid)


async def test_request_deadline_counts_as_a_decline(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str, proposals: Proposals
) -> None:
    ids = await seed_instructors(pool)
    async with running_worker(ts_env.client, pool, task_queue):
        pid, handle, view = await proposals.to_staffing(needs=[need(Agency.TREASURY, 1, Agency.DOJ), need(Agency.DHS)])
        first = slot(view, 1)
        # 10 business days, ending at the end of a day in Eastern Time: about two weeks, up to
        # three when Christmas and New Year fall in them (the shared server clock may be anywhere)
        assert timedelta(days=12) < first.due - first.sent_at < timedelta(days=21)
        await accept(handle, slot(view, 2), ids[Agency.DHS][0])

        await sleep_until(ts_env, first.due - timedelta(hours=1))
        assert slot(await state(handle), 1).status is RequestStatus.open  # not yet
        # fifteen days after it was sent (later if holidays pushed the deadline further)
        await sleep_until(ts_env, max(first.sent_at + timedelta(days=15), first.due + timedelta(hours=1)))

        view = await check_invariants(pool, handle, pid)
        expired = next(r for r in view.instructor_requests if r.id == first.id)
        assert expired.status is RequestStatus.expired
        assert expired.reason is not None and "deadline" in expired.reason
        alternate = slot(view, 1)
        assert (alternate.agency, alternate.status, alternate.attempt) == (Agency.DOJ, RequestStatus.open, 2)
        assert alternate.due > first.due
        assert view.stage is Stage.staffing

        err = await refused(accept(handle, first, ids[Agency.TREASURY][0]))
        assert err.type == "Closed"
        done = await accept(handle, alternate, ids[Agency.DOJ][0])
        assert done.proposal.stage is Stage.scheduled
        await check_invariants(pool, handle, pid)
    events = await audit.fetch(pool, pid)
    assert [e["detail"]["request_id"] for e in events if e["action"] == "request_expired"] == [first.id]


async def test_cutoff_with_unfilled_slots_cancels_and_releases(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str, proposals: Proposals
) -> None:
    ids = await seed_instructors(pool)
    async with running_worker(ts_env.client, pool, task_queue):
        pid, handle, view = await proposals.to_staffing()
        await accept(handle, slot(view, 1), ids[Agency.TREASURY][0])
        await accept(handle, slot(view, 2), ids[Agency.DOJ][0])
        assert await live_booking_count(pool, pid) == 2
        cutoff = view.deadlines.staffing_cutoff
        assert cutoff == view.start_date - timedelta(days=30)

        # the DOJ request of slot 3 lapses and has no alternate: at risk, but not yet cancelled
        await sleep_until(ts_env, rules.end_of_day(cutoff) - timedelta(hours=1))
        at_risk = await check_invariants(pool, handle, pid)
        assert at_risk.stage is Stage.staffing_at_risk
        assert slot(at_risk, 3).status is RequestStatus.unfilled

        outcome = await finish(ts_env, handle, rules.end_of_day(cutoff) + timedelta(minutes=1))
        assert outcome.stage is Stage.cancelled
        final = await check_invariants(pool, handle, pid)
        assert final.stage is Stage.cancelled
        assert {r.status for r in live_requests(final).values()} == {RequestStatus.cancelled}
    assert await live_booking_count(pool, pid) == 0
    reasons = await stage_reasons(pool, pid, Stage.cancelled)
    assert len(reasons) == 1 and f"staffing cutoff {cutoff} passed" in reasons[0]


async def test_cutoff_extension_moves_the_cancellation(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str, proposals: Proposals
) -> None:
    ids = await seed_instructors(pool)
    async with running_worker(ts_env.client, pool, task_queue):
        pid, handle, view = await proposals.to_staffing()
        await accept(handle, slot(view, 1), ids[Agency.TREASURY][0])
        start = view.start_date
        original = view.deadlines.staffing_cutoff
        assert original is not None

        # no later than 7 days before the start, never in the past, only by the program officer
        err = await refused(
            handle.execute_update(
                ProposalWorkflow.staffing_cutoff, CutoffInput(actor=PO, cutoff=start - timedelta(days=6))
            )
        )
        assert err.type == "Invalid"
        err = await refused(
            handle.execute_update(
                ProposalWorkflow.staffing_cutoff,
                CutoffInput(actor=PO, cutoff=rules.eastern_date(await ts_env.get_current_time()) - timedelta(days=1)),
            )
        )
        assert err.type == "Invalid"
        err = await refused(
            handle.execute_update(
                ProposalWorkflow.staffing_cutoff,
                CutoffInput(actor=coordinator(Agency.DOJ), cutoff=start - timedelta(days=7)),
            )
        )
        assert err.type == "Forbidden"

        extended = start - timedelta(days=7)
        moved = await handle.execute_update(ProposalWorkflow.staffing_cutoff, CutoffInput(actor=PO, cutoff=extended))
        assert moved.proposal.deadlines.staffing_cutoff == extended
        err = await refused(
            handle.execute_update(
                ProposalWorkflow.staffing_cutoff, CutoffInput(actor=PO, cutoff=start - timedelta(days=6))
            )
        )
        assert err.type == "Invalid"

        # a day past the original cutoff: still staffing (at risk), bookings kept
        await sleep_until(ts_env, rules.end_of_day(original) + timedelta(days=1))
        later = await check_invariants(pool, handle, pid)
        assert later.stage is Stage.staffing_at_risk
        assert await live_booking_count(pool, pid) == 1

        await sleep_until(ts_env, rules.end_of_day(extended) - timedelta(hours=1))
        assert (await check_invariants(pool, handle, pid)).stage is Stage.staffing_at_risk
        outcome = await finish(ts_env, handle, rules.end_of_day(extended) + timedelta(minutes=1))
        assert outcome.stage is Stage.cancelled
        await check_invariants(pool, handle, pid)
    assert await live_booking_count(pool, pid) == 0
    reasons = await stage_reasons(pool, pid, Stage.cancelled)
    assert len(reasons) == 1 and f"staffing cutoff {extended} passed" in reasons[0]


async def test_release_after_scheduling_reopens_the_slot(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str, proposals: Proposals
) -> None:
    ids = await seed_instructors(pool)
    async with running_worker(ts_env.client, pool, task_queue):
        pid, handle, view = await proposals.to_staffing()
        scheduled = await accept_all(handle, view, ids)
        assert scheduled.proposal.stage is Stage.scheduled
        booked = slot(scheduled.proposal, 1)
        assert booked.instructor is not None

        err = await refused(
            handle.execute_update(
                ProposalWorkflow.release_request,
                ReleaseInput(actor=coordinator(Agency.TREASURY), request_id=booked.id, reason="  "),
            )
        )
        assert err.type == "Invalid"
        err = await refused(
            handle.execute_update(
                ProposalWorkflow.release_request,
                ReleaseInput(actor=coordinator(Agency.DOJ), request_id=booked.id, reason="reassigned"),
            )
        )
        assert err.type == "WrongAgency"

        released = await handle.execute_update(
            ProposalWorkflow.release_request,
            ReleaseInput(actor=coordinator(Agency.TREASURY), request_id=booked.id, reason="reassigned"),
        )
        assert released.request is not None and released.request.status is RequestStatus.released
        assert released.proposal.stage is Stage.staffing
        reopened = slot(released.proposal, 1)
        assert reopened.id != booked.id
        assert (reopened.agency, reopened.status, reopened.attempt) == (Agency.TREASURY, RequestStatus.open, 2)
        row = await pool.fetchrow("SELECT released_at, release_reason FROM bookings WHERE request_id = $1", booked.id)
        assert row["released_at"] is not None and row["release_reason"] == "reassigned"
        assert await live_booking_count(pool, pid) == 2
        await check_invariants(pool, handle, pid)

        # a released request cannot be released again
        err = await refused(
            handle.execute_update(
                ProposalWorkflow.release_request,
                ReleaseInput(actor=coordinator(Agency.TREASURY), request_id=booked.id, reason="again"),
            )
        )
        assert err.type == "Closed"

        # the same instructor is free again: their earlier booking was released
        again = await accept(handle, reopened, booked.instructor.id)
        assert again.proposal.stage is Stage.scheduled
        assert await live_booking_count(pool, pid) == 3
        await check_invariants(pool, handle, pid)


async def test_release_after_the_cutoff_reopens_until_the_start(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str, proposals: Proposals
) -> None:
    """Scheduled when the cutoff passed: a later release reopens the slot, it does not cancel the course."""
    ids = await seed_instructors(pool)
    async with running_worker(ts_env.client, pool, task_queue):
        pid, handle, view = await proposals.to_staffing()
        await accept_all(handle, view, ids)
        cutoff = view.deadlines.staffing_cutoff
        assert cutoff is not None
        await sleep_until(ts_env, rules.end_of_day(cutoff) + timedelta(days=2))
        assert (await state(handle)).stage is Stage.scheduled

        booked = slot(view, 1)
        released = await handle.execute_update(
            ProposalWorkflow.release_request,
            ReleaseInput(actor=coordinator(Agency.TREASURY), request_id=booked.id, reason="illness"),
        )
        assert released.proposal.stage is Stage.staffing
        await ts_env.sleep(timedelta(hours=1))
        later = await check_invariants(pool, handle, pid)
        assert later.stage is Stage.staffing
        assert slot(later, 1).status is RequestStatus.open

        done = await accept(handle, slot(later, 1), ids[Agency.TREASURY][1])
        assert done.proposal.stage is Stage.scheduled
        outcome = await finish(ts_env, handle, rules.end_of_day(view.end_date) + timedelta(minutes=1))
        assert outcome.stage is Stage.delivered
        await check_invariants(pool, handle, pid)
    assert await live_booking_count(pool, pid) == 3


@pytest.mark.parametrize("when", ["staffing", "scheduled"])
async def test_withdraw_releases_every_booking(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str, proposals: Proposals, when: str
) -> None:
    ids = await seed_instructors(pool)
    async with running_worker(ts_env.client, pool, task_queue):
        pid, handle, view = await proposals.to_staffing()
        if when == "staffing":
            await accept(handle, slot(view, 1), ids[Agency.TREASURY][0])
            await accept(handle, slot(view, 2), ids[Agency.DOJ][0])
            expected_stage = Stage.staffing
        else:
            await accept_all(handle, view, ids)
            expected_stage = Stage.scheduled
        before = await check_invariants(pool, handle, pid)
        assert before.stage is expected_stage
        assert await live_booking_count(pool, pid) == (2 if when == "staffing" else 3)

        err = await refused(handle.execute_update(ProposalWorkflow.withdraw, WithdrawInput(actor=PO, reason="")))
        assert err.type == "Invalid"

        withdrawn = await handle.execute_update(
            ProposalWorkflow.withdraw, WithdrawInput(actor=PO, reason="host country postponed")
        )
        assert withdrawn.proposal.stage is Stage.withdrawn
        assert withdrawn.proposal.pending_on == []
        assert {r.status for r in live_requests(withdrawn.proposal).values()} == {RequestStatus.cancelled}
        assert await live_booking_count(pool, pid) == 0

        outcome = await finish(ts_env, handle, await ts_env.get_current_time())
        assert outcome.stage is Stage.withdrawn
        await check_invariants(pool, handle, pid)


# --- refusals ---------------------------------------------------------------------------------------


async def test_accept_refusals(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str, proposals: Proposals
) -> None:
    ids = await seed_instructors(pool)
    treasury = ids[Agency.TREASURY]
    novice = await roster.create_instructor(
        pool,
        name="Treasury Novice",
        agency=Agency.TREASURY.value,
        component="FinCEN",
        expertise=[Topic.cybercrime.value],
        languages=["en"],
    )
    async with running_worker(ts_env.client, pool, task_queue):
        pid_a, handle_a, view_a = await proposals.to_staffing(title="Countering financial crimes")
        pid_b, handle_b, view_b = await proposals.to_staffing(title="Tracing illicit finance")
        assert (view_a.start_date, view_a.end_date) == (view_b.start_date, view_b.end_date)
        request = slot(view_a, 1)
        assert request.agency is Agency.TREASURY

        # another agency's coordinator
        err = await refused(
            handle_a.execute_update(
                ProposalWorkflow.accept_request,
                AcceptInput(actor=coordinator(Agency.DOJ), request_id=request.id, instructor_id=treasury[0]),
            )
        )
        assert err.type == "WrongAgency"
        # an instructor of another agency
        err = await refused(accept(handle_a, request, ids[Agency.DOJ][0]))
        assert err.type == "Invalid"
        # an inactive instructor
        await pool.execute("UPDATE instructors SET active = false WHERE id = $1", treasury[2])
        err = await refused(accept(handle_a, request, treasury[2]))
        assert err.type == "Invalid" and "not active" in err.message
        # an instructor without the slot's expertise
        err = await refused(accept(handle_a, request, novice["id"]))
        assert err.type == "Invalid" and EXPERTISE.value in err.message
        # an unknown instructor
        err = await refused(accept(handle_a, request, "no-such-instructor"))
        assert err.type == "NotFound"
        assert await live_booking_count(pool, pid_a) == 0
        assert slot(await check_invariants(pool, handle_a, pid_a), 1).status is RequestStatus.open

        accepted = await accept(handle_a, request, treasury[0])
        assert accepted.request is not None and accepted.request.status is RequestStatus.accepted

        # an already accepted request is closed to accepts and declines
        err = await refused(accept(handle_a, request, treasury[1]))
        assert err.type == "Closed"
        err = await refused(
            handle_a.execute_update(
                ProposalWorkflow.decline_request,
                DeclineInput(actor=coordinator(Agency.TREASURY), request_id=request.id, reason="changed our mind"),
            )
        )
        assert err.type == "Closed"

        # the same instructor on an overlapping course: the database refuses, naming the other course
        other = slot(view_b, 1)
        err = await refused(accept(handle_b, other, treasury[0]))
        assert err.type == "BookingConflict"
        assert "Countering financial crimes" in err.message
        assert err.details and err.details[0]["proposal_id"] == pid_a
        assert err.details[0]["title"] == "Countering financial crimes"
        view_b = await check_invariants(pool, handle_b, pid_b)
        assert slot(view_b, 1).status is RequestStatus.open

        # another instructor is free
        ok = await accept(handle_b, other, treasury[1])
        assert ok.request is not None and ok.request.status is RequestStatus.accepted
        await check_invariants(pool, handle_a, pid_a)
        await check_invariants(pool, handle_b, pid_b)


async def test_decline_needs_a_reason_and_the_right_agency(
    ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str, proposals: Proposals
) -> None:
    await seed_instructors(pool)
    async with running_worker(ts_env.client, pool, task_queue):
        pid, handle, view = await proposals.to_staffing()
        request = slot(view, 2)
        err = await refused(
            handle.execute_update(
                ProposalWorkflow.decline_request,
                DeclineInput(actor=coordinator(Agency.DOJ), request_id=request.id, reason=" "),
            )
        )
        assert err.type == "Invalid"
        err = await refused(
            handle.execute_update(
                ProposalWorkflow.decline_request,
                DeclineInput(actor=coordinator(Agency.DHS), request_id=request.id, reason="busy"),
            )
        )
        assert err.type == "WrongAgency"
        err = await refused(
            handle.execute_update(
                ProposalWorkflow.decline_request,
                DeclineInput(actor=coordinator(Agency.DOJ), request_id="nope", reason="busy"),
            )
        )
        assert err.type == "NotFound"
        assert slot(await check_invariants(pool, handle, pid), 2).status is RequestStatus.open
