"""A page of the instructor-request list costs about a page, not the agency's whole history
(migration 010's indexes serve its order; they used to serve the filter only, and every call
sorted all of an agency's requests).

Checked with EXPLAIN ANALYZE on the very statements ``list_requests`` runs, over a table big
enough (20,000 requests, analysed) that PostgreSQL picks its plans on the merits, shaped like
a real one: three agencies share the requests, and the open ones are the newest 2% (live
work); the rest closed long ago. A list of open requests may read every open one (what is
live is small), never the closed history.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import asyncpg
import pytest

from ilea.db import roster
from tests.plans import RecordingPool, indexes_used, node_types, plan, rows_read

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
N = 20_000
OPEN = N // 50
PAGE = 50


@pytest.fixture
async def many_requests(pool: asyncpg.Pool, owner_pool: asyncpg.Pool) -> None:
    pids = [str(uuid.uuid4()) for _ in range(60)]
    await pool.executemany(
        "INSERT INTO proposals (id, title, academy, course_type, topic, stage, start_date, end_date,"
        " submitted_by, submitted_at, updated_at, version, doc)"
        " VALUES ($1, 'x', 'BKK', 'specialized', 'cybercrime', 'staffing', $2, $2, 'po-1', $3, $3, 1, '{}')",
        [(pid, date(2026, 9, 1), T0) for pid in pids],
    )
    # Request i, due i hours after T0: DHS, DOJ, TREASURY in turn; the newest OPEN open.
    await pool.execute(
        "INSERT INTO instructor_requests (id, proposal_id, slot, agency, expertise, status, due, doc)"
        " SELECT 'r-' || i, ($1::text[])[i % 60 + 1], i / 60, (ARRAY['DHS', 'DOJ', 'TREASURY'])[i % 3 + 1],"
        " 'cybercrime', CASE WHEN i >= $2 - $3 THEN 'open'"
        " ELSE (ARRAY['accepted', 'declined', 'expired', 'released'])[i % 4 + 1] END,"
        " $4::timestamptz + i * interval '1 hour', jsonb_build_object('id', 'r-' || i)"
        " FROM generate_series(0, $2 - 1) AS i",
        pids,
        N,
        OPEN,
        T0,
    )
    await owner_pool.execute("ANALYZE instructor_requests")


@pytest.mark.parametrize(
    ("wanted", "of", "most_rows"),
    [
        (None, "DHS", 4 * (PAGE + 1)),  # a coordinator's list: the one that used to sort everything
        (None, None, 4 * (PAGE + 1)),  # an auditor's
        ("open", "DHS", OPEN),
        ("open", None, OPEN),
    ],
)
async def test_each_page_of_requests_reads_about_a_page(
    many_requests: None, pool: asyncpg.Pool, wanted: str | None, of: str | None, most_rows: int
) -> None:
    recorder = RecordingPool(pool)
    first, cursor = await roster.list_requests(recorder, status=wanted, agency=of, proposal_id=None, limit=PAGE)
    assert len(first) == PAGE and cursor is not None
    following, _ = await roster.list_requests(
        recorder, status=wanted, agency=of, proposal_id=None, limit=PAGE, cursor=cursor
    )
    assert len(following) == PAGE and not {r["id"] for r in first} & {r["id"] for r in following}
    assert len(recorder.queries) == 2
    for query in recorder.queries:
        assert query.rows == PAGE + 1  # a page and one more, to know whether another follows
        ran = await plan(pool, query, analyze=True)
        assert rows_read(ran) <= most_rows, ran
        if wanted is None:  # the whole history matches: an index walks it in order, no sort
            assert "Sort" not in node_types(ran), ran
            assert indexes_used(ran) <= {"instructor_requests_agency_due", "instructor_requests_due"}, ran
