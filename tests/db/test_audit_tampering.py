"""Tampering with the audit trail is detected at the row that was touched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from ilea import chain
from ilea.activity_io import AuditChain
from ilea.db import audit

PID = "p-tamper"


async def seed(pool: asyncpg.Pool, n: int = 6) -> None:
    t0 = datetime(2027, 1, 4, 15, tzinfo=UTC)
    async with pool.acquire() as con, con.transaction():
        await audit.lock_proposal(con, PID)
        await audit.append(
            con,
            PID,
            [
                # keyed as the workflow keys its events (version.position)
                (f"1.{i}", t0 + timedelta(minutes=i), f"user-{i}", "DHS", "isg_vote", {"vote": "concur", "n": i})
                for i in range(1, n + 1)
            ],
        )


async def tamper(owner_pool: asyncpg.Pool, sql: str, *args: object) -> None:
    # Only the owner disabling the append-only trigger can do this; the check must still see it.
    async with owner_pool.acquire() as con, con.transaction():
        await con.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update")
        await con.execute(sql, *args)
        await con.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update")


async def test_untouched_chain_verifies(pool: asyncpg.Pool) -> None:
    await seed(pool)
    assert audit.verify_chain(PID, await audit.fetch(pool, PID)) is None


@pytest.mark.parametrize(
    ("sql", "first_bad"),
    [
        ('UPDATE audit_events SET detail = \'{"vote": "nonconcur", "n": 3}\' WHERE proposal_id = $1 AND seq = 3', 3),
        ("UPDATE audit_events SET actor = 'someone-else' WHERE proposal_id = $1 AND seq = 5", 5),
        ("UPDATE audit_events SET at = at + interval '1 second' WHERE proposal_id = $1 AND seq = 2", 2),
        ("DELETE FROM audit_events WHERE proposal_id = $1 AND seq = 4", 5),
        ("DELETE FROM audit_events WHERE proposal_id = $1 AND seq = 6", None),  # see below
    ],
)
async def test_edit_or_delete_is_found_at_that_row(
    pool: asyncpg.Pool, owner_pool: asyncpg.Pool, sql: str, first_bad: int | None
) -> None:
    await seed(pool)
    await tamper(owner_pool, sql, PID)
    events = await audit.fetch(pool, PID)
    if first_bad is None:
        # The chain's known limit: cutting off the newest events leaves a valid, shorter chain.
        # Only a copy of the last hash kept elsewhere (an auditor's record) reveals it.
        assert len(events) == 5 and audit.verify_chain(PID, events) is None
    else:
        assert audit.verify_chain(PID, events) == first_bad


async def test_the_application_login_cannot_update_delete_or_truncate_audit_rows(
    pool: asyncpg.Pool, owner_pool: asyncpg.Pool
) -> None:
    """Issue 13: in development the application connected as a superuser, which can bypass
    the append-only trigger. Its login (a member of ilea_app) has no privilege to try."""
    await seed(pool, 2)
    for sql in (
        "UPDATE audit_events SET actor = 'x' WHERE proposal_id = $1",
        "DELETE FROM audit_events WHERE proposal_id = $1",
        "TRUNCATE audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update",
        "ALTER TABLE audit_events OWNER TO current_user",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pool.execute(sql, *([PID] if "$1" in sql else []))
    assert await audit.rewrite_privileges(pool) == []
    assert audit.verify_chain(PID, await audit.fetch(pool, PID)) is None
    # The access log (issue 18) is append-only for it too.
    for sql in ("UPDATE access_events SET actor = 'x'", "DELETE FROM access_events", "TRUNCATE access_events"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await pool.execute(sql)
    # It still appends, and reads.
    async with pool.acquire() as con, con.transaction():
        await audit.lock_proposal(con, PID)
        await audit.append(con, PID, [("k3", datetime(2027, 1, 5, tzinfo=UTC), "u", "DHS", "isg_vote", {})])
    assert len(await audit.fetch(pool, PID)) == 3
    # The owner (what migrations run as) could: that is what the check names.
    found = await audit.rewrite_privileges(owner_pool)
    assert any("superuser" in f or "owns audit_events" in f for f in found), found
    assert any("access_events" in f for f in found), found


async def test_the_workflows_record_reveals_cut_and_recomputed_chains(pool: asyncpg.Pool) -> None:
    """What the chain alone cannot see, the workflow's own record of its events can (ilea.chain):
    the verdict names the difference."""
    await seed(pool)
    events = await audit.fetch(pool, PID)
    count, head = chain.workflow_chain(events)
    kept = AuditChain(kept=True, events=count, head=head)
    assert audit.verify(PID, events, kept).valid
    # Refusals the API appends (keyed refused:<uuid>) are not the workflow's: still valid.
    async with pool.acquire() as con, con.transaction():
        await audit.lock_proposal(con, PID)
        await audit.append(con, PID, [("refused:x", datetime(2027, 1, 5, tzinfo=UTC), "u", "DHS", "refused", {})])
    events = await audit.fetch(pool, PID)
    assert audit.verify(PID, events, kept).valid
    cut = audit.verify(PID, events[:5], kept)
    assert not cut.valid and cut.first_broken_seq == 6
    assert cut.problems == ["the workflow recorded 6 events and the database holds 5 of them: 1 is missing"]
    assert audit.verify(PID, events[:5]).valid  # without the workflow's record: the known limit
    # Event 3 rewritten and every hash from there recomputed: a valid chain on its own.
    rewritten, prev = [], audit.GENESIS
    for e in events:
        e = {**e, "detail": {"vote": "nonconcur", "n": 3}} if e["seq"] == 3 else dict(e)
        e["prev_hash"] = prev
        fields = {k: e[k] for k in ("seq", "at", "actor", "agency", "action", "detail")}
        e["hash"] = prev = audit.event_hash(proposal_id=PID, prev_hash=prev, **fields)
        rewritten.append(e)
    assert audit.verify_chain(PID, rewritten) is None
    found = audit.verify(PID, rewritten, kept)
    assert not found.valid
    assert found.problems == [
        "the database holds the workflow's 6 events, but their content differs from what the workflow recorded"
        " (events were rewritten)"
    ]
    empty = audit.verify(PID, [], kept)
    assert not empty.valid and empty.problems == [
        "no audit events are recorded for this proposal",
        "the workflow recorded 6 events and the database holds 0 of them: 6 are missing",
    ]
