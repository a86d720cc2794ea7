"""The board: every proposal with its stage and who it waits on; "My proposals" is the same list, the owner's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api.auth import Principal
from api.deps import Db
from api.web import present
from api.web.deps import Officer, PollViewer, Viewer
from api.web.render import fragment, render
from ilea.db import proposals
from ilea.domain import Academy, Agency, Stage, Topic

router = APIRouter(include_in_schema=False)

BOARD_LIMIT = 200


def _enum(value: str | None, kind: Any) -> str | None:
    if not value:
        return None
    try:
        return str(kind(value).value)
    except ValueError:
        return None


def board_filter(request: Request, owner: str | None = None) -> proposals.ListFilter:
    """The board's query string as a filter; anything unknown is ignored rather than refused."""
    qp = request.query_params
    pending = qp.get("pending_on") or None
    flt = proposals.ListFilter(
        stage=_enum(qp.get("stage"), Stage),
        academy=_enum(qp.get("academy"), Academy),
        topic=_enum(qp.get("topic"), Topic),
        pending_on=pending if pending in {a.value for a in Agency} else None,
        owner=owner,
        q=(qp.get("q") or "").strip()[:200] or None,
    )
    return flt


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        pending = [
            {**p, "late": present.is_overdue(p.get("due"))} for p in present.group_pending(r.get("pending_on") or [])
        ]
        out.append({**r, "pending": pending, "late": bool(r.get("overdue")) or any(p["late"] for p in pending)})
    return out


async def _data(request: Request, db: Db, user: Principal, mine: bool) -> dict[str, Any]:
    flt = board_filter(request, owner=user.sub if mine else None)
    cursor = request.query_params.get("cursor") or None
    try:
        rows, next_cursor = await proposals.list_summaries(db, flt, BOARD_LIMIT, cursor)
    except ValueError:
        rows, next_cursor = await proposals.list_summaries(db, flt, BOARD_LIMIT, None)
    counts = await proposals.counts_by_stage(db)
    base = "/ui/mine" if mine else "/ui/board"
    items = [
        {"href": base, "label": "All stages", "count": sum(counts.values()), "key": "total", "current": not flt.stage}
    ]
    items += [
        {
            "href": f"{base}?stage={s.value}",
            "label": present.STAGE_LABELS[s.value],
            "count": counts.get(s.value, 0),
            "key": s.value,
            "current": flt.stage == s.value,
        }
        for s in Stage
    ]
    return {
        "rows": _rows(rows),
        "next_cursor": next_cursor,
        "flt": flt,
        "counts": {i["key"]: i["count"] for i in items},
        "sidenav": {"label": "Proposals by stage", "items": items},
        "mine": mine,
        "base": base,
    }


@router.get("/ui/board", response_model=None)
async def board(request: Request, db: Db, user: Viewer) -> Response:
    data = await _data(request, db, user, mine=False)
    return render(request, "board.html", {**data, "query": request.url.query}, user=user)


@router.get("/ui/mine", response_model=None)
async def mine(request: Request, db: Db, user: Officer) -> Response:
    data = await _data(request, db, user, mine=True)
    return render(request, "board.html", {**data, "query": request.url.query}, user=user)


async def _rows_json(request: Request, db: Db, user: Principal, mine: bool) -> Response:
    data = await _data(request, db, user, mine=mine)
    return JSONResponse(
        {"html": fragment(request, "_board_rows.html", data), "counts": data["counts"]},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/ui/board/rows", response_model=None)
async def board_rows(request: Request, db: Db, user: PollViewer) -> Response:
    """The board's table body and counts as JSON, polled by the page's script."""
    return await _rows_json(request, db, user, mine=False)


@router.get("/ui/mine/rows", response_model=None)
async def mine_rows(request: Request, db: Db, user: PollViewer) -> Response:
    return await _rows_json(request, db, user, mine=True)
