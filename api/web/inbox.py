"""My tasks: what waits on the viewer or their seat, most urgent first, each opening its decision page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api.auth import Principal
from api.deps import Db
from api.routes.tasks import parties_of
from api.web import times
from api.web.deps import PollViewer, Viewer
from api.web.render import fragment, render
from ilea.db import proposals, roster

router = APIRouter(include_in_schema=False)

#: What each task asks of the person, and where they do it.
ACTIONS = {
    "isg_vote": ("Vote", "/ui/proposals/{pid}/vote"),
    "board_position": ("Record the position", "/ui/proposals/{pid}/position"),
    "board_decision": ("Decide", "/ui/proposals/{pid}/decision"),
    "overdue_board": ("Decide", "/ui/proposals/{pid}/decision"),
    "instructor_request": ("Answer", "/ui/requests/{rid}"),
    "revise": ("Revise", "/ui/proposals/{pid}/revise"),
    "retarget": ("Re-target the slot", "/ui/proposals/{pid}#staffing"),
}

FILTERS = {"all": "All my tasks", "overdue": "Overdue only", "seat": "Waiting on my seat"}


def _mine(task: dict[str, Any], doc: dict[str, Any] | None, user: Principal) -> bool:
    """Waiting on the viewer's own seat: a seat they sit on, or (program officers) a proposal they own."""
    if task.get("party") == "program_officer":
        return doc is not None and (doc.get("owner") or doc.get("submitted_by")) == user.sub
    return True


async def inbox_data(request: Request, db: Db, user: Principal) -> dict[str, Any]:
    show = request.query_params.get("show", "all")
    show = show if show in FILTERS else "all"
    now = datetime.now(UTC)
    rows = await proposals.tasks_for(db, parties_of(user), exclude_reviews_by=user.sub)
    docs: dict[str, dict[str, Any] | None] = {}
    items = []
    for t in rows:
        if t["proposal_id"] not in docs:
            docs[t["proposal_id"]] = await proposals.get(db, t["proposal_id"])
        doc = docs[t["proposal_id"]]
        label, href = ACTIONS.get(t["kind"], ("Open", "/ui/proposals/{pid}"))
        request_doc = None
        if t["request_id"]:
            req = await roster.get_request(db, t["request_id"])
            request_doc = req["doc"] if req else None
        items.append(
            {
                **t,
                "doc": doc or {},
                "request": request_doc,
                "late": times.urgency(t.get("due"), now)[0] == 0,
                "mine": _mine(t, doc, user),
                "action": label,
                "href": href.format(pid=t["proposal_id"], rid=t["request_id"] or ""),
            }
        )
    items.sort(key=lambda i: (times.urgency(i.get("due"), now), str(i["since"])))
    counts = {"all": len(items), "overdue": sum(i["late"] for i in items), "seat": sum(i["mine"] for i in items)}
    shown = [i for i in items if show == "all" or (show == "overdue" and i["late"]) or (show == "seat" and i["mine"])]
    nav = [
        {
            "href": "/ui/inbox" + ("" if k == "all" else f"?show={k}"),
            "label": v,
            "count": counts[k],
            "key": k,
            "current": k == show,
        }
        for k, v in FILTERS.items()
    ]
    return {
        "items": shown,
        "show": show,
        "counts": counts,
        "parties": parties_of(user),
        "sidenav": {"label": "Task filters", "items": nav},
    }


@router.get("/ui/inbox", response_model=None)
async def inbox(request: Request, db: Db, user: Viewer) -> Response:
    return render(request, "inbox.html", await inbox_data(request, db, user), user=user)


@router.get("/ui/inbox/rows", response_model=None)
async def inbox_rows(request: Request, db: Db, user: PollViewer) -> Response:
    data = await inbox_data(request, db, user)
    html = fragment(request, "_inbox_rows.html", {**data, "user": user})
    return JSONResponse(
        {"html": html, "count": len(data["items"]), "counts": data["counts"]}, headers={"Cache-Control": "no-store"}
    )
