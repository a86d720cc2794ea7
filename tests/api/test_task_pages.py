"""`GET /v1/tasks` in pages: a default page the inbox can show, and a cursor for the rest.

The read model is filled directly (the projection's rows), so the pages can hold ties in
`since`, several tasks of one proposal and tasks the caller may not do.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from api.routes.tasks import DEFAULT_PAGE
from ilea.domain import Agency, Party
from tests.api.conftest import TokenFor
from tests.api.pages import every_page

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DHS_COORD = str(Party.coordinators(Agency.DHS))


async def add_proposal(pool: asyncpg.Pool, submitted_by: str = "po-1") -> str:
    pid = str(uuid.uuid4())
    await pool.execute(
        "INSERT INTO proposals (id, title, academy, course_type, topic, stage, start_date, end_date,"
        " submitted_by, submitted_at, updated_at, version, doc)"
        " VALUES ($1, $2, 'BKK', 'specialized', 'cybercrime', 'isg_review', $3, $3, $4, $5, $5, 1, '{}')",
        pid,
        f"Course {pid[:8]}",
        date(2026, 9, 1),
        submitted_by,
        T0,
    )
    return pid


async def add_task(
    pool: asyncpg.Pool,
    pid: str,
    party: str,
    kind: str,
    since: datetime,
    request_id: str | None = None,
    authors: list[str] | None = None,
) -> None:
    await pool.execute(
        "INSERT INTO tasks (proposal_id, party, kind, request_id, title, since, due, authors)"
        " VALUES ($1, $2, $3, $4, 'x', $5, $6, $7)",
        pid,
        party,
        kind,
        request_id,
        since,
        since + timedelta(days=14),
        authors or ["po-1"],
    )


def key(t: dict[str, Any]) -> tuple[str, str, str, str, str]:
    return (t["since"], t["proposal_id"], t["party"], t["kind"], t["request_id"] or "")


async def test_pages_follow_the_cursor_through_ties_without_gaps_or_repeats(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    coord = auth("c-dhs", "DHS", "agency_coordinator")
    # Three proposals with the same `since`, each with two DHS requests (two slots), and
    # two with later ones: ties on every column of the order but the request id.
    same = [await add_proposal(pool) for _ in range(3)]
    for pid in same:
        for _ in range(2):
            await add_task(pool, pid, DHS_COORD, "instructor_request", T0, str(uuid.uuid4()))
    later = [await add_proposal(pool) for _ in range(2)]
    for i, pid in enumerate(later):
        await add_task(pool, pid, DHS_COORD, "instructor_request", T0 + timedelta(hours=i + 1), "r")
    # Someone else's task, which no page may show.
    await add_task(pool, later[0], str(Party.coordinators(Agency.DOJ)), "instructor_request", T0, str(uuid.uuid4()))

    whole = await every_page(api, "/v1/tasks", coord, limit=500)
    assert len(whole) == 1 and len(whole[0]) == 8
    everything = whole[0]
    assert [key(t) for t in everything] == sorted(key(t) for t in everything)
    assert {t["party"] for t in everything} == {DHS_COORD}
    for limit in (1, 3, 4, 7):
        pages = await every_page(api, "/v1/tasks", coord, limit=limit)
        assert [len(p) for p in pages[:-1]] == [limit] * (len(pages) - 1)
        assert 1 <= len(pages[-1]) <= limit
        assert [t for p in pages for t in p] == everything, limit


async def test_the_default_page_and_the_rest(api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool) -> None:
    extra = 7
    for i in range(DEFAULT_PAGE + extra):
        pid = await add_proposal(pool)
        await add_task(pool, pid, str(Party.isg(Agency.DHS)), "isg_vote", T0 + timedelta(minutes=i))
    # Reviews of one's own proposals stay out of every page: isg-dhs submitted this one.
    own = await add_proposal(pool, submitted_by="isg-dhs")
    await add_task(pool, own, str(Party.isg(Agency.DHS)), "isg_vote", T0 - timedelta(days=1), authors=["isg-dhs"])
    isg = auth("isg-dhs", "DHS", "isg_member")

    first = (await api.get("/v1/tasks", headers=isg)).json()
    assert len(first["items"]) == DEFAULT_PAGE and first["next_cursor"]
    assert own not in {t["proposal_id"] for t in first["items"]}
    assert [t["since"] for t in first["items"]] == sorted(t["since"] for t in first["items"])
    rest = (await api.get("/v1/tasks", params={"cursor": first["next_cursor"]}, headers=isg)).json()
    assert len(rest["items"]) == extra and rest["next_cursor"] is None
    assert rest["items"][0]["since"] > first["items"][-1]["since"]
    # Another ISG member of DHS, not an author, sees the own-proposal task first.
    other = (await api.get("/v1/tasks", params={"limit": 1}, headers=auth("isg-2", "DHS", "isg_member"))).json()
    assert [t["proposal_id"] for t in other["items"]] == [own] and other["next_cursor"]


async def test_a_cursor_this_server_did_not_make_is_a_422(api: httpx.AsyncClient, auth: TokenFor) -> None:
    isg = auth("isg-dhs", "DHS", "isg_member")
    for bad in ("garbage", "bm90fGVub3VnaA==", "eHx5fHp8d3x2"):  # not base64; 2 parts; 5 parts, no date
        r = await api.get("/v1/tasks", params={"cursor": bad}, headers=isg)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["errors"][0]["loc"] == ["query", "cursor"]
    assert (await api.get("/v1/tasks", params={"limit": 501}, headers=isg)).status_code == 422
    empty = (await api.get("/v1/tasks", headers=isg)).json()
    assert empty == {"items": [], "next_cursor": None}
