"""Web sessions are bounded: a person holds at most ``ILEA_SESSION_MAX_PER_PERSON`` of them (a
new sign-in past the cap ends their oldest), and a session that has ended, by either timeout,
is deleted an hour later (it used to linger until a day after its absolute end, however long
it had been idle). Every session that ends so is in the access log."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg

from api.app import maintain_sessions
from ilea.db import people, sessions
from ilea.settings import Settings

IDLE = timedelta(minutes=30)


async def sign_in(pool: asyncpg.Pool, sub: str, *, max_per_person: int) -> str:
    return await sessions.create(
        pool,
        sub=sub,
        name=sub,
        via="oidc",
        claims=None,
        id_token=None,
        lifetime=timedelta(hours=12),
        max_per_person=max_per_person,
    )


async def test_a_sign_in_past_the_cap_ends_the_persons_oldest_session(pool: asyncpg.Pool) -> None:
    others = [await sign_in(pool, "bo", max_per_person=3) for _ in range(2)]
    mine = []
    for n in range(5):
        mine.append(await sign_in(pool, "al", max_per_person=3))
        # created_at is the transaction's time: make the order of sign-ins unambiguous
        await pool.execute(
            "UPDATE web_sessions SET created_at = created_at - make_interval(mins => $2) WHERE id_hash = $1",
            sessions.digest(mine[-1]),
            10 - n,
        )
    assert [await sessions.find(pool, s, IDLE) is not None for s in mine] == [False, False, True, True, True]
    assert [await sessions.find(pool, s, IDLE) is not None for s in others] == [True, True]
    ended = [e for e in await people.events(pool) if e["action"] == people.AccessAction.session_replaced]
    assert [(e["sub"], e["detail"]) for e in ended] == [("al", {"via": "oidc", "limit": 3})] * 2


async def test_the_cap_holds_under_simultaneous_sign_ins(pool: asyncpg.Pool) -> None:
    await asyncio.gather(*(sign_in(pool, "al", max_per_person=2) for _ in range(12)))
    assert await pool.fetchval("SELECT count(*) FROM web_sessions WHERE sub = 'al'") == 2


async def test_ended_sessions_are_purged_an_hour_after_they_end_and_logged(pool: asyncpg.Pool) -> None:
    s = {name: await sign_in(pool, name, max_per_person=5) for name in ("fresh", "idle", "just-idle", "absolute")}

    async def set_(name: str, change: str) -> None:
        await pool.execute(f"UPDATE web_sessions SET {change} WHERE id_hash = $1", sessions.digest(s[name]))

    await set_("idle", "last_seen_at = now() - interval '2 hours'")  # idle since 1 h 30 min
    await set_("just-idle", "last_seen_at = now() - interval '40 minutes'")  # idle 10 min ago: kept a while
    await set_("absolute", "expires_at = now() - interval '61 minutes'")
    assert await sessions.purge_ended(pool, IDLE) == 2
    left = {r["sub"] for r in await pool.fetch("SELECT sub FROM web_sessions")}
    assert left == {"fresh", "just-idle"}
    ended = [(e["sub"], e["detail"]) for e in await people.events(pool) if e["action"] == "session_expired"]
    assert sorted(ended) == [
        ("absolute", {"via": "oidc", "timeout": "absolute"}),
        ("idle", {"via": "oidc", "timeout": "idle"}),
    ]
    assert await sessions.purge_ended(pool, IDLE) == 0  # nothing twice


def test_the_cap_is_a_setting_with_a_default() -> None:
    assert Settings(env="test").session_max_per_person == sessions.MAX_PER_PERSON == 10  # type: ignore[call-arg]
    assert Settings(env="test", session_max_per_person=3).session_max_per_person == 3  # type: ignore[call-arg]


async def test_the_api_purges_ended_sessions_on_its_own(pool: asyncpg.Pool) -> None:
    """Every API process runs the purge (``maintain_sessions`` in its lifespan), not only sign-ins."""
    gone = await sign_in(pool, "idle", max_per_person=5)
    await pool.execute("UPDATE web_sessions SET last_seen_at = now() - interval '2 hours'")
    purger = asyncio.create_task(maintain_sessions(pool, IDLE, every=0.05))
    try:
        while await pool.fetchval("SELECT count(*) FROM web_sessions"):  # noqa: ASYNC110 (a row, not an event)
            await asyncio.sleep(0.05)  # the test's timeout bounds this wait
    finally:
        purger.cancel()
    assert await sessions.find(pool, gone, IDLE) is None
    assert [e["action"] for e in await people.events(pool)][-1] == "session_expired"
