"""Bearer-token authentication (pyjwt, algorithm pinned) and per-route role policies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
import jwt
from pydantic import BaseModel, ValidationError

from ilea.domain import Agency, Role, misplaced_roles
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


# --- identity rules (product.md "Who uses it", edition 2) ---------------------------------------

#: The actor name the workflow records for its own acts (deemed votes, deadlines); no person has it.
SYSTEM_ACTOR = "system"
MAX_SUB_LENGTH = 128


def check_subject(sub: object) -> str:
    """The token's ``sub`` if a person can have it; :class:`AuthError` otherwise."""
    if not isinstance(sub, str) or not sub:
        raise AuthError("the token's sub is empty")
    if len(sub) > MAX_SUB_LENGTH:
        raise AuthError(f"the token's sub is longer than {MAX_SUB_LENGTH} characters")
    if not sub.isprintable():
        raise AuthError("the token's sub has characters that are not printable")
    if sub.strip().casefold() == SYSTEM_ACTOR:
        raise AuthError(f"{SYSTEM_ACTOR!r} is reserved for the system's own acts")
    return sub


def known_roles(claimed: object) -> list[Role]:
    """The ILEA roles among those claimed (an identity provider's other roles are ignored);
    :class:`AuthError` when there is none."""
    names = claimed if isinstance(claimed, list) else []
    roles = [Role(r) for r in dict.fromkeys(names) if isinstance(r, str) and r in Role.__members__]
    if not roles:
        raise AuthError("the token grants no ILEA role")
    return roles


def check_lifetime(claims: dict[str, Any], max_hours: float, now: datetime) -> None:
    """Refuse a token issued for longer than ``max_hours`` (production only); without an
    ``iat`` its lifetime counts from now."""
    iat, exp = claims.get("iat"), claims.get("exp")
    issued = iat if isinstance(iat, int | float) else now.timestamp()
    if not isinstance(exp, int | float) or exp - issued > max_hours * 3600:
        raise AuthError(f"the token lives longer than {max_hours:g} hours")


def misplaced_role_reason(principal: Principal) -> str | None:
    """Why the caller's agency cannot hold one of its roles (403), or None."""
    wrong = misplaced_roles(principal.agency, principal.roles)
    if not wrong:
        return None
    return f"a {principal.agency.value} token cannot hold the role {', '.join(r.value for r in wrong)}"


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
        sub = check_subject(claims["sub"])
        if s.env == "production":
            check_lifetime(claims, s.jwt_max_lifetime_hours, datetime.now(UTC))
        roles = known_roles(claims.get("roles"))
        try:
            return Principal(sub=sub, name=claims.get("name", ""), agency=claims.get("agency"), roles=roles)
        except ValidationError as err:
            raise AuthError(f"invalid token claims: {err.errors()[0]['msg']}") from None
