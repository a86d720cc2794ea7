"""The happy path over HTTP: submit, four ISG concurs, three Board positions, the chair's
approval and one accept per instructor slot, by C concurrent clients with real tokens."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from bench import http
from bench.stats import Latencies
from ilea.demo import demo_roster
from ilea.domain import BOARD_MEMBERS, INSTRUCTOR_AGENCIES, ISG_SEATS, Agency, Role, Topic
from ilea.settings import Settings
from ilea.tokens import issue_token

#: Actions (HTTP POSTs, each one Temporal Update) in one lifecycle: 1 + 4 + 3 + 1 + 3.
ACTIONS_PER_LIFECYCLE = 1 + len(ISG_SEATS) + len(BOARD_MEMBERS) + 1 + len(INSTRUCTOR_AGENCIES)
ACADEMIES = ("BKK", "BUD", "GAB", "SAL")


def dev_settings() -> Settings:
    """The defaults `ilea dev` runs with (whatever this shell's ILEA_ variables say)."""
    return Settings.model_construct()


class Tokens:
    """One bearer header per benchmark user, signed with the development key."""

    def __init__(self) -> None:
        settings = dev_settings()
        ttl = timedelta(hours=6)

        def h(sub: str, agency: Agency, role: Role) -> dict[str, str]:
            tok = issue_token(settings, sub=sub, agency=agency, roles=[role], name=sub, ttl=ttl)
            return {"Authorization": f"Bearer {tok}"}

        self.po = h("bench-po", Agency.STATE, Role.program_officer)
        self.isg = {a: h(f"bench-isg-{a.value.lower()}", a, Role.isg_member) for a in ISG_SEATS}
        self.board = {a: h(f"bench-board-{a.value.lower()}", a, Role.board_member) for a in BOARD_MEMBERS}
        self.chair = h("bench-chair", Agency.STATE, Role.board_chair)
        self.coord = {a: h(f"bench-coord-{a.value.lower()}", a, Role.agency_coordinator) for a in INSTRUCTOR_AGENCIES}


def instructors_by_topic() -> dict[tuple[str, str], list[str]]:
    """(agency, topic) -> ids of the demo roster's instructors with that expertise."""
    out: dict[tuple[str, str], list[str]] = {}
    for person in demo_roster():
        for topic in person["expertise"]:
            out.setdefault((person["agency"], topic), []).append(person["instructor_id"])
    return out


def picker(roster: dict[tuple[str, str], list[str]], i: int) -> Callable[[str, str], str]:
    """Proposal i's instructor for each agency: the roster's experts in its topic, in turn."""
    ids = {a: roster[(a, list(Topic)[i % len(Topic)].value)] for a in ("TREASURY", "DHS", "DOJ")}

    def pick(agency: str, _expertise: str) -> str:
        return ids[agency][i % len(ids[agency])]

    return pick


def proposal_body(i: int, day: int, today: date) -> dict[str, Any]:
    """Proposal ``i``: a one-day specialized course on its own day ``day`` days after the lead time,
    so no two bookings ever overlap."""
    topic = list(Topic)[i % len(Topic)].value
    start = today + timedelta(days=61 + day)
    return {
        "title": f"Benchmark course {i} on {topic.replace('_', ' ')}",
        "academy": ACADEMIES[i % len(ACADEMIES)],
        "course_type": "specialized",
        "topic": topic,
        "start_date": start.isoformat(),
        "end_date": start.isoformat(),
        "seats": 24,
        "participating_countries": ["TH", "VN", "KH"],
        # Above the fast-track limit, so every proposal goes to the Policy Board.
        "estimated_cost_usd": "310000.00",
        "justification": "Benchmark load.",
        "instructor_needs": [{"agency": a.value, "expertise": topic, "count": 1} for a in INSTRUCTOR_AGENCIES],
    }


@dataclass
class LoadResult:
    n: int
    concurrency: int
    seconds: float = 0.0
    completed: int = 0
    failed: int = 0
    scheduled: int = 0
    latencies: Latencies = field(default_factory=Latencies)
    failures: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    stages: dict[str, int] = field(default_factory=dict)

    def merge(self, other: LoadResult) -> None:
        """Add another run's lifecycles to these (a run taken in parts, taking turns)."""
        self.n += other.n
        self.seconds += other.seconds
        self.completed += other.completed
        self.failed += other.failed
        self.scheduled += other.scheduled
        self.latencies.merge(other.latencies)
        self.failures += other.failures
        self.ids += other.ids
        self.stages = dict(Counter(self.stages) + Counter(other.stages))

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 3),
            "completed": self.completed,
            "failed": self.failed,
            "verified_scheduled": self.scheduled,
            "stages_after": self.stages,
            "lifecycles_per_s": round(self.completed / self.seconds, 3) if self.seconds else 0.0,
            "actions_per_s": round(self.completed * ACTIONS_PER_LIFECYCLE / self.seconds, 3) if self.seconds else 0.0,
            "latency": self.latencies.summary(),
            "errors": dict(self.latencies.errors),
            "retried": dict(self.latencies.retries),
            "slowest": self.latencies.slowest(),
            "first_failures": self.failures[:5],
        }


class _Failed(Exception):
    pass


#: A 503 (Temporal or PostgreSQL did not answer in time) or 429 is sent again with the same
#: ``Idempotency-Key`` after 2 s (the longest ``Retry-After`` the API gives; the load's raw
#: client keeps no headers), as a client should: the action has at most one effect. Its latency
#: counts from the first attempt. The stage check's reads wait the ``Retry-After`` they are given.
RETRY_STATUSES = (429, 503)
RETRIES = 4
RETRY_AFTER_S = 2.0


def _retry_after(header: str | None) -> float:
    """The wait a 429 or 503 asks for (``Retry-After`` in seconds, at most 30), else :data:`RETRY_AFTER_S`."""
    try:
        seconds = float(header) if header is not None else RETRY_AFTER_S
    except ValueError:
        return RETRY_AFTER_S
    return min(max(seconds, 0.0), 30.0) if math.isfinite(seconds) else RETRY_AFTER_S


async def _post(
    c: http.Client, lat: Latencies, name: str, url: str, body: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    started = time.perf_counter()
    sent_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    sent = {**headers, "Idempotency-Key": str(uuid.uuid4())}
    r = await c.post(url, body, sent)
    for _ in range(RETRIES):
        if r.status not in RETRY_STATUSES:
            break
        lat.retried(name)
        await asyncio.sleep(RETRY_AFTER_S)
        r = await c.post(url, body, sent)
    took = time.perf_counter() - started
    if r.status not in (200, 201):
        lat.error(name)
        raise _Failed(f"{name} {url}: {r.status} {r.text[:300]}")
    lat.add(name, took, url, sent_at)
    data: dict[str, Any] = r.json()
    return data


async def one_lifecycle(
    c: http.Client, lat: Latencies, tokens: Tokens, body: dict[str, Any], pick: Callable[[str, str], str]
) -> str:
    """Runs one proposal from submission to `scheduled`; returns its id."""
    p = await _post(c, lat, "POST /v1/proposals", "/v1/proposals", body, tokens.po)
    pid = p["id"]
    for agency in ISG_SEATS:
        await _post(c, lat, "POST isg-votes", f"/v1/proposals/{pid}/isg-votes", {"vote": "concur"}, tokens.isg[agency])
    for agency in BOARD_MEMBERS:
        await _post(
            c,
            lat,
            "POST board-positions",
            f"/v1/proposals/{pid}/board-positions",
            {"position": "concur"},
            tokens.board[agency],
        )
    p = await _post(
        c, lat, "POST board-decision", f"/v1/proposals/{pid}/board-decision", {"decision": "approve"}, tokens.chair
    )
    if p["stage"] != "staffing":
        raise _Failed(f"proposal {pid} is {p['stage']} after approval")
    for req in p["instructor_requests"]:
        await _post(
            c,
            lat,
            "POST instructor-requests/accept",
            f"/v1/instructor-requests/{req['id']}/accept",
            {"instructor_id": pick(req["agency"], req["expertise"])},
            tokens.coord[Agency(req["agency"])],
        )
    return str(pid)


#: The load generator's HTTP client unless told otherwise (see :mod:`bench.http`).
DEFAULT_CLIENT = "raw"


async def run_load(
    base: str, n: int, concurrency: int, first_day: int, tokens: Tokens, client: str = DEFAULT_CLIENT
) -> LoadResult:
    """N lifecycles by ``concurrency`` clients, each on its own keep-alive HTTP/1.1 connection;
    proposal i gets course day ``first_day + i``."""
    today = datetime.now(UTC).date()
    roster = instructors_by_topic()
    result = LoadResult(n=n, concurrency=concurrency)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    done: list[str] = []

    async def client_loop() -> None:
        async with http.client(client, base) as c:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                day = first_day + i
                try:
                    done.append(
                        await one_lifecycle(
                            c, result.latencies, tokens, proposal_body(i, day, today), picker(roster, i)
                        )
                    )
                except (_Failed, *http.ERRORS) as err:
                    result.failed += 1
                    result.failures.append(f"{type(err).__name__}: {err}")

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(min(concurrency, n))))
    result.seconds = time.perf_counter() - started
    result.completed = len(done)
    result.ids = done
    result.stages = await stages_of(base, done, tokens, concurrency)
    result.scheduled = result.stages.get("scheduled", 0)
    return result


async def run_paced(
    base: str, n: int, rate: float, first_day: int, tokens: Tokens, client: str = DEFAULT_CLIENT
) -> LoadResult:
    """N lifecycles started at a steady ``rate`` per second (open loop), each by its own client.

    The closed-loop run keeps C clients busy back to back, so it measures the machine at
    saturation, where latency is queueing (Little's law). Here arrivals do not wait for
    completions: at a rate the machine sustains, latency is what one action costs.
    """
    today = datetime.now(UTC).date()
    roster = instructors_by_topic()
    result = LoadResult(n=n, concurrency=0)
    done: list[str] = []
    in_flight = 0

    async def one(i: int) -> None:
        nonlocal in_flight
        in_flight += 1
        result.concurrency = max(result.concurrency, in_flight)
        try:
            async with http.client(client, base) as c:
                body = proposal_body(i, first_day + i, today)
                done.append(await one_lifecycle(c, result.latencies, tokens, body, picker(roster, i)))
        except (_Failed, *http.ERRORS) as err:
            result.failed += 1
            result.failures.append(f"{type(err).__name__}: {err}")
        finally:
            in_flight -= 1

    started = time.perf_counter()
    tasks = []
    for i in range(n):
        # Fixed spacing: the offered load is exactly `rate` (no bursts from a random process).
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - started
    result.completed = len(done)
    result.ids = done
    result.stages = await stages_of(base, done, tokens, 50)
    result.scheduled = result.stages.get("scheduled", 0)
    return result


async def stages_of(base: str, ids: list[str], tokens: Tokens, concurrency: int) -> dict[str, int]:
    """How many of these proposals the read model shows in each stage (outside the timed window);
    ``http_<status>`` counts reads that failed."""
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:

        async def check(pid: str) -> str:
            async with sem:
                for attempt in range(RETRIES + 1):
                    try:
                        r = await c.get(f"/v1/proposals/{pid}", headers=tokens.po)
                    except httpx.HTTPError as err:
                        return type(err).__name__
                    if r.status_code not in RETRY_STATUSES or attempt == RETRIES:
                        break
                    # one caller reading a thousand proposals at once is over its rate limit
                    await asyncio.sleep(_retry_after(r.headers.get("retry-after")))
                return str(r.json()["stage"]) if r.status_code == 200 else f"http_{r.status_code}"

        return dict(Counter(await asyncio.gather(*(check(pid) for pid in ids))))


async def submit_many(
    base: str, n: int, concurrency: int, first_day: int, tokens: Tokens, client: str = DEFAULT_CLIENT
) -> LoadResult:
    """Submit N proposals and leave them waiting in ISG review (for the memory figure)."""
    today = datetime.now(UTC).date()
    result = LoadResult(n=n, concurrency=concurrency)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    done: list[str] = []

    async def client_loop() -> None:
        async with http.client(client, base) as c:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                try:
                    body = proposal_body(i, first_day + i, today)
                    p = await _post(c, result.latencies, "POST /v1/proposals", "/v1/proposals", body, tokens.po)
                    done.append(p["id"])
                except (_Failed, *http.ERRORS) as err:
                    result.failed += 1
                    result.failures.append(f"{type(err).__name__}: {err}")

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(min(concurrency, n))))
    result.seconds = time.perf_counter() - started
    result.completed = len(done)
    result.stages = await stages_of(base, done, tokens, concurrency)
    result.scheduled = result.stages.get("isg_review", 0)
    return result
