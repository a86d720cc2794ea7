"""The pages people use: a proposal through the forms, each role's view, refusals and CSRF."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import asyncpg
import httpx

from ilea.domain import Agency
from ilea.settings import Settings
from tests.api.conftest import TokenFor
from tests.support import fields, seed_instructors
from tests.web.conftest import csrf_of, sign_in

SEATS = ("STATE", "TREASURY", "DHS", "DOJ")


def new_form(csrf: str, **over: str) -> dict[str, str]:
    start = datetime.now(UTC).date() + timedelta(days=120)
    form = {
        "csrf_token": csrf,
        "form_id": "f-1",
        "title": "Countering wildlife trafficking",
        "academy": "BKK",
        "course_type": "specialized",
        "topic": "wildlife_trafficking",
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=9)).isoformat(),
        "seats": "24",
        "participating_countries": "TH, VN, LA",
        "estimated_cost_usd": "180,000",
        "justification": "Regional demand.",
        "need_0_agency": "DHS",
        "need_0_expertise": "wildlife_trafficking",
        "need_0_count": "1",
        "need_0_alt_0": "DOJ",
    }
    form.update(over)
    return form


def text(html: str) -> str:
    """The page's text with tags removed and whitespace collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


async def submit_via_api(api: httpx.AsyncClient, auth: TokenFor, title: str, **kw: Any) -> str:
    r = await api.post(
        "/v1/proposals",
        json=fields(title=title, **kw).model_dump(mode="json"),
        headers=auth("po-1", "STATE", "program_officer"),
    )
    assert r.status_code == 201, r.text
    pid: str = r.json()["id"]
    return pid


async def test_new_proposal_form_shows_errors_by_field_then_submits(api: httpx.AsyncClient, settings: Settings) -> None:
    sign_in(api, settings, "po-1", "STATE", "program_officer")
    page = await api.get("/ui/new")
    assert page.status_code == 200
    assert '<label for="title">Title</label>' in page.text
    csrf = csrf_of(page.text)

    too_soon = (datetime.now(UTC).date() + timedelta(days=5)).isoformat()
    bad = new_form(csrf, start_date=too_soon, end_date=too_soon, participating_countries="TH, XX", seats="0")
    r = await api.post("/ui/new", data=bad)
    assert r.status_code == 422
    # pydantic's error sits next to its field, and the form keeps what was typed
    assert re.search(r'id="seats"[^>]*aria-invalid="true"', r.text)
    assert 'id="err-seats"' in r.text and 'value="Countering wildlife trafficking"' in r.text

    r = await api.post(
        "/ui/new", data=new_form(csrf, start_date=too_soon, end_date=too_soon, participating_countries="TH, XX")
    )
    assert r.status_code == 422
    # the workflow rules' errors (validate_proposal) sit next to theirs
    assert re.search(r'id="err-start_date">start_date must be at least 60 days', r.text)
    assert "is not an ISO 3166-1 alpha-2 country code" in r.text
    assert 'id="err-participating_countries"' in r.text

    r = await api.post("/ui/new", data=new_form(csrf))
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert location.startswith("/ui/proposals/")
    again = await api.post("/ui/new", data=new_form(csrf))  # a double submit: same form id, same proposal
    assert again.headers["location"] == location

    page = await api.get(location)
    assert page.status_code == 200
    body = text(page.text)
    assert "The proposal is submitted" in body
    assert "Countering wildlife trafficking" in body and "ISG review" in body
    for seat in SEATS:
        assert f"{seat} ISG seat" in body
    assert "submitted “Countering wildlife trafficking”" in body  # the audit trail in plain words
    # the flash shows once
    assert "The proposal is submitted" not in text((await api.get(location)).text)


async def test_board_lists_filters_counts_and_refreshes(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings
) -> None:
    a = await submit_via_api(api, auth, "Financial crimes in the Balkans")
    b = await submit_via_api(api, auth, "Cybercrime basics")
    r = await api.post(
        f"/v1/proposals/{a}/isg-votes", json={"vote": "concur"}, headers=auth("isg-dhs", "DHS", "isg_member")
    )
    assert r.status_code == 200
    sign_in(api, settings, "aud", "STATE", "auditor")
    page = await api.get("/ui/board")
    assert page.status_code == 200
    body = text(page.text)
    assert "Financial crimes in the Balkans" in body and "Cybercrime basics" in body
    assert f'href="/ui/proposals/{a}"' in page.text
    assert re.search(r'data-stage="isg_review">2<', page.text)
    assert "DHS ISG seat · since" in body and "due" in body
    assert "Content-Security-Policy" in page.headers and "script-src 'nonce-" in page.headers["content-security-policy"]
    assert '<script nonce="' in page.text

    only = await api.get("/ui/board", params={"q": "cyber"})
    assert "Cybercrime basics" in only.text and "Financial crimes" not in only.text
    waiting = await api.get("/ui/board", params={"pending_on": "DHS"})
    assert f"/ui/proposals/{b}" in waiting.text and f"/ui/proposals/{a}" not in waiting.text
    assert 'option value="DHS" selected' in waiting.text
    none = await api.get("/ui/board", params={"stage": "scheduled"})
    assert "No proposals match." in none.text

    live = await api.get("/ui/board/rows", params={"q": "cyber"})
    assert live.status_code == 200
    data = live.json()
    assert "Cybercrime basics" in data["html"] and "Financial crimes" not in data["html"]
    assert data["counts"]["isg_review"] == 2 and data["total"] == 2
    api.cookies.clear()
    assert (await api.get("/ui/board/rows")).status_code == 401


async def test_vote_through_the_inbox_and_the_refusal_shows_its_reason(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings
) -> None:
    pid = await submit_via_api(api, auth, "Countering human trafficking")
    sign_in(api, settings, "isg-dhs", "DHS", "isg_member")
    inbox = await api.get("/ui/inbox")
    assert "ISG vote" in text(inbox.text) and "Countering human trafficking" in inbox.text
    assert f'action="/ui/proposals/{pid}/vote"' in inbox.text
    csrf = csrf_of(inbox.text)

    r = await api.post(
        f"/ui/proposals/{pid}/vote",
        data={"csrf_token": csrf, "form_id": "v1", "vote": "concur", "comment": "Good course", "next": "/ui/inbox"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/inbox"
    inbox = await api.get("/ui/inbox")
    assert "Your vote is recorded." in inbox.text
    assert "Nothing is waiting on you." in inbox.text
    shown = text((await api.get(f"/ui/proposals/{pid}")).text)
    assert "DHS concurs Good course isg-dhs" in shown
    assert "isg-dhs (DHS) concurs on the ISG seat - “Good course”." in shown

    # The chair cannot decide while the ISG is still reviewing: the workflow's reason is shown.
    sign_in(api, settings, "chair", "STATE", "board_chair")
    page = await api.get(f"/ui/proposals/{pid}")
    assert f'action="/ui/proposals/{pid}/decision"' not in page.text  # no form offered at this stage
    r = await api.post(
        f"/ui/proposals/{pid}/decision",
        data={"csrf_token": csrf_of(page.text), "form_id": "d1", "decision": "approve"},
    )
    assert r.status_code == 303 and r.headers["location"] == f"/ui/proposals/{pid}"
    page = await api.get(f"/ui/proposals/{pid}")
    detail = (await api.get(f"/v1/proposals/{pid}/events")).json()["items"][-1]
    assert detail["action"] == "refused"
    reason = detail["detail"]["reason"]
    assert f"Refused: {reason}" in text(page.text)
    assert 'class="flash error" role="alert"' in page.text
    assert "refused: " + reason in text(page.text)  # and it is in the trail

    # A role the viewer does not hold is refused before the workflow is asked.
    r = await api.post(f"/ui/proposals/{pid}/withdraw", data={"csrf_token": csrf_of(page.text), "reason": "no"})
    page = await api.get(f"/ui/proposals/{pid}")
    assert "this action needs the program_officer role" in page.text


async def test_forged_posts_are_refused(api: httpx.AsyncClient, auth: TokenFor, settings: Settings) -> None:
    pid = await submit_via_api(api, auth, "Countering corruption")
    sign_in(api, settings, "isg-doj", "DOJ", "isg_member")
    page = await api.get(f"/ui/proposals/{pid}")
    good = csrf_of(page.text)
    vote = {"form_id": "x", "vote": "nonconcur", "comment": "forged"}

    r = await api.post(f"/ui/proposals/{pid}/vote", data=vote)  # no token
    assert r.status_code == 403 and "security token" in r.text
    r = await api.post(f"/ui/proposals/{pid}/vote", data={**vote, "csrf_token": "0" * 64})  # wrong token
    assert r.status_code == 403
    r = await api.post(
        f"/ui/proposals/{pid}/vote", data={**vote, "csrf_token": good}, headers={"origin": "https://evil.example"}
    )
    assert r.status_code == 403 and "evil.example" in r.text
    # another session's token does not work either
    other = csrf_of((await api.get("/ui/board")).text)
    sign_in(api, settings, "isg-doj-2", "DOJ", "isg_member")
    r = await api.post(f"/ui/proposals/{pid}/vote", data={**vote, "csrf_token": other})
    assert r.status_code == 403
    doc = (await api.get(f"/v1/proposals/{pid}", headers=auth("po-1", "STATE", "program_officer"))).json()
    assert doc["isg_votes"] == []


async def test_staffing_from_the_coordinators_inbox(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings, pool: asyncpg.Pool
) -> None:
    ids = await seed_instructors(pool)
    pid = await submit_via_api(api, auth, "Financial investigations")
    for seat in SEATS:
        r = await api.post(
            f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth(f"isg-{seat}", seat, "isg_member")
        )
        assert r.status_code == 200, r.text
    sign_in(api, settings, "chair", "STATE", "board_chair")
    page = await api.get(f"/ui/proposals/{pid}")
    assert "Chair&#39;s decision" in page.text or "Chair's decision" in page.text
    r = await api.post(
        f"/ui/proposals/{pid}/decision",
        data={"csrf_token": csrf_of(page.text), "form_id": "d", "decision": "approve", "comment": "Go"},
    )
    assert r.status_code == 303
    page = await api.get(f"/ui/proposals/{pid}")
    assert "The decision is recorded." in page.text and "Staffing" in page.text

    sign_in(api, settings, "coord-treasury", "TREASURY", "agency_coordinator")
    inbox = await api.get("/ui/inbox")
    body = text(inbox.text)
    assert "Instructor request" in body and "TREASURY, corruption financial crimes" in body
    free = re.findall(r'<option value="([^"]+)">Treasury Instructor', inbox.text)
    assert sorted(free) == sorted(ids[Agency.TREASURY])  # all free: nobody is booked yet
    request_id = re.search(r'action="/ui/requests/([^/]+)/accept"', inbox.text)
    assert request_id
    r = await api.post(
        f"/ui/requests/{request_id.group(1)}/accept",
        data={
            "csrf_token": csrf_of(inbox.text),
            "form_id": "a",
            "instructor_id": ids[Agency.TREASURY][0],
            "next": "/ui/inbox",
        },
    )
    assert r.status_code == 303
    inbox = await api.get("/ui/inbox")
    assert "The instructor is booked." in inbox.text
    shown = text((await api.get(f"/ui/proposals/{pid}")).text)
    assert "accepted Treasury Instructor 1" in shown

    # DOJ's coordinator answers one of its two slots on the proposal page: a decline, with the reason.
    sign_in(api, settings, "coord-doj", "DOJ", "agency_coordinator")
    page = await api.get(f"/ui/proposals/{pid}")
    first = re.search(r'action="/ui/requests/([^/]+)/decline"', page.text)
    assert first
    r = await api.post(
        f"/ui/requests/{first.group(1)}/decline",
        data={"csrf_token": csrf_of(page.text), "form_id": "n", "reason": "Nobody speaks Hungarian"},
    )
    assert r.status_code == 303
    shown = text((await api.get(f"/ui/proposals/{pid}")).text)
    assert "The request is declined." in shown and "Nobody speaks Hungarian" in shown


async def test_reports_page_draws_a_chart_for_officers_only(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings
) -> None:
    pid = await submit_via_api(api, auth, "Leadership for prosecutors")
    for seat in SEATS:
        await api.post(
            f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth(f"isg-{seat}", seat, "isg_member")
        )
    sign_in(api, settings, "po-1", "STATE", "program_officer")
    page = await api.get("/ui/reports")
    assert page.status_code == 200
    assert '<svg class="chart" role="img"' in page.text
    assert "ISG review: median" in page.text  # the chart's text alternative
    assert re.search(r"<th scope=\"row\">Policy Board review</th><td class=\"num\">1</td>", page.text)
    sign_in(api, settings, "isg-dhs", "DHS", "isg_member")
    assert (await api.get("/ui/reports")).status_code == 403


async def test_inbox_fragment_is_stable_between_polls(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings
) -> None:
    await submit_via_api(api, auth, "Leadership in policing")
    sign_in(api, settings, "isg-treasury", "TREASURY", "isg_member")
    first = await api.get("/ui/inbox/rows")
    assert first.status_code == 200 and first.json()["count"] == 1
    assert "Leadership in policing" in first.json()["html"]
    second = await api.get("/ui/inbox/rows")
    assert second.json()["html"] == first.json()["html"]  # so the page only repaints on a change


async def test_program_officer_withdraws_and_others_cannot_submit(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings
) -> None:
    pid = await submit_via_api(api, auth, "Hate crimes investigations")
    sign_in(api, settings, "isg-dhs", "DHS", "isg_member")
    assert (await api.get("/ui/new")).status_code == 403
    page = await api.get(f"/ui/proposals/{pid}")
    assert f"/ui/proposals/{pid}/withdraw" not in page.text
    r = await api.post("/ui/new", data=new_form(csrf_of(page.text)))
    assert r.status_code == 403

    sign_in(api, settings, "po-1", "STATE", "program_officer")
    page = await api.get(f"/ui/proposals/{pid}")
    assert f'action="/ui/proposals/{pid}/withdraw"' in page.text
    csrf = csrf_of(page.text)
    r = await api.post(f"/ui/proposals/{pid}/withdraw", data={"csrf_token": csrf, "form_id": "w", "reason": " "})
    assert "Refused: a reason is required" in text((await api.get(r.headers["location"])).text)
    r = await api.post(
        f"/ui/proposals/{pid}/withdraw", data={"csrf_token": csrf, "form_id": "w2", "reason": "Budget moved"}
    )
    shown = text((await api.get(r.headers["location"])).text)
    assert "The proposal is withdrawn." in shown and "Withdrawn" in shown
    assert "withdrew the proposal: Budget moved" in shown


async def test_revision_through_the_form(api: httpx.AsyncClient, auth: TokenFor, settings: Settings) -> None:
    pid = await submit_via_api(api, auth, "Counternarcotics at sea")
    for seat in SEATS:
        vote = "request_changes" if seat == "DHS" else "concur"
        r = await api.post(
            f"/v1/proposals/{pid}/isg-votes",
            json={"vote": vote, "comment": "Add a maritime module"},
            headers=auth(f"isg-{seat}", seat, "isg_member"),
        )
        assert r.status_code == 200, r.text
    assert r.json()["stage"] == "changes_requested"

    sign_in(api, settings, "po-1", "STATE", "program_officer")
    inbox = await api.get("/ui/inbox")
    assert f'href="/ui/proposals/{pid}/revise"' in inbox.text
    page = await api.get(f"/ui/proposals/{pid}/revise")
    assert page.status_code == 200
    assert 'value="Counternarcotics at sea"' in page.text and 'value="HU, RO, PL"' in page.text
    form = {k: unescape(v) for k, v in re.findall(r'<input id="[^"]+" name="([^"]+)"[^>]*value="([^"]*)"', page.text)}
    for name in (
        "academy",
        "course_type",
        "topic",
        "need_0_agency",
        "need_0_expertise",
        "need_1_agency",
        "need_1_expertise",
    ):
        chosen = re.search(rf'<select id="{name}" name="{name}".*?<option value="([^"]*)" selected', page.text, re.S)
        assert chosen, name
        form[name] = chosen.group(1)
    form |= {"csrf_token": csrf_of(page.text), "form_id": "rev-1", "title": "Counternarcotics at sea, maritime"}

    r = await api.post(f"/ui/proposals/{pid}/revise", data=form)  # no comment
    assert r.status_code == 422 and 'id="err-comment"' in r.text
    r = await api.post(f"/ui/proposals/{pid}/revise", data={**form, "comment": "Added the maritime module"})
    assert r.status_code == 303, text(r.text)
    shown = text((await api.get(r.headers["location"])).text)
    assert "The revision is sent" in shown
    assert "Counternarcotics at sea, maritime" in shown and "ISG votes, round 2" in shown


async def test_unfilled_slot_is_retargeted_from_the_inbox(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings, pool: asyncpg.Pool
) -> None:
    await seed_instructors(pool)
    pid = await submit_via_api(api, auth, "Investigating fraud")
    for seat in SEATS:
        await api.post(
            f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth(f"isg-{seat}", seat, "isg_member")
        )
    r = await api.post(
        f"/v1/proposals/{pid}/board-decision",
        json={"decision": "approve"},
        headers=auth("chair", "STATE", "board_chair"),
    )
    doj = next(q for q in r.json()["instructor_requests"] if q["agency"] == "DOJ")
    r = await api.post(
        f"/v1/instructor-requests/{doj['id']}/decline",
        json={"reason": "none free"},
        headers=auth("coord-doj", "DOJ", "agency_coordinator"),
    )
    assert r.status_code == 200 and r.json()["status"] == "unfilled", r.text

    sign_in(api, settings, "po-1", "STATE", "program_officer")
    inbox = await api.get("/ui/inbox")
    assert "Unfilled slot to re-target" in text(inbox.text)
    assert f'action="/ui/requests/{doj["id"]}/retarget"' in inbox.text
    r = await api.post(
        f"/ui/requests/{doj['id']}/retarget",
        data={"csrf_token": csrf_of(inbox.text), "form_id": "rt", "agency": "DHS", "next": "/ui/inbox"},
    )
    assert r.status_code == 303
    assert "The slot is sent to the other agency." in (await api.get("/ui/inbox")).text
    doc = (await api.get(f"/v1/proposals/{pid}", headers=auth("po-1", "STATE", "program_officer"))).json()
    assert any(q["agency"] == "DHS" and q["status"] == "open" for q in doc["instructor_requests"])
