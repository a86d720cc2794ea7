"""The pure helpers behind the pages: times in ET, deadlines in business days, sentences, the form's need rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from api.web import times
from api.web.present import (
    Bar,
    bar_chart,
    delivery,
    group_pending,
    in_words,
    is_overdue,
    lifecycle_steps,
    party_label,
)
from api.web.proposal_form import _field_key, fields_from_form, form_from_doc, need_rows, reshape
from api.web.timeline import csv_text, entries, sentence
from api.web.versions import redline
from ilea.domain import Agency, Party
from workflows.rules import business_deadline, end_of_day


def test_parties_read_as_people() -> None:
    assert party_label("isg:DHS") == "DHS ISG seat"
    assert party_label("board:DOJ") == "DOJ Board member"
    assert party_label("board:chair") == "Board chair"
    assert party_label("agency:TREASURY") == "TREASURY coordinator"
    assert party_label("program_officer") == "Program officer"
    assert party_label(Party.coordinators(Agency.DOJ)) == "DOJ coordinator"
    assert party_label(Party.chair()) == "Board chair"
    assert party_label("not-a-party") == "not-a-party"


def test_times_are_eastern_with_et() -> None:
    # 19:05 UTC on 1 March 2027 is 2:05 PM Eastern Standard Time
    assert times.when("2027-03-01T19:05:09.123Z") == "Mon 1 Mar 2027, 2:05 PM ET"
    # after the spring change (14 March 2027) the same UTC hour is 3:05 PM Eastern Daylight Time
    assert times.when("2027-03-15T19:05:00Z") == "Mon 15 Mar 2027, 3:05 PM ET"
    # a calendar date never shifts with the zone
    assert times.when("2026-12-15") == "Tue 15 Dec 2026"
    assert times.when(date(2026, 12, 15)) == "Tue 15 Dec 2026"
    # a person may choose another zone
    assert times.when("2027-03-01T19:05:00Z", ZoneInfo("America/Los_Angeles")) == "Mon 1 Mar 2027, 11:05 AM PT"
    assert times.zone("Mars/Olympus").key == "America/New_York"


def test_deadline_reads_as_the_eastern_day_across_daylight_saving() -> None:
    """A deadline at the end of a day ET names that day, whether the offset is -5 or -4."""
    winter = end_of_day(date(2026, 12, 15))  # 2026-12-16 05:00 UTC
    assert winter == datetime(2026, 12, 16, 5, tzinfo=UTC)
    d = times.deadline(winter, datetime(2026, 12, 10, 15, tzinfo=UTC))
    assert d is not None and str(d) == "end of Tue 15 Dec ET — 4 business days left"  # Thu, Fri, Mon, Tue
    summer = end_of_day(date(2026, 10, 30))  # EDT: 2026-10-31 04:00 UTC
    assert summer == datetime(2026, 10, 31, 4, tzinfo=UTC)
    assert (
        str(times.deadline(summer, datetime(2026, 10, 29, 15, tzinfo=UTC)))
        == "end of Fri 30 Oct ET — 2 business days left"
    )
    # A round opened before the November change and due after it: 10 business days from Thu 22 Oct 2026
    due = business_deadline(datetime(2026, 10, 22, 14, tzinfo=UTC), 10)
    assert due == datetime(2026, 11, 6, 5, tzinfo=UTC)  # end of Thu 5 Nov EST (Veterans Day is the 11th)
    shown = times.deadline(due, datetime(2026, 10, 30, 15, tzinfo=UTC))
    assert shown is not None and shown.text == "end of Thu 5 Nov ET" and shown.left == "5 business days left"
    # the last day, then overdue (red in the page), counted in business days
    assert times.deadline(winter, datetime(2026, 12, 15, 20, tzinfo=UTC)).left == "last day"  # type: ignore[union-attr]
    late = times.deadline(winter, datetime(2026, 12, 18, 15, tzinfo=UTC))
    assert late is not None and late.overdue and late.left == "overdue by 3 business days"
    # the holiday calendar is the workflow's: Christmas Day 2026 is no business day
    xmas = times.deadline(end_of_day(date(2026, 12, 28)), datetime(2026, 12, 23, 15, tzinfo=UTC))
    assert xmas is not None and xmas.left == "3 business days left"  # Wed 23, Thu 24, Mon 28
    assert times.deadline(None, datetime.now(UTC)) is None


def test_urgency_puts_overdue_first_then_soonest() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    dues = {"late": now - timedelta(days=2), "soon": now + timedelta(days=1), "later": now + timedelta(days=9)}
    order = sorted([*dues, "none"], key=lambda k: times.urgency(dues.get(k), now))
    assert order == ["late", "soon", "later", "none"]
    assert is_overdue((datetime.now(UTC) - timedelta(minutes=1)).isoformat())
    assert not is_overdue(None)


def test_events_read_as_sentences_with_names() -> None:
    names = {"isg-dhs": "Dana Brooks"}
    vote = {
        "actor": "isg-dhs",
        "agency": "DHS",
        "action": "isg_vote",
        "detail": {"round": 2, "vote": "nonconcur", "comment": "Cost"},
    }
    assert sentence(vote, names) == "Dana Brooks (DHS) does not concur for the DHS ISG seat (round 2): “Cost”."
    accepted = {
        "actor": "coord-t",
        "agency": "TREASURY",
        "action": "request_accepted",
        "detail": {"request_id": "5f0e-uuid", "slot": 2, "instructor": {"id": "u-1", "name": "Lee Park"}},
    }
    text = sentence(accepted, {})
    assert text == "coord-t (TREASURY) booked Lee Park for slot 2." and "uuid" not in text and "{" not in text
    seat_reminder = {"actor": "system", "action": "reminder", "detail": {"party": "isg:DHS"}}
    assert sentence(seat_reminder, {}) == "A reminder went to the DHS ISG seat."
    board_reminder = {
        "actor": "system",
        "action": "reminder",
        "detail": {"party": "board", "due": "2026-12-16T05:00:00Z"},
    }
    assert sentence(board_reminder, {}) == "A reminder went to the Policy Board; due end of Tue 15 Dec 2026 ET."
    closed = {"actor": "system", "action": "isg_round_closed", "detail": {"round": 1, "outcome": "board_with_dissent"}}
    assert sentence(closed, {}) == "ISG round 1 closed: the proposal goes to the Policy Board, with a dissent."
    refused = {
        "actor": "po-1",
        "agency": "STATE",
        "action": "refused",
        "detail": {"attempted": "isg_vote", "reason": "four eyes"},
    }
    assert sentence(refused, {"po-1": "Pat Okafor"}) == "Pat Okafor (STATE) tried an ISG vote; refused: four eyes."
    [row] = entries([{**vote, "seq": 1, "at": "2026-12-15T19:00:00Z"}], names)
    assert row.at == "Tue 15 Dec 2026, 2:00 PM ET" and row.who == "Dana Brooks (DHS)"
    csv = csv_text("p-1", [{**vote, "seq": 1, "at": "2026-12-15T19:00:00Z", "prev_hash": "0", "hash": "a"}], names)
    header, line = csv.strip().splitlines()
    assert header.startswith("proposal_id,seq,at_utc,at_et,actor,name,agency,action,what_happened")
    assert line.startswith('p-1,1,2026-12-15T19:00:00Z,"Tue 15 Dec 2026, 2:00 PM ET",isg-dhs,Dana Brooks,DHS,isg_vote,')


def test_stored_codes_read_as_words() -> None:
    assert in_words("Slot 2 unfilled: x: staffing_at_risk") == "Slot 2 unfilled: x: Staffing at risk"
    assert (
        in_words("Instructor request (corruption_financial_crimes): x")
        == "Instructor request (corruption and financial crimes): x"
    )
    assert delivery({"email_status": "pending"}, email_on=False) == "shown here only (email is not set up)"
    assert delivery({"email_status": "pending"}, email_on=True) == "email queued"
    assert delivery({"email_status": "failed"}, email_on=True) == "the email failed; it is tried again"


def test_lifecycle_steps_mark_where_the_proposal_is() -> None:
    s = lifecycle_steps("board_review", False)
    assert [x["status"] for x in s["steps"]] == ["complete", "complete", "current", "", "", ""]
    assert s["current"] == 3
    fast = lifecycle_steps("staffing_at_risk", True)
    assert fast["steps"][2]["label"].endswith("(skipped: fast track)") and fast["current"] == 4
    ended = lifecycle_steps("withdrawn", False, reached="changes_requested")
    assert ended["terminal"] and ended["current"] == 2


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
            "need_1_agency": "",
            "need_1_count": "",
        }
    )
    assert doc["participating_countries"] == ["TH", "VN", "LA"]
    assert str(doc["estimated_cost_usd"]) == "1500.50"
    # an incomplete row is sent (and refused with its field), never silently dropped
    assert doc["instructor_needs"] == [
        {"agency": "DHS", "expertise": None, "count": "2", "alternate_agencies": ["DOJ"]},
        {"agency": None, "expertise": None, "count": None, "alternate_agencies": []},
    ]
    assert _field_key(["body", "instructor_needs", 0, "alternate_agencies", 1]) == "need_0_alt_1"
    assert _field_key(("instructor_needs", 2, "count")) == "need_2_count"
    assert _field_key(["body", "start_date"]) == "start_date"


def test_need_rows_are_added_removed_and_all_kept_on_revision() -> None:
    needs = [
        {"agency": "DHS", "expertise": "cybercrime", "count": i % 5 + 1, "alternate_agencies": ["DOJ"]}
        for i in range(7)
    ]
    form = form_from_doc({"title": "t", "seats": 20, "participating_countries": ["HU"], "instructor_needs": needs})
    assert need_rows(form) == list(range(7))
    assert fields_from_form(form)["instructor_needs"] == [{**n, "count": str(n["count"])} for n in needs]
    more = reshape(form, add=True)
    assert need_rows(more) == list(range(8)) and more["need_7_count"] == "1" and more["title"] == "t"
    fewer = reshape(more, remove=2)
    assert need_rows(fewer) == list(range(7))
    assert fewer["need_2_count"] == form["need_3_count"]  # the rows after the removed one move up
    full = reshape({f"need_{i}_agency": "DHS" for i in range(10)}, add=True)
    assert len(need_rows(full)) == 10  # never more than ten


def test_redline_names_what_changed() -> None:
    before = {"title": "A", "seats": 20, "estimated_cost_usd": "100000", "participating_countries": ["HU"]}
    after = {**before, "seats": 24, "estimated_cost_usd": "120000.50"}
    changes = redline(before, after)
    assert [(c.field, c.was, c.now) for c in changes] == [
        ("Seats", "20", "24"),
        ("Estimated cost", "$100,000", "$120,000.50"),
    ]


def test_pending_lines_of_one_party_and_kind_are_grouped_with_a_count() -> None:
    t0 = datetime(2027, 3, 1, 15, tzinfo=UTC)
    items = [
        {"party": "agency:DOJ", "kind": "instructor_request", "since": t0, "due": t0 + timedelta(days=9)},
        {"party": "agency:TREASURY", "kind": "instructor_request", "since": t0, "due": t0 + timedelta(days=5)},
        {"party": "agency:DOJ", "kind": "instructor_request", "since": t0, "due": t0 + timedelta(days=7)},
        {"party": "agency:DOJ", "kind": "retarget", "since": t0, "due": None},
    ]
    grouped = group_pending(items)
    assert [(g["party"], g["kind"], g["count"]) for g in grouped] == [
        ("agency:DOJ", "instructor_request", 2),
        ("agency:TREASURY", "instructor_request", 1),
        ("agency:DOJ", "retarget", 1),
    ]
    assert grouped[0]["due"] == t0 + timedelta(days=7)  # the soonest due of the group
    assert group_pending([]) == []
