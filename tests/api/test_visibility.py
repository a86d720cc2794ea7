"""Visibility across agencies: who an instructor is, a decline's reason and an agency's roster are
seen only by that agency's coordinators, program officers, the Board chair and auditors."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from ilea.domain import Agency
from tests.api.conftest import TokenFor
from tests.support import fields, seed_instructors

REASON = "Our agents are deployed that month"


async def staffed(api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool) -> tuple[str, dict[Agency, list[str]]]:
    """A fast-tracked proposal whose TREASURY slot is filled and one DOJ slot declined."""
    staff = await seed_instructors(pool, per_agency=2)
    r = await api.post(
        "/v1/proposals",
        json=fields(cost="100000").model_dump(mode="json"),
        headers=auth("po-1", "STATE", "program_officer"),
    )
    pid = r.json()["id"]
    for seat in ("STATE", "TREASURY", "DHS", "DOJ"):
        r = await api.post(
            f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth(f"i-{seat}", seat, "isg_member")
        )
    assert r.json()["stage"] == "staffing", r.text
    requests = r.json()["instructor_requests"]
    treasury = next(x for x in requests if x["agency"] == "TREASURY")
    doj = next(x for x in requests if x["agency"] == "DOJ")
    r = await api.post(
        f"/v1/instructor-requests/{treasury['id']}/accept",
        json={"instructor_id": staff[Agency.TREASURY][0]},
        headers=auth("c-t", "TREASURY", "agency_coordinator"),
    )
    assert r.status_code == 200 and r.json()["instructor"]["name"], r.text  # the coordinator sees their own
    r = await api.post(
        f"/v1/instructor-requests/{doj['id']}/decline",
        json={"reason": REASON},
        headers=auth("c-j", "DOJ", "agency_coordinator"),
    )
    assert r.status_code == 200 and r.json()["reason"] == REASON, r.text
    return pid, staff


def by_agency(doc: dict[str, Any]) -> dict[str, list[tuple[Any, Any]]]:
    """Each agency's requests as (instructor, reason)."""
    seen: dict[str, list[tuple[Any, Any]]] = {}
    for r in doc["instructor_requests"]:
        seen.setdefault(r["agency"], []).append((r["instructor"], r["reason"]))
    return seen


async def test_instructors_and_decline_reasons_are_withheld_from_other_agencies(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    """Issue 13: Treasury's coordinator read DHS's instructor names and decline reasons through
    GET /v1/proposals/{id} and /events."""
    pid, _ = await staffed(api, auth, pool)
    readers = {
        "treasury coordinator": (auth("c-t", "TREASURY", "agency_coordinator"), {"TREASURY"}),
        "doj coordinator": (auth("c-j", "DOJ", "agency_coordinator"), {"DOJ"}),
        "dhs isg member": (auth("i-d", "DHS", "isg_member"), set()),
        "doj board member": (auth("b-j", "DOJ", "board_member"), set()),
        "program officer": (auth("po-2", "STATE", "program_officer"), {"TREASURY", "DOJ"}),
        "board chair": (auth("ch", "STATE", "board_chair"), {"TREASURY", "DOJ"}),
        "auditor": (auth("a", "DHS", "auditor"), {"TREASURY", "DOJ"}),
    }
    for who, (headers, visible) in readers.items():
        doc = (await api.get(f"/v1/proposals/{pid}", headers=headers)).json()
        seen = by_agency(doc)
        treasury_instructor = seen["TREASURY"][0][0]
        doj_reasons = [reason for _, reason in seen["DOJ"] if reason]
        assert (treasury_instructor is not None) is ("TREASURY" in visible), (who, seen)
        assert (doj_reasons == [REASON]) is ("DOJ" in visible), (who, seen)
        if "DOJ" not in visible:
            assert all(reason is None for _, reason in seen["DOJ"]), (who, seen)

        events = (await api.get(f"/v1/proposals/{pid}/events", headers=headers)).json()["items"]
        accepted = next(e for e in events if e["action"] == "request_accepted")
        declined = next(e for e in events if e["action"] == "request_declined")
        assert (accepted["detail"]["instructor"] is not None) is ("TREASURY" in visible), (who, accepted)
        assert declined["detail"]["reason"] == (REASON if "DOJ" in visible else None), (who, declined)
        # The hashes are over what is stored: the chain verifies whoever asks.
        check = (await api.get(f"/v1/proposals/{pid}/events/verify", headers=headers)).json()
        assert check["valid"] is True, (who, check)


async def test_an_agencys_roster_is_seen_by_its_coordinators_program_officers_the_chair_and_auditors(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    staff = await seed_instructors(pool, per_agency=1)
    everyone = {i for ids in staff.values() for i in ids}

    async def roster(headers: dict[str, str], **params: str) -> httpx.Response:
        return await api.get("/v1/instructors", params=params, headers=headers)

    for headers in (
        auth("po", "STATE", "program_officer"),
        auth("ch", "STATE", "board_chair"),
        auth("a", "DOJ", "auditor"),
    ):
        assert {i["id"] for i in (await roster(headers)).json()["items"]} == everyone
    treasury = auth("c-t", "TREASURY", "agency_coordinator")
    assert {i["id"] for i in (await roster(treasury)).json()["items"]} == set(staff[Agency.TREASURY])
    r = await roster(treasury, agency="DHS")
    assert r.status_code == 403 and r.json()["code"] == "WrongAgency", r.text
    isg = auth("i-d", "DHS", "isg_member")
    assert (await roster(isg)).json()["items"] == []
    assert (await roster(isg, agency="DHS")).status_code == 403
