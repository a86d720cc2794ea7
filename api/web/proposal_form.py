"""The proposal form: a new proposal and a revision, with each error shown next to its field.

Both call the JSON API's own handlers, so the cross-field rules
(``workflows.rules.validate_proposal``), the workflow start and the refusal
records are the same as over HTTP.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.deps import Db, Policy, SettingsDep, Temporal
from api.errors import Problem
from api.routes import proposals as proposal_routes
from api.schemas import RevisionBody
from api.web.forms import Stop, begin, comment_of
from api.web.render import message, render, to_login
from api.web.session import flash, viewer
from ilea.db import proposals
from ilea.domain import Role
from ilea.messages import ProposalFields

router = APIRouter(include_in_schema=False)

NEED_ROWS = 3


# --- new proposal ----------------------------------------------------------------------------


_NEW = {
    "heading": "New course proposal",
    "action": "/ui/new",
    "submit_label": "Submit for ISG review",
    "revising": False,
    "need_rows": range(NEED_ROWS),
}


def _blank() -> dict[str, str]:
    return {"course_type": "specialized", "seats": "30", "need_0_count": "1"}


@router.get("/ui/new", response_model=None)
async def new_form(request: Request) -> Response:
    user = viewer(request)
    if user is None:
        return to_login(request)
    if not user.has(Role.program_officer):
        msg = "Only program officers submit proposals."
        return message(request, "New proposal", msg, user=user, status=403)
    return render(request, "new.html", {"v": _blank(), "errors": {}, **_NEW}, user=user)


def fields_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The form's flat fields as the nested document ProposalFields validates."""
    countries = [c.strip().upper() for c in form.get("participating_countries", "").replace(";", ",").split(",")]
    needs = []
    for i in range(NEED_ROWS):
        count = form.get(f"need_{i}_count", "").strip()
        if not count or count == "0" or not form.get(f"need_{i}_agency"):
            continue
        alternates = [form[k] for k in (f"need_{i}_alt_0", f"need_{i}_alt_1") if form.get(k)]
        needs.append(
            {
                "agency": form.get(f"need_{i}_agency"),
                "expertise": form.get(f"need_{i}_expertise"),
                "count": count,
                "alternate_agencies": alternates,
            }
        )
    cost: Any = form.get("estimated_cost_usd", "").replace(",", "").replace("$", "").strip()
    with contextlib.suppress(InvalidOperation):
        cost = Decimal(cost)
    return {
        "title": form.get("title", ""),
        "academy": form.get("academy", ""),
        "course_type": form.get("course_type", ""),
        "topic": form.get("topic", ""),
        "start_date": form.get("start_date", ""),
        "end_date": form.get("end_date", ""),
        "seats": form.get("seats", ""),
        "participating_countries": [c for c in countries if c],
        "estimated_cost_usd": cost,
        "justification": form.get("justification", ""),
        "instructor_needs": needs,
    }


def _field_key(loc: list[Any] | tuple[Any, ...]) -> str:
    """``("body", "instructor_needs", 0, "agency")`` → ``need_0_agency``; lists collapse to the field."""
    parts = [p for p in loc if p not in ("body", "proposal")]
    if not parts:
        return "form"
    if parts[0] == "instructor_needs":
        if len(parts) >= 3:
            if parts[2] == "alternate_agencies":
                return f"need_{parts[1]}_alt_{parts[3] if len(parts) > 3 else 0}"
            return f"need_{parts[1]}_{parts[2]}"
        return f"need_{parts[1]}_count" if len(parts) == 2 else "instructor_needs"
    return str(parts[0])


@router.post("/ui/new", response_model=None)
async def create(request: Request, db: Db, client: Temporal, settings: SettingsDep) -> Response:
    try:
        user, form = await begin(request)
    except Stop as stop:
        return stop.response
    try:
        Policy(Role.program_officer).check(user)
    except Problem as problem:
        return message(request, "New proposal", problem.detail, user=user, status=403)
    errors: dict[str, list[str]] = {}
    try:
        body = ProposalFields.model_validate(fields_from_form(form))
        # The JSON API's own handler: the same cross-field rules and the same workflow start.
        doc = await proposal_routes.submit(request, body, user, db, client, settings, form.get("form_id") or None)
    except ValidationError as err:
        for e in err.errors():
            errors.setdefault(_field_key(e["loc"]), []).append(e["msg"])
    except Problem as problem:
        if not problem.errors:
            errors["form"] = [problem.detail]
        for item in problem.errors or []:
            errors.setdefault(_field_key(item["loc"]), []).append(item["msg"])
    if errors:
        return render(request, "new.html", {"v": form, "errors": errors, **_NEW}, user=user, status=422)
    response = RedirectResponse(f"/ui/proposals/{doc['id']}", status_code=303)
    flash(response, request, "ok", "The proposal is submitted; ISG review has begun.")
    return response


# --- revision ------------------------------------------------------------------------------


def form_from_doc(doc: dict[str, Any]) -> dict[str, str]:
    """A proposal document as the flat values of the proposal form (to revise it)."""
    v = {k: str(doc.get(k) or "") for k in ("title", "academy", "course_type", "topic", "start_date", "end_date")}
    v |= {
        "seats": str(doc.get("seats", "")),
        "participating_countries": ", ".join(doc.get("participating_countries", [])),
        "estimated_cost_usd": str(doc.get("estimated_cost_usd", "")),
        "justification": doc.get("justification") or "",
    }
    for i, need in enumerate(doc.get("instructor_needs", [])[:NEED_ROWS]):
        v |= {f"need_{i}_agency": need["agency"], f"need_{i}_expertise": need["expertise"]}
        v[f"need_{i}_count"] = str(need["count"])
        for j, alt in enumerate(need.get("alternate_agencies", [])[:2]):
            v[f"need_{i}_alt_{j}"] = alt
    return v


def _revise_ctx(proposal_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "heading": f"Revise “{doc['title']}”",
        "action": f"/ui/proposals/{proposal_id}/revise",
        "submit_label": "Send the revision to the ISG",
        "revising": True,
        "need_rows": range(NEED_ROWS),
    }


@router.get("/ui/proposals/{proposal_id}/revise", response_model=None)
async def revise_form(request: Request, proposal_id: str, db: Db) -> Response:
    user = viewer(request)
    if user is None:
        return to_login(request)
    if not user.has(Role.program_officer):
        return message(request, "Revise", "Only program officers revise proposals.", user=user, status=403)
    doc = await proposals.get(db, proposal_id)
    if doc is None:
        return message(request, "Not found", "No such proposal.", user=user, status=404)
    ctx = {"v": form_from_doc(doc), "errors": {}, **_revise_ctx(proposal_id, doc)}
    return render(request, "new.html", ctx, user=user)


@router.post("/ui/proposals/{proposal_id}/revise", response_model=None)
async def revise(request: Request, proposal_id: str, db: Db, client: Temporal, settings: SettingsDep) -> Response:
    try:
        user, form = await begin(request)
    except Stop as stop:
        return stop.response
    doc = await proposals.get(db, proposal_id)
    if doc is None:
        return message(request, "Not found", "No such proposal.", user=user, status=404)
    try:
        Policy(Role.program_officer).check(user)
    except Problem as problem:
        return message(request, "Revise", problem.detail, user=user, status=403)
    errors: dict[str, list[str]] = {}
    comment = comment_of(form)
    if not comment:
        errors["comment"] = ["say what changed"]
    try:
        body = RevisionBody(proposal=ProposalFields.model_validate(fields_from_form(form)), comment=comment or "-")
        if not errors:
            # The JSON API's handler: the same rules, the same update, refusals recorded in the trail.
            act = await proposal_routes.revision(proposal_id, body, db, settings, user)
            await proposal_routes.revise(request, user, act, db, client, form.get("form_id") or None)
    except ValidationError as err:
        for e in err.errors():
            errors.setdefault(_field_key(e["loc"]), []).append(e["msg"])
    except Problem as problem:
        if not problem.errors:
            errors["form"] = [problem.detail]
        for item in problem.errors or []:
            errors.setdefault(_field_key(item["loc"]), []).append(item["msg"])
    if errors:
        ctx = {"v": form, "errors": errors, **_revise_ctx(proposal_id, doc)}
        return render(request, "new.html", ctx, user=user, status=422)
    response = RedirectResponse(f"/ui/proposals/{proposal_id}", status_code=303)
    flash(response, request, "ok", "The revision is sent; a new ISG round has begun.")
    return response
