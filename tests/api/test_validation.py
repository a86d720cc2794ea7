"""Every broken rule in one 422, in words a program officer understands; the text, cost and date
rules of product.md edition 2."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.api.conftest import TokenFor
from tests.support import fields, seed_instructors
from workflows.rules import eastern_date

#: What pydantic says, which no program officer should have to read.
TECHNICAL = ("Input should be", "Field required", "Value error", "Extra inputs", "String should")


def body(**over: Any) -> dict[str, Any]:
    return {**fields().model_dump(mode="json"), **over}


async def submit(api: httpx.AsyncClient, auth: TokenFor, doc: dict[str, Any]) -> httpx.Response:
    return await api.post("/v1/proposals", json=doc, headers=auth("po-1", "STATE", "program_officer"))


def errors_of(r: httpx.Response) -> dict[tuple[Any, ...], str]:
    assert r.status_code == 422, r.text
    problem = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "Invalid" and problem["status"] == 422
    found = {tuple(e["loc"]): e["msg"] for e in problem["errors"]}
    for msg in found.values():
        assert not msg.startswith(TECHNICAL), msg
    return found


async def test_field_cross_field_and_reference_data_rules_in_one_422(api: httpx.AsyncClient, auth: TokenFor) -> None:
    """Issue 13: seats 0, end before start and an unknown country reported only `seats`."""
    start = date.fromisoformat(body()["start_date"])
    r = await submit(
        api,
        auth,
        body(
            seats=0,
            end_date=(start - timedelta(days=1)).isoformat(),
            participating_countries=["HU", "XX"],
            topic="leadership",
        ),
    )
    found = errors_of(r)
    assert set(found) == {
        ("body", "seats"),
        ("body", "end_date"),
        ("body", "participating_countries", 1),
        ("body", "topic"),
    }
    assert found[("body", "seats")] == "Seats must be at least 1"
    assert "before it starts" in found[("body", "end_date")]
    assert "XX" in found[("body", "participating_countries", 1)]
    assert found[("body", "topic")].startswith("Topic must be one of")
    assert "leadership_management" in found[("body", "topic")]
    assert "4 problems" in r.json()["detail"]


async def test_request_schema_messages_are_plain(api: httpx.AsyncClient, auth: TokenFor) -> None:
    doc = body(stage="scheduled", seats="many")
    del doc["title"]
    found = errors_of(await submit(api, auth, doc))
    assert found[("body", "title")] == "Title is required"
    assert found[("body", "seats")] == "Seats must be a whole number"
    assert found[("body", "stage")] == "Stage cannot be set in this request"
    r = await api.post("/v1/proposals/p-1/isg-votes", json={"vote": "yes"}, headers=auth("i", "DHS", "isg_member"))
    found = errors_of(r)
    assert found[("body", "vote")].startswith("Vote must be one of: concur, nonconcur, request_changes, abstain")
    r = await api.post(
        "/v1/proposals",
        content=b"{not json",
        headers={**auth("po", "STATE", "program_officer"), "Content-Type": "application/json"},
    )
    assert list(errors_of(r).values()) == ["The request body is not valid JSON"]


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("title", "Ransomware\x07 response", "control character"),
        ("title", "Ransomware\tresponse", "control character"),
        ("title", "Ransomware\nresponse", "control character"),
        ("title", "Evil \u202egnp.exe", "bidirectional"),
        ("title", "Isolated \u2067text", "bidirectional"),
        ("justification", "Line one\x1b[31m red", "control character"),
        ("justification", "Hidden \u202d override", "bidirectional"),
        ("title", "  ab  ", "at least 3 characters"),
    ],
)
async def test_text_rules_refuse(api: httpx.AsyncClient, auth: TokenFor, field: str, value: str, why: str) -> None:
    found = errors_of(await submit(api, auth, body(**{field: value})))
    assert list(found) == [("body", field)]
    assert why in found[("body", field)]


async def test_text_is_trimmed_nfc_normalised_and_crlf_becomes_lf(api: httpx.AsyncClient, auth: TokenFor) -> None:
    r = await submit(
        api, auth, body(title="  Cafe\u0301 security \r\n".strip("\r\n") + "  ", justification="One\r\nTwo\rThree\n")
    )
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["title"] == "Caf\u00e9 security"
    assert p["justification"] == "One\nTwo\nThree"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("-0", "0.00"), ("1E+6", "1000000.00"), ("1.500", "1.50"), ("99999999.99", "99999999.99"), (125000, "125000.00")],
)
async def test_costs_are_stored_normalised(
    api: httpx.AsyncClient, auth: TokenFor, typed: str | int, stored: str
) -> None:
    r = await submit(api, auth, body(estimated_cost_usd=typed))
    assert r.status_code == 201, r.text
    assert r.json()["estimated_cost_usd"] == stored


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("1.005", "at most 2 decimal places"),
        ("100000000", "below 100,000,000"),
        ("-1", "at least 0"),
        ("NaN", "amount"),
        ("Infinity", "amount"),
        ("1e400", "below 100,000,000"),
    ],
)
async def test_costs_refused(api: httpx.AsyncClient, auth: TokenFor, typed: str, why: str) -> None:
    found = errors_of(await submit(api, auth, body(estimated_cost_usd=typed)))
    assert list(found) == [("body", "estimated_cost_usd")]
    assert why in found[("body", "estimated_cost_usd")]


async def test_start_date_at_most_three_years_out_and_dates_bounded(api: httpx.AsyncClient, auth: TokenFor) -> None:
    """Issue 13: a date in year 9999 passed validation and wedged the workflow."""
    today = eastern_date(datetime.now(UTC))
    last = today + timedelta(days=1095)
    r = await submit(api, auth, body(start_date=last.isoformat(), end_date=(last + timedelta(days=5)).isoformat()))
    assert r.status_code == 201, r.text
    late = last + timedelta(days=1)
    found = errors_of(
        await submit(api, auth, body(start_date=late.isoformat(), end_date=(late + timedelta(days=5)).isoformat()))
    )
    assert list(found) == [("body", "start_date")] and "3 years" in found[("body", "start_date")]
    found = errors_of(await submit(api, auth, body(start_date="9999-12-20", end_date="9999-12-31")))
    assert set(found) == {("body", "start_date"), ("body", "end_date")}
    r = await api.post(
        "/v1/proposals/p-1/staffing-cutoff",
        json={"cutoff": "9999-12-31"},
        headers=auth("po", "STATE", "program_officer"),
    )
    assert list(errors_of(r)) == [("body", "cutoff")]


async def test_the_workflows_refusals_carry_errors(api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool) -> None:
    """Issue 13: 422s decided inside the workflow had no `errors` at all."""
    staff = await seed_instructors(pool, per_agency=1)
    r = await submit(api, auth, body(estimated_cost_usd="100000"))  # fast-tracked once all concur
    pid = r.json()["id"]
    start = date.fromisoformat(r.json()["start_date"])
    r = await api.post(
        f"/v1/proposals/{pid}/isg-votes", json={"vote": "nonconcur"}, headers=auth("i-dhs", "DHS", "isg_member")
    )
    found = errors_of(r)
    assert list(found) == [("body", "comment")] and "comment" in found[("body", "comment")]
    po = auth("po-2", "STATE", "program_officer")
    r = await api.post(f"/v1/proposals/{pid}/staffing-cutoff", json={"cutoff": start.isoformat()}, headers=po)
    assert list(errors_of(r)) == [("body", "cutoff")]
    for seat in ("STATE", "TREASURY", "DHS", "DOJ"):
        r = await api.post(
            f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth(f"i-{seat}", seat, "isg_member")
        )
    assert r.json()["stage"] == "staffing", r.text
    treasury = next(x for x in r.json()["instructor_requests"] if x["agency"] == "TREASURY")
    coord = auth("c-t", "TREASURY", "agency_coordinator")
    r = await api.patch(f"/v1/instructors/{staff['TREASURY'][0]}", json={"active": False}, headers=coord)
    assert r.status_code == 200
    r = await api.post(
        f"/v1/instructor-requests/{treasury['id']}/accept",
        json={"instructor_id": staff["TREASURY"][0]},
        headers=coord,
    )
    found = errors_of(r)
    assert list(found) == [("body", "instructor_id")] and "not active" in found[("body", "instructor_id")]
    r = await api.post(f"/v1/instructor-requests/{treasury['id']}/decline", json={"reason": " \n "}, headers=coord)
    assert list(errors_of(r)) == [("body", "reason")]
    r = await api.post(f"/v1/instructor-requests/{treasury['id']}/decline", json={"reason": "none free"}, headers=coord)
    doj = r.json()
    assert r.status_code == 200 and doj["status"] == "declined", r.text
    alternate = next(
        x
        for x in (await api.get(f"/v1/proposals/{pid}", headers=po)).json()["instructor_requests"]
        if x["status"] == "open" and x["slot"] == treasury["slot"]
    )
    r = await api.post(
        f"/v1/instructor-requests/{alternate['id']}/decline",
        json={"reason": "none free"},
        headers=auth("c-j", "DOJ", "agency_coordinator"),
    )
    assert r.status_code == 200, r.text
    unfilled = next(
        x
        for x in (await api.get(f"/v1/proposals/{pid}", headers=po)).json()["instructor_requests"]
        if x["status"] == "unfilled"
    )
    r = await api.post(f"/v1/instructor-requests/{unfilled['id']}/retarget", json={"agency": "STATE"}, headers=po)
    found = errors_of(r)
    assert list(found) == [("body", "agency")] and "TREASURY, DHS or DOJ" in found[("body", "agency")]
