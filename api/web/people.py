"""The instructor roster (kept by each agency's coordinators) and a person's stored notifications."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.auth import Principal
from api.deps import Db, SettingsDep
from api.errors import NotFound
from api.routes.notifications import mark_read_by
from api.routes.tasks import parties_of
from api.schemas import InstructorBody
from api.web import present
from api.web.deps import Coordinator, Posted, Viewer
from api.web.forms import Refill
from api.web.render import message, render, safe_next, viewer_zone
from api.web.session import flash
from ilea.db import notifications as notifications_db
from ilea.db import roster
from ilea.domain import COMPONENTS, INSTRUCTOR_AGENCIES, Role, Topic

router = APIRouter(include_in_schema=False)

NOTIFICATIONS_LIMIT = 200


# --- roster ------------------------------------------------------------------------------------


def _editor(user: Principal) -> bool:
    """Coordinators of an agency that provides instructors keep that agency's roster."""
    return user.has(Role.agency_coordinator) and user.agency in INSTRUCTOR_AGENCIES


async def _roster_page(request: Request, db: Db, user: Principal, refill: Refill | None = None) -> Response:
    """The roster, fresh or with a refused instructor form as it was entered."""
    editor = _editor(user)
    agency = user.agency.value if editor else None
    rows = await roster.list_instructors(db, agency=agency, expertise=None)
    return render(
        request,
        "roster.html",
        {
            "rows": rows,
            "editor": editor,
            "agency": agency,
            "components": list(COMPONENTS[user.agency]) if editor else [],
            "topics": [t.value for t in Topic],
            "values": refill.values if refill else {"expertise": []},
            "errors": refill.errors if refill else {},
        },
        user=user,
        status=refill.status if refill else 200,
    )


@router.get("/ui/roster", response_model=None)
async def roster_page(request: Request, db: Db, user: Viewer) -> Response:
    return await _roster_page(request, db, user)


def _field_errors(err: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in err.errors():
        key = str(e["loc"][0]) if e["loc"] else "form"
        out.setdefault(key, e["msg"])
    return out


@router.post("/ui/roster", response_model=None)
async def add_instructor(request: Request, db: Db, user: Coordinator, form: Posted) -> Response:
    if not _editor(user):
        return message(request, "Roster", "Only an agency's coordinators add to its roster.", user=user, status=403)
    expertise = form.getlist("expertise")  # checkboxes repeat their name
    languages = [x.strip() for x in (form.get("languages") or "").replace(";", ",").split(",") if x.strip()]
    values = {
        "name": form.get("name", ""),
        "component": form.get("component", ""),
        "expertise": expertise,
        "languages": form.get("languages", ""),
    }
    try:
        body = InstructorBody(
            name=form.get("name", ""), component=form.get("component", ""), expertise=expertise, languages=languages
        )
    except ValidationError as err:
        return await _roster_page(request, db, user, Refill(values, _field_errors(err)))
    if body.component not in COMPONENTS[user.agency]:
        errors = {"component": f"choose one of {', '.join(COMPONENTS[user.agency])}"}
        return await _roster_page(request, db, user, Refill(values, errors))
    added = await roster.create_instructor(
        db,
        name=body.name,
        agency=user.agency.value,
        component=body.component,
        expertise=sorted({t.value for t in body.expertise}),
        languages=body.languages,
    )
    response = RedirectResponse("/ui/roster", status_code=303)
    flash(response, request, "ok", f"{added['name']} is on the {user.agency} roster.")
    return response


@router.post("/ui/roster/{instructor_id}/active", response_model=None)
async def set_active(request: Request, instructor_id: str, db: Db, user: Viewer, form: Posted) -> Response:
    response = RedirectResponse("/ui/roster", status_code=303)
    current = await roster.get_instructor(db, instructor_id)
    if not _editor(user):
        flash(response, request, "error", "Refused: only an agency's coordinators change its roster.")
    elif current is None:
        flash(response, request, "error", "Refused: no such instructor.")
    elif current["agency"] != user.agency:
        flash(response, request, "error", f"Refused: {current['name']} is on the {current['agency']} roster.")
    else:
        active = form.get("active") == "true"
        await roster.set_active(db, instructor_id, active)
        state = "active again" if active else "deactivated: no new requests will offer them"
        flash(response, request, "ok", f"{current['name']} is {state}.")
    return response


# --- notifications -----------------------------------------------------------------------------


def _unread_only(request: Request) -> bool:
    return request.query_params.get("unread") in ("1", "true")


def _notifications_url(unread: bool) -> str:
    return "/ui/notifications?unread=1" if unread else "/ui/notifications"


@router.get("/ui/notifications", response_model=None)
async def notifications(request: Request, db: Db, user: Viewer, settings: SettingsDep) -> Response:
    parties = parties_of(user)
    unread = _unread_only(request)
    rows = await notifications_db.for_reader(
        db, user.sub, parties, unread=True if unread else None, limit=NOTIFICATIONS_LIMIT
    )
    tz = viewer_zone(request)
    items = []
    for r in rows:
        n = dict(r)
        n["subject"] = present.in_words(n["subject"])
        n["kind_words"] = present.NOTICE_KINDS.get(n["kind"], present.in_words(n["kind"]))
        n["delivery"] = present.delivery(n, email_on=bool(settings.smtp_host), tz=tz)
        items.append(n)
    ctx = {"rows": items, "parties": parties, "limit": NOTIFICATIONS_LIMIT, "unread_only": unread}
    ctx["back"] = _notifications_url(unread)
    return render(request, "notifications.html", ctx, user=user)


@router.post("/ui/notifications/{notification_id}/read", response_model=None)
async def mark_read(request: Request, notification_id: int, db: Db, user: Viewer, form: Posted) -> Response:
    """One notification read, for this person only; another party's is refused and nothing changes."""
    response = RedirectResponse(safe_next(form.get("next"), "/ui/notifications"), status_code=303)
    row = await notifications_db.get_for_reader(db, notification_id, user.sub)
    try:
        if row is None:
            raise NotFound("notification", str(notification_id))
        await mark_read_by(db, user, row)
    except NotFound:  # another party's is told as a missing one is (mark_read_by says why)
        flash(response, request, "error", "Refused: you have no notification with that number; nothing changed.")
        return response
    flash(response, request, "ok", f"“{present.in_words(row['subject'])}” is marked read.")
    return response


@router.post("/ui/notifications/read-all", response_model=None)
async def mark_all_read(request: Request, db: Db, user: Viewer, form: Posted) -> Response:
    """Every unread notification the page lists for this person, read (each as one ``mark read``)."""
    rows = await notifications_db.for_reader(db, user.sub, parties_of(user), unread=True, limit=NOTIFICATIONS_LIMIT)
    for row in rows:
        await mark_read_by(db, user, row)
    response = RedirectResponse(safe_next(form.get("next"), "/ui/notifications"), status_code=303)
    count = len(rows)
    said = f"{count} notification{'s are' if count != 1 else ' is'} marked read." if count else "Nothing was unread."
    flash(response, request, "ok", said)
    return response
