"""The API's baselines (bench/variants.py, sides named ``api:<baseline>``): today's API with one
change put back. Applied before the routes are imported, since they take their dependencies at
import.

- ``api:looked-up-first`` (experiment ``lookup``): every action on a proposal reads the read
  model first, to answer 404 before sending its Update (one more database round trip per action).
- ``api:gc-default`` (experiment ``gc``): the cyclic garbage collector as CPython sets it,
  nothing frozen at start (``ilea.loop.tune_gc`` not called).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from api import deps
from api.deps import BodyT, CurrentUser, Db, ProposalAction, find_proposal

#: the API's baselines, by name
API_BASELINES = ("looked-up-first", "gc-default")


def looked_up_first(model: type[BodyT]) -> Callable[..., Awaitable[ProposalAction[BodyT]]]:
    """:func:`api.deps.proposal_action` as it was: the proposal looked up before the action."""

    async def dependency(proposal_id: str, body: BodyT, db: Db, caller: CurrentUser) -> ProposalAction[BodyT]:
        return ProposalAction(body, await find_proposal(db, proposal_id))

    dependency.__annotations__["body"] = model
    return dependency


def apply(baseline: str) -> None:
    if baseline not in API_BASELINES:
        raise SystemExit(f"unknown API baseline {baseline!r}: one of {', '.join(API_BASELINES)}")
    if baseline == "gc-default":
        from ilea import loop

        loop.tune_gc = lambda: None  # cli.main.api imports it when it runs
        return
    deps.proposal_action = looked_up_first
