"""Idempotency-Key: one effect, identical responses; another body with the same key is a 422."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from api import app as app_module
from api.app import sweep_idempotency_keys
from api.idempotency import fingerprint
from ilea.settings import Settings
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


async def test_sweep_deletes_expired_keys_only(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys past the retention window go (in batches); recent ones stay, done or not."""
    monkeypatch.setattr(app_module, "EXPIRE_BATCH", 3)
    rows = [
        *((f"old-{i}", 200, timedelta(hours=30)) for i in range(7)),  # expired: deleted in three batches
        ("recent", 200, timedelta(hours=1)),  # inside the window: kept
        ("abandoned", None, timedelta(minutes=5)),  # left to the next retry to take over
        ("running", None, timedelta(seconds=1)),  # in progress now: kept
    ]
    for key, status, age in rows:
        await pool.execute(
            "INSERT INTO idempotency_keys (caller, key, method_path, body_hash, status_code, created_at)"
            " VALUES ('po-1', $1, 'POST /v1/proposals', 'h', $2, now() - $3::interval)",
            key,
            status,
            age,
        )
    assert await sweep_idempotency_keys(pool, timedelta(hours=24)) == 7
    left = {r["key"] for r in await pool.fetch("SELECT key FROM idempotency_keys")}
    assert left == {"recent", "abandoned", "running"}
    assert await sweep_idempotency_keys(pool, timedelta(hours=24)) == 0


async def test_a_retry_takes_over_an_abandoned_key(api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool) -> None:
    """A key left in progress by a dead API process: a retry with the same body runs the
    request; one with another body is still a 422."""
    body = json.dumps(fields().model_dump(mode="json")).encode()
    digest = fingerprint("POST /v1/proposals", body)
    for key, age in (("dead", timedelta(minutes=5)), ("other-body", timedelta(minutes=5))):
        await pool.execute(
            "INSERT INTO idempotency_keys (caller, key, method_path, body_hash, created_at)"
            " VALUES ('po-1', $1, 'POST /v1/proposals', $2, now() - $3::interval)",
            key,
            digest if key == "dead" else "another body",
            age,
        )
    headers = {**auth("po-1", "STATE", "program_officer"), "Content-Type": "application/json"}
    r = await api.post("/v1/proposals", content=body, headers={**headers, "Idempotency-Key": "dead"})
    assert r.status_code == 201, r.text
    row = await pool.fetchrow(
        "SELECT status_code, created_at > now() - interval '1 minute' AS fresh FROM idempotency_keys WHERE key = 'dead'"
    )
    assert row["status_code"] == 201 and row["fresh"]
    again = await api.post("/v1/proposals", content=body, headers={**headers, "Idempotency-Key": "dead"})
    assert again.status_code == 201 and again.content == r.content  # the stored response now
    other = await api.post("/v1/proposals", content=body, headers={**headers, "Idempotency-Key": "other-body"})
    assert other.status_code == 422
    assert await pool.fetchval("SELECT count(*) FROM proposals") == 1


async def test_an_expired_key_still_has_one_effect(api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool) -> None:
    """Past the retention window the stored response is gone, but a retried submission still
    creates nothing new: the proposal's id (and workflow id) come from the caller and key."""
    po = {**auth("po-1", "STATE", "program_officer"), "Idempotency-Key": "create-old"}
    body = fields().model_dump(mode="json")
    first = await api.post("/v1/proposals", json=body, headers=po)
    assert first.status_code == 201
    await pool.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    assert await sweep_idempotency_keys(pool, timedelta(hours=24)) == 1
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 0
    again = await api.post("/v1/proposals", json=body, headers=po)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    assert await pool.fetchval("SELECT count(*) FROM proposals") == 1
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 1  # stored afresh


def test_retention_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        Settings(idempotency_retention_hours=0)


async def test_a_keyed_post_verifies_its_token_once(
    api: httpx.AsyncClient, auth: TokenFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The middleware's verified caller is handed to the route, not verified a second time;
    another token on the same connection is still verified on its own."""
    app = api._transport.app  # type: ignore[attr-defined]
    calls: list[str] = []
    real = app.state.verifier.claims

    def counting(token: str) -> object:
        calls.append(token)
        return real(token)

    monkeypatch.setattr(app.state.verifier, "claims", counting)
    po = {**auth("po-1", "STATE", "program_officer"), "Idempotency-Key": "once"}
    r = await api.post("/v1/proposals", json=fields().model_dump(mode="json"), headers=po)
    assert r.status_code == 201 and len(calls) == 1
    isg = auth("isg-dhs", "DHS", "isg_member")
    denied = await api.post("/v1/proposals", json=fields().model_dump(mode="json"), headers=isg)
    assert denied.status_code == 403 and len(calls) == 2  # no key: the route verifies, and refuses


async def expire_keys(pool: asyncpg.Pool) -> None:
    """Everything remembered is forgotten, as after the retention window."""
    await pool.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    await sweep_idempotency_keys(pool, timedelta(hours=24))
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_a_forgotten_key_with_another_body_is_a_new_submission(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    """Issue 13: a key reused a day later for another course answered 201 with the old proposal."""
    po = {**auth("po-1", "STATE", "program_officer"), "Idempotency-Key": "reused"}
    first = await api.post(
        "/v1/proposals", json=fields(title="Cybercrime for Asia").model_dump(mode="json"), headers=po
    )
    assert first.status_code == 201
    await expire_keys(pool)
    second = await api.post(
        "/v1/proposals", json=fields(title="Wildlife trafficking").model_dump(mode="json"), headers=po
    )
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first.json()["id"]
    assert second.json()["title"] == "Wildlife trafficking"
    titles = {r["title"] for r in await pool.fetch("SELECT title FROM proposals")}
    assert titles == {"Cybercrime for Asia", "Wildlife trafficking"}


async def test_a_forgotten_key_with_another_vote_changes_the_vote(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    """Issue 13: a changed vote with a reused key answered 200 and the vote stayed as it was."""
    created = await api.post(
        "/v1/proposals", json=fields().model_dump(mode="json"), headers=auth("po-1", "STATE", "program_officer")
    )
    pid = created.json()["id"]
    dhs = {**auth("isg-dhs", "DHS", "isg_member"), "Idempotency-Key": "my-vote"}
    r = await api.post(f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=dhs)
    assert r.status_code == 200
    await expire_keys(pool)
    changed = {"vote": "nonconcur", "comment": "the cost is too high"}
    r = await api.post(f"/v1/proposals/{pid}/isg-votes", json=changed, headers=dhs)
    assert r.status_code == 200, r.text
    votes = {v["agency"]: v["vote"] for v in r.json()["isg_votes"]}
    assert votes["DHS"] == "nonconcur"
    # The same vote again after the window is still the one effect it had.
    await expire_keys(pool)
    again = await api.post(f"/v1/proposals/{pid}/isg-votes", json=changed, headers=dhs)
    assert again.status_code == 200
    n = await pool.fetchval("SELECT count(*) FROM audit_events WHERE proposal_id = $1 AND action = 'isg_vote'", pid)
    assert n == 2


async def test_reformatted_json_is_the_same_body(api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool) -> None:
    """Whitespace and key order do not make another body: the first response is replayed."""
    body = fields().model_dump(mode="json")
    headers = {**auth("po-1", "STATE", "program_officer"), "Idempotency-Key": "fmt", "Content-Type": "application/json"}
    first = await api.post("/v1/proposals", content=json.dumps(body).encode(), headers=headers)
    assert first.status_code == 201
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2).encode()
    again = await api.post("/v1/proposals", content=reordered, headers=headers)
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert again.content == first.content
    assert await pool.fetchval("SELECT count(*) FROM proposals") == 1
