"""The audit trail over HTTP: verification of a tampered chain."""

from __future__ import annotations

import asyncpg
import httpx

from tests.api.conftest import TokenFor
from tests.support import fields


async def test_a_proposal_whose_audit_rows_were_all_deleted_verifies_as_tampered(
    api: httpx.AsyncClient, auth: TokenFor, owner_pool: asyncpg.Pool
) -> None:
    """Issue 13: with every audit row deleted, /events/verify answered 404 as if there were no proposal."""
    po = auth("po-1", "STATE", "program_officer")
    pid = (await api.post("/v1/proposals", json=fields().model_dump(mode="json"), headers=po)).json()["id"]
    async with owner_pool.acquire() as con, con.transaction():
        await con.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update")
        await con.execute("DELETE FROM audit_events WHERE proposal_id = $1", pid)
        await con.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update")
    r = await api.get(f"/v1/proposals/{pid}/events/verify", headers=auth("a", "DOJ", "auditor"))
    assert r.status_code == 200, r.text
    check = r.json()
    assert check["valid"] is False and check["events"] == 0 and check["first_broken_seq"] == 1
    assert check["problems"] == ["no audit events are recorded for this proposal"]
    r = await api.get("/v1/proposals/no-such-proposal/events/verify", headers=auth("a", "DOJ", "auditor"))
    assert r.status_code == 404
