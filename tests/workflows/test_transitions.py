"""How the state changes, and what is recorded and told: workflows.transitions called directly,
without Temporal. The time-skipping tests (test_review.py, test_staffing.py) run the same
functions inside the workflow.
"""

from __future__ import annotations

import copy
import typing
from datetime import date

from pydantic import BaseModel

from ilea.activity_io import ProjectInput, ProposalRow
from ilea.domain import Agency, BoardDecision, BoardPosition, IsgVote, RequestStatus, Stage
from ilea.messages import (
    AcceptInput,
    BoardDecisionInput,
    BoardPositionInput,
    DeclineInput,
    InstructorRef,
    IsgVoteInput,
    ProposalView,
    ReleaseInput,
    RetargetInput,
    RevisionInput,
    RuleConfig,
)
from tests.support import CHAIR, PO, PO2, board, coordinator, fields, isg
from tests.workflows.states import (
    SUBMITTED,
    Ids,
    at_board,
    changes_requested,
    dump,
    later,
    need,
    staffing,
    submitted,
    vote,
)
from workflows import actions, transitions
from workflows.state import ProposalState


def told(state: ProposalState) -> list[tuple[str, str]]:
    return [(n.party, n.kind) for n in state.notes]


def test_a_submitted_proposal_opens_round_one_and_tells_every_seat() -> None:
    state = submitted()
    assert (state.stage, state.round, state.authors) == (Stage.isg_review, 1, {"po-1"})
    assert [(e.action, e.actor) for e in state.events] == [("submitted", "po-1"), ("stage_changed", "system")]
    # the owner (a person) is told; each seat is asked to vote
    assert told(state) == [
        ("person:po-1", "submitted"),
        ("person:po-1", "stage_changed"),
        ("isg:STATE", "action"),
        ("isg:TREASURY", "action"),
        ("isg:DHS", "action"),
        ("isg:DOJ", "action"),
    ]
    assert state.notes[2].subject == "ISG vote needed (round 1): Countering financial crimes"


def test_a_second_vote_replaces_the_first() -> None:
    state = submitted()
    vote(state, Agency.DHS, IsgVote.nonconcur)
    vote(state, Agency.DHS, IsgVote.concur)
    assert state.votes[Agency.DHS].vote is IsgVote.concur
    assert state.events[-1].detail == {"round": 1, "vote": "concur", "comment": None, "replaces": "nonconcur"}
    assert state.stage is Stage.isg_review


def test_four_concurs_on_a_cheap_specialized_course_fast_track_it_to_staffing() -> None:
    state = submitted(cost="150000", needs=[need(Agency.DOJ, 2)])
    state.notes = []
    for seat in (Agency.STATE, Agency.TREASURY, Agency.DHS):
        vote(state, seat)
    ids = Ids()
    last = IsgVoteInput(actor=isg(Agency.DOJ), vote=IsgVote.concur)
    transitions.cast_vote(state, last, now=SUBMITTED, new_id=ids)
    assert state.fast_tracked and state.stage is Stage.staffing
    # The notice goes to each Board member seat and the chair; the owner and the ISG hear of the approval.
    assert told(state) == [
        ("board:TREASURY", "fast_track"),
        ("board:DHS", "fast_track"),
        ("board:DOJ", "fast_track"),
        ("board:chair", "fast_track"),
        ("person:po-1", "stage_changed"),
        ("isg:STATE", "outcome"),
        ("isg:TREASURY", "outcome"),
        ("isg:DHS", "outcome"),
        ("isg:DOJ", "outcome"),
        ("agency:DOJ", "action"),
        ("agency:DOJ", "action"),
    ]
    assert [(r.id, r.slot, r.status) for r in state.staffing.requests] == [
        ("r1", 1, RequestStatus.open),
        ("r2", 2, RequestStatus.open),
    ]


def test_one_nonconcur_goes_to_the_board_with_a_dissent_and_two_reject() -> None:
    dissent = submitted()
    vote(dissent, Agency.DHS, IsgVote.nonconcur)
    for seat in (Agency.STATE, Agency.TREASURY, Agency.DOJ):
        vote(dissent, seat)
    assert (dissent.stage, dissent.dissent) == (Stage.board_review, True)
    assert dissent.events[-1].detail["why"] == "to the Policy Board with a dissent"
    rejected = submitted()
    for seat, v in ((Agency.DHS, IsgVote.nonconcur), (Agency.DOJ, IsgVote.nonconcur)):
        vote(rejected, seat, v)
    for seat in (Agency.STATE, Agency.TREASURY):
        vote(rejected, seat)
    assert rejected.stage is Stage.rejected
    assert ("person:po-1", "outcome") in told(rejected)


def test_a_revision_adds_an_author_moves_the_cutoff_and_opens_a_new_round() -> None:
    state = changes_requested()
    new_fields = fields(today=SUBMITTED.date(), lead_days=150)
    transitions.revise(state, RevisionInput(actor=PO2, proposal=new_fields, comment="later"), now=later(3))
    assert (state.stage, state.round, state.revisions) == (Stage.isg_review, 2, 1)
    assert state.authors == {"po-1", "po-2"}
    assert state.cutoff == date(2027, 9, 29)  # 30 days before the new start, 29 October
    assert state.votes == {} and state.round_opened_at == later(3)


def test_the_board_returning_a_proposal_past_its_revisions_rejects_it() -> None:
    state = at_board()
    state.rules = RuleConfig(max_revisions=0)
    back = BoardDecisionInput(actor=CHAIR, decision=BoardDecision.return_to_isg, comment="rework")
    transitions.decide(state, back, now=SUBMITTED, new_id=Ids())
    assert state.stage is Stage.rejected
    assert state.events[-1].detail["why"] == (
        "returned to the Steering Group by the Policy Board chair; the limit of 0 revisions is reached"
    )


def test_an_approval_sends_one_request_per_slot() -> None:
    state = staffing([need(Agency.TREASURY, 2), need(Agency.DOJ)])
    assert state.stage is Stage.staffing
    sent = [e for e in state.events if e.action == "request_sent"]
    assert [(e.detail["request_id"], e.detail["slot"], e.agency) for e in sent] == [
        ("r1", 1, "TREASURY"),
        ("r2", 2, "TREASURY"),
        ("r3", 3, "DOJ"),
    ]


def test_a_release_reopens_the_slot_to_the_same_agency() -> None:
    state = staffing([need(Agency.DOJ)])
    r1 = state.staffing.requests[0]
    transitions.accepted(
        state,
        AcceptInput(actor=coordinator(Agency.DOJ), request_id="r1", instructor_id="i-1"),
        r1,
        InstructorRef(id="i-1", name="Dana"),
        now=SUBMITTED,
    )
    assert state.stage is Stage.scheduled
    ids = Ids()
    ids.n = 1
    release = ReleaseInput(actor=coordinator(Agency.DOJ), request_id="r1", reason="sick")
    transitions.released(state, release, r1, now=later(5), new_id=ids)
    assert [(r.id, r.status, r.agency) for r in state.staffing.requests] == [
        ("r1", RequestStatus.released, Agency.DOJ),
        ("r2", RequestStatus.open, Agency.DOJ),
    ]
    assert state.stage is Stage.staffing
    assert [e.action for e in state.events[-3:]] == ["booking_released", "request_sent", "stage_changed"]
    assert state.events[-3].detail == {"request_id": "r1", "instructor": "i-1", "reason": "sick"}


def test_a_retargeted_slot_goes_to_the_chosen_agency() -> None:
    state = staffing([need(Agency.DOJ)])
    ids = Ids()
    ids.n = 1
    transitions.advance(state, state.staffing.requests[0], RequestStatus.declined, "none", now=SUBMITTED, new_id=ids)
    transitions.refresh_staffing_stage(state, None, now=SUBMITTED)
    assert state.stage is Stage.staffing_at_risk
    # the owner is asked to re-target the slot, and told of the stage change
    assert [(n.party, n.kind, n.subject, n.body) for n in state.notes[-2:]] == [
        ("person:po-1", "action", "Slot 1 unfilled: Countering financial crimes", ""),
        (
            "person:po-1",
            "stage_changed",
            "Countering financial crimes: staffing at risk",
            "a slot has no agency left to ask",
        ),
    ]
    retarget = RetargetInput(actor=PO, request_id="r1", agency=Agency.DHS)
    new = transitions.retarget(state, retarget, state.staffing.requests[0], now=SUBMITTED, new_id=ids)
    assert (new.id, new.agency, new.asked_agencies) == ("r2", Agency.DHS, [Agency.DOJ, Agency.DHS])
    assert state.stage is Stage.staffing
    assert state.events[-3].detail == {"request_id": "r1", "slot": 1, "agency": "DHS", "new_request_id": "r2"}


def test_the_outbox_keys_each_entry_by_version_and_empties() -> None:
    state = submitted()
    n_events, n_notes = len(state.events), len(state.notes)
    view, project = transitions.outbox(state, now=later(1))
    assert state.version == 1 and state.updated_at == later(1)
    assert [e.key for e in project.events] == [f"1.{i}" for i in range(n_events)]
    assert [n.key for n in project.notifications] == [f"1.{i}" for i in range(n_notes)]
    assert (view.version, view.updated_at) == (1, later(1))
    # the document is the view as text; the row is the view's fields of the same names
    assert project.view() == view and project.row.model_dump() == view.model_dump(include=set(ProposalRow.model_fields))
    assert state.events == [] and state.notes == []
    assert [e.key for e in transitions.outbox(state, now=later(2)).project.events] == []
    assert state.version == 2


def test_the_projection_decodes_the_rows_fields_not_the_whole_view() -> None:
    """The view travels to the projection as JSON text (its document): the activity's input
    holds no ProposalView to validate field by field and serialize back (issue 17)."""

    def models(model: type[BaseModel]) -> set[type[BaseModel]]:
        found = {model}
        for f in model.model_fields.values():
            for t in (f.annotation, *typing.get_args(f.annotation)):
                if isinstance(t, type) and issubclass(t, BaseModel) and t not in found:
                    found |= models(t)
        return found

    assert ProposalView not in models(ProjectInput)
    assert ProjectInput.model_fields["document"].annotation is str


def test_an_outbox_from_the_rehearsed_view_is_the_outbox_computed_afresh() -> None:
    """The commit takes the view its action's rehearsal computed (with the new version and
    time) instead of computing it again: over a whole lifecycle (the ISG, the Board, requests,
    a decline to an alternate agency, every slot accepted), both outboxes and the states they
    leave are equal, so nothing else the outbox changes shows in the view, and the rehearsal
    keyed the events as the commit does when it chained them."""
    ids = Ids()
    state = submitted()
    state.chain_kept = True  # as every proposal submitted since the workflow kept its audit chain
    compared = 0

    def commit(day: int) -> None:
        nonlocal compared
        fresh, taken = copy.deepcopy(state), copy.deepcopy(state)
        expected = transitions.outbox(fresh, now=later(day))
        got = transitions.outbox(taken, now=later(day), rehearsed=actions.rehearse(taken))
        assert got.view == expected.view and got.project == expected.project, f"day {day}"
        assert dump(taken) == dump(fresh)
        transitions.outbox(state, now=later(day))
        compared += 1

    commit(0)
    for day, seat in enumerate((Agency.STATE, Agency.TREASURY, Agency.DHS, Agency.DOJ), start=1):
        vote(state, seat, at=later(day))
        commit(day)
    for day, agency in enumerate((Agency.TREASURY, Agency.DHS, Agency.DOJ), start=6):
        position = BoardPositionInput(actor=board(agency), position=BoardPosition.concur)
        transitions.take_position(state, position, now=later(day))
        commit(day)
    decision = BoardDecisionInput(actor=CHAIR, decision=BoardDecision.approve, comment="ok")
    transitions.decide(state, decision, now=later(9), new_id=ids)
    commit(9)
    first = state.staffing.requests[0]
    decline = DeclineInput(actor=coordinator(first.agency), request_id=first.id, reason="nobody free")
    transitions.decline(state, decline, first, now=later(10), new_id=ids)
    commit(10)
    for day, r in enumerate([r for r in state.staffing.requests if r.status is RequestStatus.open], start=11):
        accept = AcceptInput(actor=coordinator(r.agency), request_id=r.id, instructor_id="i-1")
        transitions.accepted(state, accept, r, InstructorRef(id="i-1", name="Dana"), now=later(day))
        commit(day)
    assert state.stage is Stage.scheduled and compared >= 12 and state.chain_events > compared
