"""Hand-over on the proposal page (the same action path and checks as ``POST /v1/proposals/{id}/owner``),
and "My proposals" following the owner."""

from __future__ import annotations

import re

import asyncpg
import httpx

from api.web.proposal_page import owner_choices
from ilea.db import people
from ilea.domain import Agency, Role
from ilea.settings import Settings
from tests.api.conftest import TokenFor
from tests.web.conftest import form_fields, sign_in
from tests.web.test_pages import submit_via_api, text


async def _grant(pool: asyncpg.Pool, sub: str, name: str, *roles: Role, active: bool = True) -> None:
    email = f"{sub}@state.gov"
    await people.put(
        pool, sub=sub, name=name, email=email, agency=Agency.STATE, roles=list(roles), active=active, actor="admin"
    )


async def test_a_program_officer_hands_a_proposal_over_from_its_page(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings, pool: asyncpg.Pool
) -> None:
    pid = await submit_via_api(api, auth, "Countering cybercrime in the Mekong")  # owned by po-1
    await _grant(pool, "po-1", "Pat Okafor", Role.program_officer)
    await _grant(pool, "po-3", "Priya Shah", Role.program_officer)
    await _grant(pool, "dana", "Dana Brooks", Role.isg_member)
    action = f"/ui/proposals/{pid}/owner"

    sign_in(api, settings, "isg-dhs", "DHS", "isg_member")
    assert action not in (await api.get(f"/ui/proposals/{pid}")).text  # only program officers hand over

    sign_in(api, settings, "po-2", "STATE", "program_officer")
    page = await api.get(f"/ui/proposals/{pid}")
    assert f'action="{action}"' in page.text
    # the known program officers are offered (not the owner), by name
    assert '<option value="po-3">Priya Shah (po-3)</option>' in page.text
    assert '<option value="po-1">' not in page.text and '<option value="dana">' not in page.text
    form = form_fields(page.text, action)

    for typed, reason in (
        ("po-1", "po-1 already owns this proposal"),
        ("dana", "dana is not a program officer in ILEA: only a program officer can own a proposal"),
        ("system", "the subject (sub) 'system' is reserved"),
    ):
        r = await api.post(action, data={**form, "sub": typed})
        assert r.status_code == 422, (typed, r.text[:300])
        assert 'id="error-summary" autofocus' in r.text
        assert reason in text(r.text), typed
        assert re.search(rf'id="sub"[^>]*value="{typed}"', r.text), typed  # exactly what was entered
        assert re.search(r'id="sub"[^>]*aria-invalid="true"', r.text)
    doc = (await api.get(f"/v1/proposals/{pid}", headers=auth("po-1", "STATE", "program_officer"))).json()
    assert doc["owner"] == "po-1"
    events = await pool.fetch("SELECT detail FROM audit_events WHERE proposal_id = $1 AND action = 'refused'", pid)
    assert len(events) == 2  # the owner's and the workflow's refusals are in the trail, as the API's are

    r = await api.post(action, data={**form, "sub": " po-3 "})
    assert r.status_code == 303, r.text[:500]
    shown = text((await api.get(r.headers["location"])).text)
    assert "The proposal is handed over to Priya Shah." in shown
    # names as the trail knows them: po-1's token named them "po-1"; po-3, who never acted, from ILEA's people
    assert "po-2 (STATE) handed the proposal over from po-1 to Priya Shah." in shown
    assert "owner Priya Shah" in shown
    doc = (await api.get(f"/v1/proposals/{pid}", headers=auth("po-1", "STATE", "program_officer"))).json()
    assert doc["owner"] == "po-3"


async def test_the_owner_field_is_a_login_where_roles_come_from_tokens(pool: asyncpg.Pool) -> None:
    """Where ILEA keeps every grant, only granted, active program officers can own: a select of them.
    Where roles come from tokens (development), anyone the workflow accepts may be typed."""
    await _grant(pool, "po-1", "Pat Okafor", Role.program_officer)
    await _grant(pool, "po-3", "Priya Shah", Role.program_officer)
    await _grant(pool, "po-4", "Former Officer", Role.program_officer, active=False)
    granted = await owner_choices(pool, Settings(env="test", trust_token_roles=False), owner="po-1")  # type: ignore[call-arg]
    assert granted.select and [(c["sub"], c["name"]) for c in granted.known] == [("po-3", "Priya Shah")]
    tokens = await owner_choices(pool, Settings(env="test"), owner="po-1")  # type: ignore[call-arg]
    assert not tokens.select and [c["sub"] for c in tokens.known] == ["po-3"]


async def test_my_proposals_follow_the_owner_after_a_hand_over(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings
) -> None:
    pid = await submit_via_api(api, auth, "Leadership for prosecutors")
    sign_in(api, settings, "po-1", "STATE", "program_officer")
    assert f"/ui/proposals/{pid}" in (await api.get("/ui/mine")).text
    sign_in(api, settings, "po-3", "STATE", "program_officer")
    assert f"/ui/proposals/{pid}" not in (await api.get("/ui/mine")).text

    r = await api.post(
        f"/v1/proposals/{pid}/owner", json={"sub": "po-3"}, headers=auth("po-2", "STATE", "program_officer")
    )
    assert r.status_code == 200, r.text
    assert f"/ui/proposals/{pid}" in (await api.get("/ui/mine")).text
    assert f"/ui/proposals/{pid}" in (await api.get("/ui/mine/rows")).json()["html"]
    sign_in(api, settings, "po-1", "STATE", "program_officer")
    assert f"/ui/proposals/{pid}" not in (await api.get("/ui/mine")).text
    assert f"/ui/proposals/{pid}" not in (await api.get("/ui/mine/rows")).json()["html"]
    assert f"/ui/proposals/{pid}" in (await api.get("/ui/board")).text  # still on the board for everyone
