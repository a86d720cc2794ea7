"""A real OpenID provider on a free port, and ILEA configured to sign people in with it.

The provider is panva's ``oidc-provider`` (npm; OpenID Certified, and the library many
production providers are built on): it does discovery, PKCE, ``private_key_jwt`` and
``client_secret_basic``, signed ID tokens from its JWKS, and RP-initiated logout, like
Login.gov or an agency's Okta does. Its npm packages are installed from the committed lock
file with ``npm ci`` (``.ci/run`` does it; so does this fixture when they are missing).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.oidc import OidcClient
from ilea.devstack import free_port
from ilea.settings import Settings
from tests.api.conftest import api, auth, settings  # noqa: F401  (the in-process API with claimed roles)
from tests.support import running_worker

HERE = Path(__file__).parent
PROVIDER_DIR = HERE / "oidc_provider"
NODE = shutil.which("node")
NPM = shutil.which("npm")
#: the base URL of the in-process app (httpx's ASGI transport)
APP = "http://ilea.test"
CALLBACK = "/ui/auth/callback"
SIGNED_OUT = "/ui/signed-out"


@dataclass(frozen=True)
class OpenIdProvider:
    """The running provider and the registrations ILEA uses with it."""

    issuer: str
    #: its signing key (private JWK), so a test can forge what a misbehaving provider would send
    signing_jwk: dict[str, Any]
    #: the ILEA client that authenticates with private_key_jwt (as Login.gov requires)
    key_client_id: str
    key_path: Path
    key_id: str
    #: the ILEA client that authenticates with a client secret
    secret_client_id: str
    client_secret: str
    #: the port a served app must use so the registered redirect URIs match (browser tests)
    app_port: int

    def settings(self, task_queue: str, *, client: str = "key", **overrides: Any) -> Settings:
        """ILEA's settings for this provider: grants decide roles unless overridden."""
        client_auth: dict[str, Any] = (
            {
                "oidc_client_id": self.key_client_id,
                "oidc_client_auth": "private_key_jwt",
                "oidc_private_key_path": self.key_path,
                "oidc_private_key_id": self.key_id,
            }
            if client == "key"
            else {
                "oidc_client_id": self.secret_client_id,
                "oidc_client_auth": "client_secret_basic",
                "oidc_client_secret": self.client_secret,
            }
        )
        values: dict[str, Any] = {
            "env": "test",
            "task_queue": task_queue,
            "oidc_issuer": self.issuer,
            "trust_token_roles": False,
            **client_auth,
            **overrides,
        }
        return Settings(**values)


def _rsa_jwk(key: rsa.RSAPrivateKey, kid: str, *, private: bool) -> dict[str, Any]:
    source = key if private else key.public_key()
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(source))
    jwk.pop("key_ops", None)  # pyjwt marks a private key "sign" only; the provider would publish that
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


def _npm_ci() -> None:
    """Install the provider's packages from the lock file when they are missing or stale."""
    stamp = PROVIDER_DIR / "node_modules" / ".package-lock.json"
    lock = PROVIDER_DIR / "package-lock.json"
    if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    assert NPM is not None
    subprocess.run([NPM, "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, check=True, capture_output=True)


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIdProvider]:
    if NODE is None or NPM is None:
        pytest.skip("Node.js and npm are needed for the test OpenID provider")
    _npm_ci()
    root = tmp_path_factory.mktemp("oidc-provider")
    port, app_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{port}"
    op_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_path = root / "ilea-client.pem"
    key_path.write_bytes(
        client_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    apps = [APP, APP.replace("http:", "https:"), f"http://127.0.0.1:{app_port}"]
    registration = {
        "redirect_uris": [a + CALLBACK for a in apps],
        "post_logout_redirect_uris": [a + SIGNED_OUT for a in apps],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }
    provider = OpenIdProvider(
        issuer=issuer,
        signing_jwk=_rsa_jwk(op_key, "op-key-1", private=True),
        key_client_id="ilea-web",
        key_path=key_path,
        key_id="ilea-client-key-1",
        secret_client_id="ilea-web-secret",
        client_secret=uuid.uuid4().hex + uuid.uuid4().hex,
        app_port=app_port,
    )
    config = {
        "issuer": issuer,
        "port": port,
        "cookie_key": uuid.uuid4().hex,
        "jwks": {"keys": [provider.signing_jwk]},
        "clients": [
            {
                "client_id": provider.key_client_id,
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_signing_alg": "RS256",
                "jwks": {"keys": [_rsa_jwk(client_key, provider.key_id, private=False)]},
                **registration,
            },
            {
                "client_id": provider.secret_client_id,
                "client_secret": provider.client_secret,
                "token_endpoint_auth_method": "client_secret_basic",
                **registration,
            },
        ],
        # People whose provider asserts an agency and roles (only ILEA_TRUST_TOKEN_ROLES believes them).
        "people": {
            "claims-dhs-isg": {"name": "Claimed Isg", "claims": {"agency": "DHS", "roles": ["isg_member"]}},
        },
    }
    config_path = root / "config.json"
    config_path.write_text(json.dumps(config))
    log_path = root / "provider.log"
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
        yield provider
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


# --- ILEA with single sign-on -----------------------------------------------------------------------


SsoApp = Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def sso_app(oidc_provider: OpenIdProvider, dev_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str) -> SsoApp:
    """``async with sso_app(**settings) as client``: ILEA in-process, signing in with the provider.

    ``transport=`` interposes an httpx transport between ILEA and the provider.
    """

    @contextlib.asynccontextmanager
    async def make(
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        worker: bool = False,
        base_url: str = APP,
        **overrides: Any,
    ) -> AsyncIterator[httpx.AsyncClient]:
        cfg = oidc_provider.settings(task_queue, **overrides)
        app = create_app(cfg, pool=pool, temporal=dev_env.client)
        if transport is not None:
            app.state.oidc = OidcClient(cfg, transport=transport)
        async with contextlib.AsyncExitStack() as stack:
            if worker:
                await stack.enter_async_context(running_worker(dev_env.client, pool, task_queue))
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
            )
            client.app = app  # type: ignore[attr-defined]
            yield client

    return make


FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


def _back_at_ilea(r: httpx.Response) -> bool:
    return urlsplit(r.headers["location"]).netloc in ("ilea.test", "") and CALLBACK in r.headers["location"]


async def at_provider(provider: httpx.AsyncClient, url: str, login: str) -> str:
    """Sign in at the provider's own login page as ``login``; returns where it sends the browser back.

    The address is not followed, so a test can present it to ILEA as is, twice, or altered.
    """
    r = await provider.get(url)
    while r.status_code in (302, 303) and not _back_at_ilea(r):
        r = await provider.get(urljoin(str(r.url), r.headers["location"]))
    if r.status_code == 200:  # the login page
        action = FORM_ACTION.search(r.text)
        assert action, r.text[:500]
        r = await provider.post(
            urljoin(str(r.url), action.group(1)), data={"prompt": "login", "login": login, "password": "any"}
        )
        while r.status_code in (302, 303) and not _back_at_ilea(r):
            r = await provider.get(urljoin(str(r.url), r.headers["location"]))
    assert r.status_code in (302, 303), (r.status_code, r.text[:500])
    back: str = r.headers["location"]
    return back


async def begin(client: httpx.AsyncClient, next_path: str = "/ui/inbox") -> str:
    """ILEA's redirect to the provider for a new sign-in."""
    r = await client.get("/ui/auth/login", params={"next": next_path})
    assert r.status_code == 303, r.text
    location: str = r.headers["location"]
    return location


async def sign_in(
    client: httpx.AsyncClient,
    issuer: str,
    login: str,
    next_path: str = "/ui/inbox",
    *,
    browser: httpx.AsyncClient | None = None,
) -> httpx.Response:
    """The whole sign-in as a browser does it; ILEA's answer to the callback.

    ``browser`` keeps the provider's cookies (its own session) for later use.
    """
    async with contextlib.AsyncExitStack() as stack:
        if browser is None:
            browser = await stack.enter_async_context(httpx.AsyncClient())
        back = await at_provider(browser, await begin(client, next_path), login)
    return await client.get(back)


def query_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


async def grant(pool: asyncpg.Pool, sub: str, agency: str, *roles: str, name: str = "") -> None:
    """A grant made directly (as `ilea grant` would), logged like every grant."""
    from ilea.db import people
    from ilea.domain import Agency, Role

    await people.put(
        pool,
        sub=sub,
        name=name or sub,
        email=f"{sub}@example.gov",
        agency=Agency(agency),
        roles=[Role(r) for r in roles],
        actor="cli:test",
    )


async def access_log(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    from ilea.db import people

    return await people.events(pool)
