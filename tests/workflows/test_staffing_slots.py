"""Staffing, the slots and instructor requests of one proposal, as a state machine on its own:
no Temporal, no database (test_staffing.py runs it inside the workflow against both).
"""

from __future__ import annotations

from datetime import UTC, datetime

from ilea.domain import Agency, RequestStatus
from ilea.messages import InstructorRef, RuleConfig
from tests.workflows.states import ISG_DUE, SUBMITTED, Ids, later, need
from workflows.staffing import Staffing

DANA = InstructorRef(id="i-1", name="Dana", component="FBI")


def opened(*needs_: tuple[Agency, int, tuple[Agency, ...]]) -> tuple[Staffing, Ids]:
    s, ids = Staffing("p-1", RuleConfig()), Ids()
    s.open_all([need(a, n, *alts) for a, n, alts in needs_], SUBMITTED, ids)
    return s, ids


def statuses(s: Staffing) -> list[tuple[str, int, Agency, RequestStatus]]:
    return [(r.id, r.slot, r.agency, r.status) for r in s.requests]


def test_one_open_request_per_slot_numbered_across_needs() -> None:
    s = Staffing("p-1", RuleConfig())
    assert not s.started and s.live() == [] and not s.all_filled()
    sent = s.open_all([need(Agency.TREASURY, 2, Agency.DOJ), need(Agency.DHS)], SUBMITTED, Ids())
    assert [(r.id, r.slot, r.need_index, r.agency, r.attempt, r.asked_agencies) for r in sent] == [
        ("r1", 1, 0, Agency.TREASURY, 1, [Agency.TREASURY]),
        ("r2", 2, 0, Agency.TREASURY, 1, [Agency.TREASURY]),
        ("r3", 3, 1, Agency.DHS, 1, [Agency.DHS]),
    ]
    assert {(r.status, r.sent_at, r.due, r.proposal_id) for r in sent} == {
        (RequestStatus.open, SUBMITTED, ISG_DUE, "p-1")  # ten business days, like the ISG round
    }
    assert s.started and s.get("r2") is sent[1] and s.get("r9") is None
    assert s.with_status(RequestStatus.open) == sent


def test_a_custom_request_window_sets_the_due_date() -> None:
    s = Staffing("p-1", RuleConfig(request_business_days=3))
    (r,) = s.open_all([need(Agency.DOJ)], SUBMITTED, Ids())
    assert r.due == datetime(2027, 6, 5, 4, 0, tzinfo=UTC)  # end of Friday 4 June


def test_accepting_every_slot_fills_the_course() -> None:
    s, _ = opened((Agency.DOJ, 2, ()))
    s.accept(s.requests[0], DANA)
    assert not s.all_filled()
    s.accept(s.requests[1], DANA.model_copy(update={"id": "i-2"}))
    assert s.all_filled() and not s.any_unfilled()
    assert [(r.status, r.instructor and r.instructor.id, r.reason) for r in s.requests] == [
        (RequestStatus.accepted, "i-1", None),
        (RequestStatus.accepted, "i-2", None),
    ]


def test_a_decline_asks_the_next_alternate_agency_for_the_same_slot() -> None:
    s, ids = opened((Agency.TREASURY, 1, (Agency.DOJ, Agency.DHS)))
    new = s.close_and_advance(
        s.requests[0],
        RequestStatus.declined,
        "no one free",
        [need(Agency.TREASURY, 1, Agency.DOJ, Agency.DHS)],
        later(2),
        ids,
    )
    assert new is not None
    assert (new.id, new.slot, new.agency, new.attempt, new.sent_at) == ("r2", 1, Agency.DOJ, 2, later(2))
    assert new.asked_agencies == [Agency.TREASURY, Agency.DOJ]
    assert (s.requests[0].status, s.requests[0].reason) == (RequestStatus.declined, "no one free")
    assert [r.id for r in s.live()] == ["r2"]


def test_the_last_agency_declining_leaves_the_slot_unfilled() -> None:
    needs = [need(Agency.TREASURY, 1, Agency.DOJ)]
    s, ids = opened((Agency.TREASURY, 1, (Agency.DOJ,)))
    second = s.close_and_advance(s.requests[0], RequestStatus.expired, "no answer", needs, later(14), ids)
    assert second is not None
    assert s.close_and_advance(second, RequestStatus.declined, "no one", needs, later(20), ids) is None
    assert statuses(s) == [
        ("r1", 1, Agency.TREASURY, RequestStatus.expired),
        ("r2", 1, Agency.DOJ, RequestStatus.unfilled),
    ]
    assert second.closed_as is RequestStatus.declined
    assert s.any_unfilled() and s.with_status(RequestStatus.unfilled) == [second]


def test_retargeting_an_unfilled_slot_restores_its_closing_status_and_asks_the_new_agency() -> None:
    needs = [need(Agency.DOJ)]
    s, ids = opened((Agency.DOJ, 1, ()))
    assert s.close_and_advance(s.requests[0], RequestStatus.expired, "no answer", needs, later(14), ids) is None
    new = s.retarget(s.requests[0], Agency.DHS, needs, later(15), ids)
    assert statuses(s) == [("r1", 1, Agency.DOJ, RequestStatus.expired), ("r2", 1, Agency.DHS, RequestStatus.open)]
    assert (new.attempt, new.asked_agencies, new.expertise) == (2, [Agency.DOJ, Agency.DHS], needs[0].expertise)
    assert not s.any_unfilled()


def test_a_release_reopens_the_slot_to_the_same_agency_with_a_fresh_list_of_alternates() -> None:
    needs = [need(Agency.TREASURY, 1, Agency.DOJ)]
    s, ids = opened((Agency.TREASURY, 1, (Agency.DOJ,)))
    s.accept(s.requests[0], DANA)
    reopened = s.release(s.requests[0], "reassigned", needs, later(30), ids)
    assert statuses(s) == [
        ("r1", 1, Agency.TREASURY, RequestStatus.released),
        ("r2", 1, Agency.TREASURY, RequestStatus.open),
    ]
    assert (reopened.attempt, reopened.asked_agencies, reopened.sent_at) == (2, [Agency.TREASURY], later(30))
    assert s.requests[0].reason == "reassigned" and not s.all_filled()


def test_cancelling_reports_the_booked_requests_and_closes_every_live_one() -> None:
    needs = [need(Agency.DOJ, 3)]
    s, ids = opened((Agency.DOJ, 3, ()))
    s.accept(s.requests[0], DANA)
    s.close_and_advance(s.requests[2], RequestStatus.declined, "no one", needs, later(3), ids)
    booked = s.cancel_all("withdrawn: postponed")
    assert [r.id for r in booked] == ["r1"]
    assert statuses(s) == [
        ("r1", 1, Agency.DOJ, RequestStatus.cancelled),
        ("r2", 2, Agency.DOJ, RequestStatus.cancelled),
        ("r3", 3, Agency.DOJ, RequestStatus.cancelled),
    ]
    assert {r.reason for r in s.requests} == {"withdrawn: postponed"}
    assert s.with_status(RequestStatus.open) == [] and s.cancel_all("again") == []
