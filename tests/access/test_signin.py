"""Signing in through a real OpenID provider, at the HTTP level: sessions, grants, sign-out.

Each case goes through the provider's own endpoints (discovery, authorization, its login
page, the token endpoint with private_key_jwt or a client secret, its JWKS, end-session).
"""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from ilea.devstack import free_port
from tests.access.conftest import (
    SIGNED_OUT,
    OpenIdProvider,
    SsoApp,
    access_log,
    grant,
    sign_in,
)
from tests.oidc_provider import query_of
from tests.web.conftest import csrf_of


def session_cookie(r: httpx.Response) -> str:
    cookies = [c for c in r.headers.get_list("set-cookie") if c.startswith("ilea_session=")]
    assert len(cookies) == 1, r.headers.get_list("set-cookie")
    return cookies[0]


async def test_a_granted_person_signs_in_with_private_key_jwt(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool
) -> None:
    await grant(pool, "dhs-coord-1", "DHS", "agency_coordinator", name="Jamie Cruz")
    async with sso_app() as client:
        r = await sign_in(client, oidc_provider.issuer, "dhs-coord-1")
        assert r.status_code == 303 and r.headers["location"] == "/ui/inbox", (await access_log(pool))[-1]["detail"]
        cookie = session_cookie(r)
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        value = cookie.split(";")[0].split("=", 1)[1]
        assert "." not in value and len(value) >= 43  # an opaque random id, not a token
        stored = await pool.fetchval(
            "SELECT count(*) FROM web_sessions WHERE id_hash = encode(sha256($1::bytea), 'hex')", value.encode()
        )
        assert stored == 1
        inbox = await client.get("/ui/inbox")
        assert inbox.status_code == 200
        assert "Jamie Cruz" in inbox.text and "agency coordinator" in inbox.text
        # The same session reads the JSON API (GET only).
        assert (await client.get("/v1/tasks")).status_code == 200
    entry = (await access_log(pool))[-1]
    assert (entry["action"], entry["sub"], entry["actor"]) == ("sign_in", "dhs-coord-1", "dhs-coord-1")
    assert entry["detail"]["via"] == "oidc" and entry["detail"]["roles_from"] == "grant"
    assert entry["detail"]["issuer"] == oidc_provider.issuer


async def test_a_client_secret_works_too_and_https_cookies_are_secure(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool
) -> None:
    await grant(pool, "auditor-1", "STATE", "auditor")
    async with sso_app(client="secret", env="production", jwt_secret="p" * 40, base_url="https://ilea.test") as client:
        r = await sign_in(client, oidc_provider.issuer, "auditor-1", next_path="/ui/board")
        assert r.status_code == 303 and r.headers["location"] == "/ui/board", (await access_log(pool))[-1]["detail"]
        assert "Secure" in session_cookie(r)  # always in production, even behind plain HTTP here
        assert (await client.get("/ui/board")).status_code == 200


async def test_sign_out_ends_the_session_here_and_at_the_provider(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool
) -> None:
    await grant(pool, "isg-doj-1", "DOJ", "isg_member")
    async with sso_app() as client, httpx.AsyncClient() as browser:
        await sign_in(client, oidc_provider.issuer, "isg-doj-1", browser=browser)
        old = client.cookies.get("ilea_session")
        page = await client.get("/ui/inbox")
        r = await client.post("/ui/logout", data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 303
        end = r.headers["location"]
        assert end.startswith(oidc_provider.issuer + "/session/end")
        params = query_of(end)
        assert params["client_id"] == "ilea-web" and params["id_token_hint"].count(".") == 2
        assert params["post_logout_redirect_uri"] == "http://ilea.test" + SIGNED_OUT
        # The old cookie is refused everywhere.
        client.cookies.set("ilea_session", old, domain="ilea.test")
        assert (await client.get("/ui/inbox")).headers["location"].startswith("/ui/login")
        assert (await client.get("/v1/tasks")).status_code == 401
        # The provider takes the request: it asks the person to confirm ending their session there.
        confirm = await browser.get(end)
        assert confirm.status_code == 200 and "Yes, sign me out" in confirm.text
    assert [e["action"] for e in await access_log(pool)][-2:] == ["sign_in", "sign_out"]


async def test_login_gov_style_sign_out_sends_client_id_and_a_long_state(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool
) -> None:
    await grant(pool, "isg-doj-1", "DOJ", "isg_member")
    async with sso_app(oidc_logout_id_token_hint=False) as client:
        await sign_in(client, oidc_provider.issuer, "isg-doj-1")
        page = await client.get("/ui/inbox")
        r = await client.post("/ui/logout", data={"csrf_token": csrf_of(page.text)})
        params = query_of(r.headers["location"])
        assert "id_token_hint" not in params and params["client_id"] == "ilea-web"
        assert len(params["state"]) >= 22  # Login.gov refuses shorter ones


async def test_the_development_sign_in_gives_way_to_single_sign_on(
    sso_app: SsoApp, oidc_provider: OpenIdProvider
) -> None:
    async with sso_app() as client:
        r = await client.get("/ui/login", params={"next": "/ui/board"})
        assert r.status_code == 303 and r.headers["location"] == "/ui/auth/login?next=/ui/board"
        r = await client.post("/ui/login", data={"sub": "demo-po"})
        assert r.status_code == 404 and "ilea_session" not in r.headers.get("set-cookie", "")
        # A stranger at any page ends up at the provider.
        r = await client.get("/ui/board")
        assert r.headers["location"].startswith("/ui/login")
        assert (await client.get("/ui/auth/login")).headers["location"].startswith(oidc_provider.issuer)


async def test_without_single_sign_on_its_routes_say_so(api: httpx.AsyncClient) -> None:
    for path in ("/ui/auth/login", "/ui/auth/callback?state=x&code=y"):
        r = await api.get(path)
        assert r.status_code == 404 and "Single sign-on is not configured" in r.text


@pytest.mark.parametrize("issuer", ["unreachable", "other-name"])
async def test_a_provider_that_cannot_be_used_is_a_page_not_a_500(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool, issuer: str
) -> None:
    # Unreachable: nothing listens there. Other name: the provider's discovery document names
    # itself 127.0.0.1, not localhost, so it is not the provider configured (Discovery 4.3).
    url = (
        f"http://127.0.0.1:{free_port()}"
        if issuer == "unreachable"
        else oidc_provider.issuer.replace("127.0.0.1", "localhost")
    )
    async with sso_app(oidc_issuer=url) as client:
        r = await client.get("/ui/auth/login")
        assert r.status_code == 503 and "Sign-in is not available right now" in r.text
        assert await pool.fetchval("SELECT count(*) FROM oidc_logins") == 0
