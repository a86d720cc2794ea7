"""A real OpenID provider on a free port, for every test that signs people in.

The provider is panva's ``oidc-provider`` (npm; OpenID Certified, and the library many
production providers are built on), run by ``provider.mjs`` beside this file: discovery,
PKCE, ``private_key_jwt`` and ``client_secret_basic``, ID tokens signed from its JWKS,
RP-initiated logout, and JWT access tokens for an API named by a resource indicator, as
Login.gov, Okta or Entra ID do. Its npm packages are installed from the committed lock file
with ``npm ci`` (``.ci/run`` does it; so does :func:`running_provider` when they are missing).

tests/access starts one for ILEA in process; tests/deploy one for the production
walk-through, whose ILEA runs as processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ilea.devstack import free_port

PROVIDER_DIR = Path(__file__).parent
NODE = shutil.which("node")
NPM = shutil.which("npm")
FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')
PROMPT = re.compile(r'name="prompt" value="(\w+)"')


def need_node() -> None:
    """Skip the test when Node.js or npm is missing (the provider runs on Node.js)."""
    if NODE is None or NPM is None:
        pytest.skip("Node.js and npm are needed for the test OpenID provider")


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str, *, private: bool) -> dict[str, Any]:
    """``key`` as a signing JWK (its private half when ``private``)."""
    source = key if private else key.public_key()
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(source))
    jwk.pop("key_ops", None)  # pyjwt marks a private key "sign" only; the provider would publish that
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


def write_pem(key: rsa.RSAPrivateKey, path: Path) -> Path:
    """The private key as the PEM file ILEA reads for ``private_key_jwt`` (owner-readable only)."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def _npm_ci() -> None:
    """Install the provider's packages from the lock file when they are missing or stale."""
    stamp = PROVIDER_DIR / "node_modules" / ".package-lock.json"
    lock = PROVIDER_DIR / "package-lock.json"
    if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    assert NPM is not None
    subprocess.run([NPM, "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, check=True, capture_output=True)


def provider_config(**config: Any) -> dict[str, Any]:
    """A provider configuration on a free port (``provider.mjs`` reads it): ``issuer``, ``port``,
    a fresh signing key and cookie key, and ``config`` (``clients``, ``people``, ``resources``)."""
    port = free_port()
    return {
        "issuer": f"http://127.0.0.1:{port}",
        "port": port,
        "cookie_key": secrets.token_hex(16),
        "jwks": {"keys": [rsa_jwk(rsa_key(), "op-key-1", private=True)]},
        **config,
    }


@contextlib.contextmanager
def running_provider(config: dict[str, Any], root: Path) -> Iterator[str]:
    """The provider running with ``config`` (see :func:`provider_config`); yields its issuer once
    its discovery document answers, and stops it afterwards."""
    need_node()
    _npm_ci()
    issuer: str = config["issuer"]
    config_path = root / "oidc-provider.json"
    config_path.write_text(json.dumps(config))
    log_path = root / "oidc-provider.log"
    assert NODE is not None
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [NODE, str(PROVIDER_DIR / "provider.mjs"), str(config_path)],
            cwd=PROVIDER_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NODE_ENV": "development"},
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log_path.read_text()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the OpenID provider did not start: " + log_path.read_text()
            time.sleep(0.1)
        yield issuer
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


# --- a person at the provider's login page --------------------------------------------------------


def query_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


async def at_provider(provider: httpx.AsyncClient, url: str, login: str, *, back: Callable[[str], bool]) -> str:
    """Sign in at the provider's own login page as ``login`` (and confirm on its consent page,
    which it shows a native application every time); returns the address it sends the browser
    back to (the first redirect for which ``back`` holds), not followed, so a test can present
    it as is, twice, or altered."""
    r = await provider.get(url)
    for _ in range(3):  # at most a login page and a consent page
        while r.status_code in (302, 303) and not back(r.headers["location"]):
            r = await provider.get(urljoin(str(r.url), r.headers["location"]))
        if r.status_code != 200:
            break
        action = FORM_ACTION.search(r.text)
        assert action, r.text[:500]
        prompt = PROMPT.search(r.text)
        answer = {"prompt": "consent"} if prompt and prompt[1] == "consent" else {"login": login, "password": "any"}
        r = await provider.post(urljoin(str(r.url), action.group(1)), data={"prompt": "login", **answer})
    assert r.status_code in (302, 303), (r.status_code, r.text[:500])
    location: str = r.headers["location"]
    return location


# --- a program calling an API with the person's access token ------------------------------------------


def native_client(client_id: str, redirect_uri: str) -> dict[str, Any]:
    """A public client (a program a person runs: no secret, PKCE, a loopback redirect, RFC 8252)."""
    return {
        "client_id": client_id,
        "application_type": "native",
        "token_endpoint_auth_method": "none",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }


def api_resource(scope: str) -> dict[str, Any]:
    """An API whose access tokens are JWTs for it alone (``aud`` = its indicator)."""
    return {"scope": scope}


async def access_token(issuer: str, client: dict[str, Any], login: str, *, resource: str, scope: str) -> str:
    """The access token for ``resource`` that the provider issues ``login`` through ``client``
    (a :func:`native_client`): the authorization code flow with PKCE and a resource indicator,
    through the provider's login page, as the program would drive the person's browser."""
    (redirect_uri,) = client["redirect_uris"]
    async with (
        httpx.AsyncClient(timeout=10) as browser,
        AsyncOAuth2Client(
            client["client_id"],
            token_endpoint_auth_method="none",
            redirect_uri=redirect_uri,
            scope=f"openid {scope}",
            code_challenge_method="S256",
            timeout=10,
        ) as program,
    ):
        meta = (await browser.get(f"{issuer}/.well-known/openid-configuration")).json()
        verifier = secrets.token_urlsafe(48)
        url, state = program.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, resource=resource
        )
        back = await at_provider(browser, url, login, back=lambda location: location.startswith(redirect_uri))
        token = await program.fetch_token(
            meta["token_endpoint"], authorization_response=back, state=state, code_verifier=verifier, resource=resource
        )
    access: str = token["access_token"]
    return access
