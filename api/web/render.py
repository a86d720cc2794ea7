"""Template rendering with the page chrome: viewer, CSRF token, flash, CSP nonce."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context

from api.auth import Principal
from api.web import present, times
from api.web.session import CSRF_FIELD, FLASH_COOKIE, csrf_token, take_flash
from ilea.domain import INSTRUCTOR_AGENCIES, Academy, Agency, Stage, Topic
from workflows.rules import EASTERN

HERE = Path(__file__).parent
TZ_COOKIE = "ilea_tz"
templates = Jinja2Templates(directory=HERE / "templates")
env = templates.env


def _tz(ctx: Context) -> ZoneInfo:
    tz: ZoneInfo = ctx.get("tz") or EASTERN
    return tz


@pass_context
def _when(ctx: Context, value: Any) -> str:
    return times.when(value, _tz(ctx))


@pass_context
def _deadline(ctx: Context, value: Any) -> times.Deadline | None:
    return times.deadline(value, ctx.get("now") or datetime.now(UTC), _tz(ctx))


env.filters["when"] = _when
env.filters["deadline"] = _deadline
env.filters["day"] = lambda d: times.day_text(d) if (d := times.as_date(d)) else ""
env.filters["party"] = present.party_label
env.filters["stage"] = lambda s: present.STAGE_LABELS.get(str(s), str(s))
env.filters["task"] = lambda k: present.TASK_LABELS.get(str(k), str(k))
env.filters["academy"] = present.academy_label
env.filters["topic"] = present.topic_label
env.filters["vote"] = lambda v: present.VOTE_LABELS.get(str(v), str(v))
env.filters["usd"] = present.usd
env.globals["is_overdue"] = present.is_overdue
env.globals["STAGES"] = [s.value for s in Stage]
env.globals["ACADEMIES"] = [a.value for a in Academy]
env.globals["TOPICS"] = [t.value for t in Topic]
env.globals["AGENCIES"] = [a.value for a in Agency]
env.globals["INSTRUCTOR_AGENCIES"] = [a.value for a in INSTRUCTOR_AGENCIES]
env.globals["CSRF_FIELD"] = CSRF_FIELD
env.globals["ZONES"] = times.ZONES
env.globals["field_label"] = present.field_label
env.globals["new_form_id"] = lambda: str(uuid.uuid4())


def viewer_zone(request: Request) -> ZoneInfo:
    """The person's chosen zone (a cookie set on the notifications page), US Eastern by default."""
    return times.zone(request.cookies.get(TZ_COOKIE))


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    user: Principal | None = None,
    status: int = 200,
) -> HTMLResponse:
    """A page with security headers; the flash message, if any, is shown once."""
    nonce = secrets.token_urlsafe(16)
    flash = take_flash(request)
    settings = request.app.state.settings
    ctx = {
        "user": user,
        "csrf": csrf_token(request) if user else "",
        "flash": flash,
        "nonce": nonce,
        "dev": settings.env != "production",
        "path": request.url.path,
        "tz": (tz := viewer_zone(request)),
        "tz_label": times.zone_label(tz) or tz.key,
        "now": datetime.now(UTC),
        "live_interval_ms": getattr(request.app.state, "live_interval_ms", 5000),
        **context,
    }
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:;"
        f" connect-src 'self'; form-action 'self'{_sign_out_origin(request)}; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/ui")
    return response


def _sign_out_origin(request: Request) -> str:
    """The identity provider, where the sign-out form's redirect ends (CSP applies form-action to it)."""
    oidc = getattr(request.app.state, "oidc", None)
    origin = getattr(oidc, "origin", "")
    return f" {origin}" if origin else ""


def fragment(request: Request, name: str, context: dict[str, Any]) -> str:
    """A partial template rendered to a string (for the live-update endpoints)."""
    ctx = {"tz": viewer_zone(request), "now": datetime.now(UTC), "csrf": csrf_token(request), **context}
    return env.get_template(name).render(**ctx)


def to_login(request: Request) -> RedirectResponse:
    """To the sign-in page, and back to this page afterwards (a form's action is no page: the inbox then)."""
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        back = "/ui/inbox"
    return RedirectResponse(f"/ui/login?next={quote(back, safe='/')}", status_code=303)


def safe_next(value: str | None, default: str) -> str:
    """Only redirect within the UI (no open redirect)."""
    if value and value.startswith("/ui/") and "//" not in value and "\\" not in value:
        return value
    return default


def message(request: Request, title: str, text: str, *, user: Principal | None = None, status: int) -> HTMLResponse:
    """A page with one sentence: a refusal, a missing proposal, a role the page is not for."""
    ctx = {"title": title, "message": text, "status_code": status}
    return render(request, "message.html", ctx, user=user, status=status)
