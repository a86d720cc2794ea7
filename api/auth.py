"""Bearer-token authentication (pyjwt, algorithm pinned) and per-route role policies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import jwt
from pydantic import BaseModel, ValidationError

from ilea.db.people import Grant
from ilea.domain import Agency, Role, misplaced_roles, subject_problem
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


# --- identity rules of product.md edition 2 that resolve() does not hold (issue 13) -------------


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

    def __init__(self, settings: Settings, grants: GrantLookup | None = None) -> None:
        self._settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True) if settings.jwt_jwks_url else None
        self._grants = grants

    def _key(self, token: str) -> Any:
        if self._jwks is not None:
            try:
                return self._jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientError as err:
                raise AuthError(f"unknown signing key: {err}") from None
        return self._settings.jwt_secret

    async def verify_async(self, token: str) -> Principal:
        """The caller of a request: the token verified (inline with a shared key, on a thread with
        a JWKS, whose fetch of a key not yet cached must not stall the event loop), then its
        agency and roles resolved from the grants kept in ILEA, or from its claims when those are
        trusted (:func:`resolve`)."""
        claims = self.claims(token) if self._jwks is None else await anyio.to_thread.run_sync(self.claims, token)
        return await resolve(self._settings, claims, self._grants)

    def verify(self, token: str) -> Principal:
        """The token's own claims as a principal, without grants (tools and tests; requests use
        :meth:`verify_async`)."""
        return principal_from_claims(self.claims(token))

    def claims(self, token: str) -> dict[str, Any]:
        """The claims of a token whose signature, expiry, issuer and audience hold."""
        s = self._settings
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key(token),
                algorithms=[s.jwt_algorithm],
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as err:
            raise AuthError(f"invalid token: {err}") from None
        if s.env == "production":
            check_lifetime(claims, s.jwt_max_lifetime_hours, datetime.now(UTC))
        return claims


# --- who the caller is: token claims, or grants kept in ILEA (issue 18) ---------------------

#: The person's grant by ``sub`` (None when ILEA does not know them).
GrantLookup = Callable[[str], Awaitable[Grant | None]]


class NoGrant(AuthError):
    """Signed in, but ILEA grants this person no role (yet, or any more)."""


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The principal a token's own claims describe (``agency``, ``roles``)."""
    try:
        return Principal(
            sub=claims["sub"],
            name=claims.get("name", ""),
            agency=claims.get("agency"),
            roles=known_roles(claims.get("roles")),
        )
    except ValidationError as err:
        raise AuthError(f"invalid token claims: {err.errors()[0]['msg']}") from None


def principal_from_grant(sub: str, name: str, grant: Grant | None) -> Principal:
    """The principal ILEA's grant makes of a person; :class:`NoGrant` when it grants nothing."""
    if grant is None or not grant.usable:
        why = "is not active" if grant is not None and not grant.active else "holds no role"
        raise NoGrant(f"{sub} {why} in ILEA; ask your access administrator for a grant")
    return Principal(sub=sub, name=grant.name or name, agency=grant.agency, roles=list(grant.roles))


async def resolve(
    settings: Settings, claims: dict[str, Any], grants: GrantLookup | None, *, name: str | None = None
) -> Principal:
    """Agency and roles for a verified identity, the same for bearer tokens and web sessions.

    From the token's claims when ``ILEA_TRUST_TOKEN_ROLES`` is on and it carries roles
    (development, service accounts); otherwise from the person's grant, keyed by ``sub``
    exactly as issued, looked up on every call so a revocation counts at the next request.
    """
    sub = claims.get("sub")
    problem = subject_problem(sub) if isinstance(sub, str) else "the subject (sub) is not a string"
    if problem:
        raise AuthError(f"invalid token claims: {problem}")
    assert isinstance(sub, str)
    if settings.roles_from_claims and claims.get("roles"):
        return principal_from_claims(claims)
    grant = await grants(sub) if grants is not None else None
    return principal_from_grant(sub, name if name is not None else str(claims.get("name") or ""), grant)


# --- end of issue 18's resolver ------------------------------------------------------------
