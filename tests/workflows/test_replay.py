"""Recorded histories replay against today's ProposalWorkflow (no nondeterminism on deploy).

The histories are recorded by ``python -m tests.workflows.make_histories``; a failure here
means a change to the workflow would break proposals that are already running.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.workflows.make_histories import HISTORIES, SCENARIOS
from worker import workflow_runner
from workflows.proposal import (
    PATCH_CHAIN_KEPT,
    PATCH_CUTOFF_ONLY_LATER,
    PATCH_DEADLINES_FIRST,
    PATCH_EDITION_2,
    PATCH_LOCAL_BOOKING,
    PATCH_VISIBILITY,
    ProposalWorkflow,
)

FILES = sorted(HISTORIES.glob("*.json"))
#: Recorded by older workflow code (named for the change since): proposals still running
#: under that code must finish under today's, through its ``workflow.patched`` branches.
LEGACY = sorted((HISTORIES / "legacy").glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def replayer() -> Replayer:
    """Configured exactly as ``worker.build_worker`` configures the real worker."""
    return Replayer(
        workflows=[ProposalWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )


def test_every_scenario_has_a_recorded_history() -> None:
    assert {p.stem for p in FILES} == set(SCENARIOS)


@pytest.mark.parametrize("path", FILES + LEGACY, ids=[p.stem for p in FILES + LEGACY])
async def test_history_replays(path: Path) -> None:
    raw = load(path)
    history = WorkflowHistory.from_json(f"replay-{path.stem}", raw)
    assert len(history.events) > 10  # a real recording, not an empty file
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure!r}"


def test_legacy_histories_take_the_old_branch() -> None:
    """The legacy booking history really is pre-change: activity tasks, no patch marker."""
    events = load(HISTORIES / "legacy" / "delivered-booking-activity.json")["events"]
    scheduled = [e for e in events if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]
    assert [e["activityTaskScheduledEventAttributes"]["activityType"]["name"] for e in scheduled] == [
        "book_instructor"
    ] * 3
    markers = [e["markerRecordedEventAttributes"]["markerName"] for e in events if "markerRecordedEventAttributes" in e]
    assert "core_patch" not in markers
    current = load(HISTORIES / "delivered.json")["events"]
    assert not [e for e in current if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]
    assert any(e.get("markerRecordedEventAttributes", {}).get("markerName") == "core_patch" for e in current)


def patches(path: Path) -> set[str]:
    """The ``workflow.patched`` ids a recorded history holds markers for."""
    found = set()
    for e in load(path)["events"]:
        marker = e.get("markerRecordedEventAttributes", {})
        if marker.get("markerName") == "core_patch":
            data = marker["details"]["patch-data"]["payloads"][0]["data"]
            found.add(json.loads(base64.b64decode(data))["id"])
    return found


def test_edition_2_histories_take_the_new_branches_and_edition_1_ones_the_old() -> None:
    """Recorded since issue 13, a proposal keeps its audit chain (and one that moved its cutoff
    took the only-later branch); recorded before, none did, and each still replays above."""
    five = [p for p in LEGACY if p.stem.endswith("-five-patches")]
    assert {p.stem.removesuffix("-five-patches") for p in five} == {p.stem for p in FILES}
    assert all(PATCH_CHAIN_KEPT in patches(p) for p in five)
    assert PATCH_CUTOFF_ONLY_LATER in patches(HISTORIES / "legacy" / "handed_over-five-patches.json")
    edition_1 = [p for p in LEGACY if p.stem.endswith("-edition-1")]
    assert len(edition_1) == 9
    assert not any(patches(p) & {PATCH_CHAIN_KEPT, PATCH_CUTOFF_ONLY_LATER, PATCH_DEADLINES_FIRST} for p in edition_1)


def change_versions(path: Path) -> int:
    """How many times a recorded history upserted ``TemporalChangeVersion`` (once per new patch id)."""
    return sum(
        "TemporalChangeVersion"
        in e["upsertWorkflowSearchAttributesEventAttributes"]["searchAttributes"]["indexedFields"]
        for e in load(path)["events"]
        if e["eventType"] == "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"
    )


def test_a_proposal_started_since_asks_one_patch_for_the_five() -> None:
    """Each patch id asked costs a marker and a TemporalChangeVersion upsert (a visibility
    write). Today's recordings hold the one edition-2 marker and one such upsert; the same
    scenarios recorded before held one per id asked (two to four); both replay above."""
    for path in FILES:
        assert patches(path) == {PATCH_EDITION_2}, path.name
        assert change_versions(path) == 1, path.name
        before = HISTORIES / "legacy" / f"{path.stem}-five-patches.json"
        asked = patches(before)
        assert PATCH_EDITION_2 not in asked and {PATCH_CHAIN_KEPT, PATCH_VISIBILITY} <= asked, before.name
        assert change_versions(before) == len(asked) >= 2, before.name
    assert PATCH_LOCAL_BOOKING in patches(HISTORIES / "legacy" / "delivered-five-patches.json")


async def test_a_foreign_history_fails_to_replay() -> None:
    """The check has teeth: a history whose commands the code would not issue is refused."""
    raw = load(HISTORIES / "rejected.json")
    events = raw["events"]
    # Drop the first local-activity marker (the initial commit): replay now diverges.
    marker = next(i for i, e in enumerate(events) if e["eventType"] == "EVENT_TYPE_MARKER_RECORDED")
    del events[marker]
    for i, e in enumerate(events, start=1):
        e["eventId"] = str(i)
    history = WorkflowHistory.from_json("replay-tampered", raw)
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert isinstance(result.replay_failure, NondeterminismError)
