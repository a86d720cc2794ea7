"""The HTML pages, put together: sign-in (development), and every page module's router.

Board and "My proposals" in ``board``, tasks in ``inbox``, one proposal in ``proposal_page``,
decision pages in ``decide`` and ``staffing``, the proposal form in ``proposal_form``, roster
and notifications in ``people``, reports in ``reports``; OpenID Connect sign-in in ``signin``,
people and grants in ``access``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.web import (
    access,
    board,
    decide,
    deps,
    inbox,
    oidc_routes,
    people,
    proposal_form,
    proposal_page,
    reports,
    signin,
    staffing,
)
from api.web.deps import MaybeViewer, Posted, Viewer
from api.web.render import TZ_COOKIE, message, render, safe_next
from api.web.session import CsrfError, check_origin, flash, is_https, read_form
from api.web.times import ZONES
from ilea.demo import DEMO_USERS

router = APIRouter(include_in_schema=False)
for module in (
    board,
    inbox,
    proposal_page,
    decide,
    staffing,
    proposal_form,
    people,
    reports,
    signin,
    oidc_routes,
    access,
):
    router.include_router(module.router)

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """The pages, their static files, and the pages' answers to strangers and refusals."""
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    deps.install(app)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui/board", status_code=307)


@router.get("/ui")
async def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/board", status_code=307)


# --- session --------------------------------------------------------------------------


@router.get("/ui/login", response_model=None)
async def login_page(request: Request, user: MaybeViewer, next: str | None = None) -> Response:
    if signin.oidc_of(request) is not None:  # single sign-on configured: the provider's page, never the demo one
        return RedirectResponse(f"/ui/auth/login?next={safe_next(next, signin.DEFAULT_NEXT)}", status_code=303)
    if request.app.state.settings.env == "production":
        return message(request, "Sign in", _SSO_ONLY, status=404)
    users = [{"sub": s, "name": n, "agency": a.value, "roles": [r.value for r in rs]} for s, n, a, rs in DEMO_USERS]
    return render(request, "login.html", {"users": users, "next": safe_next(next, "/ui/board")}, user=user)


_SSO_ONLY = "Demo sign-in exists only in development; use your agency's single sign-on."


@router.post("/ui/login", response_model=None)
async def login(request: Request) -> Response:
    settings = request.app.state.settings
    if settings.env == "production" or signin.oidc_of(request) is not None:
        return message(request, "Sign in", _SSO_ONLY, status=404)
    try:
        check_origin(request)  # no session exists yet, so the Origin check is the CSRF defence here
    except CsrfError as err:
        return message(request, "Refused", str(err), status=403)
    form = await read_form(request)
    match = next((u for u in DEMO_USERS if u.sub == form.get("sub")), None)
    if match is None:
        return message(request, "Sign in", "Choose one of the listed users.", status=400)
    sub, name, agency, roles = match
    response = RedirectResponse(safe_next(form.get("next"), "/ui/board"), status_code=303)
    claims = {"agency": agency.value, "roles": [r.value for r in roles]}  # resolved as a token's claims are
    await signin.open_session(
        response, request, sub=sub, name=name, via="development", claims=claims, id_token=None, detail={}
    )
    return response


@router.get("/ui/logout", response_model=None)
async def logout_page(request: Request, user: Viewer) -> Response:
    return render(request, "logout.html", {}, user=user)


@router.post("/ui/logout", response_model=None)
async def logout(request: Request) -> Response:
    return await signin.sign_out(request)


@router.post("/ui/settings/zone", response_model=None)
async def choose_zone(request: Request, user: Viewer, form: Posted) -> Response:
    """A person's time zone for the pages (US Eastern unless they choose another); a year-long cookie."""
    zone = form.get("zone", "")
    response = RedirectResponse(safe_next(form.get("next"), "/ui/board"), status_code=303)
    if zone in ZONES:
        response.set_cookie(
            TZ_COOKIE, zone, max_age=365 * 86400, httponly=True, samesite="lax", secure=is_https(request)
        )
        flash(response, request, "ok", f"Times are now shown in {ZONES[zone]}.")
    return response
