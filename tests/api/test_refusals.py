"""Every refusal answers with the right status and a problem body, is audited, and leaves
no trace in the workflow's history."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import TokenFor
from tests.support import fields
from workflows.proposal import workflow_id

SEATS = ("STATE", "TREASURY", "DHS", "DOJ")


async def submit(api: httpx.AsyncClient, auth: TokenFor, **kw: Any) -> dict[str, Any]:
    r = await api.post(
        "/v1/proposals",
        json=fields(**kw).model_dump(mode="json"),
        headers=auth("po-1", "STATE", "program_officer", "isg_member", "board_chair"),
    )
    assert r.status_code == 201, r.text
    return r.json()


def assert_problem(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    if code:
        assert body["code"] == code
    return body


async def history_length(env: WorkflowEnvironment, pid: str) -> int:
    handle = env.client.get_workflow_handle(workflow_id(pid))
    return len([e async for e in handle.fetch_history_events()])


async def refusals(pool: asyncpg.Pool, pid: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT actor, detail FROM audit_events WHERE proposal_id = $1 AND action = 'refused' ORDER BY seq", pid
    )
    return [dict(r) for r in rows]


async def test_four_eyes_refused_audited_and_not_in_history(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool, dev_env: WorkflowEnvironment
) -> None:
    p = await submit(api, auth)
    before = await history_length(dev_env, p["id"])
    r = await api.post(
        f"/v1/proposals/{p['id']}/isg-votes",
        json={"vote": "concur"},
        headers=auth("po-1", "STATE", "program_officer", "isg_member"),
    )
    body = assert_problem(r, 403, "FourEyes")
    assert "four-eyes" in body["detail"]
    assert await history_length(dev_env, p["id"]) == before
    audited = await refusals(pool, p["id"])
    assert audited[-1]["actor"] == "po-1" and audited[-1]["detail"]["code"] == "FourEyes"
    # The chain still verifies with the refusal in it.
    r = await api.get(f"/v1/proposals/{p['id']}/events/verify", headers=auth("a", "STATE", "auditor"))
    assert r.json()["valid"] is True


async def test_missing_comment_is_422(api: httpx.AsyncClient, auth: TokenFor) -> None:
    p = await submit(api, auth)
    for vote in ("nonconcur", "request_changes", "abstain"):
        r = await api.post(
            f"/v1/proposals/{p['id']}/isg-votes", json={"vote": vote}, headers=auth("isg-dhs", "DHS", "isg_member")
        )
        assert_problem(r, 422, "Invalid")
    r = await api.post(
        f"/v1/proposals/{p['id']}/isg-votes",
        json={"vote": "deemed_concur"},
        headers=auth("isg-dhs", "DHS", "isg_member"),
    )
    assert_problem(r, 422, "Invalid")


async def test_wrong_stage_and_closed_round_are_409(api: httpx.AsyncClient, auth: TokenFor) -> None:
    p = await submit(api, auth)
    pid = p["id"]
    r = await api.post(
        f"/v1/proposals/{pid}/board-positions",
        json={"position": "concur"},
        headers=auth("b-dhs", "DHS", "board_member"),
    )
    assert_problem(r, 409, "WrongStage")
    for seat in SEATS:
        r = await api.post(
            f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth(f"isg-{seat}", seat, "isg_member")
        )
    assert r.json()["stage"] == "board_review"
    r = await api.post(
        f"/v1/proposals/{pid}/isg-votes",
        json={"vote": "nonconcur", "comment": "late"},
        headers=auth("isg-dhs-2", "DHS", "isg_member"),
    )
    assert_problem(r, 409, "Closed")


async def test_wrong_agency_is_403(api: httpx.AsyncClient, auth: TokenFor) -> None:
    p = await submit(api, auth)
    for seat in SEATS:
        await api.post(
            f"/v1/proposals/{p['id']}/isg-votes",
            json={"vote": "concur"},
            headers=auth(f"isg-{seat}", seat, "isg_member"),
        )
    r = await api.post(
        f"/v1/proposals/{p['id']}/board-positions",
        json={"position": "concur"},
        headers=auth("b-state", "STATE", "board_member"),
    )
    assert_problem(r, 403, "WrongAgency")
    r = await api.post(
        f"/v1/proposals/{p['id']}/board-decision",
        json={"decision": "approve"},
        headers=auth("chair-dhs", "DHS", "board_chair"),
    )
    assert_problem(r, 403, "WrongAgency")


async def test_chair_blocked_by_two_nonconcur(api: httpx.AsyncClient, auth: TokenFor) -> None:
    p = await submit(api, auth)
    pid = p["id"]
    for seat in SEATS:
        await api.post(
            f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth(f"isg-{seat}", seat, "isg_member")
        )
    for agency in ("DHS", "DOJ"):
        r = await api.post(
            f"/v1/proposals/{pid}/board-positions",
            json={"position": "nonconcur", "comment": "cost"},
            headers=auth(f"b-{agency}", agency, "board_member"),
        )
        assert r.status_code == 200
    r = await api.post(
        f"/v1/proposals/{pid}/board-decision",
        json={"decision": "approve"},
        headers=auth("chair", "STATE", "board_chair"),
    )
    body = assert_problem(r, 409, "ChairBlocked")
    assert "DHS" in body["detail"] and "DOJ" in body["detail"]
    r = await api.post(
        f"/v1/proposals/{pid}/board-decision",
        json={"decision": "disapprove"},
        headers=auth("chair", "STATE", "board_chair"),
    )
    body = assert_problem(r, 422, "Invalid")  # decided by the workflow, shaped like every 422
    assert body["errors"] == [{"loc": ["body", "comment"], "msg": "a comment is required to disapprove"}]
    r = await api.post(
        f"/v1/proposals/{pid}/board-decision",
        json={"decision": "disapprove", "comment": "two departments object"},
        headers=auth("chair", "STATE", "board_chair"),
    )
    assert r.status_code == 200 and r.json()["stage"] == "rejected"


async def test_every_broken_rule_in_one_422(api: httpx.AsyncClient, auth: TokenFor) -> None:
    body = fields().model_dump(mode="json")
    body.update(
        course_type="executive",
        academy="BUD",
        start_date="2026-01-01",
        end_date="2025-12-01",
        participating_countries=["HU", "XX"],
    )
    r = await api.post("/v1/proposals", json=body, headers=auth("po", "STATE", "program_officer"))
    problem = assert_problem(r, 422, "Invalid")
    locs = {tuple(e["loc"]) for e in problem["errors"]}
    assert {
        ("body", "end_date"),
        ("body", "academy"),
        ("body", "start_date"),
        ("body", "participating_countries", 1),
    } <= locs
    body = fields().model_dump(mode="json")
    body.update(seats=0, title="x", stage="scheduled")
    r = await api.post("/v1/proposals", json=body, headers=auth("po", "STATE", "program_officer"))
    problem = assert_problem(r, 422)
    locs = {tuple(e["loc"])[:2] for e in problem["errors"]}
    assert {("body", "seats"), ("body", "title"), ("body", "stage")} <= locs


async def test_unknown_proposal_is_404(api: httpx.AsyncClient, auth: TokenFor) -> None:
    r = await api.post(
        "/v1/proposals/nope/isg-votes", json={"vote": "concur"}, headers=auth("isg-dhs", "DHS", "isg_member")
    )
    assert_problem(r, 404)
    r = await api.get("/v1/proposals/nope", headers=auth("isg-dhs", "DHS", "isg_member"))
    assert_problem(r, 404)


async def test_withdraw_needs_reason_then_closes(api: httpx.AsyncClient, auth: TokenFor) -> None:
    p = await submit(api, auth)
    po = auth("po-2", "STATE", "program_officer")
    r = await api.post(f"/v1/proposals/{p['id']}/withdraw", json={"reason": ""}, headers=po)
    assert_problem(r, 422)
    r = await api.post(f"/v1/proposals/{p['id']}/withdraw", json={"reason": "budget cut"}, headers=po)
    assert r.status_code == 200 and r.json()["stage"] == "withdrawn" and r.json()["pending_on"] == []
    r = await api.post(f"/v1/proposals/{p['id']}/withdraw", json={"reason": "again"}, headers=po)
    assert_problem(r, 409)


async def test_role_and_agency_refusals_on_an_existing_proposal_are_audited(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    """Issue 13: role and agency 403s on an existing proposal left no audit record."""
    p = await submit(api, auth)
    pid = p["id"]
    # The wrong role: an ISG member tries to withdraw.
    r = await api.post(
        f"/v1/proposals/{pid}/withdraw", json={"reason": "x"}, headers=auth("isg-1", "DHS", "isg_member")
    )
    assert_problem(r, 403, "Forbidden")
    # A role the agency cannot hold: a DHS "program officer" tries to withdraw.
    r = await api.post(
        f"/v1/proposals/{pid}/withdraw", json={"reason": "x"}, headers=auth("fake-po", "DHS", "program_officer")
    )
    assert_problem(r, 403, "WrongAgency")
    # The wrong role on one of its instructor requests is the proposal's refusal too.
    await pool.execute(
        "INSERT INTO instructor_requests (id, proposal_id, slot, agency, expertise, status, due, doc)"
        " VALUES ('req-1', $1, 1, 'DOJ', 'cybercrime', 'open', now(), '{}')",
        pid,
    )
    r = await api.post(
        "/v1/instructor-requests/req-1/decline", json={"reason": "x"}, headers=auth("isg-2", "DOJ", "isg_member")
    )
    assert_problem(r, 403, "Forbidden")
    audited = await refusals(pool, pid)
    assert [(a["actor"], a["detail"]["code"], a["detail"]["status"], a["detail"]["attempted"]) for a in audited] == [
        ("isg-1", "Forbidden", 403, "withdraw"),
        ("fake-po", "WrongAgency", 403, "withdraw"),
        ("isg-2", "Forbidden", 403, "decline"),
    ]
    # A refusal on a proposal that does not exist leaves nothing anywhere.
    r = await api.post("/v1/proposals/nope/withdraw", json={"reason": "x"}, headers=auth("isg-1", "DHS", "isg_member"))
    assert_problem(r, 403)
    assert await pool.fetchval("SELECT count(*) FROM audit_events WHERE proposal_id = 'nope'") == 0
    r = await api.get(f"/v1/proposals/{pid}/events/verify", headers=auth("a", "STATE", "auditor"))
    assert r.json()["valid"] is True


async def test_a_revision_refused_by_the_api_is_audited(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    """Issue 13: a revision the API refused (422) left no audit record."""
    p = await submit(api, auth)
    body = {"proposal": {**fields().model_dump(mode="json"), "seats": 0}, "comment": "fewer seats"}
    r = await api.post(
        f"/v1/proposals/{p['id']}/revisions", json=body, headers=auth("po-2", "STATE", "program_officer")
    )
    problem = assert_problem(r, 422, "Invalid")
    assert [e["loc"] for e in problem["errors"]] == [["body", "proposal", "seats"]]
    audited = await refusals(pool, p["id"])
    assert [(a["actor"], a["detail"]["attempted"], a["detail"]["status"]) for a in audited] == [("po-2", "revise", 422)]
    assert "Seats must be at least 1" in audited[0]["detail"]["reason"]
