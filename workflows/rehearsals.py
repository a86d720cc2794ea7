"""A validator's rehearsal of an action, applied by its handler instead of a second rehearsal.

Each action is tried whole on a copy of the state (:mod:`workflows.actions`) by the Update's
validator, which must refuse before anything reaches history, and again by the handler, which
applies it: two deep copies and two rehearsals per action. Most of the time nothing happens
between the two: the SDK runs the handler straight after its validator, in the same task, and
the handler takes the lock at once. The handler's attempt would then compute exactly what the
validator's did, so the handler takes the validator's copy (:meth:`Rehearsals.result`).

The copy is the handler's result only when all of these hold, checked, not assumed:

- the validator ran while no one held the lock, and the handler's turn on the lock is the very
  next one (:class:`Turns`): every change to the state is made under the lock, so no one
  changed it, nor was half-way through changing and committing it;
- the same state object at the same version, the same workflow time, the same action (a
  handler may pick an older rule by ``workflow.patched``), an equal input;
- the rehearsal was ``as_attempted``: no deadline had come and no id was drawn.

Otherwise the handler attempts the action itself, as it always does on replay, where
validators do not run; that is why the two must give the same state, and do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from temporalio import workflow

if TYPE_CHECKING:
    # Types only: the worker passes this module through the sandbox (worker.PASSTHROUGH), so
    # that the workflows in its cache share one copy of it; it needs nothing but asyncio.
    from datetime import datetime
    from types import TracebackType

    from ilea.messages import ActionInput
    from workflows.actions import Action, Attempted, Rehearsal
    from workflows.state import ProposalState


def current_update_id() -> str:
    """The id of the Update whose validator or handler is running."""
    info = workflow.current_update_info()
    assert info is not None  # (called from Update validators and handlers only)
    return info.id


class Turns:
    """The workflow's lock (one Update, or the deadline handling, at a time), counting the turns
    taken on it: a turn that is not the next one after a validation means the state may have moved."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self.taken = 0

    def locked(self) -> bool:
        return self._lock.locked()

    async def __aenter__(self) -> None:
        await self._lock.acquire()
        self.taken += 1

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._lock.release()


@dataclass(frozen=True)
class Kept:
    """A rehearsal, with what it was made from."""

    rehearsal: Rehearsal
    state: ProposalState
    version: int
    turn: int
    now: datetime
    action: Action[Any, Any]
    inp: ActionInput


class Rehearsals:
    """The validators' rehearsals, by Update id, until their handlers take them."""

    def __init__(self, turns: Turns) -> None:
        self._turns = turns
        self._kept: dict[str, Kept] = {}

    def keep(
        self,
        update_id: str,
        state: ProposalState,
        inp: ActionInput,
        action: Action[Any, Any],
        now: datetime,
        rehearsal: Rehearsal,
    ) -> None:
        """Called by a validator that passed: keep its rehearsal if a handler may take it."""
        if rehearsal.as_attempted and not self._turns.locked():
            self._kept[update_id] = Kept(rehearsal, state, state.version, self._turns.taken, now, action, inp)

    def take(self, update_id: str) -> Kept | None:
        """Called by the handler before it waits for its turn (the rehearsal is forgotten either way)."""
        return self._kept.pop(update_id, None)

    def result(
        self, kept: Kept | None, state: ProposalState, inp: ActionInput, action: Action[Any, Any], now: datetime
    ) -> Attempted | None:
        """Called on the handler's turn: the rehearsal's state, answer and view if it is what
        the handler's attempt would compute now, else None."""
        if (
            kept is None
            or self._turns.taken != kept.turn + 1
            or state is not kept.state
            or state.version != kept.version
            or now != kept.now
            or action is not kept.action
            or inp != kept.inp
        ):
            return None
        return kept.rehearsal.attempted()

    def __len__(self) -> int:
        return len(self._kept)
