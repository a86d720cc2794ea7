"""Tracking: list filters and cursor pagination, the task inbox per role, the roster,
per-agency visibility of instructor requests, and the cycle-time report."""

from __future__ import annotations

import itertools
import re
from typing import Any

import asyncpg
import httpx

from ilea.domain import Agency, CourseType, Topic
from ilea.messages import InstructorNeed
from tests.api.conftest import TokenFor
from tests.support import fields, seed_instructors

SEATS = ("STATE", "TREASURY", "DHS", "DOJ")


async def submit(api: httpx.AsyncClient, auth: TokenFor, title: str, **kw: Any) -> dict[str, Any]:
    r = await api.post(
        "/v1/proposals",
        json=fields(title=title, **kw).model_dump(mode="json"),
        headers=auth("po-1", "STATE", "program_officer"),
    )
    assert r.status_code == 201, r.text
    return r.json()


async def vote(api: httpx.AsyncClient, auth: TokenFor, pid: str, seat: str, v: str = "concur") -> dict[str, Any]:
    r = await api.post(
        f"/v1/proposals/{pid}/isg-votes",
        json={"vote": v, "comment": "c"},
        headers=auth(f"isg-{seat}", seat, "isg_member"),
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_filters_and_cursor_pages(api: httpx.AsyncClient, auth: TokenFor) -> None:
    made = [await submit(api, auth, f"Course number {i}") for i in range(5)]
    await vote(api, auth, made[0]["id"], "DHS")
    po = auth("po-1", "STATE", "program_officer")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/v1/proposals", params=params, headers=po)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(p["id"] for p in made) and len(seen) == 5
    # Waiting on DHS: all but the one DHS voted on.
    r = (await api.get("/v1/proposals", params={"pending_on": "DHS"}, headers=po)).json()
    assert {i["id"] for i in r["items"]} == {p["id"] for p in made[1:]}
    r = (await api.get("/v1/proposals", params={"q": "number 3"}, headers=po)).json()
    assert [i["title"] for i in r["items"]] == ["Course number 3"]
    r = (await api.get("/v1/proposals", params={"q": "50%_"}, headers=po)).json()
    assert r["items"] == []
    r = (await api.get("/v1/proposals", params={"stage": "board_review"}, headers=po)).json()
    assert r["items"] == []
    for bad in ({"limit": 201}, {"stage": "nope"}, {"cursor": "garbage"}, {"pending_on": "FBI"}):
        assert (await api.get("/v1/proposals", params=bad, headers=po)).status_code == 422


async def test_inbox_per_role_oldest_first(api: httpx.AsyncClient, auth: TokenFor) -> None:
    a = await submit(api, auth, "First course")
    b = await submit(api, auth, "Second course")
    inbox = (await api.get("/v1/tasks", headers=auth("isg-dhs", "DHS", "isg_member"))).json()["items"]
    assert [(t["kind"], t["proposal_id"]) for t in inbox] == [("isg_vote", a["id"]), ("isg_vote", b["id"])]
    assert all(t["due"] for t in inbox)
    # The submitter, also an ISG member, is not asked to review their own proposals.
    own = (await api.get("/v1/tasks", headers=auth("po-1", "STATE", "isg_member"))).json()["items"]
    assert own == []
    for seat in SEATS:
        await vote(api, auth, a["id"], seat)
    chair = (await api.get("/v1/tasks", headers=auth("chair", "STATE", "board_chair"))).json()["items"]
    assert [(t["kind"], t["proposal_id"]) for t in chair] == [("board_decision", a["id"])]
    member = (await api.get("/v1/tasks", headers=auth("b-doj", "DOJ", "board_member"))).json()["items"]
    assert [t["kind"] for t in member] == ["board_position"]
    dhs = (await api.get("/v1/tasks", headers=auth("isg-dhs", "DHS", "isg_member"))).json()["items"]
    assert [t["proposal_id"] for t in dhs] == [b["id"]]


async def test_revise_task_for_program_officer(api: httpx.AsyncClient, auth: TokenFor) -> None:
    p = await submit(api, auth, "Needs work")
    after = await vote(api, auth, p["id"], "DOJ", "request_changes")
    assert after["stage"] == "isg_review"  # the round closes when all four have voted
    for seat in ("STATE", "TREASURY", "DHS"):
        after = await vote(api, auth, p["id"], seat)
    assert after["stage"] == "changes_requested"
    assert [x["party"] for x in after["pending_on"]] == ["program_officer"]
    tasks = (await api.get("/v1/tasks", headers=auth("po-9", "STATE", "program_officer"))).json()["items"]
    assert [t["kind"] for t in tasks] == ["revise"]
    body = {"proposal": fields(title="Needs work, revised").model_dump(mode="json"), "comment": "fixed"}
    r = await api.post(
        f"/v1/proposals/{p['id']}/revisions", json=body, headers=auth("po-9", "STATE", "program_officer")
    )
    assert r.status_code == 200, r.text
    assert r.json()["round"] == 2 and r.json()["isg_votes"] == [] and r.json()["stage"] == "isg_review"
    # The reviser is now an author too: as an ISG member they are not asked to vote on it.
    reviser = (await api.get("/v1/tasks", headers=auth("po-9", "STATE", "isg_member"))).json()["items"]
    assert [t["proposal_id"] for t in reviser] == []
    other = (await api.get("/v1/tasks", headers=auth("isg-x", "STATE", "isg_member"))).json()["items"]
    assert [t["proposal_id"] for t in other] == [p["id"]]
    assert (
        await api.get("/v1/tasks", params={"limit": 0}, headers=auth("isg-x", "STATE", "isg_member"))
    ).status_code == 422


async def test_roster_and_request_visibility(api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool) -> None:
    coord = auth("c-dhs", "DHS", "agency_coordinator")
    r = await api.post(
        "/v1/instructors",
        json={"name": "Lee Park", "component": "HSI", "expertise": ["cybercrime"], "languages": ["en", "ko"]},
        headers=coord,
    )
    assert r.status_code == 201 and r.json()["agency"] == "DHS" and r.json()["active"] is True
    lee = r.json()["id"]
    r = await api.post(
        "/v1/instructors", json={"name": "Lee Park", "component": "FBI", "expertise": ["cybercrime"]}, headers=coord
    )
    assert r.status_code == 422
    r = await api.post(
        "/v1/instructors",
        json={"name": "X Y", "component": "HSI", "expertise": ["cybercrime"]},
        headers=auth("po", "STATE", "program_officer"),
    )
    assert r.status_code == 403
    r = await api.patch(
        f"/v1/instructors/{lee}", json={"active": False}, headers=auth("c-doj", "DOJ", "agency_coordinator")
    )
    assert r.status_code == 403
    r = await api.patch(f"/v1/instructors/{lee}", json={"active": False}, headers=coord)
    assert r.status_code == 200 and r.json()["active"] is False
    listed = (await api.get("/v1/instructors", params={"expertise": "cybercrime"}, headers=coord)).json()["items"]
    assert [i["name"] for i in listed] == ["Lee Park"]  # deactivation keeps the record

    await seed_instructors(pool)
    needs = [
        InstructorNeed(agency=Agency.DHS, expertise=Topic.cybercrime, count=1),
        InstructorNeed(agency=Agency.DOJ, expertise=Topic.cybercrime, count=1),
    ]
    p = await submit(api, auth, "Specialized and cheap", needs=needs, cost="90000", course_type=CourseType.specialized)
    for seat in SEATS:
        after = await vote(api, auth, p["id"], seat)
    assert after["stage"] == "staffing" and after["fast_tracked"] is True
    mine = (await api.get("/v1/instructor-requests", headers=coord)).json()["items"]
    assert [x["agency"] for x in mine] == ["DHS"]
    r = await api.get("/v1/instructor-requests", params={"agency": "DOJ"}, headers=coord)
    assert r.status_code == 403
    everything = (await api.get("/v1/instructor-requests", headers=auth("a", "STATE", "auditor"))).json()["items"]
    assert sorted(x["agency"] for x in everything) == ["DHS", "DOJ"]
    r = await api.get("/v1/instructor-requests", headers=auth("i", "DHS", "isg_member"))
    assert r.status_code == 403


async def test_cycle_time_report(api: httpx.AsyncClient, auth: TokenFor) -> None:
    p = await submit(api, auth, "Report me")
    for seat in SEATS:
        await vote(api, auth, p["id"], seat)
    r = await api.get("/v1/reports/cycle-times", headers=auth("a", "STATE", "auditor"))
    assert r.status_code == 200
    report = r.json()
    assert report["counts_by_stage"] == {"board_review": 1}
    stages = {(i["stage"], i["academy"], i["topic"]) for i in report["items"]}
    assert ("isg_review", None, None) in stages and ("isg_review", "BUD", None) in stages
    assert all(i["median_days"] >= 0 and i["p90_days"] >= i["median_days"] for i in report["items"])
    assert (await api.get("/v1/reports/cycle-times", headers=auth("c", "DHS", "isg_member"))).status_code == 403


async def test_stage_periods_and_tasks_follow_each_action(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    """The read model's stage periods form one chain with exactly one open period, and the
    task rows are replaced (not added to) on every action."""
    p = await submit(api, auth, "Periods")

    async def parties() -> list[str]:
        rows = await pool.fetch("SELECT party FROM tasks WHERE proposal_id = $1 ORDER BY party", p["id"])
        return [r["party"] for r in rows]

    assert await parties() == sorted(f"isg:{s}" for s in SEATS)
    for i, seat in enumerate(SEATS[:-1], start=1):
        await vote(api, auth, p["id"], seat)
        assert await parties() == sorted(f"isg:{s}" for s in SEATS[i:])
    await vote(api, auth, p["id"], SEATS[-1])
    assert all(x.startswith("board") for x in await parties()) and await parties()

    periods = await pool.fetch(
        "SELECT seq, stage, entered_at, left_at FROM stage_periods WHERE proposal_id = $1 ORDER BY seq", p["id"]
    )
    assert [r["seq"] for r in periods] == list(range(1, len(periods) + 1))
    assert [r["stage"] for r in periods][-2:] == ["isg_review", "board_review"]
    assert [r["left_at"] is None for r in periods] == [False] * (len(periods) - 1) + [True]
    for before, after in itertools.pairwise(periods):
        assert before["left_at"] == after["entered_at"]


async def test_reference_owner_and_my_proposals(api: httpx.AsyncClient, auth: TokenFor) -> None:
    """Issue 13: every proposal has a reference ILEA-<FY>-<nnnn> and an owner; `owner=me`
    lists one's own, and `q` finds a proposal by its reference."""
    mine = await submit(api, auth, "Mine")
    r = await api.post(
        "/v1/proposals",
        json=fields(title="Theirs").model_dump(mode="json"),
        headers=auth("po-2", "STATE", "program_officer"),
    )
    theirs = r.json()
    assert mine["owner"] == "po-1" and theirs["owner"] == "po-2"
    refs = [mine["reference"], theirs["reference"]]
    assert all(re.fullmatch(r"ILEA-20\d\d-\d{4}", ref) for ref in refs), refs
    assert len(set(refs)) == 2
    po1 = auth("po-1", "STATE", "program_officer")
    listed = (await api.get("/v1/proposals", params={"owner": "me"}, headers=po1)).json()["items"]
    assert [(i["id"], i["reference"], i["owner"]) for i in listed] == [(mine["id"], mine["reference"], "po-1")]
    listed = (await api.get("/v1/proposals", params={"owner": "po-2"}, headers=po1)).json()["items"]
    assert [i["id"] for i in listed] == [theirs["id"]]
    found = (await api.get("/v1/proposals", params={"q": theirs["reference"]}, headers=po1)).json()["items"]
    assert [i["id"] for i in found] == [theirs["id"]]
    number = theirs["reference"].rsplit("-", 1)[1]
    found = (await api.get("/v1/proposals", params={"q": f"-{number}"}, headers=po1)).json()["items"]
    assert [i["id"] for i in found] == [theirs["id"]]
    again = (await api.get(f"/v1/proposals/{mine['id']}", headers=auth("x", "DHS", "isg_member"))).json()
    assert again["reference"] == mine["reference"] and again["owner"] == "po-1"
