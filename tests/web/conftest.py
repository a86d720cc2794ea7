"""The in-process app of the API tests, plus a browser-like session helper."""

from __future__ import annotations

import re

import httpx

from ilea.domain import Agency, Role
from ilea.settings import Settings
from ilea.tokens import issue_token
from tests.api.conftest import api, auth, settings  # noqa: F401  (fixtures reused as they are)

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def sign_in(client: httpx.AsyncClient, cfg: Settings, sub: str, agency: str, *roles: str) -> None:
    """Put a session cookie on the client, as the login page would."""
    token = issue_token(cfg, sub=sub, agency=Agency(agency), roles=[Role(r) for r in roles], name=sub)
    client.cookies.set("ilea_session", token, domain="ilea.test")


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)
