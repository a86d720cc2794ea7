"""``/v1/people``: who may read and change grants, what a grant may be, and the access log's chain."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from ilea.db import audit, people
from ilea.domain import Role
from tests.api.conftest import TokenFor
from tests.api.test_refusals import assert_problem

ADMIN = ("admin-1", "STATE", "access_admin")


def body(
    agency: str = "DHS", *roles: str, name: str = "Avery Stone", email: str = "avery.stone@dhs.gov"
) -> dict[str, Any]:
    return {"name": name, "email": email, "agency": agency, "roles": list(roles) or ["board_member"]}


def chain_only(check: dict[str, Any]) -> dict[str, Any]:
    """A verification's findings on the chain (the access-log witness answered, whatever it read:
    tests/access/test_access_log_verify.py checks what it finds)."""
    assert check.pop("witness_answered") is True
    check.pop("witnessed_seq")
    return check


async def test_only_access_admins_change_grants_and_auditors_read_them(api: httpx.AsyncClient, auth: TokenFor) -> None:
    admin = auth(*ADMIN)
    r = await api.put("/v1/people/board-dhs", json=body("DHS", "board_member"), headers=admin)
    assert r.status_code == 200, r.text
    person = r.json()
    assert {k: person[k] for k in ("sub", "name", "email", "agency", "roles", "active", "updated_by")} == {
        "sub": "board-dhs",
        "name": "Avery Stone",
        "email": "avery.stone@dhs.gov",
        "agency": "DHS",
        "roles": ["board_member"],
        "active": True,
        "updated_by": "admin-1",
    }
    for role in Role:
        who = auth("someone", "STATE", role)
        readable = role in (Role.access_admin, Role.auditor)
        for path in ("/v1/people", "/v1/people/access-log", "/v1/people/access-log/verify"):
            assert (await api.get(path, headers=who)).status_code == (200 if readable else 403), (role, path)
        if role is not Role.access_admin:
            assert_problem(await api.put("/v1/people/x-1", json=body(), headers=who), 403)
            assert_problem(await api.delete("/v1/people/board-dhs/roles/board_member", headers=who), 403)
    assert (await api.get("/v1/people")).status_code == 401


async def test_a_grant_must_fit_the_product_rules(api: httpx.AsyncClient, auth: TokenFor) -> None:
    admin = auth(*ADMIN)
    r = await api.put("/v1/people/po-dhs", json=body("DHS", "program_officer", "board_chair"), headers=admin)
    problem = assert_problem(r, 422)
    assert problem["errors"] == [
        {"loc": ["body", "roles"], "msg": "program_officer is held only in STATE, not DHS"},
        {"loc": ["body", "roles"], "msg": "board_chair is held only in STATE, not DHS"},
    ]
    assert_problem(await api.put("/v1/people/x", json=body("DHS", "superuser"), headers=admin), 422)
    assert_problem(await api.put("/v1/people/x", json={**body(), "email": "not-an-address"}, headers=admin), 422)
    assert_problem(await api.put("/v1/people/x", json={**body(), "stage": "approved"}, headers=admin), 422)
    # A name is text like any other: no bidirectional override, no control character.
    for name, code in (("Ada\u202eLovelace", "U+202E"), ("Ada\tLovelace", "U+0009")):
        problem = assert_problem(await api.put("/v1/people/x", json={**body(), "name": name}, headers=admin), 422)
        assert [e["loc"] for e in problem["errors"]] == [["body", "name"]] and code in problem["errors"][0]["msg"]
    for sub, why in (("system", "reserved"), ("bell%07", "cannot be printed"), ("s" * 129, None)):
        problem = assert_problem(await api.put(f"/v1/people/{sub}", json=body(), headers=admin), 422)
        assert why is None or why in problem["detail"], problem
    # An access administrator cannot change their own grant; another one must.
    problem = assert_problem(await api.put("/v1/people/admin-1", json=body("STATE", "auditor"), headers=admin), 403)
    assert problem["code"] == "SeparationOfDuties"
    assert_problem(await api.delete("/v1/people/admin-1/roles/access_admin", headers=admin), 403)
    assert_problem(await api.delete("/v1/people/nobody/roles/auditor", headers=admin), 404)
    assert_problem(await api.delete("/v1/people/nobody/roles/superuser", headers=admin), 422)
    assert (await api.get("/v1/people/access-log", headers=admin)).json()["items"] == []  # nothing was granted


async def test_people_are_found_by_agency_role_and_text(api: httpx.AsyncClient, auth: TokenFor) -> None:
    admin = auth(*ADMIN)
    grants = {
        "isg-dhs": body("DHS", "isg_member", name="Dana Brooks", email="dana@dhs.gov"),
        "coord-dhs": body("DHS", "agency_coordinator", "isg_member", name="Jamie Cruz", email="jamie@dhs.gov"),
        "isg-doj": body("DOJ", "isg_member", name="Jordan Lee", email="jordan@doj.gov"),
        "audit-1": body("TREASURY", "auditor", name="Kim 100%_Walsh", email="kim@treasury.gov"),
    }
    for sub, grant in grants.items():
        assert (await api.put(f"/v1/people/{sub}", json=grant, headers=admin)).status_code == 200

    async def subs(**query: str) -> list[str]:
        r = await api.get("/v1/people", params=query, headers=auth("aud", "STATE", "auditor"))
        assert r.status_code == 200
        return [p["sub"] for p in r.json()["items"]]

    assert await subs() == ["isg-dhs", "coord-dhs", "isg-doj", "audit-1"]  # by name
    assert await subs(agency="DHS") == ["isg-dhs", "coord-dhs"]
    assert await subs(role="isg_member", agency="DHS") == ["isg-dhs", "coord-dhs"]
    assert await subs(role="isg_member") == ["isg-dhs", "coord-dhs", "isg-doj"]
    assert await subs(q="JORDAN") == ["isg-doj"]
    assert await subs(q="@dhs.gov") == ["isg-dhs", "coord-dhs"]
    assert await subs(q="100%_") == ["audit-1"]  # LIKE wildcards are taken literally
    assert await subs(q="m%") == []  # would match "Kim" if % were a wildcard


async def test_regrant_and_revocation_are_logged_with_what_changed(api: httpx.AsyncClient, auth: TokenFor) -> None:
    admin = auth(*ADMIN)
    await api.put("/v1/people/p-1", json=body("DHS", "isg_member"), headers=admin)
    await api.put("/v1/people/p-1", json={**body("DOJ", "isg_member", "board_member"), "active": False}, headers=admin)
    await api.delete("/v1/people/p-1/roles/board_member", headers=admin)
    unchanged = await api.delete("/v1/people/p-1/roles/board_member", headers=admin)  # not held: nothing to log
    assert unchanged.status_code == 200 and unchanged.json()["roles"] == ["isg_member"]
    items = (await api.get("/v1/people/access-log", headers=admin)).json()["items"]
    assert [(e["seq"], e["action"], e["actor"], e["sub"]) for e in items] == [
        (1, "grant", "admin-1", "p-1"),
        (2, "grant", "admin-1", "p-1"),
        (3, "revoke", "admin-1", "p-1"),
    ]
    second = items[1]["detail"]
    assert (second["added"], second["removed"], second["was"]) == (
        ["board_member"],
        [],
        {"agency": "DHS", "active": True},
    )
    assert items[2]["detail"] == {"role": "board_member", "roles": ["isg_member"], "ip": "127.0.0.1"}
    assert [e["prev_hash"] for e in items[1:]] == [e["hash"] for e in items[:-1]]
    paged = (await api.get("/v1/people/access-log", params={"after": 1, "limit": 1}, headers=admin)).json()["items"]
    assert [e["seq"] for e in paged] == [2]


async def test_the_access_log_cannot_be_edited_and_a_forged_entry_is_found(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool, owner_pool: asyncpg.Pool
) -> None:
    admin = auth(*ADMIN)
    for n in range(4):
        await api.put(f"/v1/people/p-{n}", json=body("DOJ", "isg_member"), headers=admin)
    # The application's login may not even try; the owner meets the append-only trigger.
    for sql in (
        "UPDATE access_events SET actor = 'someone-else' WHERE seq = 2",
        "DELETE FROM access_events WHERE seq = 4",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pool.execute(sql)
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await owner_pool.execute(sql)
    verify = await api.get("/v1/people/access-log/verify", headers=admin)
    assert chain_only(verify.json()) == {"valid": True, "events": 4, "first_broken_seq": None, "problems": []}

    # Someone with the database owner's powers rewrites an entry: the chain shows where.
    async with owner_pool.acquire() as con:
        await con.execute("ALTER TABLE access_events DISABLE TRIGGER USER")
        await con.execute(
            "UPDATE access_events SET detail = jsonb_set(detail, '{roles}', '[\"board_member\"]') WHERE seq = 3"
        )
        await con.execute("ALTER TABLE access_events ENABLE TRIGGER USER")
    verify = await api.get("/v1/people/access-log/verify", headers=auth("aud", "STATE", "auditor"))
    assert chain_only(verify.json()) == {
        "valid": False,
        "events": 4,
        "first_broken_seq": 3,
        "problems": audit.broken_at(3),
    }
    assert people.verify_chain(await people.events(pool)) == 3
