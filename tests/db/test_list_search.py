"""`q` on the proposal list: the title or the reference, in any case, through the lower-cased
``search`` column (migration 009), with LIKE's wildcards taken literally."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from ilea.db import proposals
from ilea.messages import ProposalView
from tests.db.test_reference_and_owner import project, view

AT = datetime(2027, 1, 4, 15, tzinfo=UTC)


def titled(title: str) -> ProposalView:
    return view(AT).model_copy(update={"title": title})


async def found(pool: asyncpg.Pool, q: str) -> list[str]:
    rows, _ = await proposals.list_summaries(pool, proposals.ListFilter(q=q), 50, None)
    return sorted(r["title"] for r in rows)


async def test_q_finds_title_words_and_references_in_any_case(pool: asyncpg.Pool) -> None:
    cyber = await project(pool, titled("Countering Cybercrime in Southeast Asia"))
    await project(pool, titled("Anti-corruption 100% practical_skills"))
    reference = str(cyber["reference"])
    assert reference == "ILEA-2027-0001"
    assert await found(pool, "cybercrime") == ["Countering Cybercrime in Southeast Asia"]
    assert await found(pool, "SOUTHEAST asia") == ["Countering Cybercrime in Southeast Asia"]
    assert await found(pool, reference.lower()) == ["Countering Cybercrime in Southeast Asia"]
    assert await found(pool, "2027-000") == sorted(
        ["Countering Cybercrime in Southeast Asia", "Anti-corruption 100% practical_skills"]
    )
    # % and _ are the characters themselves, not wildcards.
    assert await found(pool, "100% practical_") == ["Anti-corruption 100% practical_skills"]
    assert await found(pool, "100%_practical") == []
    # No match across the end of the title and the start of the reference.
    assert await found(pool, "asiailea") == [] and await found(pool, "asia ilea") == []
    # The column follows the title when it changes.
    await project(pool, titled("Renamed").model_copy(update={"id": cyber["id"], "version": 2}))
    assert await found(pool, "cybercrime") == [] and await found(pool, reference) == ["Renamed"]
