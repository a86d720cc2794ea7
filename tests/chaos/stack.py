"""Chaos helpers: the stack as separate processes the test controls one by one, a load of
happy-path lifecycles over HTTP by retrying clients, and the end-state checks.

The pieces are started the way `ilea dev` starts them (Temporal dev server, embedded
PostgreSQL, `ilea migrate --seed-demo`, then `python -m cli worker|api`), but each
one here is a handle of its own, so a test can SIGKILL the worker, stop PostgreSQL or
restart the API in the middle of the load.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from ilea.db import audit, create_pool
from ilea.demo import demo_roster
from ilea.devstack import WORKER_POLL_MAX_AGE_S, EmbeddedPostgres, TemporalDevServer, free_port
from ilea.domain import INSTRUCTOR_AGENCIES, ISG_SEATS, Agency, Role, Topic
from ilea.settings import Settings
from ilea.tokens import issue_token
from worker import workflow_runner
from workflows.proposal import ProposalWorkflow, workflow_id

log = logging.getLogger("ilea.chaos")

ROOT = Path(__file__).resolve().parents[2]

#: Every request ends within this: ILEA_REQUEST_TIMEOUT_SECONDS (15) and a second for the way
#: there and back (product.md "Availability").
ANSWER_WITHIN_S = 16.0
ACADEMIES = ("BKK", "BUD", "GAB", "SAL")


def chaos_n(default: int) -> int:
    """The number of proposals of a load (ILEA_CHAOS_N shrinks or grows it)."""
    return int(os.environ.get("ILEA_CHAOS_N", default))


# --- the stack -------------------------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("ILEA_", "TEMPORAL_"))}


@dataclass
class ChaosStack:
    """Temporal, PostgreSQL, one worker and one API, each under the test's control."""

    root: Path
    pg: EmbeddedPostgres
    temporal: TemporalDevServer
    api_port: int
    worker: subprocess.Popen[bytes] | None = None
    api: subprocess.Popen[bytes] | None = None
    worker_starts: int = 0
    api_starts: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **_clean_env(),
            "ILEA_DATABASE_URL": self.pg.url,
            "TEMPORAL_ADDRESS": self.temporal.address,
            "ILEA_API_PORT": str(self.api_port),
            # The load is one caller per role: no rate limit in the way.
            "ILEA_RATE_LIMIT_PER_MINUTE": "0",
            # As `ilea dev` sets it: the dev server's long polls last 5 s.
            "ILEA_WORKER_POLL_MAX_AGE_SECONDS": str(WORKER_POLL_MAX_AGE_S),
        }

    def _spawn(self, role: str) -> subprocess.Popen[bytes]:
        with open(self.root / f"{role}.log", "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "cli", role],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    # worker
    def start_worker(self, timeout: float = 60) -> None:
        assert self.worker is None or self.worker.poll() is not None
        log_file = self.root / "worker.log"
        # worker.py logs "worker <identity> polling <task queue> on <address>" once it polls.
        seen = log_file.read_bytes().count(b" polling ") if log_file.exists() else 0
        self.worker = self._spawn("worker")
        self.worker_starts += 1
        deadline = time.monotonic() + timeout
        while log_file.read_bytes().count(b" polling ") <= seen:
            if self.worker.poll() is not None:
                raise RuntimeError(f"the worker exited ({self.worker.returncode}):\n{tail(log_file)}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the worker did not start polling in {timeout:.0f} s:\n{tail(log_file)}")
            time.sleep(0.1)

    def pause_worker(self) -> None:
        """SIGSTOP: the worker holds its connections and polls but does nothing."""
        assert self.worker is not None
        self.worker.send_signal(signal.SIGSTOP)

    def resume_worker(self) -> None:
        assert self.worker is not None
        self.worker.send_signal(signal.SIGCONT)

    def kill_worker(self) -> None:
        """SIGKILL: no graceful shutdown, in-flight activities and workflow tasks are lost."""
        assert self.worker is not None
        self.worker.kill()
        self.worker.wait(30)

    # API
    def start_api(self, timeout: float = 60) -> None:
        assert self.api is None or self.api.poll() is not None
        self.api = self._spawn("api")
        self.api_starts += 1
        deadline = time.monotonic() + timeout
        while True:
            if self.api.poll() is not None:
                raise RuntimeError(f"the API exited ({self.api.returncode}):\n{tail(self.root / 'api.log')}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the API was not ready in {timeout:.0f} s:\n{tail(self.root / 'api.log')}")
            time.sleep(0.1)

    def stop_api(self, sig: int = signal.SIGKILL) -> None:
        assert self.api is not None
        self.api.send_signal(sig)
        try:
            self.api.wait(30)
        except subprocess.TimeoutExpired:
            self.api.kill()
            self.api.wait(10)

    # PostgreSQL
    def stop_postgres(self) -> None:
        self.pg.stop()

    def start_postgres(self) -> None:
        self.pg.start()

    def postgres_pids(self) -> list[int]:
        """The postmaster and every process it has forked (backends, background workers)."""
        postmaster = int((self.pg.data_dir / "postmaster.pid").read_text().split()[0])
        pids = [postmaster]
        for task in Path(f"/proc/{postmaster}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
        return pids

    def signal_postgres(self, sig: int) -> list[int]:
        """SIGSTOP hangs PostgreSQL rather than stopping it: connections stay open and
        connecting still succeeds (the kernel accepts), but nothing answers."""
        pids = self.postgres_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pids

    def close(self) -> None:
        for proc in (self.api, self.worker):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (self.api, self.worker):
            if proc is not None:
                try:
                    proc.wait(25)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.temporal.stop()
        self.pg.stop()


def tail(path: Path, n: int = 3000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else ""


def start_stack() -> ChaosStack:
    """Everything up, with the demo roster, in a fresh directory outside pytest's basetemp
    (a concurrent pytest run prunes old basetemp folders)."""
    root = Path(tempfile.mkdtemp(prefix="ilea-chaos-"))
    temporal = TemporalDevServer(None, free_port(), free_port(), headless=True, log_file=root / "temporal.log")
    pg = EmbeddedPostgres(root / "pgdata", free_port())
    stack = ChaosStack(root=root, pg=pg, temporal=temporal, api_port=free_port())
    try:
        temporal.start()
        pg.start()
        subprocess.run(
            [sys.executable, "-m", "cli", "migrate", "--seed-demo"],
            env=stack.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )
        stack.start_worker()
        stack.start_api()
    except BaseException:
        stack.close()
        raise
    return stack


def remove_stack(stack: ChaosStack, keep: bool) -> None:
    stack.close()
    if keep:
        log.warning("chaos stack state kept in %s", stack.root)
    else:
        shutil.rmtree(stack.root, ignore_errors=True)


# --- the load ------------------------------------------------------------------------------


def _header(sub: str, agency: Agency, role: Role) -> dict[str, str]:
    tok = issue_token(
        Settings.model_construct(), sub=sub, agency=agency, roles=[role], name=sub, ttl=timedelta(hours=6)
    )
    return {"Authorization": f"Bearer {tok}"}


class Tokens:
    def __init__(self) -> None:
        self.po = _header("chaos-po", Agency.STATE, Role.program_officer)
        self.isg = {a: _header(f"chaos-isg-{a.value.lower()}", a, Role.isg_member) for a in ISG_SEATS}
        self.chair = _header("chaos-chair", Agency.STATE, Role.board_chair)
        self.coord = {
            a: _header(f"chaos-coord-{a.value.lower()}", a, Role.agency_coordinator) for a in INSTRUCTOR_AGENCIES
        }


def _roster_by_topic() -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for person in demo_roster():
        for topic in person["expertise"]:
            out.setdefault((person["agency"], topic), []).append(person["instructor_id"])
    return out


ROSTER = _roster_by_topic()


def slots_of(i: int) -> int:
    """Proposal i asks for one instructor from one or two agencies (rotating)."""
    return 1 + i % 2


def proposal_body(i: int, today: date) -> dict[str, Any]:
    """A one-day course on its own date (so no two bookings overlap), above the fast-track
    cost (so it goes through the Policy Board chair)."""
    topic = list(Topic)[i % len(Topic)].value
    start = today + timedelta(days=61 + i)
    agencies = [INSTRUCTOR_AGENCIES[(i + k) % len(INSTRUCTOR_AGENCIES)].value for k in range(slots_of(i))]
    return {
        "title": f"Chaos course {i} on {topic.replace('_', ' ')}",
        "academy": ACADEMIES[i % len(ACADEMIES)],
        "course_type": "specialized",
        "topic": topic,
        "start_date": start.isoformat(),
        "end_date": start.isoformat(),
        "seats": 20,
        "participating_countries": ["TH", "VN"],
        "estimated_cost_usd": "250000.00",
        "justification": "Chaos test load.",
        "instructor_needs": [{"agency": a, "expertise": topic, "count": 1} for a in agencies],
    }


class GaveUp(Exception):
    pass


@dataclass(frozen=True)
class Call:
    """One HTTP attempt as the client saw it."""

    what: str
    status: int | str  # the status code, or the client's exception (a timeout: no answer)
    seconds: float
    at: float  # time.monotonic() when it was sent


@dataclass
class Load:
    """N lifecycles by retrying clients; every POST keeps its Idempotency-Key across retries."""

    base: str
    n: int
    concurrency: int = 8
    timeout: float = 20.0
    give_up_after: float = 300.0
    tokens: Tokens = field(default_factory=Tokens)
    ids: dict[int, str] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    retries: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    posts: int = 0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    calls: list[Call] = field(default_factory=list)

    async def post(self, c: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        """POST until a definite answer: retries 5xx (the API's 503s included: an action not
        through in time, a database away, a first request with this key still in progress),
        timeouts, connection errors and 429, all with the same key."""
        key = f"chaos-{self.run_id}-{uuid.uuid4()}"
        deadline = time.monotonic() + self.give_up_after
        delay = 0.2
        self.posts += 1
        what = "POST " + url.split("/")[-1] if url.count("/") > 2 else "POST " + url
        while True:
            why = ""
            sent = time.monotonic()
            try:
                r = await c.post(url, json=body, headers={**headers, "Idempotency-Key": key}, timeout=self.timeout)
            except httpx.HTTPError as err:
                why = type(err).__name__
                self.calls.append(Call(what, why, time.monotonic() - sent, sent))
            else:
                self.calls.append(Call(what, r.status_code, time.monotonic() - sent, sent))
                if r.status_code in (200, 201):
                    return r.json()
                if r.status_code >= 500 or r.status_code == 429:
                    why = f"http_{r.status_code}"
                else:
                    raise GaveUp(f"POST {url}: {r.status_code} {r.text[:400]}")
            self.retries[why] += 1
            if time.monotonic() > deadline:
                raise GaveUp(f"POST {url}: still failing ({why}) after {self.give_up_after:.0f} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def lifecycle(self, c: httpx.AsyncClient, i: int, today: date) -> None:
        p = await self.post(c, "/v1/proposals", proposal_body(i, today), self.tokens.po)
        self.ids[i] = p["id"]
        await self.review_and_staff(c, i, p["id"])

    async def review_and_staff(self, c: httpx.AsyncClient, i: int, pid: str) -> None:
        """Every ISG seat concurs, the chair approves, each request is accepted: `scheduled`."""
        t = self.tokens
        for agency in ISG_SEATS:
            await self.post(c, f"/v1/proposals/{pid}/isg-votes", {"vote": "concur"}, t.isg[agency])
        p = await self.post(c, f"/v1/proposals/{pid}/board-decision", {"decision": "approve"}, t.chair)
        assert p["stage"] == "staffing", f"{pid} is {p['stage']} after approval"
        for req in p["instructor_requests"]:
            candidates = ROSTER[(req["agency"], req["expertise"])]
            await self.post(
                c,
                f"/v1/instructor-requests/{req['id']}/accept",
                {"instructor_id": candidates[i % len(candidates)]},
                t.coord[Agency(req["agency"])],
            )
        self.done.add(i)

    async def run(self) -> None:
        today = datetime.now(UTC).date()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(self.n):
            queue.put_nowait(i)

        async def client() -> None:
            async with httpx.AsyncClient(base_url=self.base) as c:
                while True:
                    try:
                        i = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    try:
                        await self.lifecycle(c, i, today)
                    except (GaveUp, AssertionError, KeyError) as err:
                        self.failures.append(f"proposal {i}: {err}")

        await asyncio.gather(*(client() for _ in range(min(self.concurrency, self.n))))

    @property
    def total_posts(self) -> int:
        return sum(6 + slots_of(i) for i in range(self.n))

    def assert_no_500(self) -> Counter[int | str]:
        """No answer was a 500 (or any 5xx but 503); returns the count of each status."""
        broken = [c for c in self.calls if isinstance(c.status, int) and c.status >= 500 and c.status != 503]
        assert not broken, f"5xx other than 503: {broken[:5]}"
        return Counter(call.status for call in self.calls)

    def assert_answered(self, within: float) -> Counter[int | str]:
        """Every attempt got an answer, within ``within`` seconds, and no answer was a 500 (or
        any 5xx but 503); returns the count of each status."""
        statuses = self.assert_no_500()
        unanswered = [c for c in self.calls if not isinstance(c.status, int)]
        assert not unanswered, f"{len(unanswered)} request(s) got no answer: {unanswered[:5]}"
        slow = [c for c in self.calls if c.seconds > within]
        assert not slow, f"{len(slow)} request(s) took over {within:.0f} s: {slow[:5]}"
        return statuses

    async def wait_progress(self, fraction: float) -> None:
        """Until this share of all the POSTs of the load has been sent."""
        while self.posts < fraction * self.total_posts and len(self.done) + len(self.failures) < self.n:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


class ReadyWatch:
    """Polls /readyz twice a second in the background: when it went not ready and ready again."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.seen: list[tuple[float, int | str]] = []
        self._task: asyncio.Task[None] | None = None

    async def _poll(self) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=5) as c:
            while True:
                at = time.monotonic()
                try:
                    status: int | str = (await c.get("/readyz")).status_code
                except httpx.HTTPError as err:
                    status = type(err).__name__
                self.seen.append((at, status))
                await asyncio.sleep(0.5)

    def start(self) -> ReadyWatch:
        self._task = asyncio.create_task(self._poll())
        return self

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def first(self, status: int, after: float) -> float | None:
        """Seconds from ``after`` to the first poll sent then that answered ``status``."""
        return next((at - after for at, s in self.seen if at >= after and s == status), None)


# --- the checks ----------------------------------------------------------------------------


def replayer() -> Replayer:
    """Configured like `worker.build_worker`."""
    return Replayer(
        workflows=[ProposalWorkflow],
        workflow_runner=workflow_runner(),
        data_converter=pydantic_data_converter,
    )


async def check_end_state(stack: ChaosStack, load: Load) -> dict[str, Any]:
    """Every proposal scheduled, each effect exactly once, chains valid, read model = workflow,
    every history replays. Returns counts for the report; raises AssertionError on any breach."""
    assert not load.failures, "\n".join(load.failures[:10])
    assert len(load.done) == load.n
    problems: list[str] = []
    client = await Client.connect(stack.temporal.address, data_converter=pydantic_data_converter)
    pool = await create_pool(stack.pg.url, min_size=1, max_size=4)
    try:
        # No duplicate proposals: exactly the N the clients submitted.
        total = await pool.fetchval("SELECT count(*) FROM proposals")
        if total != load.n:
            problems.append(f"{total} proposals in the read model, {load.n} submitted")
        sem = asyncio.Semaphore(8)

        async def one(i: int, pid: str) -> None:
            async with sem:
                doc = await pool.fetchrow("SELECT stage, version FROM proposals WHERE id = $1", pid)
                events = await audit.fetch(pool, pid)
                bookings = await pool.fetchval(
                    "SELECT count(*) FROM bookings WHERE proposal_id = $1 AND released_at IS NULL", pid
                )
                view = await client.get_workflow_handle(workflow_id(pid)).query(ProposalWorkflow.state)
            if doc is None:
                problems.append(f"{pid}: not in the read model")
                return
            if doc["stage"] != "scheduled":
                problems.append(f"{pid}: read model stage {doc['stage']}")
            if view.stage.value != doc["stage"] or view.version != doc["version"]:
                problems.append(
                    f"{pid}: workflow {view.stage.value} v{view.version}, read model {doc['stage']} v{doc['version']}"
                )
            actions = Counter(e["action"] for e in events)
            votes = Counter(e["agency"] for e in events if e["action"] == "isg_vote")
            if votes != Counter({a.value: 1 for a in ISG_SEATS}):
                problems.append(f"{pid}: isg_vote events by seat {dict(votes)}")
            if actions["board_decision"] != 1:
                problems.append(f"{pid}: {actions['board_decision']} board_decision events")
            accepted = Counter(e["detail"]["slot"] for e in events if e["action"] == "request_accepted")
            if len(accepted) != slots_of(i) or set(accepted.values()) != {1}:
                problems.append(f"{pid}: request_accepted per slot {dict(accepted)}, {slots_of(i)} slot(s)")
            if bookings != slots_of(i):
                problems.append(f"{pid}: {bookings} live bookings for {slots_of(i)} slot(s)")
            if actions["refused"]:
                problems.append(f"{pid}: {actions['refused']} refusals recorded (a retry ran twice?)")
            broken = audit.verify_chain(pid, events)
            if broken is not None:
                problems.append(f"{pid}: audit chain broken at seq {broken}")
            for prev, nxt in itertools.pairwise(events):
                if nxt["prev_hash"] != prev["hash"]:
                    problems.append(f"{pid}: seq {nxt['seq']} does not link to {prev['seq']}")

        await asyncio.gather(*(one(i, pid) for i, pid in load.ids.items()))
        assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:20])

        async def histories() -> AsyncIterator[WorkflowHistory]:
            for pid in load.ids.values():
                yield await client.get_workflow_handle(workflow_id(pid)).fetch_history()

        failed: list[str] = []
        replayed = 0
        async with replayer().workflow_replay_iterator(histories()) as results:
            async for result in results:
                replayed += 1
                if result.replay_failure is not None:
                    failed.append(f"{result.history.workflow_id}: {result.replay_failure!r}")
        assert not failed, f"{len(failed)} histories do not replay:\n" + "\n".join(failed[:5])
        assert replayed == load.n
        return {"proposals": total, "replayed": replayed}
    finally:
        await pool.close()


async def timed(fn: Callable[[], Any]) -> float:
    """Runs a blocking step off the event loop (so the load keeps going); returns seconds."""
    started = time.monotonic()
    await asyncio.to_thread(fn)
    return time.monotonic() - started
