"""What a function asks PostgreSQL, and how PostgreSQL answers it.

:class:`RecordingPool` stands in for the application's pool and keeps every query that went
through it with its arguments and how many rows came back, so a test can check that a read
pages (no query returns more than a page) and can EXPLAIN the exact statement the code ran.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Query:
    sql: str
    args: tuple[Any, ...]
    rows: int


class RecordingPool:
    """A pool that keeps each ``fetch``/``fetchrow``/``fetchval`` it ran; everything else is the pool's."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.queries: list[Query] = []

    async def fetch(self, sql: str, *args: Any, **kwargs: Any) -> list[asyncpg.Record]:
        rows = await self._pool.fetch(sql, *args, **kwargs)
        self.queries.append(Query(sql, args, len(rows)))
        return rows

    async def fetchrow(self, sql: str, *args: Any, **kwargs: Any) -> asyncpg.Record | None:
        row = await self._pool.fetchrow(sql, *args, **kwargs)
        self.queries.append(Query(sql, args, 0 if row is None else 1))
        return row

    async def fetchval(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        value = await self._pool.fetchval(sql, *args, **kwargs)
        self.queries.append(Query(sql, args, 1))
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


async def plan(
    con: asyncpg.Pool | asyncpg.Connection, query: Query, *settings: str, analyze: bool = False
) -> dict[str, Any]:
    """The plan PostgreSQL picks for ``query`` (with its arguments), under ``settings``
    such as ``"enable_seqscan = off"`` (set for this one statement's transaction only);
    with ``analyze``, run, with the rows each node actually read."""

    async def explain(c: asyncpg.Connection) -> dict[str, Any]:
        async with c.transaction():
            for setting in settings:
                await c.execute(f"SET LOCAL {setting}")
            options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
            text = await c.fetchval(f"EXPLAIN ({options}) " + query.sql, *query.args)
        return dict(json.loads(text)[0]["Plan"])

    if isinstance(con, asyncpg.Connection):
        return await explain(con)
    async with con.acquire() as c:
        return await explain(c)


def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan, the root first."""
    yield node
    for child in node.get("Plans", []):
        yield from nodes(child)


def indexes_used(node: dict[str, Any]) -> set[str]:
    return {n["Index Name"] for n in nodes(node) if "Index Name" in n}


def node_types(node: dict[str, Any]) -> set[str]:
    return {n["Node Type"] for n in nodes(node)}


def rows_read(node: dict[str, Any]) -> int:
    """How many table rows an analysed plan read: those its scans returned and those they
    read and dropped (a filter, a lossy bitmap's recheck)."""
    return sum(
        int(n["Actual Rows"] * n["Actual Loops"] + n.get("Rows Removed by Filter", 0))
        + int(n.get("Rows Removed by Index Recheck", 0))
        for n in nodes(node)
        if "Relation Name" in n
    )
