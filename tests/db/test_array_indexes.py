"""Filters on an array column use its GIN index: people by role (``people_roles``) and
instructors by expertise (``instructors_expertise``). ``$1 = ANY(column)`` cannot use a GIN
index at all; ``column @> ARRAY[$1]`` can.

Checked with EXPLAIN on the very statements the functions run, over tables big enough
(5,000 rows, vacuumed and analysed) that PostgreSQL picks its plans on the merits: the role and the
expertise asked for are rare, as an access administrator is among the people ILEA knows.
"""

from __future__ import annotations

import asyncpg

from ilea.db import people, roster
from ilea.domain import Role
from tests.plans import RecordingPool, indexes_used, plan

ROWS = 5_000
RARE = 25


async def fill(owner_pool: asyncpg.Pool, table: str, columns: str, values: str, rare: str, common: str) -> None:
    """ROWS rows of ``table``, row i from ``values`` (``{array}`` the array column): ``rare`` in
    every (ROWS / RARE)th row, ``common`` in the rest; then vacuumed and analysed, as autovacuum
    would (a GIN index's pending list merged, statistics taken)."""
    array = f"CASE WHEN i % ($1 / $2) = 0 THEN ARRAY{rare} ELSE ARRAY{common} END"
    await owner_pool.execute(
        f"INSERT INTO {table} ({columns}) SELECT {values.format(array=array)} FROM generate_series(1, $1) AS i",
        ROWS,
        RARE,
    )
    await owner_pool.execute(f"VACUUM ANALYZE {table}")


async def test_people_by_role_use_the_roles_index(pool: asyncpg.Pool, owner_pool: asyncpg.Pool) -> None:
    await fill(
        owner_pool,
        "people",
        "sub, name, email, agency, roles, updated_by",
        "'p-' || i, 'Person ' || i, 'p' || i || '@state.gov', 'STATE', {array}, 'seed'",
        "['access_admin']",
        "['isg_member', 'board_member']",
    )
    recorder = RecordingPool(pool)
    admins = await people.search(recorder, role=Role.access_admin)
    assert len(admins) == RARE and all(p["roles"] == ["access_admin"] for p in admins)
    (query,) = recorder.queries
    assert "people_roles" in indexes_used(await plan(pool, query))


async def test_instructors_by_expertise_use_the_expertise_index(pool: asyncpg.Pool, owner_pool: asyncpg.Pool) -> None:
    await fill(
        owner_pool,
        "instructors",
        "id, name, agency, component, expertise",
        "'i-' || i, 'Instructor ' || i, 'DHS', (SELECT min(component) FROM agency_components"
        " WHERE agency = 'DHS'), {array}",
        "['wildlife_trafficking']",
        "['cybercrime', 'counternarcotics']",
    )
    recorder = RecordingPool(pool)
    for agency in (None, "DHS"):
        found = await roster.list_instructors(recorder, agency=agency, expertise="wildlife_trafficking")
        assert len(found) == RARE and all(i["expertise"] == ["wildlife_trafficking"] for i in found)
    for query in recorder.queries:
        assert "instructors_expertise" in indexes_used(await plan(pool, query)), query.sql
