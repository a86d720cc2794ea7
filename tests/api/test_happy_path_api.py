"""One proposal through review and staffing over HTTP, with auth refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import httpx

from tests.api.conftest import TokenFor
from tests.support import fields, seed_instructors


def proposal_body() -> dict[str, object]:
    return fields().model_dump(mode="json")


async def test_no_token_is_401_with_challenge(api: httpx.AsyncClient) -> None:
    r = await api.get("/v1/proposals")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 401


async def test_wrong_role_is_403(api: httpx.AsyncClient, auth: TokenFor) -> None:
    r = await api.post("/v1/proposals", json=proposal_body(), headers=auth("x", "DHS", "isg_member"))
    assert r.status_code == 403
    assert "program_officer" in r.json()["detail"]


async def test_happy_path_over_http(api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool) -> None:
    ids = await seed_instructors(pool)
    po = auth("po-1", "STATE", "program_officer")
    r = await api.post("/v1/proposals", json=proposal_body(), headers=po)
    assert r.status_code == 201, r.text
    proposal = r.json()
    pid = proposal["id"]
    assert proposal["stage"] == "isg_review"
    assert {p["party"] for p in proposal["pending_on"]} == {"isg:STATE", "isg:TREASURY", "isg:DHS", "isg:DOJ"}
    assert proposal["submitted_at"].endswith("Z")

    # Another agency's member cannot vote for DHS's seat: their vote lands on their own seat.
    for agency in ("STATE", "TREASURY", "DHS", "DOJ"):
        r = await api.post(
            f"/v1/proposals/{pid}/isg-votes",
            json={"vote": "concur"},
            headers=auth(f"isg-{agency}", agency, "isg_member"),
        )
        assert r.status_code == 200, r.text
    assert r.json()["stage"] == "board_review"

    r = await api.post(
        f"/v1/proposals/{pid}/board-decision",
        json={"decision": "approve"},
        headers=auth("chair", "STATE", "board_chair"),
    )
    assert r.status_code == 200, r.text
    requests = r.json()["instructor_requests"]
    assert r.json()["stage"] == "staffing" and len(requests) == 3

    # A coordinator of another agency may not answer.
    first = requests[0]
    other = "DHS" if first["agency"] != "DHS" else "DOJ"
    r = await api.post(
        f"/v1/instructor-requests/{first['id']}/accept",
        json={"instructor_id": ids[first["agency"]][0]},
        headers=auth(f"coord-{other}", other, "agency_coordinator"),
    )
    assert r.status_code == 403, r.text

    used: dict[str, int] = {}
    for req in requests:
        n = used.get(req["agency"], 0)
        used[req["agency"]] = n + 1
        r = await api.post(
            f"/v1/instructor-requests/{req['id']}/accept",
            json={"instructor_id": ids[req["agency"]][n]},
            headers=auth(f"coord-{req['agency']}", req["agency"], "agency_coordinator"),
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "accepted"

    r = await api.get(f"/v1/proposals/{pid}", headers=po)
    assert r.json()["stage"] == "scheduled"
    assert r.json()["pending_on"] == []
    r = await api.get(f"/v1/proposals/{pid}/events/verify", headers=auth("aud", "STATE", "auditor"))
    assert r.json()["valid"] is True and r.json()["events"] > 10
    r = await api.get("/v1/proposals", params={"stage": "scheduled"}, headers=po)
    assert [i["id"] for i in r.json()["items"]] == [pid]
    assert datetime.fromisoformat(r.json()["items"][0]["updated_at"]) <= datetime.now(UTC)
