"""Record ProposalWorkflow histories for the replay test (tests/workflows/test_replay.py).

Run after a change that is *meant* to alter the workflow's commands, and only then::

    .venv/bin/python -m tests.workflows.make_histories [name ...]

It starts an embedded PostgreSQL and Temporal's time-skipping test server, drives each
scenario below through a worker, and writes ``tests/workflows/histories/<name>.json``.
The replay test then proves that today's workflow code replays every recorded history,
i.e. that a deploy would not break proposals already running.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from ilea import search_attributes
from ilea.db import create_pool
from ilea.db.migrate import migrate
from ilea.devstack import EmbeddedPostgres, bin_path, free_port
from ilea.domain import Agency, BoardDecision, IsgVote, Stage
from ilea.messages import (
    AcceptInput,
    BoardDecisionInput,
    CutoffInput,
    HandOverInput,
    IsgVoteInput,
    ReadInput,
    RevisionInput,
    WithdrawInput,
)
from tests.support import (
    CHAIR,
    PO,
    PO2,
    coordinator,
    fields,
    isg,
    running_worker,
    seed_instructors,
    start_proposal,
    vote_all,
)
from workflows import rules
from workflows.proposal import ProposalWorkflow

HISTORIES = Path(__file__).parent / "histories"

Handle = WorkflowHandle[Any, Any]
Scenario = Callable[[WorkflowEnvironment, asyncpg.Pool, str], Awaitable[Handle]]


async def _start(env: WorkflowEnvironment, task_queue: str, **kwargs: Any) -> Handle:
    now = await env.get_current_time()
    f = fields(today=rules.eastern_date(now), **kwargs)
    _, handle = await start_proposal(env.client, task_queue, f, submitted_at=now)
    await handle.execute_update(ProposalWorkflow.current, ReadInput())  # as the API does
    return handle


async def _vote(handle: Handle, agency: Agency, vote: IsgVote) -> Stage:
    comment = None if vote is IsgVote.concur else "see the note"
    result = await handle.execute_update(
        ProposalWorkflow.isg_vote, IsgVoteInput(actor=isg(agency), vote=vote, comment=comment)
    )
    return result.proposal.stage


async def _decide(handle: Handle, decision: BoardDecision) -> Stage:
    result = await handle.execute_update(
        ProposalWorkflow.board_decision, BoardDecisionInput(actor=CHAIR, decision=decision, comment="decided")
    )
    return result.proposal.stage


def _expect(got: Stage, wanted: Stage) -> None:
    if got is not wanted:
        raise RuntimeError(f"the scenario reached {got}, not {wanted}")


async def board_approved(env: WorkflowEnvironment, pool: asyncpg.Pool, tq: str) -> Handle:
    handle = await _start(env, tq)
    _expect((await vote_all(handle)).proposal.stage, Stage.board_review)
    _expect(await _decide(handle, BoardDecision.approve), Stage.staffing)
    return handle


async def fast_track(env: WorkflowEnvironment, pool: asyncpg.Pool, tq: str) -> Handle:
    handle = await _start(env, tq, cost="150000")
    _expect((await vote_all(handle)).proposal.stage, Stage.staffing)
    return handle


async def rejected(env: WorkflowEnvironment, pool: asyncpg.Pool, tq: str) -> Handle:
    handle = await _start(env, tq)
    await _vote(handle, Agency.STATE, IsgVote.nonconcur)
    await _vote(handle, Agency.TREASURY, IsgVote.concur)
    await _vote(handle, Agency.DHS, IsgVote.nonconcur)
    _expect(await _vote(handle, Agency.DOJ, IsgVote.concur), Stage.rejected)
    await handle.result()
    return handle


async def revised(env: WorkflowEnvironment, pool: asyncpg.Pool, tq: str) -> Handle:
    handle = await _start(env, tq)
    for agency in (Agency.STATE, Agency.TREASURY, Agency.DHS):
        await _vote(handle, agency, IsgVote.concur)
    _expect(await _vote(handle, Agency.DOJ, IsgVote.request_changes), Stage.changes_requested)
    new = fields(today=rules.eastern_date(await env.get_current_time()), title="Countering financial crimes, v2")
    result = await handle.execute_update(
        ProposalWorkflow.revise, RevisionInput(actor=PO, proposal=new, comment="narrowed the scope")
    )
    _expect(result.proposal.stage, Stage.isg_review)
    _expect((await vote_all(handle)).proposal.stage, Stage.board_review)
    _expect(await _decide(handle, BoardDecision.approve), Stage.staffing)
    return handle


async def expired(env: WorkflowEnvironment, pool: asyncpg.Pool, tq: str) -> Handle:
    handle = await _start(env, tq)
    await _vote(handle, Agency.DHS, IsgVote.request_changes)
    for agency in (Agency.STATE, Agency.TREASURY, Agency.DOJ):
        await _vote(handle, agency, IsgVote.concur)
    _expect((await handle.result()).stage, Stage.expired)
    return handle


async def withdrawn(env: WorkflowEnvironment, pool: asyncpg.Pool, tq: str) -> Handle:
    handle = await board_approved(env, pool, tq)
    result = await handle.execute_update(
        ProposalWorkflow.withdraw, WithdrawInput(actor=PO, reason="the host country postponed")
    )
    _expect(result.proposal.stage, Stage.withdrawn)
    await handle.result()
    return handle


async def silence(env: WorkflowEnvironment, pool: asyncpg.Pool, tq: str) -> Handle:
    handle = await _start(env, tq, cost="1000")
    await _vote(handle, Agency.STATE, IsgVote.concur)
    await _vote(handle, Agency.TREASURY, IsgVote.concur)
    await env.sleep(timedelta(days=20))  # past the 10-business-day deadline, short of the Board's
    await _settle(handle)
    _expect((await handle.query(ProposalWorkflow.state)).stage, Stage.board_review)
    return handle


async def board_overdue(env: WorkflowEnvironment, pool: asyncpg.Pool, tq: str) -> Handle:
    handle = await _start(env, tq)
    _expect((await vote_all(handle)).proposal.stage, Stage.board_review)
    await env.sleep(timedelta(days=30))  # past the 15-business-day deadline
    await _settle(handle)
    view = await handle.query(ProposalWorkflow.state)
    if not view.overdue:
        raise RuntimeError("the Board deadline passed without an escalation")
    _expect(await _decide(handle, BoardDecision.approve), Stage.staffing)
    return handle


async def delivered(env: WorkflowEnvironment, pool: asyncpg.Pool, tq: str) -> Handle:
    """The whole lifecycle, with bookings (the roster activities) and the course's end."""
    ids = await seed_instructors(pool)
    handle = await board_approved(env, pool, tq)
    view = await handle.query(ProposalWorkflow.state)
    used: dict[Agency, int] = {}
    for r in view.instructor_requests:
        n = used.get(r.agency, 0)
        used[r.agency] = n + 1
        await handle.execute_update(
            ProposalWorkflow.accept_request,
            AcceptInput(actor=coordinator(r.agency), request_id=r.id, instructor_id=ids[r.agency][n]),
        )
    _expect((await handle.result()).stage, Stage.delivered)
    return handle


async def handed_over(env: WorkflowEnvironment, pool: asyncpg.Pool, tq: str) -> Handle:
    """Edition 2: the cutoff extended, then kept by a revision; the proposal handed over."""
    handle = await _start(env, tq)
    await _vote(handle, Agency.DHS, IsgVote.request_changes)
    for agency in (Agency.STATE, Agency.TREASURY, Agency.DOJ):
        await _vote(handle, agency, IsgVote.concur)
    view = await handle.query(ProposalWorkflow.state)
    extended = view.start_date - timedelta(days=12)
    await handle.execute_update(ProposalWorkflow.staffing_cutoff, CutoffInput(actor=PO, cutoff=extended))
    today = rules.eastern_date(await env.get_current_time())
    later = fields(today=today, lead_days=(view.start_date - today).days + 5, title="Countering financial crimes, v2")
    result = await handle.execute_update(
        ProposalWorkflow.revise, RevisionInput(actor=PO, proposal=later, comment="five days later")
    )
    if result.proposal.deadlines.staffing_cutoff != extended:
        raise RuntimeError("the revision did not keep the extension")
    result = await handle.execute_update(
        ProposalWorkflow.hand_over, HandOverInput(actor=PO, sub=PO2.sub, name=PO2.name)
    )
    if result.proposal.owner != PO2.sub:
        raise RuntimeError("the proposal was not handed over")
    _expect((await vote_all(handle)).proposal.stage, Stage.board_review)
    _expect(await _decide(handle, BoardDecision.approve), Stage.staffing)
    return handle


SCENARIOS: dict[str, Scenario] = {
    "board_approved": board_approved,
    "fast_track": fast_track,
    "rejected": rejected,
    "revised": revised,
    "expired": expired,
    "withdrawn": withdrawn,
    "silence": silence,
    "board_overdue": board_overdue,
    "delivered": delivered,
    "handed_over": handed_over,
}

_IN_FLIGHT = {EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED}


async def _settle(handle: Handle) -> None:
    """Wait until no workflow task is in flight, so the history ends at a stable point."""
    for _ in range(500):
        events = [e async for e in handle.fetch_history_events()]
        if events[-1].event_type not in _IN_FLIGHT:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{handle.id} never settled")


async def record(names: list[str]) -> list[Path]:
    """Run the named scenarios and write their histories; the written paths."""
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="ilea-histories-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "data", free_port()).start()
        try:
            admin = await asyncpg.connect(pg.admin_url())
            try:
                await admin.execute('CREATE DATABASE "ilea_histories"')
            finally:
                await admin.close()
            con = await asyncpg.connect(pg.admin_url("ilea_histories"))
            try:
                await migrate(con)
            finally:
                await con.close()
            pool = await create_pool(pg.admin_url("ilea_histories"), min_size=1, max_size=20)
            env = await WorkflowEnvironment.start_time_skipping(
                data_converter=pydantic_data_converter,
                test_server_existing_path=bin_path("temporal-test-server"),
            )
            try:
                await search_attributes.register(env.client)
                HISTORIES.mkdir(exist_ok=True)
                for name in names:
                    task_queue = f"histories-{uuid.uuid4()}"
                    async with running_worker(env.client, pool, task_queue):
                        handle = await SCENARIOS[name](env, pool, task_queue)
                        await _settle(handle)
                        history = await handle.fetch_history()
                        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                            # A running workflow's timers would fire with no worker to serve them,
                            # and the test server does not skip time past an unserved task.
                            await handle.terminate("history recorded")
                    path = HISTORIES / f"{name}.json"
                    path.write_text(history.to_json() + "\n")
                    written.append(path)
                    print(f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
            finally:
                await env.shutdown()
                await pool.close()
        finally:
            pg.stop()
    return written


def main(argv: list[str]) -> None:
    names = argv or list(SCENARIOS)
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    asyncio.run(record(names))


if __name__ == "__main__":
    main(sys.argv[1:])
