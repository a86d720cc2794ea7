"""What a proposal shows: workflows.views called directly, without Temporal.

Who the proposal is pending on in each stage (the inbox is built from it), the view's
deadlines, and the search attributes upserted (only those that changed).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from ilea.domain import Agency, BoardPosition, IsgVote, Stage
from ilea.messages import BoardPositionInput, DeclineInput, PendingItem, ReadInput
from tests.support import PO, board, coordinator
from tests.workflows.states import (
    ISG_DUE,
    ISG_REMINDER,
    START,
    SUBMITTED,
    Ids,
    at_board,
    changes_requested,
    need,
    staffing,
    submitted,
    vote,
)
from workflows import transitions, views

BOARD_DUE = datetime(2027, 6, 24, 4, 0, tzinfo=UTC)
CUTOFF_ENDS = datetime(2027, 8, 31, 4, 0, tzinfo=UTC)


def pending_on(items: list[PendingItem]) -> list[tuple[str, str]]:
    return [(p.party, p.kind) for p in items]


def test_in_isg_review_the_seats_yet_to_vote_are_pending() -> None:
    state = submitted()
    assert pending_on(views.pending(state)) == [
        ("isg:STATE", "isg_vote"),
        ("isg:TREASURY", "isg_vote"),
        ("isg:DHS", "isg_vote"),
        ("isg:DOJ", "isg_vote"),
    ]
    vote(state, Agency.TREASURY)
    vote(state, Agency.DOJ, IsgVote.abstain)
    items = views.pending(state)
    assert pending_on(items) == [("isg:STATE", "isg_vote"), ("isg:DHS", "isg_vote")]
    assert {(p.since, p.due) for p in items} == {(SUBMITTED, ISG_DUE)}


def test_changes_requested_waits_on_the_program_officer() -> None:
    state = changes_requested()
    (item,) = views.pending(state)
    assert (item.party, item.kind, item.since) == ("program_officer", "revise", SUBMITTED)
    assert item.due == datetime(2027, 7, 1, 4, 0, tzinfo=UTC)  # 20 business days, Juneteenth skipped


def test_at_the_board_members_without_a_position_and_the_chair_are_pending() -> None:
    state = at_board()
    position = BoardPositionInput(actor=board(Agency.DHS), position=BoardPosition.concur)
    transitions.take_position(state, position, now=SUBMITTED)
    items = views.pending(state)
    assert pending_on(items) == [
        ("board:TREASURY", "board_position"),
        ("board:DOJ", "board_position"),
        ("board:chair", "board_decision"),
    ]
    assert {p.due for p in items} == {BOARD_DUE}
    state.overdue = True
    assert pending_on(views.pending(state))[-1] == ("board:chair", "overdue_board")


def test_in_staffing_open_requests_wait_on_their_agency_and_unfilled_slots_on_the_officer() -> None:
    state = staffing([need(Agency.TREASURY), need(Agency.DOJ)])
    decline = DeclineInput(actor=coordinator(Agency.DOJ), request_id="r2", reason="nobody free")
    transitions.decline(state, decline, state.staffing.requests[1], now=SUBMITTED, new_id=Ids())
    assert state.stage is Stage.staffing_at_risk
    items = views.pending(state)
    assert [(p.party, p.kind, p.request_id) for p in items] == [
        ("agency:TREASURY", "instructor_request", "r1"),
        ("program_officer", "retarget", "r2"),
    ]
    assert items[0].due == ISG_DUE  # requests have ten business days too
    assert items[1].due == CUTOFF_ENDS  # until the staffing cutoff passes


def test_the_view_shows_the_current_stage_deadlines_only() -> None:
    state = submitted()
    v = views.view(state)
    assert (v.id, v.stage, v.round, v.version, v.authors) == ("p-1", Stage.isg_review, 1, 0, [PO.sub])
    assert (v.deadlines.isg_round_due, v.deadlines.isg_reminder_at) == (ISG_DUE, ISG_REMINDER)
    assert v.deadlines.board_due is None
    assert v.deadlines.staffing_cutoff == date(2027, 8, 30)
    assert v.deadlines.course_starts_at == datetime(2027, 9, 29, 4, 0, tzinfo=UTC)
    assert v.start_date == START
    board_view = views.view(at_board())
    assert board_view.deadlines.isg_round_due is None
    assert board_view.deadlines.board_due == BOARD_DUE
    assert [r.agency for r in board_view.isg_votes] == [Agency.STATE, Agency.TREASURY, Agency.DHS, Agency.DOJ]


def test_search_attributes_follow_the_view_and_only_changes_are_upserted() -> None:
    state = at_board()
    v = views.view(state)
    start = datetime(2027, 9, 29, 4, 0, tzinfo=UTC)
    assert views.search_attributes(v) == {
        "IleaStage": "board_review",
        "IleaAcademy": "BUD",
        "IleaTopic": "corruption_financial_crimes",
        "IleaStartDate": start,
    }
    first = {u.key.name: u.value for u in views.search_attribute_changes(v, {})}
    assert first == views.search_attributes(v)  # nothing upserted yet: all four
    # A Board position changes who it waits on, and nothing Temporal is told about.
    last = views.search_attributes(v)
    transitions.take_position(
        state, BoardPositionInput(actor=board(Agency.DHS), position=BoardPosition.concur), now=SUBMITTED
    )
    after = views.view(state)
    assert after.pending_on != v.pending_on and after.version == v.version
    assert views.search_attribute_changes(after, last) == []
    moved = {**last, "IleaStage": "isg_review"}
    assert {u.key.name: u.value for u in views.search_attribute_changes(after, moved)} == {"IleaStage": "board_review"}


def test_proposals_started_before_edition_2_upsert_every_attribute_with_pending_on() -> None:
    v = views.view(at_board())
    assert views.legacy_search_attributes(v) == {
        "stage": "board_review",
        "academy": "BUD",
        "topic": "corruption_financial_crimes",
        "pending": ["board:DHS", "board:DOJ", "board:TREASURY", "board:chair"],
        "start": START,
    }
    updates = {u.key.name: u.value for u in views.legacy_search_attribute_updates(v)}
    assert updates == {
        "IleaStage": "board_review",
        "IleaAcademy": "BUD",
        "IleaTopic": "corruption_financial_crimes",
        "IleaPendingOn": ["board:DHS", "board:DOJ", "board:TREASURY", "board:chair"],
        "IleaStartDate": datetime(2027, 9, 29, 4, 0, tzinfo=UTC),
    }


def test_an_action_result_carries_the_view_only_when_asked() -> None:
    state = submitted()
    state.version = 3
    full = views.action_result(state, ReadInput())
    assert full.version == 3 and full.proposal is not None and full.proposal.version == 3
    bare = views.action_result(state, ReadInput(return_state=False))
    assert (bare.proposal_id, bare.version, bare.proposal, bare.request) == ("p-1", 3, None, None)
