"""One proposal: where it stands (step indicator, who it waits on, deadlines), its facts, votes, Board,
staffing, the timeline for people; the auditor's verification page and CSV; the course's .ics."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from api import visibility
from api.auth import Principal
from api.deps import Db, SettingsDep, Temporal, workflow_record
from api.errors import Problem
from api.routes.proposals import owner_for
from api.schemas import HandOverBody
from api.web import calendar, present, timeline
from api.web.deps import Officer, Posted, ProposalDoc, Viewer, ViewerWith
from api.web.forms import Outcome, act, done
from api.web.render import render, viewer_zone
from ilea.db import audit, people
from ilea.domain import TERMINAL_STAGES, Role
from ilea.messages import HandOverInput
from ilea.settings import Settings
from workflows.proposal import ProposalWorkflow

router = APIRouter(include_in_schema=False)

Auditing = ViewerWith(Role.auditor, Role.program_officer, title="Auditors and program officers only")


def abilities(user: Principal, doc: dict[str, Any]) -> dict[str, bool]:
    """Which actions to offer; the workflow still decides (a refusal is shown with its reason)."""
    stage = doc["stage"]
    live = stage not in {s.value for s in TERMINAL_STAGES}
    author = user.sub in (doc.get("authors") or [doc.get("submitted_by")])
    return {
        "vote": user.has(Role.isg_member) and stage == "isg_review" and not author,
        "position": user.has(Role.board_member) and stage == "board_review" and not author,
        "decide": user.has(Role.board_chair) and stage == "board_review" and not author,
        "withdraw": user.has(Role.program_officer) and live,
        "hand_over": user.has(Role.program_officer) and live,
        "cutoff": user.has(Role.program_officer) and stage in {"staffing", "staffing_at_risk"},
        "revise": user.has(Role.program_officer) and stage == "changes_requested",
        "retarget": user.has(Role.program_officer),
        "answer": user.has(Role.agency_coordinator),
        "audit": user.has(Role.auditor, Role.program_officer),
    }


def left_stage(events: list[dict[str, Any]]) -> str | None:
    """The stage a proposal was in before its last stage change (where a terminal one stopped)."""
    for e in reversed(events):
        if e.get("action") == "stage_changed":
            return str((e.get("detail") or {}).get("from") or "") or None
    return None


@dataclass
class OwnerChoices:
    """Whom the hand-over form offers: ``known``, the active program officers ILEA grants roles to
    (the owner left out); ``select``: they are everyone who may own (ILEA keeps every grant), so a
    select of them, else a login field that suggests them (roles come from tokens: development)."""

    select: bool
    known: list[dict[str, Any]] = field(default_factory=list)


async def owner_choices(db: Db, settings: Settings, *, owner: str | None) -> OwnerChoices:
    officers = await people.search(db, role=Role.program_officer)
    known = [{"sub": p["sub"], "name": p["name"]} for p in officers if p["active"] and p["sub"] != owner]
    return OwnerChoices(select=not settings.roles_from_claims, known=known)


@router.get("/ui/proposals/{proposal_id}", response_model=None)
async def proposal_page(request: Request, db: Db, user: Viewer, doc: ProposalDoc) -> Response:
    return await page(request, db, user, doc)


@router.post("/ui/proposals/{proposal_id}/owner", response_model=None)
async def hand_over(
    request: Request, db: Db, client: Temporal, settings: SettingsDep, user: Officer, form: Posted, doc: ProposalDoc
) -> Response:
    """Hand the proposal to another program officer: the JSON route's checks, then the same action path."""
    o = Outcome()
    name = ""
    try:
        sub = HandOverBody(sub=(form.get("sub") or "").strip()).sub
        name = (await owner_for(db, settings, user, doc["id"], sub)).name
    except ValidationError as err:
        sub = ""
        o.add("sub", err.errors()[0]["msg"].removeprefix("Value error, "))
    except Problem as problem:
        o.add("sub", str((problem.errors or [{}])[0].get("msg") or problem.detail), problem.status)
    make = partial(HandOverInput, actor=user.actor(), sub=sub, name=name)
    if not await act(client, db, user, form, doc["id"], ProposalWorkflow.hand_over, make, o, ("sub",)):
        return await page(request, db, user, doc, outcome=o)
    return done(request, form, f"/ui/proposals/{doc['id']}", f"The proposal is handed over to {name or sub}.")


async def page(
    request: Request, db: Db, user: Principal, doc: dict[str, Any], outcome: Outcome | None = None
) -> Response:
    """The proposal page, fresh or with a refused inline form (cutoff, release, re-target) shown again."""
    proposal_id = doc["id"]
    sees = visibility.seer(user)
    agency_of = {str(r["id"]): str(r["agency"]) for r in doc.get("instructor_requests", [])}
    events = visibility.events(await audit.fetch(db, proposal_id), sees, agency_of)
    doc = visibility.proposal(doc, sees)
    names = await timeline.display_names(db, doc, events)
    can = abilities(user, doc)
    settings = request.app.state.settings
    owners = await owner_choices(db, settings, owner=doc.get("owner")) if can["hand_over"] else None
    sections = [("overview", "Overview"), ("isg", "ISG review"), ("board", "Policy Board"),
                ("staffing", "Staffing"), ("timeline", "Timeline")]  # fmt: skip
    side = [{"href": f"#{k}", "label": v, "count": None, "current": False} for k, v in sections]
    if can["audit"]:
        side += [
            {"href": f"/ui/proposals/{proposal_id}/verify", "label": "Verify the trail", "count": None},
            {"href": f"/ui/proposals/{proposal_id}/trail.csv", "label": "Trail as CSV", "count": None},
        ]
    if doc["stage"] in ("scheduled", "staffing", "staffing_at_risk", "delivered"):
        side.append(
            {"href": f"/ui/proposals/{proposal_id}/course.ics", "label": "Add to calendar (.ics)", "count": None}
        )
    return render(
        request,
        "proposal.html",
        {
            "p": doc,
            "trail": timeline.entries(events, names, viewer_zone(request)),
            "names": names,
            "can": can,
            "owners": owners,
            "waiting": present.group_pending(doc.get("pending_on") or []),
            "steps": present.lifecycle_steps(doc["stage"], bool(doc.get("fast_tracked")), left_stage(events)),
            "sidenav": {"label": "On this page", "items": side},
            "v": outcome.values if outcome else {},
            "errors": outcome.errors if outcome else {},
        },
        user=user,
        status=outcome.status if outcome and outcome.errors else 200,
    )


@router.get("/ui/proposals/{proposal_id}/verify", response_model=None)
async def verify_page(
    request: Request, db: Db, client: Temporal, user: Annotated[Principal, Auditing], doc: ProposalDoc
) -> Response:
    """The trail verified as ``/events/verify`` does (the chain, and the workflow's own record of
    it): valid, or the first event where it breaks and each difference found."""
    events = await audit.fetch(db, doc["id"])
    verdict = audit.verify(doc["id"], events, await workflow_record(client, doc["id"]))
    broken = verdict.first_broken_seq if not verdict.valid else None
    names = await timeline.display_names(db, doc, events)
    rows = timeline.entries(events, names, viewer_zone(request))
    at = next((r for r in rows if r.seq == broken), None)
    last = rows[-1] if rows else None
    ctx = {"p": doc, "events": len(events), "broken": broken, "problems": verdict.problems, "at": at, "last": last}
    return render(request, "verify.html", ctx, user=user)


@router.get("/ui/proposals/{proposal_id}/trail.csv", response_model=None)
async def trail_csv(db: Db, user: Annotated[Principal, Auditing], doc: ProposalDoc) -> Response:
    """A proposal's audit trail as CSV, for the auditor's working papers."""
    events = await audit.fetch(db, doc["id"])
    names = await timeline.display_names(db, doc, events)
    name = (doc.get("reference") or doc["id"]).replace("/", "-")
    return Response(
        timeline.csv_text(doc["id"], events, names),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="ilea-trail-{name}.csv"', "Cache-Control": "no-store"},
    )


@router.get("/ui/proposals/{proposal_id}/course.ics", response_model=None)
async def course_ics(request: Request, user: Viewer, doc: ProposalDoc) -> Response:
    """The course as a calendar event (all-day, start to end), for Outlook and the like."""
    sees = visibility.seer(user)
    body = calendar.course_event(doc, host=request.url.hostname or "ilea", sees=sees)
    name = (doc.get("reference") or doc["id"]).replace("/", "-")
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="ilea-course-{name}.ics"'},
    )
