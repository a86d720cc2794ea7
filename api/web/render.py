"""Template rendering with the page chrome: viewer, CSRF token, flash, CSP nonce."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from api.auth import Principal
from api.web import present
from api.web.session import CSRF_FIELD, FLASH_COOKIE, csrf_token, take_flash
from ilea.domain import Academy, Agency, Stage, Topic

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
env = templates.env
env.filters["when"] = present.when
env.filters["party"] = present.party_label
env.filters["stage"] = lambda s: present.STAGE_LABELS.get(str(s), str(s))
env.filters["task"] = lambda k: present.TASK_LABELS.get(str(k), str(k))
env.filters["academy"] = present.academy_label
env.filters["topic"] = lambda t: str(t).replace("_", " ")
env.filters["vote"] = lambda v: present.VOTE_LABELS.get(str(v), str(v))
env.filters["event"] = present.describe_event
env.globals["is_overdue"] = present.is_overdue
env.globals["STAGES"] = [s.value for s in Stage]
env.globals["ACADEMIES"] = [a.value for a in Academy]
env.globals["TOPICS"] = [t.value for t in Topic]
env.globals["AGENCIES"] = [a.value for a in Agency]
env.globals["INSTRUCTOR_AGENCIES"] = ["TREASURY", "DHS", "DOJ"]
env.globals["CSRF_FIELD"] = CSRF_FIELD
env.globals["new_form_id"] = lambda: str(uuid.uuid4())


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
        **context,
    }
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/ui")
    return response


def fragment(name: str, context: dict[str, Any]) -> str:
    """A partial template rendered to a string (for the live-update endpoints)."""
    return env.get_template(name).render(**context)


def to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/ui/login?next={request.url.path}", status_code=303)


def safe_next(value: str | None, default: str) -> str:
    """Only redirect within the UI (no open redirect)."""
    if value and value.startswith("/ui/") and "//" not in value and "\\" not in value:
        return value
    return default


def message(request: Request, title: str, text: str, *, user: Principal | None = None, status: int) -> HTMLResponse:
    """A page with one sentence: a refusal, a missing proposal, a role the page is not for."""
    return render(request, "message.html", {"title": title, "message": text}, user=user, status=status)
