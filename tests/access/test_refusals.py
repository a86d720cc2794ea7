"""Sign-ins that must not succeed, and sessions that must end: each a clear page and an
access-log entry, never a 500."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.access.conftest import (
    OpenIdProvider,
    SsoApp,
    access_log,
    at_provider,
    begin,
    grant,
    sign_in,
)
from tests.oidc_provider import query_of


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode({**query_of(url), **changes})))


async def refusal(pool: asyncpg.Pool) -> dict[str, Any]:
    entry = (await access_log(pool))[-1]
    assert entry["action"] == "sign_in_refused", entry
    detail: dict[str, Any] = entry["detail"]
    return detail


def refused_page(r: httpx.Response, status: int = 400) -> str:
    assert r.status_code == status, r.text
    assert "ilea_session=" not in r.headers.get("set-cookie", "")
    assert "<h1>You are not signed in</h1>" in r.text and 'href="/ui/auth/login"' in r.text
    return r.text


async def callback(client: httpx.AsyncClient, issuer: str, login: str) -> str:
    """A sign-in taken as far as the provider's redirect back to ILEA (not yet presented)."""
    async with httpx.AsyncClient() as browser:
        return await at_provider(browser, await begin(client), login)


async def test_a_wrong_state_is_refused(sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool) -> None:
    await grant(pool, "isg-dhs-1", "DHS", "isg_member")
    async with sso_app() as client:
        back = await callback(client, oidc_provider.issuer, "isg-dhs-1")
        text = refused_page(await client.get(with_query(back, state="forged-state")))
        assert "unknown or was used already" in text
        assert (await refusal(pool))["reason"] == "unknown_state"
        assert (await client.get("/ui/inbox")).status_code == 303  # not signed in


async def test_a_replayed_code_is_refused(sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool) -> None:
    await grant(pool, "isg-dhs-1", "DHS", "isg_member")
    async with sso_app() as client:
        back = await callback(client, oidc_provider.issuer, "isg-dhs-1")
        assert (await client.get(back)).status_code == 303  # the first use signs in
        # The same address again: its state was used once and is gone.
        refused_page(await client.get(back))
        assert (await refusal(pool))["reason"] == "unknown_state"
        # The used code under a fresh, valid state: the provider itself refuses it.
        fresh = query_of(await begin(client))["state"]
        refused_page(await client.get(with_query(back, state=fresh)))
        detail = await refusal(pool)
        assert detail["reason"] == "code_refused" and detail["error"] == "invalid_grant"


async def test_a_wrong_nonce_is_refused(sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool) -> None:
    await grant(pool, "isg-dhs-1", "DHS", "isg_member")
    async with sso_app() as client:
        back = await callback(client, oidc_provider.issuer, "isg-dhs-1")
        # ILEA expects another nonce than the one the provider put in the ID token.
        changed = await pool.execute(
            "UPDATE oidc_logins SET nonce = 'not-the-nonce-sent' WHERE state = $1", query_of(back)["state"]
        )
        assert changed == "UPDATE 1"
        refused_page(await client.get(back))
        detail = await refusal(pool)
        assert (detail["reason"], detail["claim"]) == ("id_token_invalid", "nonce")


class Forging(httpx.AsyncBaseTransport):
    """Between ILEA and the provider: rewrites the ID token's claims, re-signed with ``key``
    (the provider's own key unless told otherwise), as a misbehaving or impostor provider would."""

    def __init__(self, provider: OpenIdProvider, changes: dict[str, Any], key: Any = None) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._changes = changes
        self._kid = provider.signing_jwk["kid"]
        self._key = key or jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(provider.signing_jwk))
        self.forged = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if not request.url.path.endswith("/token") or response.status_code != 200:
            return response
        body = json.loads(await response.aread())
        claims = jwt.decode(body["id_token"], options={"verify_signature": False})
        claims.update(self._changes)
        body["id_token"] = jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})
        self.forged += 1
        return httpx.Response(200, json=body)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.mark.parametrize(
    ("changes", "claim"),
    [
        ({"iss": "https://impostor.example"}, "iss"),
        ({"aud": "another-client"}, "aud"),
        ({"exp": 1_000_000_000}, "exp"),
    ],
    ids=["other-issuer", "other-audience", "expired"],
)
async def test_an_id_token_for_someone_else_is_refused(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool, changes: dict[str, Any], claim: str
) -> None:
    await grant(pool, "isg-dhs-1", "DHS", "isg_member")
    forging = Forging(oidc_provider, changes)
    async with sso_app(transport=forging) as client:
        back = await callback(client, oidc_provider.issuer, "isg-dhs-1")
        refused_page(await client.get(back))
    assert forging.forged == 1
    detail = await refusal(pool)
    assert detail["reason"] == "id_token_invalid"
    assert detail["claim"] == claim or (claim == "exp" and detail["error"] == "expired_token"), detail


async def test_an_id_token_signed_with_another_key_is_refused(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool
) -> None:
    await grant(pool, "isg-dhs-1", "DHS", "isg_member")
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    async with sso_app(transport=Forging(oidc_provider, {}, key=impostor)) as client:
        refused_page(await client.get(await callback(client, oidc_provider.issuer, "isg-dhs-1")))
    detail = await refusal(pool)
    assert (detail["reason"], detail["error"]) == ("id_token_invalid", "bad_signature")


async def test_a_callback_from_another_browser_or_with_an_error_is_refused(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool
) -> None:
    await grant(pool, "isg-dhs-1", "DHS", "isg_member")
    async with sso_app() as client:
        back = await callback(client, oidc_provider.issuer, "isg-dhs-1")
        client.cookies.delete("ilea_login")  # as if another browser presented the address
        refused_page(await client.get(back))
        assert (await refusal(pool))["reason"] == "other_browser"

        state = query_of(await begin(client))["state"]
        r = await client.get("/ui/auth/callback", params={"state": state, "error": "access_denied"})
        refused_page(r)
        detail = await refusal(pool)
        assert (detail["reason"], detail["error"]) == ("provider_error", "access_denied")

        refused_page(await client.get("/ui/auth/callback"))  # nothing at all
        assert (await refusal(pool))["reason"] == "unknown_state"


async def test_a_person_without_a_grant_is_told_whom_to_ask(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool
) -> None:
    async with sso_app() as client:
        r = await sign_in(client, oidc_provider.issuer, "newcomer-7")
        assert r.status_code == 403
        assert "<h1>Ask your access administrator</h1>" in r.text
        assert "newcomer-7" in r.text and "newcomer-7@example.gov" in r.text  # what to tell the administrator
        assert "ilea_session=" not in r.headers.get("set-cookie", "")
        assert (await client.get("/ui/inbox")).status_code == 303
    detail = await refusal(pool)
    assert (detail["reason"], detail["email"]) == ("no_grant", "newcomer-7@example.gov")
    assert (await access_log(pool))[-1]["sub"] == "newcomer-7"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ("last_seen_at = now() - interval '31 minutes'", "after 30 minutes without activity"),
        ("expires_at = now() - interval '1 second'", "12 hours after you signed in"),
    ],
    ids=["idle", "absolute"],
)
async def test_an_expired_session_is_refused(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool, change: str, said: str
) -> None:
    await grant(pool, "isg-dhs-1", "DHS", "isg_member")
    async with sso_app() as client:
        assert (await sign_in(client, oidc_provider.issuer, "isg-dhs-1")).status_code == 303
        assert (await client.get("/ui/inbox")).status_code == 200
        await pool.execute(f"UPDATE web_sessions SET {change} WHERE sub = 'isg-dhs-1'")
        r = await client.get("/ui/inbox")
        assert r.status_code == 401
        assert "<h1>Your session has ended</h1>" in r.text and said in r.text
        assert 'href="/ui/login?next=/ui/inbox"' in r.text
        assert await pool.fetchval("SELECT count(*) FROM web_sessions") == 0
        entry = (await access_log(pool))[-1]
        assert (entry["action"], entry["sub"]) == ("session_expired", "isg-dhs-1")
        assert entry["detail"]["timeout"] == ("idle" if "last_seen" in change else "absolute")
        # The cookie is gone, and the old one opens nothing.
        assert (await client.get("/ui/inbox")).status_code == 303
        assert (await client.get("/v1/tasks")).status_code == 401


async def test_the_api_refuses_an_expired_session_with_401(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool
) -> None:
    await grant(pool, "isg-dhs-1", "DHS", "isg_member")
    async with sso_app() as client:
        await sign_in(client, oidc_provider.issuer, "isg-dhs-1")
        await pool.execute("UPDATE web_sessions SET last_seen_at = now() - interval '2 hours'")
        r = await client.get("/v1/tasks")
        assert r.status_code == 401 and "session ended" in r.json()["detail"]
    assert (await access_log(pool))[-1]["action"] == "session_expired"


async def test_refusals_cannot_flood_the_access_log(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool
) -> None:
    # One token a minute refills: none comes back during the test, however slow the machine.
    async with sso_app(rate_limit_per_minute=1, rate_limit_burst=3) as client:
        answers = [(await client.get("/ui/auth/callback", params={"state": f"s{n}"})).status_code for n in range(5)]
    assert answers == [400, 400, 400, 429, 429]
    assert [e["detail"]["reason"] for e in await access_log(pool)] == ["unknown_state"] * 3


async def test_nul_characters_anywhere_in_a_callback_are_a_page_not_a_500(
    sso_app: SsoApp, oidc_provider: OpenIdProvider, pool: asyncpg.Pool
) -> None:
    async with sso_app() as client:
        state = query_of(await begin(client))["state"]
        r = await client.get(
            "/ui/auth/callback", params={"state": state, "error": "x\x00y", "error_description": "\x00"}
        )
        refused_page(r)
        assert (await refusal(pool))["error"] == "x\ufffdy"
        refused_page(await client.get("/ui/auth/callback", params={"state": "a\x00b", "code": "c"}))
        r = await client.get("/ui/auth/login", params={"next": "/ui/\x00inbox"})
        assert r.status_code == 303
