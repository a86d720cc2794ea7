"""The audit trail verified against the workflow's own record (product.md "Audit trail", edition 2).

The database's hash chain alone cannot tell that its newest events were deleted, or that events
were rewritten and every hash after them recomputed. The workflow keeps the length and head of
its own chain of events, where the database cannot reach; ``/events/verify`` compares the two
and names what differs. Tampering here is done as the tables' owner, who alone can lift the
append-only trigger.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from ilea.db import audit, create_pool
from tests.api.conftest import TokenFor
from tests.support import fields

PO = ("po-1", "STATE", "program_officer")
AUDITOR = ("aud-1", "STATE", "auditor")


@pytest.fixture
async def owner(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection as the tables' owner (with the application's JSON codecs)."""
    pool = await create_pool(db_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as con:
            yield con
    finally:
        await pool.close()


async def tamper(con: asyncpg.Connection, sql: str, *args: Any) -> None:
    async with con.transaction():
        await con.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update")
        await con.execute(sql, *args)
        await con.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update")


async def proposal_with_a_history(api: httpx.AsyncClient, auth: TokenFor) -> str:
    r = await api.post("/v1/proposals", json=fields().model_dump(mode="json"), headers=auth(*PO))
    assert r.status_code == 201, r.text
    pid = str(r.json()["id"])
    for agency in ("STATE", "DHS"):
        r = await api.post(
            f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth(f"i-{agency}", agency, "isg_member")
        )
        assert r.status_code == 200, r.text
    # a refusal the API records in the trail beside the workflow's events
    r = await api.post(
        f"/v1/proposals/{pid}/isg-votes", json={"vote": "nonconcur"}, headers=auth("i-DOJ", "DOJ", "isg_member")
    )
    assert r.status_code == 422
    return pid


async def verify(api: httpx.AsyncClient, auth: TokenFor, pid: str) -> dict[str, Any]:
    r = await api.get(f"/v1/proposals/{pid}/events/verify", headers=auth(*AUDITOR))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_an_untouched_trail_matches_the_workflows_record(api: httpx.AsyncClient, auth: TokenFor) -> None:
    pid = await proposal_with_a_history(api, auth)
    check = await verify(api, auth, pid)
    assert (check["valid"], check["problems"]) == (True, [])
    events = (await api.get(f"/v1/proposals/{pid}/events", headers=auth(*AUDITOR))).json()["items"]
    refused = [e for e in events if e["action"] == "refused"]
    assert len(refused) == 1 and check["events"] == len(events)
    assert check["workflow"]["kept"] and check["workflow"]["events"] == len(events) - 1


async def test_deleting_the_newest_events_is_detected(
    api: httpx.AsyncClient, auth: TokenFor, owner: asyncpg.Connection
) -> None:
    pid = await proposal_with_a_history(api, auth)
    newest = await owner.fetchval(
        "SELECT max(seq) FROM audit_events WHERE proposal_id = $1 AND action <> 'refused'", pid
    )
    await tamper(owner, "DELETE FROM audit_events WHERE proposal_id = $1 AND seq >= $2", pid, newest - 1)
    assert audit.verify_chain(pid, await audit.fetch(owner, pid)) is None  # the database's chain alone holds
    check = await verify(api, auth, pid)
    assert check["valid"] is False
    workflow_events = check["workflow"]["events"]
    held = workflow_events - 2
    assert check["problems"] == [
        f"the workflow recorded {workflow_events} events and the database holds {held} of them: 2 are missing"
    ]


async def test_rewriting_events_and_recomputing_the_chain_is_detected(
    api: httpx.AsyncClient, auth: TokenFor, owner: asyncpg.Connection
) -> None:
    pid = await proposal_with_a_history(api, auth)
    rows = await audit.fetch(owner, pid)
    vote = next(e for e in rows if e["action"] == "isg_vote" and e["agency"] == "DHS")
    vote["detail"] = {**vote["detail"], "vote": "nonconcur", "comment": "we never agreed"}
    # recompute every hash from the rewritten event on, as a careful forger would
    prev = audit.GENESIS
    async with owner.transaction():
        await owner.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update")
        for e in rows:
            digest = audit.event_hash(
                proposal_id=pid,
                seq=e["seq"],
                at=e["at"],
                actor=e["actor"],
                agency=e["agency"],
                action=e["action"],
                detail=e["detail"],
                prev_hash=prev,
            )
            await owner.execute(
                "UPDATE audit_events SET detail = $3, prev_hash = $4, hash = $5 WHERE proposal_id = $1 AND seq = $2",
                pid,
                e["seq"],
                e["detail"],
                prev,
                digest,
            )
            prev = digest
        await owner.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update")
    assert audit.verify_chain(pid, await audit.fetch(owner, pid)) is None  # the database's chain alone holds
    check = await verify(api, auth, pid)
    assert check["valid"] is False
    assert len(check["problems"]) == 1 and "events were rewritten" in check["problems"][0]


async def test_a_proposal_whose_audit_rows_were_all_deleted_is_tampered_not_missing(
    api: httpx.AsyncClient, auth: TokenFor, owner: asyncpg.Connection
) -> None:
    pid = await proposal_with_a_history(api, auth)
    await tamper(owner, "DELETE FROM audit_events WHERE proposal_id = $1", pid)
    check = await verify(api, auth, pid)
    assert (check["valid"], check["events"]) == (False, 0)
    assert check["problems"][0] == "no audit events are recorded for this proposal"
    assert "are missing" in check["problems"][1]
    # even with its read-model row gone too: the workflow still knows the proposal
    await owner.execute("DELETE FROM proposals WHERE id = $1", pid)
    assert (await verify(api, auth, pid))["valid"] is False
    r = await api.get(f"/v1/proposals/{uuid.uuid4()}/events/verify", headers=auth(*AUDITOR))
    assert r.status_code == 404
