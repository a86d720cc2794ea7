"""The pure helpers behind the pages: wording of audit events, labels, the chart's geometry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.web.present import Bar, bar_chart, describe_event, is_overdue, party_label, when
from api.web.proposal_form import _field_key, fields_from_form
from ilea.domain import Agency, Party


def test_parties_read_as_people() -> None:
    assert party_label("isg:DHS") == "DHS ISG seat"
    assert party_label("board:DOJ") == "DOJ Board member"
    assert party_label("board:chair") == "Board chair"
    assert party_label("agency:TREASURY") == "TREASURY coordinator"
    assert party_label("program_officer") == "Program officer"
    assert party_label(Party.coordinators(Agency.DOJ)) == "DOJ coordinator"
    assert party_label(Party.chair()) == "Board chair"
    assert party_label("not-a-party") == "not-a-party"


def test_events_read_as_sentences() -> None:
    vote = {
        "actor": "isg-dhs",
        "agency": "DHS",
        "action": "isg_vote",
        "detail": {"vote": "nonconcur", "comment": "Cost"},
    }
    assert describe_event(vote) == "isg-dhs (DHS) does not concur on the ISG seat - “Cost”."
    deemed = {"actor": "system", "agency": "DOJ", "action": "deemed_concur", "detail": {"round": 1}}
    assert describe_event(deemed) == "The DOJ ISG seat did not vote in time and is deemed to concur."
    stage = {"actor": "system", "action": "stage_changed", "detail": {"from": "isg_review", "to": "board_review"}}
    assert describe_event(stage) == "Stage changed from ISG review to Policy Board review."
    refused = {
        "actor": "po-1",
        "agency": "STATE",
        "action": "refused",
        "detail": {"attempted": "isg_vote", "reason": "you submitted this proposal"},
    }
    assert describe_event(refused) == "po-1 (STATE) tried isg vote; refused: you submitted this proposal."
    seat_reminder = {"actor": "system", "action": "reminder", "detail": {"party": "isg:DHS"}}
    assert describe_event(seat_reminder) == "Reminder sent to DHS ISG seat."
    board_reminder = {"actor": "system", "action": "reminder", "detail": {"party": "board"}}
    assert describe_event(board_reminder) == "Reminder sent to the Policy Board."
    unknown = {"actor": "system", "action": "something_new", "detail": {"a_b": 1}}
    assert describe_event(unknown) == "The system: something new (a b: 1)."


def test_times_and_overdue() -> None:
    assert when("2027-03-01T14:05:09.123Z") == "2027-03-01 14:05 UTC"
    assert when("2027-03-01") == "2027-03-01"
    now = datetime.now(UTC)
    assert is_overdue((now - timedelta(minutes=1)).isoformat())
    assert not is_overdue((now + timedelta(minutes=1)).isoformat())
    assert not is_overdue(None)


def test_chart_scales_to_the_longest_bar() -> None:
    chart = bar_chart([Bar("ISG review", 5, 10, 3), Bar("Staffing", 2, 4, 1)], width=400)
    a, b = chart["rows"]
    assert a["p90_w"] == 400 - 170 - 60 and a["median_w"] == a["p90_w"] / 2
    assert b["p90_w"] == round(a["p90_w"] * 0.4, 1)
    assert chart["height"] == 20 + 2 * 34


def test_form_fields_become_the_api_document() -> None:
    doc = fields_from_form(
        {
            "participating_countries": "th; vn ,la",
            "estimated_cost_usd": "$1,500.50",
            "need_0_agency": "DHS",
            "need_0_count": "2",
            "need_0_alt_1": "DOJ",
            "need_1_agency": "DOJ",
            "need_1_count": "",
        }
    )
    assert doc["participating_countries"] == ["TH", "VN", "LA"]
    assert str(doc["estimated_cost_usd"]) == "1500.50"
    assert doc["instructor_needs"] == [
        {"agency": "DHS", "expertise": None, "count": "2", "alternate_agencies": ["DOJ"]}
    ]
    assert _field_key(["body", "instructor_needs", 0, "alternate_agencies", 1]) == "need_0_alt_1"
    assert _field_key(("instructor_needs", 2, "count")) == "need_2_count"
    assert _field_key(["body", "start_date"]) == "start_date"
