"""The access administrator's page: grant, refuse a grant that breaks a rule, revoke; auditors read."""

from __future__ import annotations

import re

import asyncpg
import httpx

from ilea.db import people
from ilea.domain import Agency, Role
from ilea.settings import Settings
from tests.web.conftest import csrf_of, sign_in


def flash_of(html: str) -> str:
    found = re.search(
        r'<div class="usa-alert usa-alert--(success|error)[^"]*"[^>]*>.*?<p class="usa-alert__text">(.*?)</p>',
        html,
        re.S,
    )
    assert found, "no flash message on the page"
    return f"{'ok' if found.group(1) == 'success' else 'error'}: {found.group(2).strip()}"


async def test_an_access_admin_grants_and_revokes_on_the_page(api: httpx.AsyncClient, settings: Settings) -> None:
    sign_in(api, settings, "admin-1", "STATE", "access_admin")
    page = await api.get("/ui/access")
    assert page.status_code == 200 and 'action="/ui/access/grant"' in page.text
    assert 'href="/ui/access" aria-current="page"' in page.text  # in the navigation
    csrf = csrf_of(page.text)
    grant = {
        "csrf_token": csrf,
        "sub": "00u1dhs-coord",
        "name": "Jamie Cruz",
        "email": "jamie.cruz@dhs.gov",
        "agency": "DHS",
        "roles": ["agency_coordinator", "isg_member"],
        "active": "true",
    }
    r = await api.post("/ui/access/grant", data=grant)
    assert r.status_code == 303 and r.headers["location"] == "/ui/access"
    page = await api.get("/ui/access")
    assert flash_of(page.text) == "ok: Jamie Cruz (00u1dhs-coord) now holds: DHS agency coordinator, isg member."
    assert "<code>00u1dhs-coord</code>" in page.text
    assert 'href="/ui/access?verify=1#log-h"' in page.text
    assert "The access log's hash chain verifies (" in (await api.get("/ui/access?verify=1")).text
    assert re.search(r"<td>admin-1</td>\s*<td>00u1dhs-coord</td>\s*<td>grant</td>", page.text)

    # A role the agency cannot hold: refused next to the roles, with what was typed kept.
    r = await api.post("/ui/access/grant", data={**grant, "sub": "po-dhs", "roles": ["program_officer"]})
    assert r.status_code == 422
    assert '<p class="error" id="err-roles">program_officer is held only in STATE, not DHS</p>' in r.text
    assert 'value="po-dhs"' in r.text and 'value="jamie.cruz@dhs.gov"' in r.text
    r = await api.post("/ui/access/grant", data={**grant, "email": "nope"})
    assert r.status_code == 422 and 'id="err-email"' in r.text
    # Not one's own grant.
    r = await api.post("/ui/access/grant", data={**grant, "sub": "admin-1", "agency": "STATE", "roles": ["auditor"]})
    assert r.status_code == 403 and "another access administrator must change your own grant" in r.text

    r = await api.post("/ui/access/revoke", data={"csrf_token": csrf, "sub": "00u1dhs-coord", "role": "isg_member"})
    assert r.status_code == 303
    page = await api.get("/ui/access")
    assert flash_of(page.text) == ("ok: Jamie Cruz (00u1dhs-coord) no longer holds isg member; this counts at once.")
    person = (await api.get("/v1/people", params={"q": "jamie"})).json()["items"]
    assert [(p["sub"], p["roles"]) for p in person] == [("00u1dhs-coord", ["agency_coordinator"])]
    # The form without its CSRF token changes nothing.
    r = await api.post("/ui/access/revoke", data={"sub": "00u1dhs-coord", "role": "agency_coordinator"})
    assert r.status_code == 403
    assert (await api.get("/v1/people")).json()["items"][0]["roles"] == ["agency_coordinator"]


async def test_auditors_read_and_others_are_turned_away(api: httpx.AsyncClient, settings: Settings) -> None:
    sign_in(api, settings, "admin-1", "STATE", "access_admin")
    csrf = csrf_of((await api.get("/ui/access")).text)
    grant = {
        "csrf_token": csrf,
        "sub": "aud-2",
        "name": "Kim Walsh",
        "email": "kim@state.gov",
        "agency": "STATE",
        "roles": ["auditor"],
        "active": "true",
    }
    assert (await api.post("/ui/access/grant", data=grant)).status_code == 303

    sign_in(api, settings, "aud-1", "STATE", "auditor")
    page = await api.get("/ui/access")
    assert page.status_code == 200 and "Kim Walsh" in page.text
    assert 'action="/ui/access/grant"' not in page.text and 'action="/ui/access/revoke"' not in page.text
    r = await api.post("/ui/access/revoke", data={"csrf_token": csrf_of(page.text), "sub": "aud-2", "role": "auditor"})
    assert r.status_code == 403

    sign_in(api, settings, "isg-dhs", "DHS", "isg_member")
    page = await api.get("/ui/access")
    assert page.status_code == 403 and "This is for access admins or auditors" in page.text
    assert 'href="/ui/access"' not in (await api.get("/ui/board")).text


async def test_the_page_shows_where_a_forged_log_breaks(
    api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool, owner_pool: asyncpg.Pool
) -> None:
    for n in range(3):
        await people.put(
            pool,
            sub=f"p-{n}",
            name=f"P {n}",
            email=f"p{n}@doj.gov",
            agency=Agency.DOJ,
            roles=[Role.isg_member],
            actor="cli:test",
        )
    async with owner_pool.acquire() as con:
        await con.execute("ALTER TABLE access_events DISABLE TRIGGER USER")
        await con.execute("UPDATE access_events SET actor = 'someone-else' WHERE seq = 2")
        await con.execute("ALTER TABLE access_events ENABLE TRIGGER USER")
    sign_in(api, settings, "aud-1", "STATE", "auditor")
    page = await api.get("/ui/access", params={"verify": "1"})
    assert "The access log does not verify from entry 2: an entry was changed or removed." in page.text
    assert "event 2 does not match its hash or its link to the one before" in page.text
