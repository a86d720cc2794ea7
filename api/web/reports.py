"""Reports: time spent in each stage (median, p90) as a chart and tables, counts by stage."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import Db
from api.web import present
from api.web.deps import Reader
from api.web.render import render
from ilea.db import proposals
from ilea.domain import Stage

router = APIRouter(include_in_schema=False)


@router.get("/ui/reports", response_model=None)
async def reports(request: Request, db: Db, user: Reader) -> Response:
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
        },
        user=user,
    )
