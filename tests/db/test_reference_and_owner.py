"""Each proposal's reference (ILEA-<fiscal year>-<nnnn>) and owner, kept by the database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from ilea.activity_io import ProjectInput
from ilea.db import proposals
from ilea.domain import Stage
from ilea.messages import (
    ProposalView,
)
from tests.support import fields


def view(submitted_at: datetime, version: int = 1, **doc: object) -> ProposalView:
    return ProposalView(
        **fields().model_dump(),
        id=str(uuid.uuid4()),
        stage=Stage.isg_review,
        submitted_by="po-1",
        submitted_at=submitted_at,
        updated_at=submitted_at,
        version=version,
        **doc,
    )


async def project(pool: asyncpg.Pool, v: ProposalView) -> dict[str, object]:
    async with pool.acquire() as con:
        await proposals.project(con, ProjectInput.of(v))
    doc = await proposals.get(pool, v.id)
    assert doc is not None
    return doc


async def test_references_count_per_fiscal_year_from_1_october_eastern(pool: asyncpg.Pool) -> None:
    # 23:30 Eastern on 30 September 2026 is still fiscal year 2026; 00:30 on 1 October is 2027.
    last_of_2026 = await project(pool, view(datetime(2026, 10, 1, 3, 30, tzinfo=UTC)))
    first_of_2027 = await project(pool, view(datetime(2026, 10, 1, 4, 30, tzinfo=UTC)))
    second_of_2027 = await project(pool, view(datetime(2027, 9, 30, 12, tzinfo=UTC)))
    assert last_of_2026["reference"] == "ILEA-2026-0001"
    assert first_of_2027["reference"] == "ILEA-2027-0001"
    assert second_of_2027["reference"] == "ILEA-2027-0002"


async def test_a_reference_is_given_once_and_never_changes(pool: asyncpg.Pool) -> None:
    at = datetime(2027, 1, 4, 15, tzinfo=UTC)
    v = view(at)
    first = await project(pool, v)
    # The same state again (a retried projection), then later states: same number, none burned.
    await project(pool, v)
    for version in (2, 3):
        again = await project(pool, v.model_copy(update={"version": version, "title": f"Renamed {version}"}))
        assert again["reference"] == first["reference"] == "ILEA-2027-0001"
    assert (await project(pool, view(at)))["reference"] == "ILEA-2027-0002"
    assert await pool.fetchval("SELECT last FROM reference_counters WHERE fiscal_year = 2027") == 2


async def test_more_than_9999_in_a_year_keeps_counting(pool: asyncpg.Pool, owner_pool: asyncpg.Pool) -> None:
    await owner_pool.execute("INSERT INTO reference_counters (fiscal_year, last) VALUES (2027, 9999)")
    assert (await project(pool, view(datetime(2027, 1, 4, tzinfo=UTC))))["reference"] == "ILEA-2027-10000"


async def test_the_owner_is_the_submitter_until_the_workflow_names_another(pool: asyncpg.Pool) -> None:
    v = view(datetime(2027, 1, 4, 15, tzinfo=UTC))
    assert (await project(pool, v))["owner"] == "po-1"
    # Once the workflow's state carries an owner (a hand-over), the read model follows it.
    handed = ProposalView.model_validate({**v.model_dump(), "version": 2})
    doc = handed.model_dump(mode="json") | {"owner": "po-2"}
    async with pool.acquire() as con:
        await con.execute("UPDATE proposals SET doc = $2, version = 2 WHERE id = $1", v.id, doc)
    assert (await proposals.get(pool, v.id) or {})["owner"] == "po-2"
    # A later state without one keeps it.
    assert (await project(pool, v.model_copy(update={"version": 3})))["owner"] == "po-2"
