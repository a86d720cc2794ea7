"""Ownership (product.md "Ownership", edition 2): the submitter owns a proposal, is the one told,
and may hand it over (``POST /v1/proposals/{id}/owner``, audited) to another program officer.
"""

from __future__ import annotations

import asyncpg
import httpx

from ilea.db import people
from ilea.domain import Agency, Role
from tests.api.conftest import TokenFor
from tests.support import fields

PO1 = ("po-1", "STATE", "program_officer")
PO2 = ("po-2", "STATE", "program_officer")


async def submit(api: httpx.AsyncClient, auth: TokenFor) -> str:
    r = await api.post("/v1/proposals", json=fields().model_dump(mode="json"), headers=auth(*PO1))
    assert r.status_code == 201, r.text
    assert r.json()["owner"] == "po-1"
    return str(r.json()["id"])


async def test_an_owner_hands_a_proposal_over_and_the_new_owner_is_told(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    pid = await submit(api, auth)
    r = await api.post(f"/v1/proposals/{pid}/owner", json={"sub": "po-3"}, headers=auth(*PO2))
    assert r.status_code == 200, r.text
    assert r.json()["owner"] == "po-3"
    assert (await api.get(f"/v1/proposals/{pid}", headers=auth(*PO1))).json()["owner"] == "po-3"

    events = (await api.get(f"/v1/proposals/{pid}/events", headers=auth(*PO1))).json()["items"]
    handed = [e for e in events if e["action"] == "handed_over"]
    assert [(e["actor"], e["detail"]["from"], e["detail"]["to"]) for e in handed] == [("po-2", "po-1", "po-3")]
    told = await pool.fetch(
        "SELECT party, kind FROM notifications WHERE proposal_id = $1 AND kind = 'handed_over'", pid
    )
    assert {r["party"] for r in told} == {"person:po-1", "person:po-3"}

    # the new owner is the one told from now on: the ISG's request for changes reaches po-3
    for agency in ("STATE", "TREASURY", "DHS"):
        r = await api.post(
            f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth(f"i-{agency}", agency, "isg_member")
        )
        assert r.status_code == 200, r.text
    r = await api.post(
        f"/v1/proposals/{pid}/isg-votes",
        json={"vote": "request_changes", "comment": "narrow the scope"},
        headers=auth("i-DOJ", "DOJ", "isg_member"),
    )
    assert r.json()["stage"] == "changes_requested"
    revise = await pool.fetch(
        "SELECT party FROM notifications WHERE proposal_id = $1 AND kind = 'action' AND subject LIKE 'Revision%'", pid
    )
    assert [r["party"] for r in revise] == ["person:po-3"]


async def test_a_hand_over_is_refused_to_anyone_but_another_program_officer(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    pid = await submit(api, auth)
    r = await api.post(f"/v1/proposals/{pid}/owner", json={"sub": "po-3"}, headers=auth("i", "DHS", "isg_member"))
    assert r.status_code == 403
    for sub, msg in (
        ("system", "the subject (sub) 'system' is reserved"),
        ("po-1", "po-1 already owns this proposal"),
    ):
        r = await api.post(f"/v1/proposals/{pid}/owner", json={"sub": sub}, headers=auth(*PO2))
        assert r.status_code == 422, r.text
        (error,) = r.json()["errors"]
        assert error["loc"] == ["body", "sub"] and error["msg"].endswith(msg), error
    # a person ILEA knows, but not as a program officer
    await people.put(
        pool, sub="dana", name="Dana", email="dana@dhs.gov", agency=Agency.DHS, roles=[Role.isg_member], actor="admin"
    )
    r = await api.post(f"/v1/proposals/{pid}/owner", json={"sub": "dana"}, headers=auth(*PO2))
    assert r.status_code == 422, r.text
    assert r.json()["errors"] == [
        {
            "loc": ["body", "sub"],
            "msg": "dana is not a program officer in ILEA: only a program officer can own a proposal",
        }
    ]
    assert (await api.get(f"/v1/proposals/{pid}", headers=auth(*PO1))).json()["owner"] == "po-1"
