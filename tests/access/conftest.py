"""A real OpenID provider on a free port (tests/oidc_provider), and ILEA configured to sign
people in with it.

The provider has ILEA registered twice, as Login.gov would (``private_key_jwt``) and as an
agency's Okta might (``client_secret_basic``), and knows one person whose provider asserts an
agency and roles (only ``ILEA_TRUST_TOKEN_ROLES`` believes them).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.oidc import OidcClient
from ilea.devstack import free_port
from ilea.settings import Settings
from tests.api.conftest import api, auth, settings  # noqa: F401  (the in-process API with claimed roles)
from tests.oidc_provider import at_provider as _at_provider
from tests.oidc_provider import (
    need_node,
    provider_config,
    rsa_jwk,
    rsa_key,
    running_provider,
    write_pem,
)
from tests.support import running_worker

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


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIdProvider]:
    need_node()
    root = tmp_path_factory.mktemp("oidc-provider")
    app_port = free_port()
    client_key = rsa_key()
    key_path = write_pem(client_key, root / "ilea-client.pem")
    apps = [APP, APP.replace("http:", "https:"), f"http://127.0.0.1:{app_port}"]
    registration = {
        "redirect_uris": [a + CALLBACK for a in apps],
        "post_logout_redirect_uris": [a + SIGNED_OUT for a in apps],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }
    key_id = "ilea-client-key-1"
    secret = uuid.uuid4().hex + uuid.uuid4().hex
    config = provider_config(
        clients=[
            {
                "client_id": "ilea-web",
                "token_endpoint_auth_method": "private_key_jwt",
                "token_endpoint_auth_signing_alg": "RS256",
                "jwks": {"keys": [rsa_jwk(client_key, key_id, private=False)]},
                **registration,
            },
            {
                "client_id": "ilea-web-secret",
                "client_secret": secret,
                "token_endpoint_auth_method": "client_secret_basic",
                **registration,
            },
        ],
        # People whose provider asserts an agency and roles (only ILEA_TRUST_TOKEN_ROLES believes them).
        people={"claims-dhs-isg": {"name": "Claimed Isg", "claims": {"agency": "DHS", "roles": ["isg_member"]}}},
    )
    with running_provider(config, root) as issuer:
        yield OpenIdProvider(
            issuer=issuer,
            signing_jwk=config["jwks"]["keys"][0],
            key_client_id="ilea-web",
            key_path=key_path,
            key_id=key_id,
            secret_client_id="ilea-web-secret",
            client_secret=secret,
            app_port=app_port,
        )


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


def _back_at_ilea(location: str) -> bool:
    return urlsplit(location).netloc in ("ilea.test", "") and CALLBACK in location


async def at_provider(provider: httpx.AsyncClient, url: str, login: str) -> str:
    """Sign in at the provider's login page as ``login``; where it sends the browser back to ILEA."""
    return await _at_provider(provider, url, login, back=_back_at_ilea)


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
