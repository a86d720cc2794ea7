"""Bearer-token authentication (pyjwt, algorithm pinned) and per-route role policies."""

from __future__ import annotations

from typing import Any

import anyio
import jwt
from pydantic import BaseModel, ValidationError

from ilea.domain import Agency, Role
from ilea.messages import Actor
from ilea.settings import Settings


class Principal(BaseModel):
    """The verified caller."""

    sub: str
    name: str = ""
    agency: Agency
    roles: list[Role]

    def has(self, *roles: Role) -> bool:
        return any(r in self.roles for r in roles)

    def actor(self) -> Actor:
        return Actor(sub=self.sub, name=self.name, agency=self.agency, roles=self.roles)


#: Request-state key of ``(token, Principal)`` once a middleware has verified the bearer token.
VERIFIED = "ilea.verified_principal"


class AuthError(Exception):
    """Missing or unusable credentials (401)."""


class TokenVerifier:
    """Verifies tokens with the configured key: HS256 shared key, or RS256 from a JWKS URL."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True) if settings.jwt_jwks_url else None

    def _key(self, token: str) -> Any:
        if self._jwks is not None:
            try:
                return self._jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientError as err:
                raise AuthError(f"unknown signing key: {err}") from None
        return self._settings.jwt_secret

    async def verify_async(self, token: str) -> Principal:
        """:meth:`verify` for async callers: inline with a shared key, on a thread with a JWKS
        (a key not yet cached is fetched over HTTP, which must not stall the event loop)."""
        if self._jwks is None:
            return self.verify(token)
        return await anyio.to_thread.run_sync(self.verify, token)

    def verify(self, token: str) -> Principal:
        s = self._settings
        try:
            claims = jwt.decode(
                token,
                self._key(token),
                algorithms=[s.jwt_algorithm],
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as err:
            raise AuthError(f"invalid token: {err}") from None
        try:
            return Principal(
                sub=claims["sub"],
                name=claims.get("name", ""),
                agency=claims.get("agency"),
                roles=claims.get("roles") or [],
            )
        except ValidationError as err:
            raise AuthError(f"invalid token claims: {err.errors()[0]['msg']}") from None
