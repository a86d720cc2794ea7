"""The proposal form: a new proposal and a revision, with each error next to its field.

It holds 1 to 10 instructor needs. "Add another need" and "Remove" are submit buttons
that come back to the same form with one row more or less, so rows work without
JavaScript; nothing typed is lost on the way. Revising shows every need the proposal has.

Both submissions call the JSON API's own handlers, so the cross-field rules
(``workflows.rules.validate_proposal``), the workflow start and the refusal
records are the same as over HTTP.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from api.deps import Db, SettingsDep, Temporal
from api.errors import Problem
from api.routes import proposals as proposal_routes
from api.web import times
from api.web.deps import Officer, Posted, ProposalDoc
from api.web.render import render
from api.web.session import flash
from ilea.settings import Settings

router = APIRouter(include_in_schema=False)

#: product.md: a proposal has 1 to 10 instructor needs, each asking 1 to 5 instructors.
MAX_NEEDS, MAX_COUNT = 10, 5
NEED_FIELDS = ("agency", "expertise", "count", "alt_0", "alt_1")


def need_rows(form: dict[str, str]) -> list[int]:
    """The indexes of the need rows the form carries (each row posts its agency select, even when empty)."""
    return [i for i in range(MAX_NEEDS) if f"need_{i}_agency" in form]


def reshape(form: dict[str, str], *, add: bool = False, remove: int | None = None) -> dict[str, str]:
    """The form's values with its need rows renumbered 0..n-1, one added or one removed."""
    rows = [i for i in need_rows(form) if i != remove]
    out = {k: v for k, v in form.items() if not k.startswith("need_") and k not in ("add_need", "remove_need")}
    for new, old in enumerate(rows):
        for f in NEED_FIELDS:
            out[f"need_{new}_{f}"] = form.get(f"need_{old}_{f}", "")
    n = len(rows)
    if add and n < MAX_NEEDS:
        out |= {f"need_{n}_{f}": "" for f in NEED_FIELDS} | {f"need_{n}_count": "1"}
    if not need_rows(out):
        out |= {f"need_0_{f}": "" for f in NEED_FIELDS} | {"need_0_count": "1"}
    return out


def fields_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The form's flat fields as the nested document ProposalFields validates.

    Every row is sent, even an empty one: an incomplete row is an error to fix, never
    silently dropped (remove the row instead).
    """
    countries = [c.strip().upper() for c in form.get("participating_countries", "").replace(";", ",").split(",")]
    needs = []
    for i in need_rows(form) or range(MAX_NEEDS):
        if f"need_{i}_agency" not in form and f"need_{i}_count" not in form:
            continue
        alternates = [form[k] for k in (f"need_{i}_alt_0", f"need_{i}_alt_1") if form.get(k)]
        needs.append(
            {
                "agency": form.get(f"need_{i}_agency") or None,
                "expertise": form.get(f"need_{i}_expertise") or None,
                "count": form.get(f"need_{i}_count", "").strip() or None,
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


def form_from_doc(doc: dict[str, Any]) -> dict[str, str]:
    """A proposal document as the flat values of the proposal form (to revise it): every need, all fields."""
    v = {k: str(doc.get(k) or "") for k in ("title", "academy", "course_type", "topic", "start_date", "end_date")}
    v |= {
        "seats": str(doc.get("seats", "")),
        "participating_countries": ", ".join(doc.get("participating_countries", [])),
        "estimated_cost_usd": str(doc.get("estimated_cost_usd", "")),
        "justification": doc.get("justification") or "",
    }
    for i, need in enumerate(doc.get("instructor_needs", [])):
        alts = [*need.get("alternate_agencies", []), "", ""]
        v |= {f"need_{i}_agency": need["agency"], f"need_{i}_expertise": need["expertise"]}
        v |= {f"need_{i}_count": str(need["count"]), f"need_{i}_alt_0": alts[0], f"need_{i}_alt_1": alts[1]}
    return v


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


def _limits(settings: Settings) -> dict[str, Any]:
    """What the form tells before anyone types: the date window, the sizes, the counts."""
    today = datetime.now(UTC).astimezone(times.EASTERN).date()
    horizon = settings.max_horizon_days
    return {
        "earliest": today + timedelta(days=settings.min_lead_days),
        "latest": today + timedelta(days=horizon),
        "lead_days": settings.min_lead_days,
        "max_needs": MAX_NEEDS,
        "max_count": MAX_COUNT,
        "fast_track_max": settings.fast_track_max_cost_usd,
    }


def _ctx(settings: Settings, values: dict[str, str], errors: dict[str, list[str]], **page: Any) -> dict[str, Any]:
    rows = need_rows(values) or [0]
    return {"v": values, "errors": errors, "rows": rows, "limits": _limits(settings), **page}


def _errors_of(err: ValidationError | Problem) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if isinstance(err, ValidationError):
        for e in err.errors():
            errors.setdefault(_field_key(e["loc"]), []).append(e["msg"])
        return errors
    if not err.errors:
        errors["form"] = [err.detail]
    for item in err.errors or []:
        errors.setdefault(_field_key(item["loc"]), []).append(item["msg"])
    return errors


def _row_change(form: dict[str, str]) -> dict[str, str] | None:
    """The form with a need row added or removed, when that is what the button asked for."""
    if "add_need" in form:
        return reshape(form, add=True)
    if form.get("remove_need", "").isdigit():
        return reshape(form, remove=int(form["remove_need"]))
    return None


def _focus(form: dict[str, str], changed: dict[str, str]) -> int | None:
    """After "Add another need", the new row's first field takes the focus."""
    return need_rows(changed)[-1] if "add_need" in form else None


# --- new proposal ----------------------------------------------------------------------------

_NEW = {"heading": "New course proposal", "action": "/ui/new", "submit_label": "Submit for ISG review"}


@router.get("/ui/new", response_model=None)
async def new_form(request: Request, user: Officer, settings: SettingsDep) -> Response:
    blank = reshape({"course_type": "specialized", "seats": ""})
    return render(request, "new.html", _ctx(settings, blank, {}, revising=False, **_NEW), user=user)


@router.post("/ui/new", response_model=None)
async def create(
    request: Request, db: Db, client: Temporal, settings: SettingsDep, user: Officer, form: Posted
) -> Response:
    changed = _row_change(form)
    if changed is not None:
        ctx = _ctx(settings, changed, {}, revising=False, focus_row=_focus(form, changed), **_NEW)
        return render(request, "new.html", ctx, user=user)
    try:
        # The JSON API's own path: the same rules (every broken one at once), the same workflow start.
        raw = fields_from_form(form)
        doc = await proposal_routes.start_proposal(
            request, raw, user, db, client, settings, form.get("form_id") or None
        )
    except (ValidationError, Problem) as err:
        ctx = _ctx(settings, reshape(form), _errors_of(err), revising=False, **_NEW)
        return render(request, "new.html", ctx, user=user, status=422)
    response = RedirectResponse(f"/ui/proposals/{doc['id']}", status_code=303)
    flash(response, request, "ok", "The proposal is submitted; ISG review has begun.")
    return response


# --- revision ------------------------------------------------------------------------------


def _revise_page(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "heading": f"Revise “{doc['title']}”",
        "action": f"/ui/proposals/{doc['id']}/revise",
        "submit_label": "Send the revision to the ISG",
        "revising": True,
        "p": doc,
    }


@router.get("/ui/proposals/{proposal_id}/revise", response_model=None)
async def revise_form(request: Request, user: Officer, doc: ProposalDoc, settings: SettingsDep) -> Response:
    ctx = _ctx(settings, form_from_doc(doc), {}, **_revise_page(doc))
    return render(request, "new.html", ctx, user=user)


@router.post("/ui/proposals/{proposal_id}/revise", response_model=None)
async def revise(
    request: Request,
    proposal_id: str,
    db: Db,
    client: Temporal,
    settings: SettingsDep,
    user: Officer,
    form: Posted,
    doc: ProposalDoc,
) -> Response:
    changed = _row_change(form)
    if changed is not None:
        ctx = _ctx(settings, changed, {}, focus_row=_focus(form, changed), **_revise_page(doc))
        return render(request, "new.html", ctx, user=user)
    errors: dict[str, list[str]] = {}
    comment = (form.get("comment") or "").strip()
    if not comment:
        errors["comment"] = ["say what changed, for the ISG"]
    try:
        # The JSON API's path: the same rules, the same update, refusals recorded in the trail.
        raw = {"proposal": fields_from_form(form), "comment": comment or "-"}
        act = await proposal_routes.check_revision(proposal_id, raw, db, settings, user)
        if not errors:
            await proposal_routes.revise(request, user, act, db, client, form.get("form_id") or None)
    except (ValidationError, Problem) as err:
        for key, msgs in _errors_of(err).items():
            errors.setdefault(key, []).extend(msgs)
    if errors:
        ctx = _ctx(settings, reshape(form), errors, **_revise_page(doc))
        return render(request, "new.html", ctx, user=user, status=422)
    response = RedirectResponse(f"/ui/proposals/{proposal_id}", status_code=303)
    flash(response, request, "ok", "The revision is sent; a new ISG round has begun.")
    return response
