"""The read path on a large read model: proposals and tasks inserted directly into a separate
database, a second API process on it, list and inbox latencies, and each query's plan."""

from __future__ import annotations

import asyncio
import json
import random
import re
import subprocess
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import asyncpg

from api.auth import Principal
from api.routes import tasks as tasks_route
from api.routes.tasks import parties_of
from bench import http
from bench import stack as stackmod
from bench.stats import summarise
from ilea.db import proposals as proposals_db
from ilea.db.migrate import migrate
from ilea.domain import Agency, Party, Role, Topic

# A realistic mix after some years of operation: most proposals are closed.
STAGE_WEIGHTS = {
    "submitted": 0.2,
    "isg_review": 3.0,
    "changes_requested": 1.0,
    "board_review": 2.0,
    "staffing": 2.0,
    "staffing_at_risk": 0.5,
    "scheduled": 8.0,
    "delivered": 60.0,
    "rejected": 8.0,
    "withdrawn": 6.0,
    "expired": 3.0,
    "cancelled": 6.3,
}
ACADEMY_WEIGHTS = {"BKK": 25, "BUD": 25, "GAB": 18, "SAL": 22, "ROS": 10}
WORDS = ["Advanced", "Regional", "Basic", "Executive", "Practical", "Joint", "Applied", "Strategic"]
RARE = ["ransomware", "darknet", "cryptocurrency", "cartel", "smuggling", "poaching", "extortion", "sanctions"]
REGIONS = ["Southeast Asia", "Central Europe", "Southern Africa", "Central America", "the Andes", "the Balkans"]

EASTERN = ZoneInfo("America/New_York")

#: (name, query string) of each measured list request (and ``q`` for one reference, picked
#: from the seeded rows: see :func:`list_queries`).
LIST_QUERIES: list[tuple[str, dict[str, str]]] = [
    ("no filter", {}),
    ("stage=isg_review", {"stage": "isg_review"}),
    ("academy=BKK", {"academy": "BKK"}),
    ("topic=cybercrime", {"topic": "cybercrime"}),
    ("pending_on=DHS", {"pending_on": "DHS"}),
    ("q=ransomware", {"q": "ransomware"}),
    ("owner=po-7", {"owner": "po-7"}),
]


async def list_queries(db_url: str) -> list[tuple[str, dict[str, str]]]:
    """:data:`LIST_QUERIES` and ``q`` for the reference of a proposal well down the list."""
    con = await asyncpg.connect(db_url)
    try:
        ref = await con.fetchval(
            "SELECT reference FROM proposals ORDER BY submitted_at DESC, id DESC OFFSET $1 LIMIT 1",
            await con.fetchval("SELECT count(*) / 3 FROM proposals"),
        )
    finally:
        await con.close()
    return [*LIST_QUERIES, ("q=reference", {"q": ref})]


def _pending(stage: str, rnd: random.Random) -> list[tuple[str, str, str | None]]:
    """(party, kind, request_id) of what a proposal in ``stage`` waits for."""
    if stage == "isg_review":
        seats = [s for s in ("STATE", "TREASURY", "DHS", "DOJ") if rnd.random() < 0.6] or ["DHS"]
        votes: list[tuple[str, str, str | None]] = [(str(Party.isg(Agency(s))), "isg_vote", None) for s in seats]
        return votes
    if stage == "changes_requested":
        return [(str(Party.program_officer()), "revise", None)]
    if stage == "board_review":
        members = [a for a in ("TREASURY", "DHS", "DOJ") if rnd.random() < 0.5]
        board: list[tuple[str, str, str | None]] = [
            (str(Party.board(Agency(a))), "board_position", None) for a in members
        ]
        return [*board, (str(Party.chair()), "board_decision", None)]
    if stage in ("staffing", "staffing_at_risk"):
        agencies = [a for a in ("TREASURY", "DHS", "DOJ") if rnd.random() < 0.6] or ["DOJ"]
        out: list[tuple[str, str, str | None]] = [
            (str(Party.coordinators(Agency(a))), "instructor_request", str(uuid.uuid4())) for a in agencies
        ]
        if stage == "staffing_at_risk":
            out.append((str(Party.program_officer()), "retarget", str(uuid.uuid4())))
        return out
    return []


def generate(n: int, seed: int = 6) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows of ``proposals`` and ``tasks`` for n proposals submitted over the last six years."""
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    topics = [t.value for t in Topic]
    stages = list(STAGE_WEIGHTS)
    stage_w = list(STAGE_WEIGHTS.values())
    academies = list(ACADEMY_WEIGHTS)
    academy_w = list(ACADEMY_WEIGHTS.values())
    props: list[tuple[Any, ...]] = []
    tasks: list[tuple[Any, ...]] = []
    for i in range(n):
        pid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        stage = rnd.choices(stages, stage_w)[0]
        academy = rnd.choices(academies, academy_w)[0]
        topic = rnd.choice(topics)
        course_type = "executive" if academy == "ROS" else ("leld" if rnd.random() < 0.2 else "specialized")
        open_stage = stage not in ("delivered", "rejected", "withdrawn", "expired", "cancelled")
        age = timedelta(days=rnd.uniform(0, 120) if open_stage else rnd.uniform(60, 6 * 365))
        submitted = now - age
        updated = submitted + (age * rnd.uniform(0, 1))
        start = (submitted + timedelta(days=rnd.randint(61, 300))).date()
        end = start + timedelta(days=rnd.randint(0, 20) if course_type != "leld" else 41)
        word = rnd.choice(RARE) if rnd.random() < 0.15 else rnd.choice(WORDS)
        title = f"{rnd.choice(WORDS)} {topic.replace('_', ' ')}: {word} in {rnd.choice(REGIONS)} #{i}"
        pending = _pending(stage, rnd)
        due = submitted + timedelta(days=14)
        pending_on = [
            {"party": p, "since": submitted.isoformat(), "due": due.isoformat(), "kind": k, "request_id": r}
            for p, k, r in pending
        ]
        parties = sorted({p for p, _, _ in pending})
        agencies = sorted({proposals_db.party_agency(p) for p in parties})
        doc = {
            "id": pid,
            "title": title,
            "academy": academy,
            "topic": topic,
            "course_type": course_type,
            "stage": stage,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "pending_on": pending_on,
            "version": 1,
        }
        submitter = f"po-{rnd.randint(1, 40)}"
        props.append(
            (
                pid,
                title,
                academy,
                course_type,
                topic,
                stage,
                start,
                end,
                False,
                submitter,
                submitted,
                updated,
                1,
                parties,
                agencies,
                doc,
            )
        )
        for party, kind, request_id in pending:
            tasks.append((pid, party, kind, request_id, title, submitted, due))
    # The reference (ILEA-<fiscal year>-<nnnn>, numbered per fiscal year in submission order,
    # as migration 005 numbers them) and the owner (the submitter) of each.
    refs: dict[int, str] = {}
    counters: dict[int, int] = {}
    for i in sorted(range(n), key=lambda i: (props[i][10], props[i][0])):
        fy = fiscal_year(props[i][10])
        counters[fy] = counters.get(fy, 0) + 1
        refs[i] = f"ILEA-{fy}-{counters[fy]:04d}"
    return [(*p, refs[i], p[9]) for i, p in enumerate(props)], tasks


def fiscal_year(at: datetime) -> int:
    """The US federal fiscal year of a moment (it starts on 1 October, Eastern Time)."""
    local = at.astimezone(EASTERN)
    return local.year + (1 if local.month >= 10 else 0)


async def seed(admin_url: str, db_url: str, database: str, n: int) -> dict[str, Any]:
    """Create ``database``, migrate it and fill it with n proposals; returns counts and timings."""
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    started = time.perf_counter()
    props, tasks = generate(n)
    con = await asyncpg.connect(db_url)
    try:
        await migrate(con)
        # COPY is binary: jsonb's binary form is a version byte and the text.
        await con.set_type_codec(
            "jsonb",
            encoder=lambda v: b"\x01" + json.dumps(v).encode(),
            decoder=lambda b: json.loads(b[1:]),
            schema="pg_catalog",
            format="binary",
        )
        await con.copy_records_to_table(
            "proposals",
            records=props,
            columns=[
                "id",
                "title",
                "academy",
                "course_type",
                "topic",
                "stage",
                "start_date",
                "end_date",
                "overdue",
                "submitted_by",
                "submitted_at",
                "updated_at",
                "version",
                "pending_parties",
                "pending_agencies",
                "doc",
                "reference",
                "owner",
            ],
        )
        await con.copy_records_to_table(
            "tasks", records=tasks, columns=["proposal_id", "party", "kind", "request_id", "title", "since", "due"]
        )
        await con.execute("ANALYZE")
        stages = {r["stage"]: r["n"] for r in await con.fetch("SELECT stage, count(*) n FROM proposals GROUP BY 1")}
        size = await con.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    finally:
        await con.close()
    return {
        "proposals": len(props),
        "tasks": len(tasks),
        "by_stage": stages,
        "database_size": size,
        "seed_seconds": round(time.perf_counter() - started, 2),
    }


class _Recorder:
    """Stands in for the pool to capture the SQL the app's query functions send."""

    def __init__(self) -> None:
        self.sql = ""
        self.args: Sequence[Any] = ()

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.sql, self.args = sql, args
        return []


_INDEX = re.compile(r"(?:Index(?: Only)? Scan(?: Backward)? using|Bitmap Index Scan on) (\w+)")
_SEQ = re.compile(r"Seq Scan on (\w+)")
_EXEC = re.compile(r"Execution Time: ([\d.]+) ms")


#: The inbox requests measured: the default page (the goal's figure), the page after it, and
#: the 500 items at once that were the default before pages (the A/B baseline).
TASK_QUERIES: list[tuple[str, dict[str, str]]] = [
    ("tasks", {}),
    ("tasks next page", {"cursor": ""}),  # the cursor is filled in from the first page
    ("tasks limit=500", {"limit": "500"}),
]


async def explain(
    db_url: str, principal: Principal, queries: list[tuple[str, dict[str, str]]]
) -> dict[str, dict[str, Any]]:
    """EXPLAIN ANALYZE of the SQL the app sends for each measured request."""
    out: dict[str, dict[str, Any]] = {}
    con = await asyncpg.connect(db_url)
    try:
        for name, params in queries:
            rec = _Recorder()
            flt = proposals_db.ListFilter(**params)
            await proposals_db.list_summaries(rec, flt, 50, None)
            out[name] = await _explain_one(con, rec)
        parties = parties_of(principal)
        _, cursor = await proposals_db.tasks_page(
            con, parties, exclude_reviews_by=principal.sub, limit=tasks_route.DEFAULT_PAGE
        )
        for name, params in TASK_QUERIES:
            rec = _Recorder()
            await proposals_db.tasks_page(
                rec,
                parties,
                exclude_reviews_by=principal.sub,
                limit=int(params.get("limit", tasks_route.DEFAULT_PAGE)),
                cursor=cursor if "cursor" in params else None,
            )
            out[name] = await _explain_one(con, rec)
    finally:
        await con.close()
    return out


async def _explain_one(con: asyncpg.Connection, rec: _Recorder) -> dict[str, Any]:
    rows = await con.fetch("EXPLAIN (ANALYZE, BUFFERS) " + rec.sql, *rec.args)
    plan = "\n".join(r[0] for r in rows)
    m = _EXEC.search(plan)
    return {
        "sql": rec.sql,
        "indexes_used": sorted(set(_INDEX.findall(plan))),
        "seq_scans": sorted(set(_SEQ.findall(plan))),
        "execution_ms": float(m.group(1)) if m else None,
        "plan": plan.splitlines(),
    }


def start_api(db_url: str, temporal: str, state: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A second `ilea api` process on the read-path database."""
    env = {
        "ILEA_DATABASE_URL": db_url,
        "TEMPORAL_ADDRESS": temporal,
        # One client sends every request as fast as it can: the per-caller guard against
        # runaway clients (100/s) would throttle it. (The lifecycle load's API keeps it.)
        "ILEA_RATE_LIMIT_PER_MINUTE": "0",
    }
    return stackmod.start_api(env, state / "api-read.log")


async def measure(
    base: str,
    headers_any: dict[str, str],
    headers_tasks: dict[str, str],
    requests: int,
    queries: list[tuple[str, dict[str, str]]],
) -> dict[str, Any]:
    """One client, one request at a time, the queries taking turns (so that each sees the
    same machine): p50/p99 of each list filter and of the task inbox's pages."""
    targets: list[tuple[str, str, dict[str, str]]] = [
        (name, "/v1/proposals?" + urlencode(params), headers_any) for name, params in queries
    ]
    out: dict[str, Any] = {}
    async with http.RawClient(base, timeout=60) as c:
        first = await c.get("/v1/tasks", headers_tasks)
        cursor = first.json()["next_cursor"] if first.status == 200 else None
        for name, params in TASK_QUERIES:
            if "cursor" in params:
                if not cursor:
                    continue  # a single page only (a small read model)
                params = {**params, "cursor": cursor}
            targets.append((name, "/v1/tasks?" + urlencode(params), headers_tasks))
        samples: dict[str, list[float]] = {name: [] for name, _, _ in targets}
        last: dict[str, http.Response] = {}
        for i in range(5 + requests):  # five rounds of warm-up
            turn = targets[i % len(targets) :] + targets[: i % len(targets)]
            for name, path, headers in turn:
                t = time.perf_counter()
                r = await c.get(path, headers)
                took = time.perf_counter() - t
                if r.status != 200:
                    raise RuntimeError(f"GET {path}: {r.status} {r.text[:300]}")
                if i >= 5:
                    samples[name].append(took)
                last[name] = r
        for name, _, _ in targets:
            body = last[name].json()
            out[name] = {
                **summarise(samples[name]),
                "items_per_response": len(body["items"]),
                "bytes_per_response": len(last[name].body),
                "next_cursor": bool(body.get("next_cursor")),
            }
    return out


def tasks_principal() -> Principal:
    return Principal(sub="bench-isg-dhs", name="bench-isg-dhs", agency=Agency.DHS, roles=[Role.isg_member])


async def run(
    admin_url: str,
    db_url: str,
    database: str,
    temporal: str,
    state: Path,
    n: int,
    requests: int,
    headers_any: dict[str, str],
    headers_tasks: dict[str, str],
) -> dict[str, Any]:
    seeded = await seed(admin_url, db_url, database, n)
    queries = await list_queries(db_url)
    plans = await explain(db_url, tasks_principal(), queries)
    proc, base = await asyncio.to_thread(start_api, db_url, temporal, state)
    try:
        latencies = await measure(base, headers_any, headers_tasks, requests, queries)
    finally:
        stackmod.stop_process(proc)
    return {
        "seed": seeded,
        "requests_per_query": requests,
        "queries": {name: params for name, params in queries},
        "latency": latencies,
        "explain": plans,
    }
