"""Idempotency-Key: one effect, identical responses; another body with the same key is a 422."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from tests.api.conftest import TokenFor
from tests.support import fields


async def test_same_key_same_body_one_effect(api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool) -> None:
    po = {**auth("po-1", "STATE", "program_officer"), "Idempotency-Key": "create-1"}
    body = fields().model_dump(mode="json")
    responses = await asyncio.gather(*(api.post("/v1/proposals", json=body, headers=po) for _ in range(5)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len({r.content for r in responses}) == 1
    assert await pool.fetchval("SELECT count(*) FROM proposals") == 1

    pid = responses[0].json()["id"]
    vote = {**auth("isg-dhs", "DHS", "isg_member"), "Idempotency-Key": "vote-1"}
    votes = await asyncio.gather(
        *(api.post(f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=vote) for _ in range(5))
    )
    assert {r.status_code for r in votes} == {200}
    assert len({r.content for r in votes}) == 1
    n = await pool.fetchval("SELECT count(*) FROM audit_events WHERE proposal_id = $1 AND action = 'isg_vote'", pid)
    assert n == 1


async def test_same_key_other_body_is_422(api: httpx.AsyncClient, auth: TokenFor) -> None:
    po = {**auth("po-1", "STATE", "program_officer"), "Idempotency-Key": "k"}
    r1 = await api.post("/v1/proposals", json=fields().model_dump(mode="json"), headers=po)
    assert r1.status_code == 201
    r2 = await api.post("/v1/proposals", json=fields(title="Something else").model_dump(mode="json"), headers=po)
    assert r2.status_code == 422
    assert "different request body" in r2.json()["detail"]


async def test_keys_are_per_caller(api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool) -> None:
    body = fields().model_dump(mode="json")
    a = await api.post(
        "/v1/proposals", json=body, headers={**auth("po-1", "STATE", "program_officer"), "Idempotency-Key": "same"}
    )
    b = await api.post(
        "/v1/proposals", json=body, headers={**auth("po-2", "STATE", "program_officer"), "Idempotency-Key": "same"}
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    assert await pool.fetchval("SELECT count(*) FROM proposals") == 2
