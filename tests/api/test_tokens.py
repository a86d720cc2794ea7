"""Hostile tokens: each is a 401 with a Bearer challenge."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from api.auth import AuthError, TokenVerifier
from ilea.settings import DEV_JWT_SECRET, Settings
from tests.support import fields


def claims(**over: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    base = {
        "sub": "u",
        "name": "U",
        "agency": "STATE",
        "roles": ["program_officer"],
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "iss": "ilea-dev",
        "aud": "ilea-api",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def bad_tokens() -> dict[str, str]:
    good = jwt.encode(claims(), DEV_JWT_SECRET, algorithm="HS256")
    head, payload, sig = good.split(".")
    tampered_payload = b64({**json.loads(base64.urlsafe_b64decode(payload + "==")), "roles": ["auditor"]})
    return {
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "expired": jwt.encode(claims(exp=datetime.now(UTC) - timedelta(minutes=1)), DEV_JWT_SECRET, "HS256"),
        "missing exp": jwt.encode(claims(exp=None), DEV_JWT_SECRET, "HS256"),
        "future nbf": jwt.encode(claims(nbf=datetime.now(UTC) + timedelta(hours=1)), DEV_JWT_SECRET, "HS256"),
        "wrong aud": jwt.encode(claims(aud="someone-else"), DEV_JWT_SECRET, "HS256"),
        "wrong iss": jwt.encode(claims(iss="evil"), DEV_JWT_SECRET, "HS256"),
        "wrong key": jwt.encode(claims(), "x" * 64, "HS256"),
        "HS512": jwt.encode(claims(), DEV_JWT_SECRET, "HS512"),
        "tampered": f"{head}.{tampered_payload}.{sig}",
        "bad agency": jwt.encode(claims(agency="KGB"), DEV_JWT_SECRET, "HS256"),
        "garbage": "not-a-jwt",
    }


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("name", sorted(bad_tokens()))
async def test_bad_token_is_401(api: httpx.AsyncClient, name: str) -> None:
    r = await api.get("/v1/proposals", headers={"Authorization": f"Bearer {bad_tokens()[name]}"})
    assert r.status_code == 401, (name, r.text)
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_production_refuses_the_development_key() -> None:
    with pytest.raises(ValueError, match="development key"):
        Settings(env="production")  # type: ignore[call-arg]
    assert Settings(env="production", jwt_secret="s" * 40).env == "production"  # type: ignore[call-arg]


def signed(**over: Any) -> str:
    return jwt.encode(claims(**over), DEV_JWT_SECRET, "HS256")


@pytest.mark.parametrize(
    ("why", "token_claims"),
    [
        ("empty sub", {"sub": ""}),
        ("10 kB sub", {"sub": "u" * 10_000}),
        ("129-character sub", {"sub": "u" * 129}),
        ("sub with a newline", {"sub": "alice\nbob"}),
        ("sub with a control character", {"sub": "alice\x07"}),
        ("the system's own name", {"sub": "system"}),
        ("no roles", {"roles": []}),
        ("no roles claim", {"roles": None}),
        ("only unknown roles", {"roles": ["superuser", "offline_access"]}),
    ],
)
async def test_identity_rules_are_401(api: httpx.AsyncClient, why: str, token_claims: dict[str, Any]) -> None:
    """Issue 13: `sub: "system"` voted as the system; empty and 10 kB subs and role-less tokens were accepted."""
    token = signed(**token_claims)  # a claim given as None is left out
    r = await api.get("/v1/proposals", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, (why, r.text)
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_a_128_character_sub_and_unknown_extra_roles_are_accepted(api: httpx.AsyncClient) -> None:
    token = signed(sub="u" * 128, roles=["offline_access", "auditor"])
    r = await api.get("/v1/proposals", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("agency", "role"),
    [
        ("DHS", "program_officer"),
        ("TREASURY", "board_chair"),
        ("STATE", "board_member"),
        ("STATE", "agency_coordinator"),
        ("DOJ", "access_admin"),
    ],
)
async def test_a_role_outside_its_agencies_is_403(api: httpx.AsyncClient, agency: str, role: str) -> None:
    """Issue 13: a DHS program_officer submitted a proposal."""
    token = signed(agency=agency, roles=[role])
    r = await api.post(
        "/v1/proposals", json=fields().model_dump(mode="json"), headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 403, r.text
    assert role in r.json()["detail"] and agency in r.json()["detail"]
    r = await api.get("/v1/proposals", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403


def test_production_refuses_tokens_living_longer_than_the_maximum() -> None:
    settings = Settings(env="production", jwt_secret="s" * 40, jwt_max_lifetime_hours=12)  # type: ignore[call-arg]
    verifier = TokenVerifier(settings)
    now = datetime.now(UTC)

    def token(**over: Any) -> str:
        return jwt.encode(claims(iat=now, **over), settings.jwt_secret, "HS256")

    assert verifier.verify(token(exp=now + timedelta(hours=12))).sub == "u"
    for lifetime in (timedelta(hours=12, seconds=1), timedelta(days=30)):
        with pytest.raises(AuthError, match="12 hours"):
            verifier.verify(token(exp=now + lifetime))
    # Without an iat, the lifetime counts from now.
    no_iat = {k: v for k, v in claims().items() if k != "iat"}
    assert verifier.verify(jwt.encode({**no_iat, "exp": now + timedelta(hours=11)}, settings.jwt_secret, "HS256"))
    with pytest.raises(AuthError, match="12 hours"):
        verifier.verify(jwt.encode({**no_iat, "exp": now + timedelta(hours=13)}, settings.jwt_secret, "HS256"))
    # Development keeps its long-lived demo tokens.
    dev = TokenVerifier(Settings(env="development"))  # type: ignore[call-arg]
    assert dev.verify(jwt.encode(claims(iat=now, exp=now + timedelta(days=30)), DEV_JWT_SECRET, "HS256")).sub == "u"
