"""Staffing: a coordinator's decision page for one instructor request (only the agency's instructors free
on the course dates), and the inline staffing forms of the proposal page (release, re-target, cutoff)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.auth import Principal
from api.deps import Db, Temporal
from api.web import proposal_page
from api.web.deps import Coordinator, FormData, Officer, Posted, ProposalDoc, RequestRow
from api.web.forms import Outcome, act, done, text_of
from api.web.render import render
from ilea.db import proposals, roster
from ilea.domain import INSTRUCTOR_AGENCIES
from ilea.messages import AcceptInput, CutoffInput, DeclineInput, ReleaseInput, RetargetInput
from workflows.proposal import ProposalWorkflow

router = APIRouter(include_in_schema=False)


async def free_instructors(db: Db, agency: str, expertise: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Active instructors of the agency with the expertise and no booking over the course's dates."""
    start, end = date.fromisoformat(doc["start_date"]), date.fromisoformat(doc["end_date"])
    rows = await roster.list_instructors(db, agency=agency, expertise=expertise, free_from=start, free_to=end)
    return [r for r in rows if r["active"]]


async def _doc_of(db: Db, row: dict[str, Any]) -> dict[str, Any]:
    doc = await proposals.get(db, row["proposal_id"])
    assert doc is not None, "an instructor request always belongs to a projected proposal"
    return doc


async def request_page(
    request: Request, db: Db, user: Principal, row: dict[str, Any], outcome: Outcome | None = None
) -> Response:
    """A coordinator's page for one instructor request, fresh or with a refused answer shown again."""
    doc = await _doc_of(db, row)
    req = row["doc"]
    own = req["agency"] == user.agency.value
    free = await free_instructors(db, req["agency"], req["expertise"], doc) if own and req["status"] == "open" else []
    need = next(
        (
            n
            for n in doc.get("instructor_needs", [])
            if n["agency"] == req["agency"] and n["expertise"] == req["expertise"]
        ),
        None,
    )
    ctx = {"p": doc, "r": req, "own": own, "free": free, "need": need, "v": outcome.values if outcome else {}}
    ctx["errors"] = outcome.errors if outcome else {}
    return render(request, "request.html", ctx, user=user, status=outcome.status if outcome and outcome.errors else 200)


@router.get("/ui/requests/{request_id}", response_model=None)
async def answer_page(request: Request, db: Db, user: Coordinator, row: RequestRow) -> Response:
    return await request_page(request, db, user, row)


async def _answer(
    request: Request,
    db: Db,
    client: Temporal,
    user: Principal,
    form: FormData,
    row: dict[str, Any],
    o: Outcome,
    spec: tuple[Any, Callable[[], Any], str, str],
) -> Response:
    """Send an action on an instructor request; refused, its page again (request page or proposal page)."""
    update, make, field, ok = spec
    if await act(client, db, user, form, row["proposal_id"], update, make, o, (field,)):
        return done(request, form, f"/ui/proposals/{row['proposal_id']}", ok)
    if update in (ProposalWorkflow.accept_request, ProposalWorkflow.decline_request):
        return await request_page(request, db, user, row, outcome=o)
    return await proposal_page.page(request, db, user, await _doc_of(db, row), outcome=o)


@router.post("/ui/requests/{request_id}/accept", response_model=None)
async def accept(
    request: Request, request_id: str, db: Db, client: Temporal, user: Coordinator, form: Posted, row: RequestRow
) -> Response:
    o = Outcome()
    if not form.get("instructor_id"):
        o.add("instructor_id", "choose an instructor")
    make = partial(AcceptInput, actor=user.actor(), request_id=request_id, instructor_id=form.get("instructor_id", ""))
    spec = (ProposalWorkflow.accept_request, make, "instructor_id", "The instructor is booked.")
    return await _answer(request, db, client, user, form, row, o, spec)


#: The answers that carry only a reason: the Update and its input, what a blank reason is told, the note when done.
_REASONED: dict[str, tuple[Any, Any, str, str]] = {
    "decline": (
        ProposalWorkflow.decline_request,
        DeclineInput,
        "say why the agency declines",
        "The request is declined.",
    ),
    "release": (
        ProposalWorkflow.release_request,
        ReleaseInput,
        "say why the instructor is released",
        "The instructor is released.",
    ),
}


async def _with_reason(
    request: Request, db: Db, client: Temporal, user: Principal, form: FormData, row: dict[str, Any], kind: str
) -> Response:
    """Decline a request or release its instructor: a reason is required (by the API's text rules)."""
    update, model, missing, ok = _REASONED[kind]
    o = Outcome()
    reason = text_of(form, "reason", o, limit=2000)
    if not reason and "reason" not in o.errors:
        o.add("reason", missing)
    make = partial(model, actor=user.actor(), request_id=request.path_params["request_id"], reason=reason or "")
    return await _answer(request, db, client, user, form, row, o, (update, make, "reason", ok))


def _reason_route(kind: str) -> Callable[..., Awaitable[Response]]:
    async def route(
        request: Request, db: Db, client: Temporal, user: Coordinator, form: Posted, row: RequestRow
    ) -> Response:
        return await _with_reason(request, db, client, user, form, row, kind)

    route.__name__ = kind
    return route


for _kind in _REASONED:  # POST /ui/requests/{request_id}/decline and …/release
    router.post(f"/ui/requests/{{request_id}}/{_kind}", response_model=None)(_reason_route(_kind))


@router.post("/ui/requests/{request_id}/retarget", response_model=None)
async def retarget(
    request: Request, request_id: str, db: Db, client: Temporal, user: Officer, form: Posted, row: RequestRow
) -> Response:
    o = Outcome()
    if form.get("agency") not in {a.value for a in INSTRUCTOR_AGENCIES}:
        o.add("agency", "choose the agency to ask")
    make = partial(RetargetInput, actor=user.actor(), request_id=request_id, agency=form.get("agency", ""))
    spec = (
        ProposalWorkflow.retarget_request,
        make,
        "agency",
        "The slot is sent to the other agency.",
    )
    return await _answer(request, db, client, user, form, row, o, spec)


@router.post("/ui/proposals/{proposal_id}/cutoff", response_model=None)
async def cutoff(request: Request, db: Db, client: Temporal, user: Officer, form: Posted, doc: ProposalDoc) -> Response:
    o = Outcome()
    try:
        day = date.fromisoformat(form.get("cutoff", ""))
    except ValueError:
        o.add("cutoff", "enter a date")
        day = date.min
    make = partial(CutoffInput, actor=user.actor(), cutoff=day)
    update = ProposalWorkflow.staffing_cutoff
    if not await act(client, db, user, form, doc["id"], update, make, o, ("cutoff",)):
        return await proposal_page.page(request, db, user, doc, outcome=o)
    return done(request, form, f"/ui/proposals/{doc['id']}", "The staffing cutoff is moved.")
