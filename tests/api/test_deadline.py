"""Every request answered in bounded time (product.md "Availability"): an action whose Update
is not through by the deadline answers 503, and a retry with the same Idempotency-Key
returns its result with no second effect. Here no worker polls the task queue at first."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from api.deadline import DeadlineMiddleware
from ilea.settings import Settings
from tests.api.conftest import StartWorker, TokenFor
from tests.support import fields

TIMEOUT_S = 3.0


@pytest.fixture
def settings(task_queue: str) -> Settings:
    return Settings(env="test", task_queue=task_queue, request_timeout_seconds=TIMEOUT_S)


def assert_action_pending(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) > 0
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "ActionPending"
    assert "may still take effect" in problem["detail"] and "same Idempotency-Key" in problem["detail"]


async def test_a_submission_with_no_worker_is_503_and_its_keyed_retry_creates_it_once(
    api_no_worker: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool, start_worker: StartWorker
) -> None:
    po = {**auth("po-1", "STATE", "program_officer"), "Idempotency-Key": "submit-1"}
    body = fields().model_dump(mode="json")
    first = await api_no_worker.post("/v1/proposals", json=body, headers=po)
    assert_action_pending(first)
    # Nothing is pinned to the key: the retry runs the request again.
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE key = 'submit-1'") == 0

    async with start_worker():
        again = await api_no_worker.post("/v1/proposals", json=body, headers=po)
        assert again.status_code == 201, again.text
        assert again.json()["stage"] == "isg_review"
        third = await api_no_worker.post("/v1/proposals", json=body, headers=po)
    assert third.status_code == 201 and third.content == again.content  # the stored answer now
    assert await pool.fetchval("SELECT count(*) FROM proposals") == 1


async def test_a_vote_that_lands_after_its_503_is_returned_to_the_keyed_retry_once(
    api_no_worker: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool, start_worker: StartWorker
) -> None:
    async with start_worker():
        r = await api_no_worker.post(
            "/v1/proposals", json=fields().model_dump(mode="json"), headers=auth("po-1", "STATE", "program_officer")
        )
        assert r.status_code == 201, r.text
    pid = r.json()["id"]

    # The worker is gone: the vote's Update waits in Temporal, the request does not.
    vote = {**auth("isg-dhs", "DHS", "isg_member"), "Idempotency-Key": "vote-1"}
    first = await api_no_worker.post(f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=vote)
    assert_action_pending(first)

    async with start_worker():
        # The waiting Update is delivered when a worker polls again: the action takes effect
        # although its request answered 503.
        for _ in range(100):
            votes = await pool.fetchval(
                "SELECT count(*) FROM audit_events WHERE proposal_id = $1 AND action = 'isg_vote'", pid
            )
            if votes:
                break
            await asyncio.sleep(0.1)
        assert votes == 1
        retry = await api_no_worker.post(f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=vote)
    assert retry.status_code == 200, retry.text
    dhs = next(v for v in retry.json()["isg_votes"] if v["agency"] == "DHS")
    assert dhs["vote"] == "concur"
    events = await pool.fetch("SELECT action FROM audit_events WHERE proposal_id = $1", pid)
    assert [e["action"] for e in events].count("isg_vote") == 1
    assert "refused" not in [e["action"] for e in events]


async def test_the_deadline_answers_for_a_request_stuck_elsewhere() -> None:
    """Whatever hangs (here: the whole handler), the caller gets a 503 with Retry-After, and
    the stuck work is cancelled rather than left running."""
    cancelled = asyncio.Event()

    async def stuck(scope: Any, receive: Any, send: Any) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            cancelled.set()

    app = DeadlineMiddleware(stuck, seconds=0.2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        r = await client.post("/v1/proposals/x/withdraw", json={})
    assert r.status_code == 503
    assert int(r.headers["retry-after"]) > 0
    assert r.json()["code"] == "Timeout"
    assert "same Idempotency-Key" in r.json()["detail"]
    await asyncio.wait_for(cancelled.wait(), 5)
