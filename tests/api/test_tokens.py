"""Hostile tokens: each is a 401 with a Bearer challenge."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from ilea.settings import DEV_JWT_SECRET, Settings


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
