"""A handler applies its validator's rehearsal only when it is what the handler would compute
(workflows/rehearsals.py): the state unchanged since, the same time, action and input, no
deadline come and no id drawn. Otherwise, and always on replay, it attempts the action itself.

The unit tests drive the lock and the rehearsals as the workflow does, without Temporal; the
time-skipping tests send Updates that meet in one workflow task and replay what they recorded.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from datetime import date, timedelta
from typing import Any

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from ilea.domain import ISG_SEATS, Agency, BoardDecision, BoardPosition, IsgVote, Stage
from ilea.messages import BoardDecisionInput, BoardPositionInput, IsgVoteInput
from tests.support import CHAIR, board, fields, isg, running_worker, start_proposal
from tests.workflows.states import ISG_REMINDER, SUBMITTED, Ids, at_board, submitted
from worker import workflow_runner
from workflows import actions, views
from workflows.actions import Action
from workflows.proposal import ProposalWorkflow
from workflows.rehearsals import Kept, Rehearsals, Turns
from workflows.state import ProposalState

DHS_VOTE = IsgVoteInput(actor=isg(Agency.DHS), vote=IsgVote.concur)
DOJ_VOTE = IsgVoteInput(actor=isg(Agency.DOJ), vote=IsgVote.concur)


def outcome(state: ProposalState) -> tuple[object, ...]:
    """Everything an action leaves in the state that the commit writes out."""
    events, notes = [e.model_dump() for e in state.events], [n.model_dump() for n in state.notes]
    return views.view(state).model_dump(), events, notes


def validated(
    rehearsals: Rehearsals, uid: str, state: ProposalState, inp: Any, action: Action[Any, Any] = actions.ISG_VOTE
) -> actions.Rehearsal:
    """What ``ProposalWorkflow._rehearse`` does."""
    rehearsal = actions.dry_run(state, inp, action, SUBMITTED)
    rehearsals.keep(uid, state, inp, action, SUBMITTED, rehearsal)
    return rehearsal


def a_vote_validated() -> tuple[ProposalState, Turns, Rehearsals, Kept | None]:
    """A proposal in its ISG round, and DHS's vote validated and taken by its handler (``u1``)."""
    state, turns = submitted(), Turns()
    rehearsals = Rehearsals(turns)
    validated(rehearsals, "u1", state, DHS_VOTE)
    return state, turns, rehearsals, rehearsals.take("u1")


async def test_a_handler_right_after_its_validator_takes_the_rehearsal_which_is_the_attempt() -> None:
    state, turns = submitted(), Turns()
    rehearsals = Rehearsals(turns)
    rehearsal = validated(rehearsals, "u1", state, DHS_VOTE)
    kept = rehearsals.take("u1")
    async with turns:
        result = rehearsals.result(kept, state, DHS_VOTE, actions.ISG_VOTE, SUBMITTED)
    assert result is not None and result.state is rehearsal.draft
    attempted, shown, rehearsed = actions.attempt(state, DHS_VOTE, actions.ISG_VOTE, SUBMITTED, Ids())
    assert outcome(result.state) == outcome(attempted) and result.shown == shown and result.rehearsed == rehearsed
    assert [v.agency for v in result.state.votes.values()] == [Agency.DHS]
    assert len(rehearsals) == 0  # taken: nothing is kept for long


async def test_a_change_between_validator_and_handler_is_not_lost() -> None:
    """Two votes validated on the same state; the other's handler takes the lock first."""
    state, turns = submitted(), Turns()
    rehearsals = Rehearsals(turns)
    validated(rehearsals, "dhs", state, DHS_VOTE)
    validated(rehearsals, "doj", state, DOJ_VOTE)
    kept_doj = rehearsals.take("doj")
    async with turns:  # DHS's handler: its rehearsal is the attempt
        kept = rehearsals.take("dhs")
        result = rehearsals.result(kept, state, DHS_VOTE, actions.ISG_VOTE, SUBMITTED)
        assert result is not None
        state = result.state
    async with turns:  # DOJ's: DHS's vote came between, so it attempts again
        assert rehearsals.result(kept_doj, state, DOJ_VOTE, actions.ISG_VOTE, SUBMITTED) is None
        state = actions.attempt(state, DOJ_VOTE, actions.ISG_VOTE, SUBMITTED, Ids()).state
    assert {v.agency for v in state.votes.values()} == {Agency.DHS, Agency.DOJ}


async def test_a_turn_that_changed_the_state_in_place_is_noticed() -> None:
    """The deadline handling changes the state object itself (same object, same version until it commits)."""
    state, turns, rehearsals, kept = a_vote_validated()
    async with turns:
        state.round_reminded = True  # what the main loop's reminder does, under the lock
    async with turns:
        assert rehearsals.result(kept, state, DHS_VOTE, actions.ISG_VOTE, SUBMITTED) is None


async def test_a_validation_while_the_lock_is_held_is_not_kept() -> None:
    """Whoever holds the lock may be between changing the state and committing it."""
    state, turns = submitted(), Turns()
    rehearsals = Rehearsals(turns)
    async with turns:
        validated(rehearsals, "u1", state, DHS_VOTE)
    assert len(rehearsals) == 0 and rehearsals.take("u1") is None


async def test_another_time_action_or_input_means_attempting_again() -> None:
    state, turns, rehearsals, kept = a_vote_validated()
    async with turns:
        assert rehearsals.result(kept, state, DHS_VOTE, actions.ISG_VOTE, SUBMITTED + timedelta(seconds=1)) is None
        other_rule = Action(actions.ISG_VOTE.check, actions.ISG_VOTE.change)
        assert rehearsals.result(kept, state, DHS_VOTE, other_rule, SUBMITTED) is None
        assert rehearsals.result(kept, state, DOJ_VOTE, actions.ISG_VOTE, SUBMITTED) is None
        assert rehearsals.result(kept, copy.deepcopy(state), DHS_VOTE, actions.ISG_VOTE, SUBMITTED) is None
        assert rehearsals.result(kept, state, DHS_VOTE, actions.ISG_VOTE, SUBMITTED) is not None


def test_a_rehearsal_after_a_deadline_came_or_that_drew_ids_is_not_the_attempt() -> None:
    state = submitted()
    # the reminder has come: the validator judged after it, the handler commits it first
    after_reminder = actions.dry_run(state, DHS_VOTE, actions.ISG_VOTE, ISG_REMINDER + timedelta(seconds=1))
    assert not after_reminder.as_attempted and after_reminder.draft.round_reminded
    assert actions.dry_run(state, DHS_VOTE, actions.ISG_VOTE, SUBMITTED).as_attempted
    # the approval sends instructor requests: their ids in the rehearsal are placeholders
    approve = BoardDecisionInput(actor=CHAIR, decision=BoardDecision.approve)
    approved = actions.dry_run(at_board(), approve, actions.BOARD_DECISION, SUBMITTED)
    assert approved.draft.stage is Stage.staffing
    assert not approved.as_attempted
    assert all(r.id.startswith("dry-run-") for r in approved.draft.staffing.requests)
    rehearsals = Rehearsals(Turns())
    rehearsals.keep("u1", state, approve, actions.BOARD_DECISION, SUBMITTED, approved)
    assert len(rehearsals) == 0


# --- through Temporal: Updates that meet in one workflow task, and their replay ------------------


async def test_updates_that_meet_in_one_workflow_task_are_all_applied_and_replay(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str
) -> None:
    """With the worker away, four votes and then three Board positions wait at the server; when it
    comes back they reach the workflow together. Each handler must see the others' changes,
    and the history (recorded with validators, replayed without) must replay."""
    async with running_worker(dev_env.client, pool, task_queue):
        today = date.today()
        _, handle = await start_proposal(dev_env.client, task_queue, fields(today=today, cost="900000"))

    async def together(*calls: Any) -> list[Any]:
        pending = [asyncio.create_task(c) for c in calls]
        await asyncio.sleep(1)  # all of them at the server before the worker is back
        async with running_worker(dev_env.client, pool, task_queue):
            return await asyncio.gather(*pending)

    votes = [IsgVoteInput(actor=isg(a), vote=IsgVote.concur) for a in ISG_SEATS]
    await together(*(handle.execute_update(ProposalWorkflow.isg_vote, v) for v in votes))
    positions = [
        BoardPositionInput(actor=board(a), position=BoardPosition.concur)
        for a in (Agency.TREASURY, Agency.DHS, Agency.DOJ)
    ]
    await together(*(handle.execute_update(ProposalWorkflow.board_position, p) for p in positions))
    async with running_worker(dev_env.client, pool, task_queue):
        state = await handle.query(ProposalWorkflow.state)
    assert state.stage is Stage.board_review
    assert {v.agency for v in state.isg_votes} == set(ISG_SEATS)
    assert {p.agency for p in state.board_positions} == {Agency.TREASURY, Agency.DHS, Agency.DOJ}

    history = await handle.fetch_history()
    # they did meet: one workflow task accepted several of them
    accepted_per_task: Counter[int] = Counter()
    task = 0
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            task += 1
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            accepted_per_task[task] += 1
    assert max(accepted_per_task.values()) >= 2, accepted_per_task
    replayer = Replayer(
        workflows=[ProposalWorkflow], data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, repr(result.replay_failure)
