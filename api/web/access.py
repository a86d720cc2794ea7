"""The access administrator's page: people, their grants, and the access log.

An ``access_admin`` grants and revokes here; an ``auditor`` reads. Both actions go through the
same checks as ``PUT /v1/people/{sub}`` and ``DELETE /v1/people/{sub}/roles/{role}``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.auth import Principal
from api.deps import Db
from api.errors import Problem
from api.routes.people import PersonBody, check_access_log, client_ip, grant_person, revoke_person_role
from api.web.deps import Posted, ViewerWith
from api.web.forms import Refill
from api.web.render import render
from api.web.session import flash
from ilea.db import people
from ilea.domain import ROLE_AGENCIES, Agency, Role

router = APIRouter(include_in_schema=False)

LOG_SHOWN = 100


def _enum(kind: Any, value: str | None) -> Any:
    try:
        return kind(value) if value else None
    except ValueError:
        return None


async def _page(request: Request, db: Db, user: Principal, refill: Refill | None = None) -> Response:
    """The access page, fresh or with a refused grant form as it was entered."""
    query = request.query_params
    agency, role, text = _enum(Agency, query.get("agency")), _enum(Role, query.get("role")), query.get("q") or None
    found = await people.search(db, agency=agency, role=role, q=text[:200].replace("\x00", "") if text else None)
    editing = refill.values if refill else None
    if editing is None and query.get("edit"):
        editing = await people.get(db, query["edit"])
    log = await people.latest_events(db, LOG_SHOWN)
    chain = None
    if query.get("verify"):  # the whole log is read for this (a page at a time), so only when asked
        chain = await check_access_log(db, request.app.state.temporal, request.app.state.settings)
    return render(
        request,
        "access.html",
        {
            "people": found,
            "filters": {"agency": agency.value if agency else "", "role": role.value if role else "", "q": text or ""},
            "editor": user.has(Role.access_admin),
            "values": editing or {"roles": [], "active": True},
            "errors": refill.errors if refill else {},
            "roles": [{"value": r.value, "agencies": sorted(a.value for a in ROLE_AGENCIES[r])} for r in Role],
            "log": log,
            "chain": chain,
        },
        user=user,
        status=refill.status if refill else 200,
    )


AccessReader = Annotated[Principal, ViewerWith(Role.access_admin, Role.auditor, title="People and access")]
AccessAdmin = Annotated[Principal, ViewerWith(Role.access_admin, title="People and access")]


@router.get("/ui/access", response_model=None)
async def access_page(request: Request, db: Db, user: AccessReader) -> Response:
    return await _page(request, db, user)


def _back(request: Request, kind: str, text: str, **query: str) -> RedirectResponse:
    response = RedirectResponse("/ui/access" + (f"?{urlencode(query)}" if query else ""), status_code=303)
    flash(response, request, kind, text)
    return response


@router.post("/ui/access/grant", response_model=None)
async def grant(request: Request, db: Db, user: AccessAdmin, form: Posted) -> Response:
    roles = form.getlist("roles")
    sub = (form.get("sub") or "").strip()
    values = {**form, "sub": sub, "roles": roles, "active": form.get("active") == "true"}
    try:
        body = PersonBody.model_validate(
            {k: values[k] for k in ("name", "email", "agency", "roles", "active") if k in values}
        )
    except ValidationError as err:
        errors = {str(e["loc"][0]): e["msg"] for e in reversed(err.errors()) if e["loc"]}
        return await _page(request, db, user, Refill(values, errors))
    try:
        person = await grant_person(db, user, sub, body, client_ip(request))
    except Problem as problem:
        field = "roles" if problem.errors and problem.errors[0]["loc"][-1] == "roles" else "sub"
        if problem.status == 403:
            field = "form"
        return await _page(request, db, user, Refill(values, {field: problem.detail}, problem.status))
    held = ", ".join(r.replace("_", " ") for r in person["roles"]) or "no role"
    return _back(request, "ok", f"{person['name']} ({person['sub']}) now holds: {person['agency']} {held}.")


@router.post("/ui/access/revoke", response_model=None)
async def revoke(request: Request, db: Db, user: AccessAdmin, form: Posted) -> Response:
    role = _enum(Role, form.get("role"))
    sub = form.get("sub", "")
    if role is None:
        return _back(request, "error", "Refused: no such role.")
    try:
        person = await revoke_person_role(db, user, sub, role, client_ip(request))
    except Problem as problem:
        return _back(request, "error", f"Refused: {problem.detail}")
    return _back(
        request, "ok", f"{person['name']} ({sub}) no longer holds {role.value.replace('_', ' ')}; this counts at once."
    )
