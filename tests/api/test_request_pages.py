"""`GET /v1/instructor-requests` in pages, as `/v1/proposals` and `/v1/tasks` page: a `limit`
and a `cursor`, and `next_cursor` until the last page, so no request is ever left out.

The list used to stop at 1,000 rows without saying so: past that, an agency's coordinator
did not see its newest requests, the open ones among them. The read model is filled directly.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from api.routes.requests import DEFAULT_PAGE
from tests.api.conftest import TokenFor
from tests.api.pages import every_page

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def add_proposal(pool: asyncpg.Pool) -> str:
    pid = str(uuid.uuid4())
    await pool.execute(
        "INSERT INTO proposals (id, title, academy, course_type, topic, stage, start_date, end_date,"
        " submitted_by, submitted_at, updated_at, version, doc)"
        " VALUES ($1, $2, 'BKK', 'specialized', 'cybercrime', 'staffing', $3, $3, 'po-1', $4, $4, 1, '{}')",
        pid,
        f"Course {pid[:8]}",
        date(2026, 9, 1),
        T0,
    )
    return pid


async def add_requests(pool: asyncpg.Pool, pid: str, rows: list[tuple[str, str, datetime]]) -> None:
    """Requests of one proposal: ``(agency, status, due)`` each, one slot each."""

    def doc(rid: str, slot: int, agency: str, status: str, due: datetime) -> dict[str, Any]:
        return {
            "id": rid,
            "proposal_id": pid,
            "slot": slot,
            "need_index": 0,
            "agency": agency,
            "expertise": "cybercrime",
            "status": status,
            "instructor": None,
            "due": due.isoformat(),
            "reason": None,
            "sent_at": T0.isoformat(),
        }

    records = []
    for slot, (agency, status, due) in enumerate(rows):
        rid = str(uuid.uuid4())
        records.append((rid, pid, slot, agency, status, due, doc(rid, slot, agency, status, due)))
    await pool.executemany(
        "INSERT INTO instructor_requests (id, proposal_id, slot, agency, expertise, status, due, doc)"
        " VALUES ($1, $2, $3, $4, 'cybercrime', $5, $6, $7)",
        records,
    )


def order(item: dict[str, Any]) -> tuple[datetime, str]:
    return datetime.fromisoformat(item["due"]), item["id"]


async def test_past_a_thousand_requests_every_one_is_listed_the_newest_open_ones_too(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    pid = await add_proposal(pool)
    # 1,100 closed DHS requests, due over the past, many sharing a due time ...
    await add_requests(pool, pid, [("DHS", "declined", T0 + timedelta(hours=i // 3)) for i in range(1100)])
    # ... then the newest: three open DHS requests due latest, and another agency's.
    newest = T0 + timedelta(days=400)
    await add_requests(pool, await add_proposal(pool), [("DHS", "open", newest)] * 3 + [("DOJ", "open", newest)])
    coord = auth("c-dhs", "DHS", "agency_coordinator")

    first = (await api.get("/v1/instructor-requests", headers=coord)).json()
    assert len(first["items"]) == DEFAULT_PAGE and first["next_cursor"]

    pages = await every_page(api, "/v1/instructor-requests", coord, limit=200)
    assert [len(p) for p in pages] == [200] * 5 + [103]
    listed = [item for page in pages for item in page]
    assert len({i["id"] for i in listed}) == 1103
    assert listed == sorted(listed, key=order)
    assert {i["agency"] for i in listed} == {"DHS"}
    assert [i["status"] for i in listed[-3:]] == ["open"] * 3

    # The open ones on their own, and the auditor's whole list, page the same way.
    open_pages = await every_page(api, "/v1/instructor-requests", coord, status="open", limit=2)
    assert [[i["status"] for i in p] for p in open_pages] == [["open", "open"], ["open"]]
    everything = await every_page(api, "/v1/instructor-requests", auth("a", "STATE", "auditor"), limit=200)
    assert sum(len(p) for p in everything) == 1104


async def test_a_cursor_this_server_did_not_make_is_422(api: httpx.AsyncClient, auth: TokenFor) -> None:
    coord = auth("c-dhs", "DHS", "agency_coordinator")
    for cursor in ("not-a-cursor", "MjAyNi0wMy0wMg==", "eHx5"):
        r = await api.get("/v1/instructor-requests", params={"cursor": cursor}, headers=coord)
        assert r.status_code == 422, (cursor, r.text)
        assert r.json()["errors"] == [{"loc": ["query", "cursor"], "msg": "cursor is not one this server returned"}]
    for limit in (0, 201):
        r = await api.get("/v1/instructor-requests", params={"limit": limit}, headers=coord)
        assert r.status_code == 422, (limit, r.text)
