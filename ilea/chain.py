"""Hash chains: the audit trail's, and the workflow's own record of it (pure: no I/O).

The audit trail in PostgreSQL is hash-chained per proposal (``ilea/db/audit.py``): each event's
hash covers the previous hash and the event's canonical JSON, so changing one event breaks the
chain from there on. But whoever can write the table can also delete the newest events, or
rewrite events and recompute every hash after them, and the chain still holds.

So the proposal's workflow keeps a second record, in a store the database cannot rewrite (its
Temporal history): a chain over its own audit events only (:func:`workflow_link`), as it hands
them to the projection. It is computed from the events' content (key, time, actor, agency,
action, detail), which the workflow knows, not from the database's sequence numbers, which the
API's refusal records interleave. ``GET /v1/proposals/{id}/events/verify`` recomputes the same
chain from the workflow's events in the database and compares (:func:`compare`): a missing,
added or rewritten workflow event shows as a different count or head.

Because the record is rebuilt on replay by today's code, an audit event's content is part of
the workflow's determinism: changing what a running proposal's workflow records for an event
needs ``workflow.patched`` like a change of commands.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64

#: the keys of the workflow's audit events: ``<version>.<position>`` (the API's refusals are
#: keyed ``refused:<uuid>``)
WORKFLOW_KEY = re.compile(r"\d+\.\d+")


def canonical_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The detail as it will read back from jsonb (dates and decimals as strings)."""
    result: dict[str, Any] = json.loads(json.dumps(detail, default=str))
    return result


def utc_text(at: datetime) -> str:
    """``at`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, the text every chain hashes.

    The same text as ``strftime("%Y-%m-%dT%H:%M:%S.%fZ")`` (for years 1000 to 9999), which
    imports ``time`` on every call: in the workflow's sandbox, where each import goes through
    the sandbox's importer, that was most of this function's cost.
    """
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def link_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """One link of a hash chain: SHA-256 of the previous hash and ``body`` as canonical JSON."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


def workflow_link(
    prev_hash: str, *, key: str, at: datetime, actor: str, agency: str | None, action: str, detail: Mapping[str, Any]
) -> str:
    """The next head of the workflow's chain after one of its events."""
    body = {
        "key": key,
        "at": utc_text(at),
        "actor": actor,
        "agency": agency,
        "action": action,
        "detail": canonical_detail(detail),
    }
    return link_hash(prev_hash, body)


def workflow_chain(events: Iterable[Mapping[str, Any]], head: str = GENESIS) -> tuple[int, str]:
    """How many events, and the head after them, for events with ``key, at, actor, agency,
    action, detail`` (in the order they were recorded)."""
    n = 0
    for e in events:
        head = workflow_link(
            head, key=e["key"], at=e["at"], actor=e["actor"], agency=e["agency"], action=e["action"], detail=e["detail"]
        )
        n += 1
    return n, head


def workflow_events(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The database's rows the workflow wrote (keyed ``<version>.<position>``), in their order."""
    return [e for e in events if WORKFLOW_KEY.fullmatch(str(e["key"]))]


def missing(events: Iterable[Mapping[str, Any]], kept_events: int) -> bool:
    """True when the database holds fewer of the workflow's events than it recorded."""
    return len(workflow_events(events)) < kept_events


def compare(events: Iterable[Mapping[str, Any]], kept_events: int, kept_head: str) -> list[str]:
    """Each difference between the database's audit events and the workflow's record, in words.

    ``events`` are the database's rows of one proposal in ``seq`` order, with their ``key``;
    the workflow's are those keyed ``<version>.<position>``.
    """
    count, head = workflow_chain(workflow_events(events))
    if count < kept_events:
        gone = kept_events - count
        return [
            f"the workflow recorded {kept_events} events and the database holds {count} of them:"
            f" {gone} {'is' if gone == 1 else 'are'} missing"
        ]
    if count > kept_events:
        added = count - kept_events
        return [
            f"the database holds {count} events attributed to the workflow, which recorded {kept_events}:"
            f" {added} {'was' if added == 1 else 'were'} added"
        ]
    if head != kept_head:
        return [
            f"the database holds the workflow's {count} events, but their content differs from what the"
            " workflow recorded (events were rewritten)"
        ]
    return []
