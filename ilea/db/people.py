"""People and the roles ILEA grants them, and the hash-chained access log.

Identity providers prove who someone is (their ``sub``); their agency and roles are
grants kept here. Every grant, revocation, sign-in, refused sign-in, sign-out and ended
session is an event of one access log, hash-chained like the audit trail (each hash
covers the previous one and the event's canonical JSON), append-only by trigger, and
written in the same transaction as the change it records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from ilea.db.audit import GENESIS, ChainWalk, canonical_detail, first_broken, link_hash, utc_text
from ilea.domain import ROLE_AGENCIES, Agency, Role
from ilea.messages import LogHead

PERSON_COLUMNS = "sub, name, email, agency, roles, active, created_at, updated_at, updated_by"
#: What a grant's email address and name must be (the API, the page and `ilea grant`).
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
EMAIL_MAX_LENGTH = 254
NAME_MAX_LENGTH = 200


class AccessAction:
    """The kinds of access-log event."""

    grant = "grant"
    revoke = "revoke"
    sign_in = "sign_in"
    sign_in_refused = "sign_in_refused"
    sign_out = "sign_out"
    session_expired = "session_expired"
    #: a sign-in past ILEA_SESSION_MAX_PER_PERSON ended the person's oldest session
    session_replaced = "session_replaced"


@dataclass(frozen=True)
class Grant:
    """What ILEA grants a person: the agency and roles they act with."""

    sub: str
    name: str
    agency: Agency
    roles: tuple[Role, ...]
    active: bool

    @property
    def usable(self) -> bool:
        return self.active and bool(self.roles)


def grant_problems(agency: Agency, roles: Sequence[Role]) -> list[str]:
    """Each role that is not valid with ``agency`` (a DHS program officer, a Treasury chair ...)."""
    return [
        f"{role.value} is held only in {', '.join(sorted(a.value for a in ROLE_AGENCIES[role]))}, not {agency.value}"
        for role in roles
        if agency not in ROLE_AGENCIES[role]
    ]


def _person(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row)


async def grant_of(db: asyncpg.Pool | asyncpg.Connection, sub: str) -> Grant | None:
    """The person's grant, or None when ILEA does not know them."""
    row = await db.fetchrow("SELECT sub, name, agency, roles, active FROM people WHERE sub = $1", sub)
    return None if row is None else grant_from_row(row)


def grant_from_row(row: asyncpg.Record | dict[str, Any]) -> Grant:
    return Grant(
        sub=row["sub"],
        name=row["name"],
        agency=Agency(row["agency"]),
        roles=tuple(Role(r) for r in row["roles"] if r in Role.__members__),
        active=row["active"],
    )


async def get(db: asyncpg.Pool | asyncpg.Connection, sub: str) -> dict[str, Any] | None:
    row = await db.fetchrow(f"SELECT {PERSON_COLUMNS} FROM people WHERE sub = $1", sub)
    return None if row is None else _person(row)


async def search(
    db: asyncpg.Pool, *, agency: Agency | None = None, role: Role | None = None, q: str | None = None
) -> list[dict[str, Any]]:
    """People by agency, role and text in their sub, name or email; by name.

    Only the filters given are in the WHERE, and the role is ``roles @> ARRAY[role]``, which
    the GIN index on roles serves (``role = ANY(roles)`` cannot use it).
    """
    where: list[str] = []
    args: list[Any] = []
    if agency:
        args.append(agency.value)
        where.append(f"agency = ${len(args)}")
    if role:
        args.append(role.value)
        where.append(f"roles @> ARRAY[${len(args)}::text]")
    if q:
        args.append("%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        n = f"${len(args)}"
        where.append(f"(sub ILIKE {n} OR name ILIKE {n} OR email ILIKE {n})")
    rows = await db.fetch(
        f"SELECT {PERSON_COLUMNS} FROM people"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY lower(name), sub",
        *args,
    )
    return [_person(r) for r in rows]


async def put(
    pool: asyncpg.Pool,
    *,
    sub: str,
    name: str,
    email: str,
    agency: Agency,
    roles: Sequence[Role],
    active: bool = True,
    actor: str,
    ip: str | None = None,
) -> dict[str, Any]:
    """Grant: set the person's name, email, agency, roles (and whether active), logged in one transaction.

    The caller has checked :func:`grant_problems`.
    """
    wanted = sorted({r.value for r in roles})
    async with pool.acquire() as con, con.transaction():
        await lock_log(con)
        before = await con.fetchrow("SELECT agency, roles, active FROM people WHERE sub = $1 FOR UPDATE", sub)
        row = await con.fetchrow(
            "INSERT INTO people (sub, name, email, agency, roles, active, updated_by)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (sub) DO UPDATE SET name = $2, email = $3, agency = $4, roles = $5, active = $6,"
            f" updated_at = now(), updated_by = $7 RETURNING {PERSON_COLUMNS}",
            sub,
            name,
            email,
            agency.value,
            wanted,
            active,
            actor,
        )
        had = set(before["roles"]) if before else set()
        detail: dict[str, Any] = {
            "name": name,
            "email": email,
            "agency": agency.value,
            "roles": wanted,
            "active": active,
            "added": sorted(set(wanted) - had),
            "removed": sorted(had - set(wanted)),
        }
        if before is not None and (before["agency"] != agency.value or before["active"] != active):
            detail["was"] = {"agency": before["agency"], "active": before["active"]}
        if ip:
            detail["ip"] = ip
        await append(con, [(actor, sub, AccessAction.grant, detail)])
    return _person(row)


async def revoke(
    pool: asyncpg.Pool, *, sub: str, role: Role, actor: str, ip: str | None = None
) -> dict[str, Any] | None:
    """Take one role away, logged in the same transaction; None when ILEA does not know the person.

    Revoking a role the person does not hold changes nothing and logs nothing.
    """
    async with pool.acquire() as con, con.transaction():
        await lock_log(con)
        before = await con.fetchrow("SELECT roles FROM people WHERE sub = $1 FOR UPDATE", sub)
        if before is None:
            return None
        if role.value not in before["roles"]:
            return await get(con, sub)
        row = await con.fetchrow(
            "UPDATE people SET roles = array_remove(roles, $2), updated_at = now(), updated_by = $3"
            f" WHERE sub = $1 RETURNING {PERSON_COLUMNS}",
            sub,
            role.value,
            actor,
        )
        detail: dict[str, Any] = {"role": role.value, "roles": list(row["roles"])}
        if ip:
            detail["ip"] = ip
        await append(con, [(actor, sub, AccessAction.revoke, detail)])
    return _person(row)


# --- the access log ----------------------------------------------------------------------------


def event_hash(
    *, seq: int, at: datetime, actor: str, sub: str | None, action: str, detail: dict[str, Any], prev: str
) -> str:
    """SHA-256 of the previous hash and the event's canonical JSON."""
    body = {"seq": seq, "at": utc_text(at), "actor": actor, "sub": sub, "action": action, "detail": detail}
    return link_hash(prev, body)


async def lock_log(con: asyncpg.Connection) -> None:
    """Serialise access-log appends until the transaction ends."""
    await con.execute("SELECT pg_advisory_xact_lock(hashtext('access_log'))")


async def append(con: asyncpg.Connection, events: Sequence[tuple[str, str | None, str, dict[str, Any]]]) -> None:
    """Append ``(actor, sub, action, detail)`` events; inside a transaction holding :func:`lock_log`."""
    head = await con.fetchrow("SELECT seq, hash FROM access_events ORDER BY seq DESC LIMIT 1")
    seq, prev = (head["seq"], head["hash"]) if head else (0, GENESIS)
    at = datetime.now(UTC)  # microseconds, as PostgreSQL keeps them: the hash covers what is read back
    rows = []
    for actor, sub, action, raw in events:
        # What a refused sign-in records comes partly from the request: PostgreSQL stores no NUL.
        detail = _no_nul(canonical_detail(raw))
        actor, sub = _no_nul(actor), _no_nul(sub)
        seq += 1
        digest = event_hash(seq=seq, at=at, actor=actor, sub=sub, action=action, detail=detail, prev=prev)
        rows.append((seq, at, actor, sub, action, detail, prev, digest))
        prev = digest
    await con.executemany(
        "INSERT INTO access_events (seq, at, actor, sub, action, detail, prev_hash, hash)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        rows,
    )


def _no_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    if isinstance(value, dict):
        return {_no_nul(k): _no_nul(v) for k, v in value.items()}
    return value


async def log(pool: asyncpg.Pool, actor: str, sub: str | None, action: str, detail: dict[str, Any]) -> None:
    """One event on its own (a sign-in, a refusal, a sign-out)."""
    async with pool.acquire() as con, con.transaction():
        await lock_log(con)
        await append(con, [(actor, sub, action, detail)])


async def events(
    db: asyncpg.Pool | asyncpg.Connection, *, sub: str | None = None, after: int = 0, limit: int | None = None
) -> list[dict[str, Any]]:
    """Access-log events oldest first (optionally one person's, after a seq, at most ``limit``)."""
    rows = await db.fetch(
        "SELECT seq, at, actor, sub, action, detail, prev_hash, hash FROM access_events"
        " WHERE seq > $1 AND ($2::text IS NULL OR sub = $2) ORDER BY seq LIMIT $3",
        after,
        sub,
        limit,
    )
    return [dict(r) for r in rows]


async def head(db: asyncpg.Pool | asyncpg.Connection) -> LogHead | None:
    """The newest event's seq and hash (None while the log is empty)."""
    row = await db.fetchrow("SELECT seq, hash FROM access_events ORDER BY seq DESC LIMIT 1")
    return None if row is None else LogHead(seq=row["seq"], hash=row["hash"])


async def hash_at(db: asyncpg.Pool | asyncpg.Connection, seq: int) -> str | None:
    """The hash the log holds at ``seq`` (None when there is no such event)."""
    value: str | None = await db.fetchval("SELECT hash FROM access_events WHERE seq = $1", seq)
    return value


async def latest_events(db: asyncpg.Pool, limit: int) -> list[dict[str, Any]]:
    """The newest events, newest first (the access administrator's page)."""
    rows = await db.fetch(
        "SELECT seq, at, actor, sub, action, detail, prev_hash, hash FROM access_events ORDER BY seq DESC LIMIT $1",
        limit,
    )
    return [dict(r) for r in rows]


def _expected(e: dict[str, Any], prev: str) -> str:
    return event_hash(
        seq=e["seq"], at=e["at"], actor=e["actor"], sub=e["sub"], action=e["action"], detail=e["detail"], prev=prev
    )


def verify_chain(items: Sequence[dict[str, Any]]) -> int | None:
    """The seq of the first event whose hash or link is wrong (or that is out of place), or None."""
    return first_broken(items, _expected)


#: Events a verification holds at once: its memory, whatever the length of the log.
VERIFY_PAGE = 500


@dataclass(frozen=True)
class LogCheck:
    """The access log's chain recomputed: how many events, and the first that breaks it."""

    events: int
    first_broken: int | None


async def verify_log(db: asyncpg.Pool | asyncpg.Connection, page: int = VERIFY_PAGE) -> LogCheck:
    """Recompute the whole chain, reading it ``page`` events at a time (oldest first).

    Events appended meanwhile are checked too when they fall after the page being read; the
    chain is append-only, so the pages are one consistent prefix of it.
    """
    walk = ChainWalk(_expected)
    after = 0
    while True:
        rows = await events(db, after=after, limit=page)
        for e in rows:
            walk.add(e)
        if len(rows) < page:
            return LogCheck(walk.count, walk.first_broken)
        after = rows[-1]["seq"]
