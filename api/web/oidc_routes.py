"""The OpenID Connect routes of web sign-in: to the provider and back, and signing out there.

``/ui/auth/login`` sends the browser to the provider with a fresh state, nonce and PKCE
challenge (kept in ``oidc_logins``, bound to this browser by the ``ilea_login`` cookie);
``/ui/auth/callback`` checks them, redeems the code and verifies the ID token (``api.oidc``),
then opens a session (:mod:`api.web.signin`) if ILEA grants the person a role.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.auth import AuthError, NoGrant, resolve
from api.oidc import Identity, ProviderUnavailable, SignInRefused
from api.web.render import safe_next
from api.web.signin import (
    DEFAULT_NEXT,
    LOGIN_COOKIE,
    browser_cookie,
    callback_uri,
    client_ip,
    no_access,
    notice,
    oidc_of,
    open_session,
    post_logout_uri,
)
from ilea.db import people, sessions
from ilea.db.people import AccessAction
from ilea.settings import Settings

router = APIRouter(include_in_schema=False)
log = logging.getLogger("ilea.api.signin")


# --- OpenID Connect -------------------------------------------------------------------------------


def _unavailable(request: Request, err: Exception) -> Response:
    log.warning("identity provider unavailable: %s", err)
    return notice(
        request,
        "Sign-in is not available right now",
        ["ILEA could not reach your agency's identity provider. Try again in a few minutes."],
        actions=[{"href": "/ui/auth/login", "label": "Try again"}],
        status=503,
    )


@router.get("/ui/auth/login", response_model=None)
async def oidc_login(request: Request, next: str | None = None) -> Response:
    """Send the browser to the identity provider."""
    client = oidc_of(request)
    if client is None:
        return notice(request, "Sign in", ["Single sign-on is not configured on this server."], status=404)
    try:
        begun = await client.begin(callback_uri(request))
    except ProviderUnavailable as err:
        return _unavailable(request, err)
    browser = request.cookies.get(LOGIN_COOKIE) or sessions.new_secret()
    await sessions.begin_login(
        request.app.state.pool,
        state=begun.state,
        browser=browser,
        nonce=begun.nonce,
        code_verifier=begun.code_verifier,
        redirect_uri=callback_uri(request),
        next_path=safe_next(next.replace("\x00", "") if next else None, DEFAULT_NEXT),
    )
    response = RedirectResponse(begun.url, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    browser_cookie(
        response, request, LOGIN_COOKIE, browser, max_age=int(sessions.LOGIN_TTL.total_seconds()), path="/ui/auth"
    )
    return response


async def _refuse(request: Request, refusal: SignInRefused, *, status: int = 400) -> Response:
    """A refused sign-in: logged, and a page saying what to do."""
    detail = {"reason": refusal.reason, "ip": client_ip(request), **refusal.detail}
    await people.log(
        request.app.state.pool, refusal.sub or "anonymous", refusal.sub, AccessAction.sign_in_refused, detail
    )
    response = notice(
        request,
        "You are not signed in",
        [refusal.message, "Start again from the sign-in page; if it happens again, tell your access administrator."],
        actions=[{"href": "/ui/auth/login", "label": "Sign in"}],
        status=status,
    )
    return response


@router.get("/ui/auth/callback", response_model=None, name="oidc_callback")
async def oidc_callback(
    request: Request,
    state: str | None = None,
    code: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> Response:
    """The provider sends the browser back here with a code (or an error)."""
    client = oidc_of(request)
    if client is None:
        return notice(request, "Sign in", ["Single sign-on is not configured on this server."], status=404)
    pool = request.app.state.pool
    state = state.replace("\x00", "") if state else None  # no state has one; PostgreSQL stores none
    login = await sessions.take_login(pool, state) if state else None
    try:
        if error:
            raise SignInRefused(
                "provider_error",
                "Your identity provider did not sign you in.",
                detail={"error": error[:200], "description": (error_description or "")[:500]},
            )
        if login is None:
            raise SignInRefused("unknown_state", "This sign-in link is unknown or was used already.")
        browser = request.cookies.get(LOGIN_COOKIE)
        if not browser or sessions.digest(browser) != login["browser_hash"]:
            raise SignInRefused("other_browser", "This sign-in was started in another browser.")
        if login["expired"]:
            raise SignInRefused("login_expired", "This sign-in took too long.")
        if not code:
            raise SignInRefused("no_code", "The identity provider sent no authorization code.")
        identity = await client.finish(
            code=code, redirect_uri=login["redirect_uri"], code_verifier=login["code_verifier"], nonce=login["nonce"]
        )
        return await _signed_in(request, identity, login["next_path"])
    except SignInRefused as refusal:
        response = await _refuse(request, refusal)
    except ProviderUnavailable as err:
        response = _unavailable(request, err)
    response.delete_cookie(LOGIN_COOKIE, path="/ui/auth")
    return response


async def _signed_in(request: Request, identity: Identity, next_path: str) -> Response:
    settings: Settings = request.app.state.settings
    claims: dict[str, Any] = {k: identity.claims[k] for k in ("sub", "name", "agency", "roles") if k in identity.claims}
    claims.setdefault("name", identity.name)
    try:
        await resolve(settings, claims, request.app.state.grants, name=identity.name)
    except NoGrant:
        detail = {"reason": "no_grant", "ip": client_ip(request), "email": identity.email}
        await people.log(request.app.state.pool, identity.sub, identity.sub, AccessAction.sign_in_refused, detail)
        response = no_access(request, identity.sub, identity.name, identity.email, signed_in=False)
        response.delete_cookie(LOGIN_COOKIE, path="/ui/auth")
        return response
    except AuthError as err:
        raise SignInRefused("identity_refused", str(err), sub=None, detail={"sub": repr(identity.sub[:200])}) from None
    trusted = settings.roles_from_claims and bool(identity.claims.get("roles"))
    response = RedirectResponse(next_path, status_code=303)
    await open_session(
        response,
        request,
        sub=identity.sub,
        name=identity.name,
        via="oidc",
        claims={"agency": claims.get("agency"), "roles": claims.get("roles")} if trusted else None,
        # kept only to be sent back as id_token_hint at sign-out
        id_token=identity.id_token if settings.oidc_logout_id_token_hint else None,
        detail={"issuer": settings.oidc_issuer, "roles_from": "claims" if trusted else "grant"},
    )
    response.delete_cookie(LOGIN_COOKIE, path="/ui/auth")
    return response


@router.get("/ui/auth/provider-logout", response_model=None)
async def provider_logout(request: Request) -> Response:
    """Sign out at the provider only (for a person ILEA did not let in)."""
    client = oidc_of(request)
    url = await client.logout_url(post_logout_redirect_uri=post_logout_uri(request), id_token=None) if client else None
    return RedirectResponse(url or "/ui/signed-out", status_code=303)


@router.get("/ui/signed-out", response_model=None, name="signed_out")
async def signed_out(request: Request) -> Response:
    return notice(
        request,
        "You are signed out",
        ["Your ILEA session has ended. Close the browser if this is a shared computer."],
        actions=[{"href": "/ui/login", "label": "Sign in again"}],
        status=200,
    )
