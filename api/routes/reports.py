"""Reports: time in each stage, and counts by stage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import Db, Reporter
from api.schemas import CycleTimes
from ilea.db import proposals

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.get("/cycle-times", response_model=CycleTimes, summary="Median and p90 days per stage")
async def cycle_times(user: Reporter, db: Db) -> dict[str, Any]:
    rows = await proposals.cycle_times(db)
    items = [
        {
            "stage": r["stage"],
            "academy": r["academy"],
            "topic": r["topic"],
            "count": r["n"],
            "median_days": round(r["median_days"], 3),
            "p90_days": round(r["p90_days"], 3),
        }
        for r in rows
    ]
    return {"items": items, "counts_by_stage": await proposals.counts_by_stage(db)}
