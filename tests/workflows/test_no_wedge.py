"""No input can wedge a proposal (product.md "At any time", edition 2).

Whatever passes the API's schemas reaches a workflow Update; its validator and its handler
must either apply it or refuse it with an ``ApplicationError`` of a known type, and the
workflow must answer a read afterwards. An unexpected exception in a handler used to fail the
workflow task, which Temporal retries forever: a revision dated in year 9999 overflowed the
deadline arithmetic, and the proposal could never be read, withdrawn or changed again.

The property is checked with hypothesis on the time-skipping server: generated but
schema-valid inputs (dates anywhere in ``date``'s range, any text, any roles and agencies,
request and instructor ids real or not) go to every Update, on proposals in each stage that
Update can meet. Examples are kept few (one proposal is reused while it is unchanged).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from ilea.domain import Academy, Agency, BoardDecision, BoardPosition, CourseType, IsgVote, Role, Stage, Topic
from ilea.messages import (
    AcceptInput,
    Actor,
    BoardDecisionInput,
    BoardPositionInput,
    CutoffInput,
    DeclineInput,
    ErrorType,
    HandOverInput,
    InstructorNeed,
    IsgVoteInput,
    ProposalFields,
    ProposalView,
    ReadInput,
    ReleaseInput,
    RetargetInput,
    RevisionInput,
    WithdrawInput,
)
from tests.support import CHAIR, PO, PO2, board, coordinator, fields, isg, running_worker, seed_instructors
from tests.support import start_proposal as start
from workflows import rules
from workflows.proposal import ProposalWorkflow

Handle = WorkflowHandle[Any, Any]
T = TypeVar("T")

#: the stages an Update can meet, and which it is sent in (the others refuse by stage alone)
STAGES = (Stage.isg_review, Stage.changes_requested, Stage.board_review, Stage.staffing)
KNOWN_TYPES = {t.value for t in ErrorType}
WAIT = 15.0


# --- what the API's schemas let through ---------------------------------------------------------

#: text as a request body may carry it (no NUL: the schemas refuse it)
text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
nonblank = text.filter(lambda s: s.strip() != "")
#: dates anywhere in ``date``'s range, the ends of the calendar and the near future weighed in
dates = st.one_of(
    st.dates(),
    st.integers(0, 40).map(lambda d: date.max - timedelta(days=d)),
    st.integers(0, 40).map(lambda d: date.min + timedelta(days=d)),
    st.sampled_from([date(2200, 12, 31), date(2201, 1, 1)]),  # the ends of the business calendar
    st.integers(-30, 2000).map(lambda d: date.today() + timedelta(days=d)),
)
subs = st.one_of(
    st.sampled_from([PO.sub, PO2.sub, "isg-dhs", "coord-doj", "chair-1"]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x2FFF), min_size=1, max_size=128).filter(
        lambda s: s != "system"
    ),
)
any_actor = st.builds(
    Actor,
    sub=subs,
    name=text,
    agency=st.sampled_from(Agency),
    roles=st.lists(st.sampled_from(Role), max_size=3, unique=True),
)


def actor(*usual: Actor) -> st.SearchStrategy[Actor]:
    """Mostly someone who may act (so the handler runs), sometimes anyone."""
    return st.one_of(st.sampled_from(usual), any_actor)


needs = st.lists(
    st.builds(
        InstructorNeed,
        agency=st.sampled_from(Agency),
        expertise=st.sampled_from(Topic),
        count=st.integers(1, 5),
        alternate_agencies=st.lists(st.sampled_from(Agency), max_size=2),
    ),
    min_size=1,
    max_size=10,
)


def later(day: date, days: int) -> date:
    """``days`` after ``day``, or the last date there is."""
    return day + timedelta(days=days) if day <= date.max - timedelta(days=days) else date.max


#: a course's dates: ending on the calendar's last day (weighed in), a few days apart, or anywhere
date_pairs = st.one_of(
    st.integers(0, 20).map(lambda d: (date.max - timedelta(days=d), date.max)),
    st.integers(0, 20).map(lambda d: (date.max - timedelta(days=d), date.max)),
    st.tuples(dates, st.integers(0, 20)).map(lambda p: (p[0], later(p[0], p[1]))),
    st.tuples(dates, dates),
)


@st.composite
def proposal_fields(draw: st.DrawFn) -> ProposalFields:
    """A schema-valid proposal: a valid one with one part drawn from anywhere (dates at the ends
    of the calendar, unknown countries, any agencies, any academy and course type), so both the
    rules' refusals and the handler are reached."""
    base = fields(lead_days=draw(st.integers(60, 1500)), days=draw(st.integers(1, 21)))
    free = {
        "title": draw(
            st.one_of(
                st.just(base.title), st.text(st.characters(codec="utf-8"), min_size=3, max_size=200).filter(titled)
            )
        ),
        "topic": draw(st.sampled_from(Topic)),
        "seats": draw(st.integers(1, 60)),
        "estimated_cost_usd": draw(st.decimals(0, Decimal("999999999999.99"), places=2)),
        "justification": draw(text),
    }
    part = draw(st.sampled_from(["dates", "dates", "dates", "countries", "needs", "kind"]))
    if part == "dates":
        start_date, end_date = draw(date_pairs)
        free.update(start_date=start_date, end_date=end_date)
    elif part == "countries":
        codes = st.sampled_from(["HU", "RO", "PL", "ZZ", "hu", "XK", ""])
        free["participating_countries"] = draw(st.lists(codes, min_size=1, max_size=30))
    elif part == "needs":
        free["instructor_needs"] = draw(needs)
    elif part == "kind":
        free.update(academy=draw(st.sampled_from(Academy)), course_type=draw(st.sampled_from(CourseType)))
    return base.model_copy(update=free)


def titled(s: str) -> bool:
    return len(s.strip()) >= 3 and "\x00" not in s


UPDATES = {
    "isg_vote": Stage.isg_review,
    "revise": Stage.changes_requested,
    "board_position": Stage.board_review,
    "board_decision": Stage.board_review,
    "withdraw": Stage.isg_review,
    "staffing_cutoff": Stage.staffing,
    "accept_request": Stage.staffing,
    "decline_request": Stage.staffing,
    "release_request": Stage.staffing,
    "retarget_request": Stage.staffing,
    "hand_over": Stage.board_review,
}


def test_every_update_that_acts_is_sent() -> None:
    """A new Update joins the property test (``current`` only reads)."""
    updates = workflow._Definition.must_from_class(ProposalWorkflow).updates
    assert set(updates) - {"current"} == set(UPDATES)


@st.composite
def action(draw: st.DrawFn, kind: str, view: ProposalView, instructors: list[str]) -> tuple[Any, Any]:
    """One Update and its input, drawn for a proposal as it stands."""
    requests = [r.id for r in view.instructor_requests] or ["no-such-request"]
    request_id = draw(st.one_of(st.sampled_from(requests), text))
    agencies = [r.agency for r in view.instructor_requests if r.id == request_id] or list(Agency)
    coordinators = actor(*(coordinator(a) for a in agencies if a is not Agency.STATE), coordinator(Agency.DHS))
    # mostly a reason the rules accept, so the handler runs
    reason = draw(st.one_of(*[nonblank] * 7, st.just(" ")))
    comment = draw(st.one_of(st.none(), text))
    if kind == "isg_vote":
        who = draw(actor(*(isg(a) for a in Agency)))
        return ProposalWorkflow.isg_vote, IsgVoteInput(actor=who, vote=draw(st.sampled_from(IsgVote)), comment=comment)
    if kind == "revise":
        who = draw(actor(PO, PO2))
        return ProposalWorkflow.revise, RevisionInput(actor=who, proposal=draw(proposal_fields()), comment=reason)
    if kind == "board_position":
        who = draw(actor(*(board(a) for a in Agency)))
        position = draw(st.sampled_from(BoardPosition))
        return ProposalWorkflow.board_position, BoardPositionInput(actor=who, position=position, comment=comment)
    if kind == "board_decision":
        decision = draw(st.sampled_from(BoardDecision))
        return ProposalWorkflow.board_decision, BoardDecisionInput(
            actor=draw(actor(CHAIR)), decision=decision, comment=comment
        )
    if kind == "withdraw":
        return ProposalWorkflow.withdraw, WithdrawInput(actor=draw(actor(PO, PO2)), reason=reason)
    if kind == "staffing_cutoff":
        near = st.integers(-40, 40).map(lambda d: view.deadlines.staffing_cutoff + timedelta(days=d))  # type: ignore[operator]
        return ProposalWorkflow.staffing_cutoff, CutoffInput(
            actor=draw(actor(PO2)), cutoff=draw(st.one_of(near, dates))
        )
    if kind == "accept_request":
        instructor = draw(st.one_of(st.sampled_from(instructors), st.text(min_size=1, max_size=100)))
        return ProposalWorkflow.accept_request, AcceptInput(
            actor=draw(coordinators), request_id=request_id, instructor_id=instructor
        )
    if kind == "decline_request":
        return ProposalWorkflow.decline_request, DeclineInput(
            actor=draw(coordinators), request_id=request_id, reason=reason
        )
    if kind == "release_request":
        return ProposalWorkflow.release_request, ReleaseInput(
            actor=draw(coordinators), request_id=request_id, reason=reason
        )
    if kind == "retarget_request":
        return ProposalWorkflow.retarget_request, RetargetInput(
            actor=draw(actor(PO2)), request_id=request_id, agency=draw(st.sampled_from(Agency))
        )
    return ProposalWorkflow.hand_over, HandOverInput(actor=draw(actor(PO, PO2)), sub=draw(subs), name=draw(text))


# --- proposals in each stage, reused while nothing changes them ---------------------------------


class Lab:
    def __init__(self, env: WorkflowEnvironment, task_queue: str, instructors: list[str]) -> None:
        self.env = env
        self.task_queue = task_queue
        self.instructors = instructors
        self.ready: dict[Stage, tuple[Handle, ProposalView]] = {}
        self.started: list[Handle] = []

    async def proposal(self, stage: Stage) -> tuple[Handle, ProposalView]:
        """A proposal in ``stage`` (reused while an action leaves it there)."""
        if stage not in self.ready:
            self.ready[stage] = await self._reach(stage)
        return self.ready[stage]

    def changed(self, stage: Stage) -> None:
        self.ready.pop(stage, None)

    async def _reach(self, stage: Stage) -> tuple[Handle, ProposalView]:
        now = await self.env.get_current_time()
        f = fields(
            today=rules.eastern_date(now),
            needs=[
                InstructorNeed(agency=Agency.DOJ, expertise=Topic.cybercrime, count=2, alternate_agencies=[Agency.DHS])
            ],
        )
        _, handle = await start(self.env.client, self.task_queue, f, submitted_at=now)
        self.started.append(handle)
        if stage is Stage.changes_requested:
            await handle.execute_update(
                ProposalWorkflow.isg_vote,
                IsgVoteInput(actor=isg(Agency.DHS), vote=IsgVote.request_changes, comment="more detail"),
            )
        if stage is not Stage.isg_review:
            for a in (Agency.STATE, Agency.TREASURY, Agency.DHS, Agency.DOJ):
                if stage is Stage.changes_requested and a is Agency.DHS:
                    continue
                await handle.execute_update(ProposalWorkflow.isg_vote, IsgVoteInput(actor=isg(a), vote=IsgVote.concur))
        if stage is Stage.staffing:
            await handle.execute_update(
                ProposalWorkflow.board_decision, BoardDecisionInput(actor=CHAIR, decision=BoardDecision.approve)
            )
        view: ProposalView = await handle.query(ProposalWorkflow.state)
        assert view.stage is stage
        return handle, view

    async def close(self) -> None:
        for handle in self.started:
            if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test over")


@pytest.fixture
async def lab(ts_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str) -> AsyncIterator[Lab]:
    ids = await seed_instructors(pool, per_agency=2)
    lab = Lab(ts_env, task_queue, [i for agency in ids.values() for i in agency])
    async with running_worker(ts_env.client, pool, task_queue):
        try:
            yield lab
        finally:
            await lab.close()


async def failed_tasks(handle: Handle) -> list[str]:
    """The failures of the workflow's tasks so far (a wedged proposal fails every task)."""
    return [
        e.workflow_task_failed_event_attributes.failure.message
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]


async def answered(handle: Handle, update: Awaitable[T]) -> T:
    """The Update's answer; fails at once if a workflow task fails meanwhile (no 15 s wait)."""
    task = asyncio.ensure_future(update)
    try:
        for _ in range(int(WAIT / 0.1)):
            done, _ = await asyncio.wait([task], timeout=0.1)
            if done:
                return task.result()
            failed = await failed_tasks(handle)
            assert failed == [], f"the workflow task failed: {failed[0]}"
        raise AssertionError(f"no answer within {WAIT} s")
    finally:
        task.cancel()


@pytest.mark.parametrize("kind", sorted(UPDATES))
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
async def test_no_input_wedges_a_proposal(lab: Lab, kind: str, data: st.DataObject) -> None:
    # mostly in the stage where the Update acts, sometimes in another
    stage = data.draw(st.one_of(*[st.just(UPDATES[kind])] * 3, st.sampled_from(STAGES)), label="stage")
    handle, view = await lab.proposal(stage)
    update, arg = data.draw(action(kind, view, lab.instructors), label="update")
    lab.changed(stage)  # the next example gets it again only if it is still in that stage
    try:
        await answered(handle, handle.execute_update(update, arg))
    except WorkflowUpdateFailedError as err:
        # refused: by a rule, never by an unexpected exception's own type
        assert isinstance(err.cause, ApplicationError), err.cause
        assert err.cause.type in KNOWN_TYPES, (err.cause.type, err.cause.message)
    # The proposal still answers: a read through an Update (a workflow task must complete; a
    # proposal the action ended has none to run) and a query.
    if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
        after = await answered(handle, handle.execute_update(ProposalWorkflow.current, ReadInput()))
        assert after.proposal is not None and after.proposal.id == view.id
        if after.proposal.stage is stage:
            lab.ready[stage] = (handle, after.proposal)
    else:
        assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED
    assert (await handle.query(ProposalWorkflow.state)).id == view.id
    assert await failed_tasks(handle) == []
