"""GET /v1/notifications and mark-read: a person's notifications, newest first, read per person."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from tests.api.conftest import TokenFor
from tests.support import fields


async def submitted(api: httpx.AsyncClient, auth: TokenFor) -> str:
    r = await api.post(
        "/v1/proposals", json=fields().model_dump(mode="json"), headers=auth("po-1", "STATE", "program_officer")
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def listed(api: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    r = await api.get("/v1/notifications", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_notifications_of_ones_parties_newest_first_read_per_person(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    pid = await submitted(api, auth)
    dhs_1, dhs_2 = auth("isg-dhs-1", "DHS", "isg_member"), auth("isg-dhs-2", "DHS", "isg_member")
    mine = await listed(api, dhs_1)
    # The ISG seat of DHS was asked to vote; nothing addressed to other parties shows.
    assert mine and {n["party"] for n in mine} == {"isg:DHS"}
    n = mine[0]
    assert set(n) >= {"id", "party", "kind", "proposal_id", "subject", "body", "created_at", "read", "email"}
    assert n["proposal_id"] == pid and n["read"] is False and n["email"] == "not_configured"
    # Newest first.
    await pool.execute(
        "INSERT INTO notifications (proposal_id, event_key, party, kind, subject, created_at)"
        " VALUES ($1, 'later', 'isg:DHS', 'reminder', 'Reminder: vote', now() + interval '1 minute')",
        pid,
    )
    mine = await listed(api, dhs_1)
    assert mine[0]["subject"] == "Reminder: vote"
    assert [x["created_at"] for x in mine] == sorted((x["created_at"] for x in mine), reverse=True)

    r = await api.post(f"/v1/notifications/{n['id']}/read", headers=dhs_1)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == n["id"] and r.json()["read"] is True
    again = await api.post(f"/v1/notifications/{n['id']}/read", headers=dhs_1)
    assert again.status_code == 200 and again.json()["read"] is True  # marking twice is harmless
    # Read state is per person: the other DHS member has not read it.
    assert {x["id"]: x["read"] for x in await listed(api, dhs_1)}[n["id"]] is True
    assert {x["id"]: x["read"] for x in await listed(api, dhs_2)}[n["id"]] is False
    assert n["id"] not in {x["id"] for x in await listed(api, dhs_1, unread="true")}
    assert n["id"] in {x["id"] for x in await listed(api, dhs_2, unread="true")}
    assert [x["id"] for x in await listed(api, dhs_1, unread="false")] == [n["id"]]


async def test_only_the_notifications_reader_marks_it_read_and_auditors_see_all(
    api: httpx.AsyncClient, auth: TokenFor
) -> None:
    await submitted(api, auth)
    dhs = (await listed(api, auth("isg-dhs", "DHS", "isg_member")))[0]
    # Another party's notification answers as a missing one does: ids are sequential, so a 403
    # naming its party would let anyone list who is told what.
    theirs = await api.post(f"/v1/notifications/{dhs['id']}/read", headers=auth("isg-doj", "DOJ", "isg_member"))
    missing = await api.post("/v1/notifications/999999999/read", headers=auth("isg-doj", "DOJ", "isg_member"))
    assert theirs.status_code == missing.status_code == 404, theirs.text
    assert "isg:DHS" not in theirs.text and "DHS" not in theirs.text
    assert theirs.json()["detail"] == missing.json()["detail"].replace("999999999", str(dhs["id"]))
    assert (await listed(api, auth("isg-dhs", "DHS", "isg_member")))[0]["read"] is False
    everything = await listed(api, auth("aud", "TREASURY", "auditor"))
    assert {"isg:STATE", "isg:TREASURY", "isg:DHS", "isg:DOJ"} <= {n["party"] for n in everything}
    r = await api.post(f"/v1/notifications/{dhs['id']}/read", headers=auth("aud", "TREASURY", "auditor"))
    assert r.status_code == 200 and r.json()["read"] is True
    # An auditor's read is theirs alone.
    assert (await listed(api, auth("isg-dhs", "DHS", "isg_member")))[0]["read"] is False


async def test_the_owner_reads_what_is_addressed_to_them_and_another_program_officer_does_not(
    api: httpx.AsyncClient, auth: TokenFor
) -> None:
    pid = await submitted(api, auth)
    owner = await listed(api, auth("po-1", "STATE", "program_officer"))
    assert {(n["party"], n["kind"]) for n in owner if n["proposal_id"] == pid} >= {
        ("person:po-1", "submitted"),
        ("person:po-1", "stage_changed"),
    }
    other = await listed(api, auth("po-2", "STATE", "program_officer"))
    assert not [n for n in other if n["party"] == "person:po-1"]
    # an ISG seat's request to vote clears once the seat has voted
    dhs = auth("isg-dhs", "DHS", "isg_member")
    (asked,) = [n for n in await listed(api, dhs) if n["kind"] == "action"]
    assert asked["cleared_at"] is None
    r = await api.post(f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=dhs)
    assert r.status_code == 200, r.text
    (done,) = [n for n in await listed(api, dhs) if n["kind"] == "action"]
    (vote,) = [v for v in r.json()["isg_votes"] if v["agency"] == "DHS"]
    assert done["cleared_at"] == vote["at"]  # cleared by that vote, at its time
