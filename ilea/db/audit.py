"""The audit trail: append-only, hash-chained per proposal.

Each event's hash covers the previous event's hash and the event's own
canonical JSON, so changing, removing or reordering any event breaks the
chain from there on. Appends for one proposal are serialised by an advisory
transaction lock taken by every writer (the workflow's projection and the
API's refusal records alike).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

GENESIS = "0" * 64


def canonical_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """The detail as it will read back from jsonb (dates and decimals as strings)."""
    result: dict[str, Any] = json.loads(json.dumps(detail, default=str))
    return result


def utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    *,
    proposal_id: str,
    seq: int,
    at: datetime,
    actor: str,
    agency: str | None,
    action: str,
    detail: dict[str, Any],
    prev_hash: str,
) -> str:
    """SHA-256 of the previous hash and the event's canonical JSON."""
    body = {
        "proposal_id": proposal_id,
        "seq": seq,
        "at": utc_text(at),
        "actor": actor,
        "agency": agency,
        "action": action,
        "detail": detail,
    }
    return link_hash(prev_hash, body)


def link_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """One link of a hash chain: SHA-256 of the previous hash and ``body`` as canonical JSON."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


def first_broken(events: Sequence[dict[str, Any]], expected: Callable[[dict[str, Any], str], str]) -> int | None:
    """The seq of the first event out of place, wrongly linked, or whose hash is not ``expected(event,
    prev_hash)``; None when the chain holds (the audit trail's and the access log's check)."""
    prev = GENESIS
    for i, e in enumerate(events, start=1):
        if e["seq"] != i or e["prev_hash"] != prev or e["hash"] != expected(e, prev):
            return int(e["seq"])
        prev = e["hash"]
    return None


async def lock_proposal(con: asyncpg.Connection, proposal_id: str) -> None:
    """Serialise audit appends for one proposal until the transaction ends."""
    await con.execute("SELECT pg_advisory_xact_lock(hashtext('proposal:' || $1))", proposal_id)


async def append(
    con: asyncpg.Connection,
    proposal_id: str,
    events: Sequence[tuple[str, datetime, str, str | None, str, dict[str, Any]]],
) -> list[tuple[str, datetime, str, dict[str, Any]]]:
    """Append ``(key, at, actor, agency, action, detail)`` events not already recorded.

    Must run inside a transaction that holds :func:`lock_proposal`.

    Returns:
        ``(key, at, action, detail)`` of the events actually inserted now.
    """
    if not events:
        return []
    keys = [e[0] for e in events]
    # The keys already recorded and the chain's last link, in one round trip.
    head = await con.fetchrow(
        "SELECT ARRAY(SELECT event_key FROM audit_events WHERE proposal_id = $1 AND event_key = ANY($2))"
        " AS existing, last.seq, last.hash FROM (SELECT 1) AS one LEFT JOIN LATERAL"
        " (SELECT seq, hash FROM audit_events WHERE proposal_id = $1 ORDER BY seq DESC LIMIT 1) AS last ON true",
        proposal_id,
        keys,
    )
    existing = set(head["existing"])
    seq, prev = (head["seq"], head["hash"]) if head["seq"] is not None else (0, GENESIS)
    rows = []
    inserted = []
    for key, at, actor, agency, action, raw in events:
        if key in existing:
            continue
        detail = canonical_detail(raw)
        seq += 1
        # Postgres keeps microseconds; hash exactly what will be read back.
        at = at.astimezone(UTC)
        digest = event_hash(
            proposal_id=proposal_id,
            seq=seq,
            at=at,
            actor=actor,
            agency=agency,
            action=action,
            detail=detail,
            prev_hash=prev,
        )
        rows.append((proposal_id, seq, key, at, actor, agency, action, detail, prev, digest))
        inserted.append((key, at, action, detail))
        prev = digest
    if not rows:
        return inserted
    await con.executemany(
        "INSERT INTO audit_events (proposal_id, seq, event_key, at, actor, agency, action, detail,"
        " prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        rows,
    )
    return inserted


async def fetch(con: asyncpg.Connection | asyncpg.Pool, proposal_id: str) -> list[dict[str, Any]]:
    """Every event of a proposal, oldest first."""
    rows = await con.fetch(
        "SELECT seq, at, actor, agency, action, detail, prev_hash, hash FROM audit_events"
        " WHERE proposal_id = $1 ORDER BY seq",
        proposal_id,
    )
    return [dict(r) for r in rows]


def verify_chain(proposal_id: str, events: Sequence[dict[str, Any]]) -> int | None:
    """The seq of the first event whose hash or link is wrong, or None when the chain holds."""

    def expected(e: dict[str, Any], prev: str) -> str:
        return event_hash(
            proposal_id=proposal_id,
            seq=e["seq"],
            at=e["at"],
            actor=e["actor"],
            agency=e["agency"],
            action=e["action"],
            detail=e["detail"],
            prev_hash=prev,
        )

    return first_broken(events, expected)
