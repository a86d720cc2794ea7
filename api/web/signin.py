"""Web sign-in: server-side sessions, the OpenID Connect routes, and who each request is.

The session cookie holds a random id (HttpOnly, SameSite=Lax, Secure over HTTPS and always in
production); the row it names (``ilea.db.sessions``) says whose session it is, and ends after
``ILEA_SESSION_IDLE_MINUTES`` without a request or ``ILEA_SESSION_MAX_HOURS`` after sign-in.
:class:`SessionMiddleware` looks the cookie up once per request, together with the person's
current grant, so a revoked role is gone at the next request; an ended session, or a person
left without a role, gets a page saying so instead of the page asked for.

Sign-in: ``/ui/auth/login`` sends the browser to the provider with a fresh state, nonce and
PKCE challenge (kept in ``oidc_logins``, bound to this browser by the ``ilea_login`` cookie);
``/ui/auth/callback`` checks them, redeems the code and verifies the ID token
(``api.oidc``), then opens a session if ILEA grants the person a role. Every sign-in,
refusal, sign-out and ended session is written to the access log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import AuthError, GrantLookup, NoGrant, Principal, resolve
from api.oidc import OidcClient
from api.web.render import render, safe_next
from api.web.session import SESSION_COOKIE, VISITOR, CsrfError, check_csrf, csrf_token, is_https, read_form
from ilea.db import people, sessions
from ilea.db.people import AccessAction
from ilea.settings import Settings

router = APIRouter(include_in_schema=False)
log = logging.getLogger("ilea.api.signin")

LOGIN_COOKIE = "ilea_login"
#: Web paths a person without a usable session may still reach.
OPEN_PATHS = ("/ui/static/", "/ui/auth/", "/ui/logout", "/ui/signed-out", "/ui/login")
DEFAULT_NEXT = "/ui/inbox"


@dataclass(frozen=True)
class Visitor:
    """Who the session cookie names: a principal, or why there is none."""

    principal: Principal | None = None
    session: sessions.SessionRow | None = None
    #: "ended" (a timeout) or "no_grant" (signed in, but no role), with the reason in words
    refusal: str | None = None
    message: str = ""


def oidc_of(request: Request) -> OidcClient | None:
    client: OidcClient | None = getattr(request.app.state, "oidc", None)
    return client


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def browser_cookie(response: Response, request: Request, name: str, value: str, *, max_age: int, path: str) -> None:
    settings: Settings = request.app.state.settings
    secure = is_https(request) or settings.env == "production"
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", secure=secure, path=path)


# --- who is this request? ---------------------------------------------------------------------


async def _identify(request: Request, secret: str) -> Visitor:
    """The visitor a session cookie names (see the module docstring)."""
    app = request.app
    settings: Settings = app.state.settings
    if settings.env == "test" and secret.count(".") == 2:
        # The test suite's shortcut: a signed JWT as the cookie, resolved like a bearer token.
        try:
            return Visitor(principal=await app.state.verifier.verify_async(secret))
        except NoGrant as err:
            return Visitor(refusal="no_grant", message=str(err))
        except AuthError:
            return Visitor()
    idle = timedelta(minutes=settings.session_idle_minutes)
    row = await sessions.find(app.state.pool, secret, idle)
    if row is None:
        return Visitor()
    if row.ended is not None:
        if await sessions.delete(app.state.pool, secret) is not None:  # one entry, however many requests race
            detail = {"via": row.via, "timeout": row.ended, "ip": client_ip(request)}
            await people.log(app.state.pool, row.sub, row.sub, AccessAction.session_expired, detail)
        if row.ended == "idle":
            why = f"after {settings.session_idle_minutes:g} minutes without activity"
        else:
            why = f"{settings.session_max_hours:g} hours after you signed in"
        return Visitor(session=row, refusal="ended", message=f"Your session ended {why}. Sign in again to continue.")
    claims = {"sub": row.sub, "name": row.name, **(row.claims or {})}
    try:
        principal = await resolve(settings, claims, _known(row.grant), name=row.name)
    except NoGrant as err:
        return Visitor(session=row, refusal="no_grant", message=str(err))
    except AuthError:
        return Visitor(session=row)
    return Visitor(principal=principal, session=row)


def _known(grant: people.Grant | None) -> GrantLookup:
    """The grant the session query already read, as a lookup (no second round trip)."""

    async def lookup(_: str) -> people.Grant | None:
        return grant

    return lookup


class SessionMiddleware:
    """Resolves the session cookie once per request (into ``request.state``); answers a web page
    request from an ended session or a person without a role with a page saying so."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path or path.startswith("/ui/static/") or path in ("/healthz", "/readyz", "/metrics"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            visitor = await _identify(request, secret)
            scope.setdefault("state", {})[VISITOR] = visitor
            if visitor.refusal and not path.startswith("/v1/") and not path.startswith(OPEN_PATHS):
                await _refusal_page(request, visitor)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def visitor_of(request: Request) -> Visitor | None:
    """What the middleware found for this request's session cookie (None: no cookie)."""
    found: Visitor | None = request.scope.get("state", {}).get(VISITOR)
    return found


def session_principal(request: Request) -> Principal:
    """The signed-in person of a request that sent only the session cookie; 401 otherwise."""
    visitor = visitor_of(request)
    if visitor is None:
        raise AuthError("a bearer token is required")
    if visitor.principal is None:
        raise (
            NoGrant(visitor.message)
            if visitor.refusal == "no_grant"
            else AuthError(visitor.message or "the session is not valid; sign in again")
        )
    return visitor.principal


def _refusal_page(request: Request, visitor: Visitor) -> Response:
    if visitor.refusal == "ended":
        response = notice(
            request,
            "Your session has ended",
            [visitor.message],
            actions=[{"href": f"/ui/login?next={safe_next(request.url.path, DEFAULT_NEXT)}", "label": "Sign in again"}],
            status=401,
        )
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    return no_access(
        request, visitor.session.sub if visitor.session else "", visitor.session.name if visitor.session else ""
    )


# --- pages --------------------------------------------------------------------------------------


def notice(
    request: Request,
    title: str,
    lines: list[str],
    *,
    actions: list[dict[str, str]] | None = None,
    sign_out: bool = False,
    status: int,
) -> Response:
    """A page with a few sentences and what the person can do next."""
    context = {"title": title, "lines": lines, "actions": actions or [], "sign_out": sign_out}
    if sign_out:
        context["session_csrf"] = csrf_token(request)
    return render(request, "signin_notice.html", context, status=status)


def no_access(request: Request, sub: str, name: str, email: str = "", *, signed_in: bool = True) -> Response:
    """Signed in at the provider, but ILEA grants this person no role."""
    who = ", ".join(filter(None, [name, email])) or sub
    lines = [
        f"You are signed in as {who}, but ILEA has not granted you a role.",
        "Ask your access administrator (State/INL) to grant you your agency and role, and give them this "
        f"identifier: {sub}",
    ]
    if not signed_in:
        lines.append("Once they have, sign in again.")
    actions = [] if signed_in else [{"href": "/ui/auth/login", "label": "Sign in again"}]
    if not signed_in and oidc_of(request) is not None:
        actions.append({"href": "/ui/auth/provider-logout", "label": "Sign out of your identity provider"})
    return notice(request, "Ask your access administrator", lines, actions=actions, sign_out=signed_in, status=403)


# --- sessions -----------------------------------------------------------------------------------


async def open_session(
    response: Response,
    request: Request,
    *,
    sub: str,
    name: str,
    via: str,
    claims: dict[str, Any] | None,
    id_token: str | None,
    detail: dict[str, Any],
) -> None:
    """A new session for ``sub`` (any earlier one of this browser ends), its cookie, and a sign-in entry."""
    settings: Settings = request.app.state.settings
    pool = request.app.state.pool
    earlier = request.cookies.get(SESSION_COOKIE)
    if earlier:
        await sessions.delete(pool, earlier)
    await sessions.sweep(pool)
    lifetime = timedelta(hours=settings.session_max_hours)
    secret = await sessions.create(
        pool,
        sub=sub,
        name=name,
        via=via,
        claims=claims,
        id_token=id_token,
        lifetime=lifetime,
        max_per_person=settings.session_max_per_person,
    )
    await people.log(pool, sub, sub, AccessAction.sign_in, {"via": via, "ip": client_ip(request), **detail})
    browser_cookie(response, request, SESSION_COOKIE, secret, max_age=int(lifetime.total_seconds()), path="/")


async def close_session(request: Request) -> dict[str, Any] | None:
    """End this browser's session (logged); returns what it held, or None if it had none."""
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    ended = await sessions.delete(request.app.state.pool, secret)
    if ended is not None:
        await people.log(
            request.app.state.pool,
            ended["sub"],
            ended["sub"],
            AccessAction.sign_out,
            {"via": ended["via"], "ip": client_ip(request)},
        )
    return ended


async def sign_out(request: Request) -> Response:
    """End the session here, then at the provider when the session came from it."""
    form = await read_form(request)
    try:
        check_csrf(request, form)
    except CsrfError as err:
        return notice(request, "Refused", [str(err)], status=403)
    ended = await close_session(request)
    settings: Settings = request.app.state.settings
    target = "/ui/signed-out" if settings.env == "production" or oidc_of(request) else "/ui/login"
    client = oidc_of(request)
    if ended is not None and ended["via"] == "oidc" and client is not None:
        url = await client.logout_url(post_logout_redirect_uri=post_logout_uri(request), id_token=ended.get("id_token"))
        target = url or target
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def post_logout_uri(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.oidc_post_logout_redirect_uri or str(request.url_for("signed_out"))


def callback_uri(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return settings.oidc_redirect_uri or str(request.url_for("oidc_callback"))
