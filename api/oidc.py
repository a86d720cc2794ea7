"""The OpenID Connect relying party: Authlib's Starlette client, state kept in PostgreSQL.

Discovery from ``ILEA_OIDC_ISSUER``; the authorization code flow with PKCE (S256), a
``state`` and a ``nonce`` per sign-in; ``client_secret_basic``/``_post`` or
``private_key_jwt`` at the token endpoint; the ID token verified for its signature (the
provider's JWKS), issuer, audience, expiry and nonce.

Authlib's own ``authorize_redirect``/``authorize_access_token`` keep the pending sign-in in
``request.session`` (a signed cookie). ILEA keeps it server-side instead (``oidc_logins``):
single use, bound to the browser that began it by a cookie of its own, and gone after ten
minutes. So this module calls the client's lower-level steps (``create_authorization_url``,
``fetch_access_token``, ``parse_id_token``, ``create_logout_url``) and the web routes
(``api.web.signin``) hold the cookies.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from ilea.settings import Settings

log = logging.getLogger("ilea.api.oidc")


class SignInRefused(Exception):
    """A sign-in that cannot be completed; ``reason`` is a short code for the access log."""

    def __init__(self, reason: str, message: str, *, sub: str | None = None, detail: dict[str, Any] | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.sub = sub
        self.detail = detail or {}


class ProviderUnavailable(Exception):
    """The identity provider did not answer (discovery, token endpoint or keys)."""


@dataclass(frozen=True)
class Begun:
    """A sign-in sent to the provider: what must come back, and where the browser goes."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class Identity:
    """A person as the provider's verified ID token names them."""

    sub: str
    name: str
    email: str
    id_token: str
    claims: dict[str, Any] = field(repr=False)


def _signing_key(settings: Settings) -> tuple[RSAKey | ECKey, str]:
    """The client's private key for ``private_key_jwt`` and the algorithm it signs with."""
    assert settings.oidc_private_key_path is not None
    pem = settings.oidc_private_key_path.read_bytes()
    loaded = load_pem_private_key(pem, password=None)
    if isinstance(loaded, rsa.RSAPrivateKey):
        return RSAKey.import_key(pem), "RS256"
    if isinstance(loaded, ec.EllipticCurvePrivateKey):
        alg = {256: "ES256", 384: "ES384", 521: "ES512"}[loaded.curve.key_size]
        return ECKey.import_key(pem), alg
    raise ValueError("ILEA_OIDC_PRIVATE_KEY_PATH must hold an RSA or EC private key")


class OidcClient:
    """One per process; discovery and the provider's keys are fetched once and cached by Authlib.

    Args:
        settings: with ``oidc_issuer`` and ``oidc_client_id`` set.
        transport: an httpx transport for the provider's endpoints (tests may interpose one).
    """

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        assert settings.oidc_issuer and settings.oidc_client_id
        self.issuer = settings.oidc_issuer.rstrip("/")
        parts = urlsplit(self.issuer)
        #: scheme://host[:port] of the provider (the sign-out form's redirect goes there)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.client_id = settings.oidc_client_id
        self._auth_params = dict(settings.oidc_auth_params)
        self._id_token_hint = settings.oidc_logout_id_token_hint
        client_kwargs: dict[str, Any] = {
            "scope": settings.oidc_scopes,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": settings.oidc_client_auth,
            "timeout": 10.0,
        }
        if transport is not None:
            client_kwargs["transport"] = transport
        secret: Any = settings.oidc_client_secret
        auth_methods = None
        if settings.oidc_client_auth == "private_key_jwt":
            secret, alg = _signing_key(settings)
            headers = {"kid": settings.oidc_private_key_id} if settings.oidc_private_key_id else None
            # The assertion's audience is the token endpoint the request goes to (RFC 7523, Login.gov).
            auth_methods = [PrivateKeyJWT(headers=headers, alg=alg)]
        oauth = OAuth()
        self.app: StarletteOAuth2App = oauth.register(
            "ilea",
            client_id=self.client_id,
            client_secret=secret,
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_kwargs=client_kwargs,
            client_auth_methods=auth_methods,
        )

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once); its issuer must be the one configured."""
        try:
            meta: dict[str, Any] = await self.app.load_server_metadata()
        except (httpx.HTTPError, ValueError) as err:
            self.app.server_metadata.clear()
            raise ProviderUnavailable(f"discovery at {self.issuer} failed: {err}") from None
        if meta.get("issuer", "").rstrip("/") != self.issuer:
            # OpenID Connect Discovery 4.3: a document naming another issuer is not to be used.
            found = meta.get("issuer")
            self.app.server_metadata.clear()
            raise ProviderUnavailable(f"the discovery document names issuer {found!r}, not {self.issuer!r}")
        return meta

    async def begin(self, redirect_uri: str) -> Begun:
        """A new authorization request with its state, nonce and PKCE verifier."""
        await self.metadata()
        try:
            rv = await self.app.create_authorization_url(redirect_uri, **self._auth_params)
        except (httpx.HTTPError, RuntimeError) as err:
            raise ProviderUnavailable(str(err)) from None
        return Begun(url=rv["url"], state=rv["state"], nonce=rv["nonce"], code_verifier=rv["code_verifier"])

    async def finish(self, *, code: str, redirect_uri: str, code_verifier: str, nonce: str) -> Identity:
        """Redeem the code and verify the ID token.

        Raises:
            SignInRefused: the provider refused the code (``code_refused``), or the ID token
                is missing or fails a check (``id_token_invalid``).
            ProviderUnavailable: the provider did not answer.
        """
        meta = await self.metadata()
        try:
            token = await self.app.fetch_access_token(code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
        except OAuthError as err:
            raise SignInRefused(
                "code_refused",
                "The identity provider refused to complete this sign-in (the link may have been used already).",
                detail={"error": err.error, "description": err.description or ""},
            ) from None
        except (httpx.HTTPError, ValueError) as err:
            raise ProviderUnavailable(f"token endpoint: {err}") from None
        if "id_token" not in token:
            raise SignInRefused("id_token_invalid", "The identity provider sent no ID token.")
        options = {
            "iss": {"essential": True, "value": meta["issuer"]},
            "aud": {"essential": True, "value": self.client_id},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }
        try:
            claims = await self.app.parse_id_token(token, nonce=nonce, claims_options=options, leeway=60)
        except JoseError as err:
            claim = getattr(err, "claim", None)
            raise SignInRefused(
                "id_token_invalid",
                "The identity provider's answer did not pass ILEA's checks, so you are not signed in.",
                detail={"error": err.error, "claim": claim or "", "description": err.description or str(err)},
            ) from None
        except (httpx.HTTPError, ValueError) as err:
            raise ProviderUnavailable(f"keys: {err}") from None
        return Identity(
            sub=str(claims["sub"]),
            name=str(
                claims.get("name") or " ".join(filter(None, [claims.get("given_name"), claims.get("family_name")]))
            ),
            email=str(claims.get("email") or ""),
            id_token=token["id_token"],
            claims=dict(claims),
        )

    async def logout_url(self, *, post_logout_redirect_uri: str, id_token: str | None) -> str | None:
        """The provider's end-session address (RP-initiated logout), or None when it has none."""
        try:
            meta = await self.metadata()
        except ProviderUnavailable as err:
            log.warning("cannot sign out at the provider: %s", err)
            return None
        if not meta.get("end_session_endpoint"):
            return None
        rv = await self.app.create_logout_url(
            post_logout_redirect_uri=post_logout_redirect_uri,
            id_token_hint=id_token if self._id_token_hint else None,
            client_id=self.client_id,
            # Login.gov wants a state of at least 22 characters; Authlib's own has 20.
            state=secrets.token_urlsafe(24),
        )
        url: str = rv["url"]
        return url
