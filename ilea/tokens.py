"""Signing development tokens: what `ilea token`, the demo sign-in and the tests hand to the API.

The API verifies tokens (``api/auth.py``); issuing one needs only the settings, so it lives in
the base package where the CLI and the demo data can use it without importing the API.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from ilea.domain import Agency, Role
from ilea.settings import Settings


def issue_token(
    settings: Settings,
    *,
    sub: str,
    agency: Agency,
    roles: list[Role],
    name: str = "",
    ttl: timedelta | None = None,
) -> str:
    """A signed development token (HS256 with the configured key)."""
    now = datetime.now(UTC)
    claims = {
        "sub": sub,
        "name": name or sub,
        "agency": agency.value,
        "roles": [r.value for r in roles],
        "iat": now,
        "exp": now + (ttl or timedelta(hours=settings.token_ttl_hours)),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
