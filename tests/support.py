"""Builders shared by the tests: proposals, actors, workers, instructors."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from ilea.db import roster
from ilea.devstack import bin_path
from ilea.domain import Agency, CourseType, IsgVote, Role, Topic
from ilea.messages import (
    ActionResult,
    Actor,
    InstructorNeed,
    IsgVoteInput,
    ProposalFields,
    ProposalInput,
    ProposalOutcome,
    ReadInput,
    RuleConfig,
)
from worker import build_worker
from workflows import views
from workflows.proposal import ProposalWorkflow, workflow_id

#: The login the tests' application pool uses: a member of ilea_app, like the real one.
APP_LOGIN, APP_PASSWORD = "ilea_app_test", "ilea-app-test"


def as_app_login(url: str) -> str:
    """``url`` with the application's login instead of the owner's."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{APP_LOGIN}:{APP_PASSWORD}@{host}", parts.path, parts.query, parts.fragment))


PO = Actor(sub="po-1", name="Pat Officer", agency=Agency.STATE, roles=[Role.program_officer])
PO2 = Actor(sub="po-2", name="Sam Officer", agency=Agency.STATE, roles=[Role.program_officer])
CHAIR = Actor(sub="chair-1", name="Chris Chair", agency=Agency.STATE, roles=[Role.board_chair])


def isg(agency: Agency, sub: str | None = None) -> Actor:
    return Actor(
        sub=sub or f"isg-{agency.value.lower()}", name=f"ISG {agency.value}", agency=agency, roles=[Role.isg_member]
    )


def board(agency: Agency) -> Actor:
    return Actor(
        sub=f"board-{agency.value.lower()}", name=f"Board {agency.value}", agency=agency, roles=[Role.board_member]
    )


def coordinator(agency: Agency) -> Actor:
    return Actor(
        sub=f"coord-{agency.value.lower()}",
        name=f"Coordinator {agency.value}",
        agency=agency,
        roles=[Role.agency_coordinator],
    )


def fields(
    *,
    today: date | None = None,
    lead_days: int = 120,
    course_type: CourseType = CourseType.specialized,
    days: int = 10,
    cost: str = "250000",
    needs: list[InstructorNeed] | None = None,
    title: str = "Countering financial crimes",
) -> ProposalFields:
    start = (today or datetime.now(UTC).date()) + timedelta(days=lead_days)
    return ProposalFields(
        title=title,
        academy="BUD" if course_type is not CourseType.executive else "ROS",
        course_type=course_type,
        topic=Topic.corruption_financial_crimes,
        start_date=start,
        end_date=start + timedelta(days=days - 1),
        seats=30,
        participating_countries=["HU", "RO", "PL"],
        estimated_cost_usd=Decimal(cost),
        justification="Regional demand for financial investigation skills.",
        instructor_needs=needs
        or [
            InstructorNeed(
                agency=Agency.TREASURY,
                expertise=Topic.corruption_financial_crimes,
                count=1,
                alternate_agencies=[Agency.DOJ],
            ),
            InstructorNeed(agency=Agency.DOJ, expertise=Topic.corruption_financial_crimes, count=2),
        ],
    )


@contextlib.asynccontextmanager
async def running_worker(client: Client, pool: asyncpg.Pool, task_queue: str) -> AsyncIterator[Worker]:
    worker: Worker = build_worker(client, pool, task_queue)
    async with worker:
        yield worker


async def start_proposal(
    client: Client,
    task_queue: str,
    f: ProposalFields,
    *,
    submitter: Actor = PO,
    rules: RuleConfig | None = None,
    submitted_at: datetime | None = None,
) -> tuple[str, WorkflowHandle[Any, Any]]:
    pid = str(uuid.uuid4())
    handle = await client.start_workflow(
        ProposalWorkflow.run,
        ProposalInput(
            proposal_id=pid,
            fields=f,
            submitted_by=submitter,
            submitted_at=submitted_at or datetime.now(UTC),
            rules=rules or RuleConfig(),
        ),
        id=workflow_id(pid),
        task_queue=task_queue,
        search_attributes=views.search_attributes_at_start(f),  # as the API starts it
    )
    # Until its first task has run the workflow is `submitted` and refuses every action;
    # the API waits the same way (update-with-start of `current`).
    await handle.execute_update(ProposalWorkflow.current, ReadInput())
    return pid, handle


async def sleep_until(env: WorkflowEnvironment, at: datetime) -> None:
    """Skip the time-skipping server's clock to ``at``."""
    delta = at - await env.get_current_time()
    if delta > timedelta(0):
        await env.sleep(delta)


async def finish(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], at: datetime) -> ProposalOutcome:
    """Skip the clock to ``at``, then read the outcome without letting the server skip on.

    Awaiting a result with automatic time skipping lets the test server run on past the
    workflow's completion to the next timer it holds (a closed workflow's long execution
    timeout): the shared clock would leap years per test.
    """
    await sleep_until(env, at)
    with env.auto_time_skipping_disabled():
        outcome: ProposalOutcome = await asyncio.wait_for(handle.result(), timeout=30)
    return outcome


async def vote_all(handle: WorkflowHandle[Any, Any], vote: IsgVote = IsgVote.concur) -> ActionResult:
    result = None
    for agency in (Agency.STATE, Agency.TREASURY, Agency.DHS, Agency.DOJ):
        result = await handle.execute_update(
            ProposalWorkflow.isg_vote,
            IsgVoteInput(actor=isg(agency), vote=vote, comment=None if vote is IsgVote.concur else "because"),
        )
    assert result is not None
    return result


async def seed_instructors(pool: asyncpg.Pool, per_agency: int = 3) -> dict[Agency, list[str]]:
    """Active instructors covering every topic, ``per_agency`` of each agency."""
    from ilea.domain import COMPONENTS

    ids: dict[Agency, list[str]] = {}
    for agency in (Agency.TREASURY, Agency.DHS, Agency.DOJ):
        ids[agency] = []
        for i in range(per_agency):
            row = await roster.create_instructor(
                pool,
                name=f"{agency.value.title()} Instructor {i + 1}",
                agency=agency.value,
                component=COMPONENTS[agency][i % len(COMPONENTS[agency])],
                expertise=[t.value for t in Topic],
                languages=["en"],
            )
            ids[agency].append(row["id"])
    return ids


def wait_until_listed(workflow_id: str, query: str, env: dict[str, str], timeout: float = 20) -> None:
    """Until `temporal workflow list --query QUERY` lists the workflow (visibility lags a
    little); the CLI finds its server from ``env`` (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE),
    as an operator's shell would."""
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(
            [bin_path("temporal"), "workflow", "list", "--query", query, "-o", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if workflow_id in out.stdout:
            return
        assert time.monotonic() < deadline, out.stdout + out.stderr
        time.sleep(0.5)
