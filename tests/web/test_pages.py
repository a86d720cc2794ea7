"""The pages people use: a proposal through the forms, each role's view, refusals and CSRF."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape
from typing import Any

import asyncpg
import httpx

from ilea.domain import Agency, Topic
from ilea.messages import InstructorNeed
from ilea.settings import Settings
from tests.api.conftest import TokenFor
from tests.support import fields, seed_instructors
from tests.web.conftest import csrf_of, form_fields, sign_in

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


async def approved_via_api(api: httpx.AsyncClient, auth: TokenFor, title: str) -> tuple[str, dict[str, Any]]:
    """A proposal submitted, concurred by the four seats and approved by the chair: its id and the
    proposal as the decision returned it (the instructor requests just sent)."""
    pid = await submit_via_api(api, auth, title)
    for seat in SEATS:
        r = await api.post(
            f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth(f"isg-{seat}", seat, "isg_member")
        )
        assert r.status_code == 200, r.text
    r = await api.post(
        f"/v1/proposals/{pid}/board-decision",
        json={"decision": "approve"},
        headers=auth("chair", "STATE", "board_chair"),
    )
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return pid, doc


async def test_new_proposal_form_shows_errors_by_field_then_submits(api: httpx.AsyncClient, settings: Settings) -> None:
    sign_in(api, settings, "po-1", "STATE", "program_officer")
    page = await api.get("/ui/new")
    assert page.status_code == 200
    assert '<label class="usa-label" for="title">Title</label>' in page.text
    assert "3 to 200 characters." in page.text and "1 to 10 needs (1 now)" in text(page.text)  # limits told first
    csrf = csrf_of(page.text)

    too_soon = (datetime.now(UTC).date() + timedelta(days=5)).isoformat()
    bad = new_form(csrf, start_date=too_soon, end_date=too_soon, participating_countries="TH, XX", seats="0")
    r = await api.post("/ui/new", data=bad)
    assert r.status_code == 422
    # each error sits next to its field, and the form keeps what was typed
    assert re.search(r'id="seats"[^>]*aria-invalid="true"', r.text)
    assert 'id="err-seats"' in r.text and 'value="Countering wildlife trafficking"' in r.text
    # the proposal rules are reported in the same answer as the field's own (product.md edition 2)
    assert re.search(r'id="err-start_date">The course must start at least 60 days', r.text)

    r = await api.post(
        "/ui/new", data=new_form(csrf, start_date=too_soon, end_date=too_soon, participating_countries="TH, XX")
    )
    assert r.status_code == 422
    # the workflow rules' errors (validate_proposal) sit next to theirs
    assert re.search(r'id="err-start_date">The course must start at least 60 days', r.text)
    assert 'id="error-summary" autofocus' in r.text  # the USWDS error summary takes the focus
    assert "is not a country code" in r.text
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
        assert f"{seat} no vote yet" in body
    assert "submitted “Countering wildlife trafficking” for ISG review." in body  # the audit trail in plain words
    assert " ET " in body and not re.search(r"\d UTC", body)  # no time is shown in UTC
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
    assert re.search(r'data-count="isg_review">2<', page.text)
    # who it waits on, and the deadline as a person reads it: the Eastern day and the business days left
    assert re.search(r"DHS ISG seat ?: end of \w{3} \d{1,2} \w{3}( \d{4})? ET — \d+ business days left", body)
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
    assert data["counts"]["isg_review"] == 2 and data["counts"]["total"] == 2
    api.cookies.clear()
    assert (await api.get("/ui/board/rows")).status_code == 401


async def test_vote_from_the_inbox_on_its_decision_page_and_a_refusal_keeps_what_was_entered(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings
) -> None:
    pid = await submit_via_api(api, auth, "Countering human trafficking")
    sign_in(api, settings, "isg-dhs", "DHS", "isg_member")
    inbox = await api.get("/ui/inbox")
    assert "ISG vote" in text(inbox.text) and "Countering human trafficking" in inbox.text
    assert f'href="/ui/proposals/{pid}/vote"' in inbox.text  # each task opens its decision page
    page = await api.get(f"/ui/proposals/{pid}/vote")
    assert page.status_code == 200
    assert " checked" not in page.text  # no decision is ever preset
    assert "The seats' votes so far" in page.text and "Instructors needed" in page.text and "$" in text(page.text)
    csrf = csrf_of(page.text)

    # A non-concur without a comment is refused by the workflow: the page comes back as it was sent.
    typed = "x" * 5001
    r = await api.post(
        f"/ui/proposals/{pid}/vote", data={"csrf_token": csrf, "form_id": "v0", "vote": "nonconcur", "comment": typed}
    )
    assert r.status_code == 422 and "is 5,001 characters; the limit is 5,000" in r.text  # refused, never cut
    assert f">{typed}</textarea>" in r.text
    r = await api.post(
        f"/ui/proposals/{pid}/vote", data={"csrf_token": csrf, "form_id": "v1", "vote": "nonconcur", "comment": " "}
    )
    assert r.status_code in (409, 422), r.status_code
    assert re.search(r'id="vote-nonconcur" type="radio" name="vote" value="nonconcur" checked', r.text)
    assert not re.search(r'value="concur" checked', r.text)
    # The workflow's refusal names its field (errors: [{loc, msg}]): the reason sits by the comment.
    assert 'id="error-summary" autofocus' in r.text and "a comment is required with a nonconcur vote" in r.text
    trail = (await api.get(f"/v1/proposals/{pid}/events")).json()["items"]
    assert trail[-1]["action"] == "refused"

    r = await api.post(
        f"/ui/proposals/{pid}/vote",
        data={"csrf_token": csrf, "form_id": "v2", "vote": "concur", "comment": "Good course", "next": "/ui/inbox"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/inbox"
    inbox = await api.get("/ui/inbox")
    assert "Your vote is recorded." in inbox.text
    assert "Nothing is waiting on you." in inbox.text
    shown = text((await api.get(f"/ui/proposals/{pid}")).text)
    assert "DHS concurs Good course isg-dhs" in shown
    assert "isg-dhs (DHS) concurs for the DHS ISG seat (round 1): “Good course”." in shown

    # The chair cannot decide while the ISG is still reviewing: the workflow's reason is shown.
    sign_in(api, settings, "chair", "STATE", "board_chair")
    page = await api.get(f"/ui/proposals/{pid}")
    assert f'href="/ui/proposals/{pid}/decision"' not in page.text  # no decision offered at this stage
    r = await api.post(
        f"/ui/proposals/{pid}/decision",
        data={"csrf_token": csrf_of(page.text), "form_id": "d1", "decision": "approve", "comment": "Fine"},
    )
    assert r.status_code == 409
    detail = (await api.get(f"/v1/proposals/{pid}/events")).json()["items"][-1]
    assert detail["action"] == "refused"
    reason = detail["detail"]["reason"]
    assert f"Refused: {reason}" in text(r.text)
    assert re.search(r'value="approve" checked', r.text) and ">Fine</textarea>" in r.text
    assert "refused: " + reason in text((await api.get(f"/ui/proposals/{pid}")).text)  # and it is in the trail


async def test_a_role_the_viewer_lacks_is_refused_before_the_workflow(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings
) -> None:
    pid = await submit_via_api(api, auth, "Countering maritime piracy")
    sign_in(api, settings, "chair", "STATE", "board_chair")
    page = await api.get(f"/ui/proposals/{pid}")
    r = await api.post(f"/ui/proposals/{pid}/withdraw", data={"csrf_token": csrf_of(page.text), "reason": "no"})
    assert r.status_code == 403
    assert "This is for program officers; you are signed in as chair." in text(r.text)
    assert [e["action"] for e in (await api.get(f"/v1/proposals/{pid}/events")).json()["items"]] == [
        "submitted",
        "stage_changed",
    ]


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
        vote = {"vote": "nonconcur", "comment": "Too costly"} if seat == "DOJ" else {"vote": "concur"}
        r = await api.post(f"/v1/proposals/{pid}/isg-votes", json=vote, headers=auth(f"isg-{seat}", seat, "isg_member"))
        assert r.status_code == 200, r.text
    sign_in(api, settings, "chair", "STATE", "board_chair")
    page = await api.get(f"/ui/proposals/{pid}")
    assert f'href="/ui/proposals/{pid}/decision"' in page.text
    page = await api.get(f"/ui/proposals/{pid}/decision")
    shown = text(page.text)
    # the chair's context: cost, fast-track status, the dissent with its comment, the Board's positions
    assert "Estimated cost: $" in shown and "Fast track: no" in shown
    assert "Dissent: DOJ did not concur: “Too costly”" in shown and "No Board positions recorded yet." in shown
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
    assert "Instructor request" in body and "Slot 1: corruption and financial crimes" in body
    request_id = re.search(r'href="/ui/requests/([^"]+)"', inbox.text)
    assert request_id
    page = await api.get(f"/ui/requests/{request_id.group(1)}")
    free = re.findall(r'name="instructor_id" value="([^"]+)"', page.text)
    assert sorted(free) == sorted(ids[Agency.TREASURY])  # all free: nobody is booked yet
    assert " checked" not in page.text
    r = await api.post(
        f"/ui/requests/{request_id.group(1)}/accept",
        data={"csrf_token": csrf_of(page.text), "form_id": "a", "next": "/ui/inbox"},
    )
    assert r.status_code == 422 and "choose an instructor" in r.text  # nothing chosen: said, nothing sent
    r = await api.post(
        f"/ui/requests/{request_id.group(1)}/accept",
        data={
            "csrf_token": csrf_of(page.text),
            "form_id": "a",
            "instructor_id": ids[Agency.TREASURY][0],
            "next": "/ui/inbox",
        },
    )
    assert r.status_code == 303
    inbox = await api.get("/ui/inbox")
    assert "The instructor is booked." in inbox.text
    shown = text((await api.get(f"/ui/proposals/{pid}")).text)
    assert "booked Treasury Instructor 1 for slot 1." in shown

    # DOJ's coordinator declines one of its two slots on its decision page, with the reason.
    sign_in(api, settings, "coord-doj", "DOJ", "agency_coordinator")
    page = await api.get(f"/ui/proposals/{pid}")
    first = re.search(r'href="/ui/requests/([^"]+)"', page.text)
    assert first
    page = await api.get(f"/ui/requests/{first.group(1)}")
    r = await api.post(
        f"/ui/requests/{first.group(1)}/decline",
        data={"csrf_token": csrf_of(page.text), "form_id": "n", "reason": "Nobody speaks Hungarian"},
    )
    assert r.status_code == 303
    shown = text((await api.get(f"/ui/proposals/{pid}")).text)
    assert "The request is declined." in shown and "Nobody speaks Hungarian" in shown

    # Who the instructor is and why an agency declined stay with those product.md lets see them.
    sign_in(api, settings, "isg-dhs", "DHS", "isg_member")
    shown = text((await api.get(f"/ui/proposals/{pid}")).text)
    assert "Nobody speaks Hungarian" not in shown and "Treasury Instructor 1" not in shown
    assert "declined the instructor request for slot" in shown and "filled slot 1." in shown
    sign_in(api, settings, "po-1", "STATE", "program_officer")
    shown = text((await api.get(f"/ui/proposals/{pid}")).text)
    assert "Nobody speaks Hungarian" in shown and "Treasury Instructor 1" in shown


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
    assert '<svg class="ilea-chart chart" role="img"' in page.text
    assert "ISG review: median" in page.text  # the chart's text alternative
    assert re.search(r"<th scope=\"row\">Policy Board review</th><td class=\"text-right\">1</td>", page.text)
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
    assert f'href="/ui/proposals/{pid}/withdraw"' in page.text  # a link to the confirmation, not a one-click form
    page = await api.get(f"/ui/proposals/{pid}/withdraw")
    assert "Withdrawing cannot be undone" in page.text and f'action="/ui/proposals/{pid}/withdraw"' in page.text
    csrf = csrf_of(page.text)
    for thin in (" ", "Budget", "Budget moved away"):  # a reason of substance: four words, twenty characters
        r = await api.post(f"/ui/proposals/{pid}/withdraw", data={"csrf_token": csrf, "form_id": "w", "reason": thin})
        assert r.status_code == 422 and "say why in at least 4 words" in r.text
        assert f">{thin}</textarea>" in r.text  # exactly what was typed
    reason = "The FY27 budget moved to the Gaborone academy"
    r = await api.post(f"/ui/proposals/{pid}/withdraw", data={"csrf_token": csrf, "form_id": "w2", "reason": reason})
    assert r.status_code == 303
    shown = text((await api.get(r.headers["location"])).text)
    assert "The proposal is withdrawn." in shown and "Withdrawn" in shown
    assert f"po-1 (STATE) withdrew the proposal: “{reason}”." in shown


async def test_a_seven_need_proposal_revised_through_the_form_keeps_all_seven(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings
) -> None:
    needs = [
        InstructorNeed(agency=Agency(a), expertise=Topic(t), count=c, alternate_agencies=alts)
        for a, t, c, alts in [
            ("TREASURY", "corruption_financial_crimes", 1, ["DOJ"]),
            ("DHS", "human_trafficking", 2, []),
            ("DOJ", "cybercrime", 1, ["DHS", "TREASURY"]),
            ("DHS", "counternarcotics", 3, ["DOJ"]),
            ("TREASURY", "leadership_management", 1, []),
            ("DOJ", "counterterrorism", 5, ["TREASURY"]),
            ("DHS", "wildlife_trafficking", 1, ["DOJ", "TREASURY"]),
        ]
    ]
    pid = await submit_via_api(api, auth, "Counternarcotics at sea", needs=needs)
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
    assert page.status_code == 200 and "1 to 10 needs (7 now)" in text(page.text)
    form = form_fields(page.text, f"/ui/proposals/{pid}/revise")
    assert form["title"] == "Counternarcotics at sea" and form["participating_countries"] == "HU, RO, PL"
    assert form["need_6_agency"] == "DHS" and form["need_6_alt_1"] == "TREASURY" and "need_7_agency" not in form

    # "Add another need" comes back with an eighth, empty row and everything typed kept; "Remove" drops it again.
    form["title"] = "Counternarcotics at sea, maritime"
    more = await api.post(f"/ui/proposals/{pid}/revise", data={**form, "add_need": "1"})
    assert more.status_code == 200 and "1 to 10 needs (8 now)" in text(more.text)
    form8 = form_fields(more.text, f"/ui/proposals/{pid}/revise")
    assert form8["title"] == "Counternarcotics at sea, maritime" and form8["need_7_agency"] == ""
    back = await api.post(f"/ui/proposals/{pid}/revise", data={**form8, "remove_need": "7"})
    form = form_fields(back.text, f"/ui/proposals/{pid}/revise")
    assert "need_7_agency" not in form and form["need_6_agency"] == "DHS"

    r = await api.post(f"/ui/proposals/{pid}/revise", data=form)  # no comment
    assert r.status_code == 422 and 'id="err-comment"' in r.text
    r = await api.post(
        f"/ui/proposals/{pid}/revise", data={**form, "seats": "24", "comment": "Added the maritime module"}
    )
    assert r.status_code == 303, text(r.text)
    shown = text((await api.get(r.headers["location"])).text)
    assert "The revision is sent" in shown
    assert "Counternarcotics at sea, maritime" in shown and "ISG votes, round 2" in shown
    doc = (await api.get(f"/v1/proposals/{pid}", headers=auth("po-1", "STATE", "program_officer"))).json()
    assert [InstructorNeed.model_validate(n) for n in doc["instructor_needs"]] == needs  # all seven, as they were

    # The DHS seat's decision page shows what changed since round 1, the round it last voted on.
    sign_in(api, settings, "isg-dhs", "DHS", "isg_member")
    page = text((await api.get(f"/ui/proposals/{pid}/vote")).text)
    assert "What changed since round 1, the last your seat voted on" in page
    assert "Title was: Counternarcotics at sea now: Counternarcotics at sea, maritime" in page
    assert "Seats was: 30 now: 24" in page


async def test_unfilled_slot_is_retargeted_from_the_inbox(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings, pool: asyncpg.Pool
) -> None:
    await seed_instructors(pool)
    pid, approved = await approved_via_api(api, auth, "Investigating fraud")
    doj = next(q for q in approved["instructor_requests"] if q["agency"] == "DOJ")
    r = await api.post(
        f"/v1/instructor-requests/{doj['id']}/decline",
        json={"reason": "none free"},
        headers=auth("coord-doj", "DOJ", "agency_coordinator"),
    )
    assert r.status_code == 200 and r.json()["status"] == "unfilled", r.text

    sign_in(api, settings, "po-1", "STATE", "program_officer")
    inbox = await api.get("/ui/inbox")
    assert "Unfilled slot to re-target" in text(inbox.text)
    assert f'href="/ui/proposals/{pid}#staffing"' in inbox.text
    page = await api.get(f"/ui/proposals/{pid}")
    assert f'action="/ui/requests/{doj["id"]}/retarget"' in page.text
    r = await api.post(
        f"/ui/requests/{doj['id']}/retarget",
        data={"csrf_token": csrf_of(page.text), "form_id": "rt0", "agency": "", "next": "/ui/inbox"},
    )
    assert r.status_code == 422 and "choose the agency to ask" in r.text
    r = await api.post(
        f"/ui/requests/{doj['id']}/retarget",
        data={"csrf_token": csrf_of(page.text), "form_id": "rt", "agency": "DHS", "next": "/ui/inbox"},
    )
    assert r.status_code == 303
    assert "The slot is sent to the other agency." in (await api.get("/ui/inbox")).text
    doc = (await api.get(f"/v1/proposals/{pid}", headers=auth("po-1", "STATE", "program_officer"))).json()
    assert any(q["agency"] == "DHS" and q["status"] == "open" for q in doc["instructor_requests"])


async def test_a_booked_instructor_is_released_from_the_proposal_page_with_a_reason(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings, pool: asyncpg.Pool
) -> None:
    ids = await seed_instructors(pool)
    pid, approved = await approved_via_api(api, auth, "Releasing an instructor")
    treasury = next(q for q in approved["instructor_requests"] if q["agency"] == "TREASURY")
    coordinator = auth("coord-treasury", "TREASURY", "agency_coordinator")
    r = await api.post(
        f"/v1/instructor-requests/{treasury['id']}/accept",
        json={"instructor_id": ids[Agency.TREASURY][0]},
        headers=coordinator,
    )
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text

    sign_in(api, settings, "coord-treasury", "TREASURY", "agency_coordinator")
    page = await api.get(f"/ui/proposals/{pid}")
    release = f"/ui/requests/{treasury['id']}/release"
    assert f'action="{release}"' in page.text
    # No reason: told, and nothing is sent (the booking stands).
    r = await api.post(release, data={"csrf_token": csrf_of(page.text), "form_id": "rl0", "reason": "  "})
    assert r.status_code == 422 and "say why the instructor is released" in r.text
    doc = (await api.get(f"/v1/proposals/{pid}", headers=coordinator)).json()
    assert next(q for q in doc["instructor_requests"] if q["id"] == treasury["id"])["status"] == "accepted"
    # With a reason: released, said so, and the slot is asked of Treasury again.
    r = await api.post(
        release, data={"csrf_token": csrf_of(page.text), "form_id": "rl", "reason": "Called to testify that week"}
    )
    assert r.status_code == 303
    shown = text((await api.get(f"/ui/proposals/{pid}")).text)
    assert "The instructor is released." in shown and "Called to testify that week" in shown
    doc = (await api.get(f"/v1/proposals/{pid}", headers=coordinator)).json()
    mine = [q for q in doc["instructor_requests"] if q["agency"] == "TREASURY"]
    assert {q["status"] for q in mine} == {"released", "open"}, mine


async def test_auditor_verifies_the_trail_exports_it_and_a_scheduled_course_goes_to_the_calendar(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings, pool: asyncpg.Pool, owner_pool: asyncpg.Pool
) -> None:
    staff = await seed_instructors(pool)
    pid, doc = await approved_via_api(api, auth, "Investigating fraud, Gaborone")
    for req in doc["instructor_requests"]:
        agency = req["agency"]
        busy = {q["instructor"]["id"] for q in doc["instructor_requests"] if q.get("instructor")}
        pick = next(i for i in staff[Agency(agency)] if i not in busy)
        r2 = await api.post(
            f"/v1/instructor-requests/{req['id']}/accept",
            json={"instructor_id": pick},
            headers=auth(f"coord-{agency}", agency, "agency_coordinator"),
        )
        assert r2.status_code == 200, r2.text
        doc = (await api.get(f"/v1/proposals/{pid}", headers=auth("po-1", "STATE", "program_officer"))).json()
    assert doc["stage"] == "scheduled"

    sign_in(api, settings, "aud", "STATE", "auditor")
    page = await api.get(f"/ui/proposals/{pid}/verify")
    assert page.status_code == 200 and "The trail is intact" in page.text
    # the newest event's sentence in brackets, inside the summary's own sentence: one full stop
    assert re.search(r"the newest at [^<]+ \([^<]+[^.]\)\.</p>", page.text), page.text
    csv = await api.get(f"/ui/proposals/{pid}/trail.csv")
    assert csv.headers["content-type"].startswith("text/csv") and "attachment" in csv.headers["content-disposition"]
    rows = csv.text.strip().splitlines()
    events = (await api.get(f"/v1/proposals/{pid}/events")).json()["items"]
    assert len(rows) == 1 + len(events) and rows[1].startswith(f"{pid},1,")
    async with owner_pool.acquire() as con, con.transaction():  # the owner disabling the append-only trigger
        await con.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update")
        await con.execute("UPDATE audit_events SET actor = 'someone-else' WHERE proposal_id = $1 AND seq = 3", pid)
        await con.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update")
    page = await api.get(f"/ui/proposals/{pid}/verify")
    assert "The trail is broken at event 3" in text(page.text)

    sign_in(api, settings, "isg-dhs", "DHS", "isg_member")
    assert (await api.get(f"/ui/proposals/{pid}/verify")).status_code == 403
    ics = await api.get(f"/ui/proposals/{pid}/course.ics")
    assert ics.headers["content-type"].startswith("text/calendar")
    body = ics.text
    start = doc["start_date"].replace("-", "")
    after_end = (date.fromisoformat(doc["end_date"]) + timedelta(days=1)).strftime("%Y%m%d")
    assert f"DTSTART;VALUE=DATE:{start}\r\n" in body and f"DTEND;VALUE=DATE:{after_end}\r\n" in body
    assert "STATUS:CONFIRMED" in body and "Treasury Instructor" not in body  # an ISG member is not told who
    sign_in(api, settings, "coord-treasury", "TREASURY", "agency_coordinator")
    body = (await api.get(f"/ui/proposals/{pid}/course.ics")).text.replace("\r\n ", "")
    assert "Treasury Instructor" in body and "Doj Instructor" not in body  # only their own agency's


async def test_two_slots_of_one_agency_read_as_one_line_with_a_count(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings, pool: asyncpg.Pool
) -> None:
    pid = await submit_via_api(api, auth, "Financial investigations")  # needs: 1 TREASURY, 2 DOJ
    for seat in SEATS:
        r = await api.post(
            f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth(f"i-{seat}", seat, "isg_member")
        )
        assert r.status_code == 200, r.text
    r = await api.post(
        f"/v1/proposals/{pid}/board-decision", json={"decision": "approve"}, headers=auth("c", "STATE", "board_chair")
    )
    assert r.status_code == 200, r.text
    assert [p["party"] for p in r.json()["pending_on"]].count("agency:DOJ") == 2
    sign_in(api, settings, "aud", "STATE", "auditor")
    page = text((await api.get(f"/ui/proposals/{pid}")).text)
    waiting = page[page.index("Waiting on") : page.index("Owner")]  # the proposal page's "Waiting on"
    assert "DOJ coordinator (2) (Instructor request), since" in waiting and "the first due end of" in waiting
    for shown in (
        text((await api.get("/ui/board")).text),
        text((await api.get("/ui/board/rows")).json()["html"]),
        waiting,
    ):
        assert shown.count("DOJ coordinator (2)") == 1, shown
        assert "DOJ coordinator :" not in shown and "DOJ coordinator (Instructor request)" not in shown
        assert shown.count("TREASURY coordinator") == 1 and "TREASURY coordinator (1)" not in shown


async def test_the_auditors_verify_page_finds_the_newest_events_deleted(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings, pool: asyncpg.Pool, owner_pool: asyncpg.Pool
) -> None:
    """The page checks as `/events/verify` does, against the workflow's own record: deleting the
    newest events leaves a chain that links up, which the chain alone would call intact."""
    pid, _ = await approved_via_api(api, auth, "Deleting the newest events")
    newest = await pool.fetchval("SELECT max(seq) FROM audit_events WHERE proposal_id = $1", pid)
    async with owner_pool.acquire() as con, con.transaction():  # the owner disabling the append-only trigger
        await con.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update")
        await con.execute("DELETE FROM audit_events WHERE proposal_id = $1 AND seq >= $2", pid, newest - 1)
        await con.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update")
    api_says = (await api.get(f"/v1/proposals/{pid}/events/verify", headers=auth("aud", "STATE", "auditor"))).json()
    assert api_says["valid"] is False
    sign_in(api, settings, "aud", "STATE", "auditor")
    shown = text((await api.get(f"/ui/proposals/{pid}/verify")).text)
    assert "The trail is intact" not in shown
    assert f"The trail is broken at event {api_says['first_broken_seq']}" in shown
    assert all(p in shown for p in api_says["problems"])
    assert "not numbered 1 to" not in shown  # the difference is said as it is, not as a misnumbering
