"""The browser session: its cookie (the session itself is server-side, see ``api.web.signin``),
CSRF tokens, one-shot flash messages.

CSRF defence is two-fold: every state-changing form carries a per-session token
(an HMAC of the session cookie under the signing key, so it needs no server
state and changes with each login), and a POST whose ``Origin`` (or, lacking
it, ``Referer``) names another site is refused. The cookie is also
``SameSite=Lax``, so browsers do not send it on cross-site POSTs at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import Request
from starlette.responses import Response

from api.auth import Principal
from ilea.settings import Settings

SESSION_COOKIE = "ilea_session"
FLASH_COOKIE = "ilea_flash"
CSRF_FIELD = "csrf_token"


class CsrfError(Exception):
    """A state-changing request that did not come from one of our forms."""


#: Request-state key of what ``api.web.signin.SessionMiddleware`` found for the session cookie.
VISITOR = "ilea.visitor"


def viewer(request: Request) -> Principal | None:
    """The signed-in person of the server-side session the session middleware resolved, or None."""
    found = request.scope.get("state", {}).get(VISITOR)
    principal: Principal | None = getattr(found, "principal", None)
    return principal


def csrf_token(request: Request) -> str:
    """The token the forms of this session must return."""
    settings: Settings = request.app.state.settings
    session = request.cookies.get(SESSION_COOKIE) or request.headers.get("authorization", "")
    mac = hmac.new(settings.jwt_secret.encode(), b"csrf\x00" + session.encode(), hashlib.sha256)
    return mac.hexdigest()


def check_origin(request: Request) -> None:
    """Refuse a POST that says it comes from another site."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        if source == "null":
            raise CsrfError("the form was posted from an opaque origin")
        return
    parts = urlsplit(source)
    host = request.headers.get("host", "")
    if parts.netloc != host:
        raise CsrfError(f"the form was posted from {parts.scheme}://{parts.netloc}, not this site")


def check_csrf(request: Request, form: dict[str, str]) -> None:
    check_origin(request)
    sent = form.get(CSRF_FIELD, "")
    if not sent or not hmac.compare_digest(sent, csrf_token(request)):
        raise CsrfError("the form's security token is missing or stale; reload the page and try again")


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (last value wins)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def is_https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"


def flash(response: Response, request: Request, kind: str, message: str) -> None:
    """A message shown once on the next page (POST-redirect-GET)."""
    value = base64.urlsafe_b64encode(json.dumps({"kind": kind, "msg": message[:1500]}).encode()).decode()
    response.set_cookie(
        FLASH_COOKIE, value, max_age=60, httponly=True, samesite="lax", secure=is_https(request), path="/ui"
    )


def take_flash(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("kind") not in ("ok", "error"):
        return None
    return {"kind": data["kind"], "msg": str(data.get("msg", ""))}
