"""The HTML pages: login (development), board, proposal, inbox, reports; form actions in ``forms``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from api.auth import Principal
from api.deps import Db
from api.routes.tasks import parties_of
from api.web import forms, people, present, proposal_form
from api.web.render import fragment, message, render, safe_next, to_login
from api.web.session import (
    SESSION_COOKIE,
    CsrfError,
    check_csrf,
    check_origin,
    csrf_token,
    read_form,
    set_session,
    viewer,
)
from ilea.db import audit, proposals, roster
from ilea.demo import DEMO_USERS
from ilea.domain import Academy, Agency, Role, Stage, Topic
from ilea.tokens import issue_token

router = APIRouter(include_in_schema=False)
router.include_router(forms.router)
router.include_router(proposal_form.router)
router.include_router(people.router)

BOARD_LIMIT = 200
STATIC_DIR = Path(__file__).parent / "static"


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui/board", status_code=307)


@router.get("/ui")
async def ui_root() -> RedirectResponse:
    return RedirectResponse("/ui/board", status_code=307)


# --- session --------------------------------------------------------------------------


@router.get("/ui/login", response_model=None)
async def login_page(request: Request, next: str | None = None) -> Response:
    if request.app.state.settings.env == "production":
        return message(request, "Sign in", _SSO_ONLY, status=404)
    users = [{"sub": s, "name": n, "agency": a.value, "roles": [r.value for r in rs]} for s, n, a, rs in DEMO_USERS]
    return render(request, "login.html", {"users": users, "next": safe_next(next, "/ui/board")}, user=viewer(request))


_SSO_ONLY = "Demo sign-in exists only in development; use your agency's single sign-on."


@router.post("/ui/login", response_model=None)
async def login(request: Request) -> Response:
    settings = request.app.state.settings
    if settings.env == "production":
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
    token = issue_token(settings, sub=sub, agency=agency, roles=roles, name=name)
    response = RedirectResponse(safe_next(form.get("next"), "/ui/board"), status_code=303)
    set_session(response, request, token, max_age=settings.token_ttl_hours * 3600)
    return response


@router.get("/ui/logout", response_model=None)
async def logout_page(request: Request) -> Response:
    user = viewer(request)
    if user is None:
        return RedirectResponse("/ui/login", status_code=303)
    return render(request, "logout.html", {}, user=user)


@router.post("/ui/logout", response_model=None)
async def logout(request: Request) -> Response:
    form = await read_form(request)
    try:
        check_csrf(request, form)
    except CsrfError as err:
        return message(request, "Refused", str(err), status=403)
    response = RedirectResponse("/ui/login" if request.app.state.settings.env != "production" else "/", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- board --------------------------------------------------------------------------------


def _enum(value: str | None, kind: Any) -> str | None:
    if not value:
        return None
    try:
        return str(kind(value).value)
    except ValueError:
        return None


def _board_filter(request: Request) -> proposals.ListFilter:
    qp = request.query_params
    pending = qp.get("pending_on") or None
    return proposals.ListFilter(
        stage=_enum(qp.get("stage"), Stage),
        academy=_enum(qp.get("academy"), Academy),
        topic=_enum(qp.get("topic"), Topic),
        pending_on=pending if pending in {a.value for a in Agency} else None,
        q=(qp.get("q") or "").strip()[:200] or None,
    )


def _board_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    out = []
    for r in rows:
        pending = [{**p, "late": present.is_overdue(p.get("due"), now)} for p in (r.get("pending_on") or [])]
        out.append({**r, "pending": pending, "late": bool(r.get("overdue")) or any(p["late"] for p in pending)})
    return out


async def _board_data(request: Request, db: Db) -> dict[str, Any]:
    flt = _board_filter(request)
    cursor = request.query_params.get("cursor") or None
    try:
        rows, next_cursor = await proposals.list_summaries(db, flt, BOARD_LIMIT, cursor)
    except ValueError:
        rows, next_cursor = await proposals.list_summaries(db, flt, BOARD_LIMIT, None)
    counts = await proposals.counts_by_stage(db)
    return {
        "rows": _board_rows(rows),
        "next_cursor": next_cursor,
        "flt": flt,
        "counts": [(s.value, counts.get(s.value, 0)) for s in Stage],
        "total": sum(counts.values()),
    }


@router.get("/ui/board", response_model=None)
async def board(request: Request, db: Db) -> Response:
    user = viewer(request)
    if user is None:
        return to_login(request)
    data = await _board_data(request, db)
    query = request.url.query
    return render(request, "board.html", {**data, "query": query}, user=user)


@router.get("/ui/board/rows", response_model=None)
async def board_rows(request: Request, db: Db) -> Response:
    """The board's table body and counts as JSON, polled by the page's script."""
    if viewer(request) is None:
        return JSONResponse({"detail": "sign in again"}, status_code=401)
    data = await _board_data(request, db)
    return JSONResponse(
        {"html": fragment("_board_rows.html", data), "counts": dict(data["counts"]), "total": data["total"]},
        headers={"Cache-Control": "no-store"},
    )


# --- one proposal -----------------------------------------------------------------------------


@router.get("/ui/proposals/{proposal_id}", response_model=None)
async def proposal_page(request: Request, proposal_id: str, db: Db) -> Response:
    user = viewer(request)
    if user is None:
        return to_login(request)
    doc = await proposals.get(db, proposal_id)
    if doc is None:
        return message(request, "Not found", "No such proposal.", user=user, status=404)
    events = await audit.fetch(db, proposal_id)
    now = datetime.now(UTC)
    free: dict[str, list[dict[str, Any]]] = {}
    if user.has(Role.agency_coordinator):
        for r in doc.get("instructor_requests", []):
            if r["status"] == "open" and r["agency"] == user.agency:
                free[r["id"]] = await _free_instructors(db, user.agency.value, r["expertise"], doc)
    return render(
        request,
        "proposal.html",
        {
            "p": doc,
            "events": events,
            "pending": [{**p, "late": present.is_overdue(p.get("due"), now)} for p in doc.get("pending_on", [])],
            "free": free,
            "can": _abilities(user, doc),
        },
        user=user,
    )


def _abilities(user: Principal, doc: dict[str, Any]) -> dict[str, bool]:
    """Which forms to offer; the workflow still decides (a refusal is shown with its reason)."""
    stage = doc["stage"]
    live = stage not in {"delivered", "rejected", "withdrawn", "expired", "cancelled"}
    own = doc.get("submitted_by") == user.sub
    return {
        "vote": user.has(Role.isg_member) and stage == "isg_review" and not own,
        "position": user.has(Role.board_member) and stage == "board_review" and not own,
        "decide": user.has(Role.board_chair) and stage == "board_review" and not own,
        "withdraw": user.has(Role.program_officer) and live,
        "cutoff": user.has(Role.program_officer) and stage in {"staffing", "staffing_at_risk"},
        "revise": user.has(Role.program_officer) and stage == "changes_requested",
        "retarget": user.has(Role.program_officer),
        "answer": user.has(Role.agency_coordinator),
    }


async def _free_instructors(db: Db, agency: str, expertise: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Active instructors of the agency with the expertise and no booking over the course's dates."""
    start, end = date.fromisoformat(doc["start_date"]), date.fromisoformat(doc["end_date"])
    rows = await roster.list_instructors(db, agency=agency, expertise=expertise, free_from=start, free_to=end)
    return [r for r in rows if r["active"]]


# --- inbox -------------------------------------------------------------------------------------


async def _inbox_data(user: Principal, db: Db) -> dict[str, Any]:
    rows = await proposals.tasks_for(db, parties_of(user), exclude_reviews_by=user.sub)
    now = datetime.now(UTC)
    docs: dict[str, dict[str, Any] | None] = {}
    items = []
    for t in rows:
        item: dict[str, Any] = {**t, "late": present.is_overdue(t.get("due"), now), "request": None, "free": []}
        if t["request_id"]:
            req = await roster.get_request(db, t["request_id"])
            item["request"] = req["doc"] if req else None
            if req and t["kind"] == "instructor_request" and user.has(Role.agency_coordinator):
                if t["proposal_id"] not in docs:
                    docs[t["proposal_id"]] = await proposals.get(db, t["proposal_id"])
                doc = docs[t["proposal_id"]]
                if doc:
                    item["free"] = await _free_instructors(db, req["agency"], req["doc"]["expertise"], doc)
                    item["dates"] = (doc["start_date"], doc["end_date"])
        items.append(item)
    return {"items": items, "parties": parties_of(user)}


@router.get("/ui/inbox", response_model=None)
async def inbox(request: Request, db: Db) -> Response:
    user = viewer(request)
    if user is None:
        return to_login(request)
    return render(request, "inbox.html", await _inbox_data(user, db), user=user)


@router.get("/ui/inbox/rows", response_model=None)
async def inbox_rows(request: Request, db: Db) -> Response:
    user = viewer(request)
    if user is None:
        return JSONResponse({"detail": "sign in again"}, status_code=401)
    data = await _inbox_data(user, db)
    html = fragment("_inbox_rows.html", {**data, "user": user, "csrf": csrf_token(request)})
    return JSONResponse({"html": html, "count": len(data["items"])}, headers={"Cache-Control": "no-store"})


# --- reports ----------------------------------------------------------------------------------


@router.get("/ui/reports", response_model=None)
async def reports(request: Request, db: Db) -> Response:
    user = viewer(request)
    if user is None:
        return to_login(request)
    if not user.has(Role.program_officer, Role.auditor):
        msg = "Reports are for program officers and auditors."
        return message(request, "Reports", msg, user=user, status=403)
    rows = await proposals.cycle_times(db)
    overall = [r for r in rows if r["academy"] is None and r["topic"] is None]
    order = {s.value: i for i, s in enumerate(Stage)}
    overall.sort(key=lambda r: order.get(r["stage"], 99))
    bars = [
        present.Bar(present.STAGE_LABELS.get(r["stage"], r["stage"]), r["median_days"], r["p90_days"], r["n"])
        for r in overall
    ]
    counts = await proposals.counts_by_stage(db)
    return render(
        request,
        "reports.html",
        {
            "chart": present.bar_chart(bars),
            "overall": overall,
            "by_academy": [r for r in rows if r["academy"] is not None],
            "by_topic": [r for r in rows if r["topic"] is not None],
            "counts": [(s.value, counts.get(s.value, 0)) for s in Stage],
            "total": sum(counts.values()),
            "as_of": datetime.now(UTC),
        },
        user=user,
    )
