"""Production identity: RS256 tokens verified against the agency provider's JWKS
(here a local HTTP server serving a key the test generates)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from api.auth import AuthError, TokenVerifier
from ilea.settings import Settings


@pytest.fixture(scope="module")
def keys() -> tuple[Any, Any]:
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


@pytest.fixture(scope="module")
def jwks_url(keys: tuple[Any, Any]) -> Iterator[str]:
    jwk = json.loads(RSAAlgorithm.to_jwk(keys[0].public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "agency-key-1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    finally:
        server.shutdown()


def token(key: Any, kid: str = "agency-key-1", alg: str = "RS256", **over: Any) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": "oidc-user",
        "name": "O. User",
        "agency": "DHS",
        "roles": ["isg_member"],
        "exp": now + timedelta(minutes=5),
        "iss": "https://login.dhs.example",
        "aud": "ilea-api",
        **over,
    }
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def verifier(url: str) -> TokenVerifier:
    return TokenVerifier(
        Settings(
            env="production",
            jwt_secret="csrf-" + "k" * 40,
            jwt_algorithm="RS256",
            jwt_jwks_url=url,  # type: ignore[call-arg]
            jwt_issuer="https://login.dhs.example",
        )
    )


def test_rs256_token_from_jwks_is_accepted(keys: tuple[Any, Any], jwks_url: str) -> None:
    who = verifier(jwks_url).verify(token(keys[0]))
    assert (who.sub, who.agency.value, [r.value for r in who.roles]) == ("oidc-user", "DHS", ["isg_member"])


@pytest.mark.parametrize("case", ["other key", "unknown kid", "hs256 with public key", "wrong issuer"])
def test_bad_rs256_tokens_are_refused(keys: tuple[Any, Any], jwks_url: str, case: str) -> None:
    from cryptography.hazmat.primitives import serialization

    public_pem = (
        keys[0].public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    bad = {
        "other key": lambda: token(keys[1]),
        "unknown kid": lambda: token(keys[0], kid="nope"),
        # The classic confusion attack: HS256 "signed" with the RS256 public key.
        "hs256 with public key": lambda: _hs256_forgery(public_pem),
        "wrong issuer": lambda: token(keys[0], iss="https://evil.example"),
    }[case]()
    with pytest.raises(AuthError):
        verifier(jwks_url).verify(bad)


def _hs256_forgery(secret: bytes) -> str:
    import base64
    import hashlib
    import hmac

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "agency-key-1"}).encode())
    body = b64(
        json.dumps(
            {
                "sub": "x",
                "agency": "DHS",
                "roles": ["auditor"],
                "iss": "https://login.dhs.example",
                "aud": "ilea-api",
                "exp": int(datetime.now(UTC).timestamp()) + 300,
            }
        ).encode()
    )
    sig = b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"
