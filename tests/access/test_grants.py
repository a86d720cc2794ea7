"""Grants kept in ILEA decide what a signed-in person may do, on the web and through the API,
at their next request; every grant and revocation is in the access log, whose chain verifies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.access.conftest import OpenIdProvider, SsoApp, access_log, grant, sign_in
from tests.support import fields
from tests.web.conftest import csrf_of

ILEA = Path(sys.executable).parent / "ilea"


def bearer_settings(provider: OpenIdProvider) -> dict[str, str]:
    """ILEA accepting the provider's tokens (here its ID tokens, audience = the client) as bearers."""
    meta = httpx.get(f"{provider.issuer}/.well-known/openid-configuration").json()
    return {
        "jwt_algorithm": "RS256",
        "jwt_jwks_url": meta["jwks_uri"],
        "jwt_issuer": provider.issuer,
        "jwt_audience": provider.key_client_id,
    }


async def provider_token(pool: asyncpg.Pool, sub: str) -> dict[str, str]:
    """The ID token the provider issued ``sub`` at their last sign-in, as a bearer header."""
    token = await pool.fetchval(
        "SELECT id_token FROM web_sessions WHERE sub = $1 ORDER BY created_at DESC LIMIT 1", sub
    )
    assert token
    return {"Authorization": f"Bearer {token}"}


def ilea_grant(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ILEA), "grant", *args],
        env={**os.environ, "ILEA_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_first_access_admin_is_granted_from_the_command_line(db_url: str) -> None:
    done = ilea_grant(
        db_url, "--sub", "admin-1", "--email", "admin@state.gov", "--agency", "STATE", "--role", "access_admin"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "granted admin-1: STATE access_admin"
    refused = ilea_grant(
        db_url, "--sub", "admin-2", "--email", "a@dhs.gov", "--agency", "DHS", "--role", "access_admin"
    )
    assert refused.returncode == 2 and "access_admin is held only in STATE, not DHS" in refused.stderr
    refused = ilea_grant(db_url, "--sub", "system", "--email", "s@state.gov", "--agency", "STATE", "--role", "auditor")
    assert refused.returncode == 2 and "reserved" in refused.stderr


async def test_the_command_line_grant_checks_the_person_as_the_api_does(db_url: str) -> None:
    """`PUT /v1/people/{sub}` refuses an address that is none and a blank or control-character
    name; `ilea grant` stored them as given (a name of "" when --name was left out)."""
    args = ["--sub", "admin-1", "--agency", "STATE", "--role", "access_admin"]
    refused = ilea_grant(db_url, *args, "--email", "admin at state.gov")
    assert refused.returncode == 2 and "not an email address" in refused.stderr
    refused = ilea_grant(db_url, *args, "--email", "admin@state.gov", "--name", "Ada\u202eLovelace")
    assert refused.returncode == 2 and "bidirectional" in refused.stderr
    done = ilea_grant(db_url, *args, "--email", " admin@state.gov ")
    assert done.returncode == 0, done.stderr
    con = await asyncpg.connect(db_url)
    try:
        row = await con.fetchrow("SELECT name, email FROM people WHERE sub = 'admin-1'")
    finally:
        await con.close()
    assert (row["name"], row["email"]) == ("admin-1", "admin@state.gov")


async def test_a_grant_counts_at_the_next_request_and_a_revocation_at_once(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool, db_url: str
) -> None:
    assert (
        ilea_grant(
            db_url, "--sub", "admin-1", "--email", "a@state.gov", "--agency", "STATE", "--role", "access_admin"
        ).returncode
        == 0
    )
    await grant(pool, "dhs-person", "DHS", "isg_member", name="Dana Brooks")
    async with (
        sso_app(**bearer_settings(oidc_provider)) as person,
        sso_app(**bearer_settings(oidc_provider)) as admin_browser,
    ):
        assert (await sign_in(person, oidc_provider.issuer, "dhs-person")).status_code == 303
        assert (await sign_in(admin_browser, oidc_provider.issuer, "admin-1")).status_code == 303
        admin = await provider_token(pool, "admin-1")
        assert (await person.get("/v1/instructor-requests")).status_code == 403  # not a coordinator yet

        r = await admin_browser.put(
            "/v1/people/dhs-person",
            json={
                "name": "Dana Brooks",
                "email": "dana.brooks@dhs.gov",
                "agency": "DHS",
                "roles": ["isg_member", "agency_coordinator"],
            },
            headers=admin,
        )
        assert r.status_code == 200, r.text
        assert r.json()["roles"] == ["agency_coordinator", "isg_member"] and r.json()["updated_by"] == "admin-1"
        # The person's very next request has the role: no new sign-in.
        assert (await person.get("/v1/instructor-requests")).status_code == 200
        page = await person.get("/ui/roster")
        assert page.status_code == 200 and "(DHS; agency coordinator, isg member)" in page.text

        r = await admin_browser.delete("/v1/people/dhs-person/roles/agency_coordinator", headers=admin)
        assert r.status_code == 200 and r.json()["roles"] == ["isg_member"]
        assert (await person.get("/v1/instructor-requests")).status_code == 403
        assert "(DHS; isg member)" in (await person.get("/ui/inbox")).text

        # Every role gone: the person is told whom to ask, and may still sign out.
        r = await admin_browser.delete("/v1/people/dhs-person/roles/isg_member", headers=admin)
        assert r.status_code == 200 and r.json()["roles"] == []
        page = await person.get("/ui/inbox")
        assert page.status_code == 403 and "Ask your access administrator" in page.text
        assert (await person.get("/v1/tasks")).status_code == 401
        out = await person.post("/ui/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303

        log = (await admin_browser.get("/v1/people/access-log", params={"sub": "dhs-person"}, headers=admin)).json()
        changes = [(e["action"], e["actor"], e["detail"].get("added"), e["detail"].get("role")) for e in log["items"]]
        assert changes == [
            ("grant", "cli:test", ["isg_member"], None),
            ("sign_in", "dhs-person", None, None),
            ("grant", "admin-1", ["agency_coordinator"], None),
            ("revoke", "admin-1", None, "agency_coordinator"),
            ("revoke", "admin-1", None, "isg_member"),
            ("sign_out", "dhs-person", None, None),
        ]
        check = (await admin_browser.get("/v1/people/access-log/verify", headers=admin)).json()
        events = len(await access_log(pool))
        # No worker runs here, so the access-log witness does not answer: the chain alone is checked.
        assert check == {
            "valid": True,
            "events": events,
            "first_broken_seq": None,
            "problems": [],
            "witnessed_seq": None,
            "witness_answered": False,
        }


async def test_bearer_tokens_from_the_provider_take_their_roles_from_grants(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool
) -> None:
    # This person's provider asserts DHS isg_member in the token; ILEA does not believe it.
    async with sso_app(**bearer_settings(oidc_provider), oidc_scopes="openid email profile ilea") as client:
        await grant(pool, "claims-dhs-isg", "DHS", "auditor")
        assert (await sign_in(client, oidc_provider.issuer, "claims-dhs-isg")).status_code == 303
        bearer = await provider_token(pool, "claims-dhs-isg")
        client.cookies.clear()
        assert (await client.get("/v1/people", headers=bearer)).status_code == 200  # auditor, by the grant
        vote = await client.post("/v1/proposals/p-1/isg-votes", json={"vote": "concur"}, headers=bearer)
        assert vote.status_code == 403 and "isg_member" in vote.json()["detail"]
        await pool.execute("DELETE FROM web_sessions")
        await pool.execute("UPDATE people SET active = false WHERE sub = 'claims-dhs-isg'")
        r = await client.get("/v1/tasks", headers=bearer)
        assert r.status_code == 401 and "ask your access administrator" in r.json()["detail"]
        assert r.headers["www-authenticate"].startswith("Bearer")


async def test_trusted_token_roles_need_no_grant(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool
) -> None:
    overrides = {**bearer_settings(oidc_provider), "oidc_scopes": "openid email profile ilea"}
    async with sso_app(trust_token_roles=True, **overrides) as client:
        assert (await sign_in(client, oidc_provider.issuer, "claims-dhs-isg")).status_code == 303
        assert "(DHS; isg member)" in (await client.get("/ui/inbox")).text
        bearer = await provider_token(pool, "claims-dhs-isg")
        client.cookies.clear()
        assert (await client.get("/v1/tasks", headers=bearer)).status_code == 200
    assert (await access_log(pool))[-1]["detail"]["roles_from"] == "claims"
    assert await pool.fetchval("SELECT count(*) FROM people") == 0


@pytest.mark.timeout(180)
async def test_four_eyes_holds_by_sub_across_the_api_and_the_web(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool
) -> None:
    await grant(pool, "inl-both", "STATE", "program_officer", "isg_member")
    async with sso_app(worker=True, **bearer_settings(oidc_provider)) as client:
        assert (await sign_in(client, oidc_provider.issuer, "inl-both")).status_code == 303
        bearer = await provider_token(pool, "inl-both")
        r = await client.post(
            "/v1/proposals", json=fields(title="Border security").model_dump(mode="json"), headers=bearer
        )
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        assert r.json()["submitted_by"] == "inl-both"
        # The same person through their web session: refused (the form comes back with the reason), and recorded.
        page = await client.get(f"/ui/proposals/{pid}/vote")
        r = await client.post(
            f"/ui/proposals/{pid}/vote",
            data={"csrf_token": csrf_of(page.text), "form_id": "f1", "vote": "concur", "comment": ""},
        )
        assert r.status_code == 403 and "Refused:" in r.text
        events = (await client.get(f"/v1/proposals/{pid}/events", headers=bearer)).json()["items"]
        assert (events[-1]["action"], events[-1]["actor"], events[-1]["detail"]["code"]) == (
            "refused",
            "inl-both",
            "FourEyes",
        )
        # And through the API with the provider's token.
        r = await client.post(f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=bearer)
        assert r.status_code == 403 and r.json()["code"] == "FourEyes"
        assert (await client.get(f"/v1/proposals/{pid}", headers=bearer)).json()["isg_votes"] == []
