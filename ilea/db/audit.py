"""The audit trail: append-only, hash-chained per proposal.

Each event's hash covers the previous event's hash and the event's own
canonical JSON, so changing, removing or reordering any event breaks the
chain from there on. Appends for one proposal are serialised by an advisory
transaction lock taken by every writer (the workflow's projection and the
API's refusal records alike).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

# The pure hashing lives in ilea.chain (the workflow computes its own record with it); these
# names are part of this module's interface too (ilea.db.people chains the access log with them).
from ilea import chain
from ilea.activity_io import AuditChain
from ilea.chain import GENESIS, canonical_detail, link_hash, utc_text

log = logging.getLogger(__name__)


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


class ChainWalk:
    """:func:`first_broken` an event at a time, for a chain read in pages: what it keeps is the
    last hash and two numbers, however long the chain."""

    def __init__(self, expected: Callable[[dict[str, Any], str], str]) -> None:
        self._expected = expected
        self._prev = GENESIS
        #: events seen so far
        self.count = 0
        #: the seq of the first event out of place, wrongly linked or wrongly hashed
        self.first_broken: int | None = None

    def add(self, e: dict[str, Any]) -> None:
        """The next event, oldest first (after a break, only counted)."""
        self.count += 1
        if self.first_broken is not None:
            return
        if e["seq"] != self.count or e["prev_hash"] != self._prev or e["hash"] != self._expected(e, self._prev):
            self.first_broken = int(e["seq"])
        self._prev = e["hash"]


def first_broken(events: Sequence[dict[str, Any]], expected: Callable[[dict[str, Any], str], str]) -> int | None:
    """The seq of the first event out of place, wrongly linked, or whose hash is not ``expected(event,
    prev_hash)``; None when the chain holds (the audit trail's and the access log's check)."""
    walk = ChainWalk(expected)
    for e in events:
        walk.add(e)
        if walk.first_broken is not None:
            break
    return walk.first_broken


def broken_at(seq: int | None) -> list[str]:
    """:func:`first_broken`'s finding in words (none when the chain holds)."""
    return [] if seq is None else [f"event {seq} does not match its hash or its link to the one before"]


async def lock_proposal(con: asyncpg.Connection, proposal_id: str) -> None:
    """Serialise audit appends for one proposal until the transaction ends."""
    await con.execute("SELECT pg_advisory_xact_lock(hashtext('proposal:' || $1))", proposal_id)


async def begin_locked(con: asyncpg.Connection, proposal_id: str) -> None:
    """BEGIN and :func:`lock_proposal` in one round trip (a simple query, so the id goes in as
    a literal). The caller ends the transaction (COMMIT, or ROLLBACK on any error)."""
    await con.execute(f"BEGIN; SELECT pg_advisory_xact_lock(hashtext('proposal:' || {_literal(proposal_id)}))")


def _literal(text: str) -> str:
    """``text`` as an escaped string constant (E'...': the same whatever standard_conforming_strings says)."""
    if "\x00" in text:
        raise ValueError("PostgreSQL text cannot hold NUL")
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


#: The audit keys already recorded among ``$2`` and the chain's last link, in one statement
#: (:func:`chain_rows` reads its answer); ``{with_}`` is where a caller adds a CTE of its own.
HEAD = (
    "{with_}SELECT ARRAY(SELECT event_key FROM audit_events WHERE proposal_id = $1 AND event_key = ANY($2))"
    " AS existing, last.seq, last.hash FROM (SELECT 1) AS one LEFT JOIN LATERAL"
    " (SELECT seq, hash FROM audit_events WHERE proposal_id = $1 ORDER BY seq DESC LIMIT 1) AS last ON true"
)

#: ``(proposal_id, seq, key, at, actor, agency, action, detail, prev_hash, hash)``
Row = tuple[str, int, str, datetime, str, str | None, str, dict[str, Any], str, str]
#: ``(key, at, actor, agency, action, detail)``
Event = tuple[str, datetime, str, str | None, str, dict[str, Any]]


def chain_rows(
    proposal_id: str, events: Sequence[Event], head: asyncpg.Record | dict[str, Any]
) -> tuple[list[Row], list[tuple[str, datetime, str, dict[str, Any]]]]:
    """The rows that chain ``events`` not already recorded onto ``head`` (a :data:`HEAD` answer),
    and ``(key, at, action, detail)`` of each."""
    existing = set(head["existing"])
    seq, prev = (head["seq"], head["hash"]) if head["seq"] is not None else (0, GENESIS)
    rows: list[Row] = []
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
    return rows, inserted


async def append(
    con: asyncpg.Connection, proposal_id: str, events: Sequence[Event]
) -> list[tuple[str, datetime, str, dict[str, Any]]]:
    """Append ``(key, at, actor, agency, action, detail)`` events not already recorded.

    Must run inside a transaction that holds :func:`lock_proposal`.

    Returns:
        ``(key, at, action, detail)`` of the events actually inserted now.
    """
    if not events:
        return []
    head = await con.fetchrow(HEAD.format(with_=""), proposal_id, [e[0] for e in events])
    rows, inserted = chain_rows(proposal_id, events, head)
    if rows:
        await con.executemany(
            "INSERT INTO audit_events (proposal_id, seq, event_key, at, actor, agency, action, detail,"
            " prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            rows,
        )
    return inserted


async def fetch(con: asyncpg.Connection | asyncpg.Pool, proposal_id: str) -> list[dict[str, Any]]:
    """Every event of a proposal, oldest first."""
    rows = await con.fetch(
        "SELECT seq, event_key AS key, at, actor, agency, action, detail, prev_hash, hash FROM audit_events"
        " WHERE proposal_id = $1 ORDER BY seq",
        proposal_id,
    )
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class ChainVerdict:
    """What verifying a proposal's chain found: ``problems`` names each difference."""

    events: int
    first_broken_seq: int | None
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


def verify(proposal_id: str, events: Sequence[dict[str, Any]], kept: AuditChain | None = None) -> ChainVerdict:
    """Recompute the chain, and compare the workflow's events in it with ``kept``, the workflow's
    own record of them (:mod:`ilea.chain`), when there is one.

    A chain with no events at all is tampered (every proposal's first projection records its
    submission). Deleting the newest events, or rewriting events and recomputing the chain,
    is found only by the comparison with the workflow's record.
    """
    if not events:
        problems = ["no audit events are recorded for this proposal"]
        if kept is not None and kept.kept:
            problems += chain.compare(events, kept.events, kept.head)
        return ChainVerdict(0, 1, problems)
    broken = verify_chain(proposal_id, events)
    problems = broken_at(broken)
    if kept is not None and kept.kept:
        differences = chain.compare(events, kept.events, kept.head)
        if differences and broken is None and chain.missing(events, kept.events):
            broken = len(events) + 1  # the chain ends early: the first event missing
        problems += differences
    return ChainVerdict(len(events), broken, problems)


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


#: The hash-chained, append-only tables: the audit trail and the access log (issue 18).
APPEND_ONLY = ("audit_events", "access_events")


async def rewrite_privileges(con: asyncpg.Connection | asyncpg.Pool) -> list[str]:
    """How the current database login could rewrite an append-only table (empty when it cannot).

    The application must log in as a member of ``ilea_app`` (migration 005): not a superuser,
    not the tables' owner (who can disable the append-only triggers), and without UPDATE,
    DELETE or TRUNCATE on :data:`APPEND_ONLY`.
    """
    rows = await con.fetch(
        "SELECT current_user AS who, r.rolsuper AS superuser, c.relname AS name,"
        " pg_has_role(current_user, c.relowner, 'USAGE') AS owner,"
        " has_table_privilege(c.oid, 'UPDATE') AS update,"
        " has_table_privilege(c.oid, 'DELETE') AS delete,"
        " has_table_privilege(c.oid, 'TRUNCATE') AS truncate"
        " FROM pg_roles r, pg_class c WHERE r.rolname = current_user"
        " AND c.oid = ANY(ARRAY(SELECT to_regclass(t) FROM unnest($1::text[]) AS t)) ORDER BY c.relname",
        list(APPEND_ONLY),
    )
    found = [f"{rows[0]['who']} is a superuser"] if rows and rows[0]["superuser"] else []
    for row in rows:
        who, name = row["who"], row["name"]
        if row["owner"]:
            found.append(f"{who} owns {name} (and can disable its triggers)")
        found += [f"{who} may {p.upper()} {name}" for p in ("update", "delete", "truncate") if row[p]]
    return found


async def check_app_login(db: asyncpg.Pool, *, strict: bool) -> None:
    """At start-up: a login that could rewrite audit rows is refused when ``strict``
    (production), and logged as a warning otherwise.

    Raises:
        RuntimeError: ``strict`` and :func:`rewrite_privileges` found something.
    """
    found = await rewrite_privileges(db)
    if not found:
        return
    what = "; ".join(found)
    if strict:
        raise RuntimeError(
            f"refusing to start: the database login could rewrite the audit trail ({what}). Log in as a"
            " member of ilea_app (CREATE ROLE <login> LOGIN PASSWORD '...' IN ROLE ilea_app) and run"
            " migrations as the owner (ILEA_MIGRATION_DATABASE_URL)"
        )
    log.warning("the database login could rewrite the audit trail: %s", what)
