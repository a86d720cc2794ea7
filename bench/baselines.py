"""The baselines' workflows (bench/variants.py): today's ProposalWorkflow with one change put back.

Imported like ``workflows/proposal.py`` imports its own modules (not passed through), so the
sandbox re-imports the workflow modules for every run of a baseline exactly as it does for
today's workflow: a baseline must not be spared a cost today's pays.

(Each class declares ``__init__`` and ``run`` again: the SDK wants both on every
``workflow.defn`` class.)
"""

from __future__ import annotations

import copy
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from ilea.messages import ProposalInput, ProposalOutcome, ProposalView

from workflows import views
from workflows.proposal import ProposalWorkflow
from workflows.state import ProposalState


@workflow.defn(name="ProposalWorkflow")
class EveryChangeUpserted(ProposalWorkflow):
    """Before: all five attributes whenever any changed (every vote changes who the
    proposal waits on), with no patch marker."""

    @workflow.init
    def __init__(self, inp: ProposalInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: ProposalInput) -> ProposalOutcome:
        return await super().run(inp)

    def _keep_search_attributes(self, v: ProposalView) -> None:
        wanted = views.legacy_search_attributes(v)
        if wanted != self._state.last_sa:
            self._state.last_sa = wanted
            workflow.upsert_search_attributes(views.legacy_search_attribute_updates(v))


@workflow.defn(name="ProposalWorkflow")
class RehearsedTwice(ProposalWorkflow):
    """Before: the handler rehearsed the action again after its validator had."""

    @workflow.init
    def __init__(self, inp: ProposalInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: ProposalInput) -> ProposalOutcome:
        return await super().run(inp)

    def _rehearse(self, inp: Any, action: Any) -> None:
        self._validate(inp, action)


def _deep_copy(state: ProposalState) -> ProposalState:
    return copy.deepcopy(state)


@workflow.defn(name="ProposalWorkflow")
class DeepCopied(ProposalWorkflow):
    """Before: every action was tried on a deep copy of the state (``copy.deepcopy``)."""

    @workflow.init
    def __init__(self, inp: ProposalInput) -> None:
        # the sandbox imported workflows.state for this run alone: the change stays in it
        ProposalState.draft = _deep_copy  # type: ignore[method-assign,assignment]
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: ProposalInput) -> ProposalOutcome:
        return await super().run(inp)


@workflow.defn(name="ProposalWorkflow")
class FivePatches(ProposalWorkflow):
    """Before: each change asked its own patch id (a marker and a TemporalChangeVersion upsert
    the first time each is asked), as proposals recorded before PATCH_EDITION_2 still do."""

    @workflow.init
    def __init__(self, inp: ProposalInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: ProposalInput) -> ProposalOutcome:
        return await super().run(inp)

    def _patched(self, change: str) -> bool:
        return workflow.patched(change)


BY_NAME: dict[str, type[ProposalWorkflow]] = {
    "every-change-upserted": EveryChangeUpserted,
    "rehearsed-twice": RehearsedTwice,
    "deep-copied": DeepCopied,
    "five-patches": FivePatches,
}
