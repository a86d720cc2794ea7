"""The whole stack as processes, started the way `make run` does (`ilea dev` on free ports),
driven over HTTP with tokens printed by `ilea token`."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from ilea.devstack import APP_LOGIN, free_port
from tests.support import wait_until_listed

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    api: str
    temporal: str
    state: Path
    process: subprocess.Popen[bytes]
    pg_port: int


def ilea_token(sub: str, agency: str, *roles: str) -> str:
    args = [sys.executable, "-m", "cli", "token", "--sub", sub, "--agency", agency]
    for r in roles:
        args += ["--role", r]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60)
    return out.stdout.strip()


def start_stack(state: Path) -> Stack:
    api_port, t_port, ui_port, pg_port = free_port(), free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ILEA_", "TEMPORAL_"))}
    cmd = [
        sys.executable,
        "-m",
        "cli",
        "dev",
        "--state-dir",
        str(state),
        "--api-port",
        str(api_port),
        "--temporal-port",
        str(t_port),
        "--ui-port",
        str(ui_port),
        "--pg-port",
        str(pg_port),
    ]
    out = state / "dev.out"
    with open(out, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{api_port}"
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, out.read_text()
        try:
            if b"ILEA is up" in out.read_bytes() and httpx.get(f"{base}/readyz").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the stack did not come up in 90 s"
        time.sleep(0.3)
    return Stack(api=base, temporal=f"127.0.0.1:{t_port}", state=state, process=proc, pg_port=pg_port)


def stop_stack(stack: Stack) -> int:
    """Ctrl-C, as a person would; returns the exit code."""
    stack.process.send_signal(signal.SIGINT)
    try:
        return stack.process.wait(60)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        raise


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack(tmp_path_factory.mktemp("state"))
    try:
        yield s
    finally:
        stop_stack(s)


def proposal_body(title: str) -> dict[str, object]:
    start = datetime.now(UTC).date() + timedelta(days=100)
    return {
        "title": title,
        "academy": "BKK",
        "course_type": "specialized",
        "topic": "cybercrime",
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=9)).isoformat(),
        "seats": 24,
        "participating_countries": ["TH", "VN", "KH"],
        "estimated_cost_usd": "310000.00",
        "justification": "Rising ransomware cases in the region.",
        "instructor_needs": [{"agency": "DHS", "expertise": "cybercrime", "count": 2, "alternate_agencies": ["DOJ"]}],
    }


def test_a_second_run_finds_earlier_proposals(tmp_path: Path) -> None:
    first = start_stack(tmp_path)
    po = {"Authorization": f"Bearer {ilea_token('e2e-po', 'STATE', 'program_officer')}"}
    r = httpx.post(f"{first.api}/v1/proposals", json=proposal_body("Kept across restarts"), headers=po, timeout=30)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert stop_stack(first) == 0
    assert b"stopped" in (tmp_path / "dev.out").read_bytes()
    second = start_stack(tmp_path)
    try:
        r = httpx.get(f"{second.api}/v1/proposals/{pid}", headers=po, timeout=30)
        assert r.status_code == 200 and r.json()["stage"] == "isg_review"
        # The workflow survived too: it still takes votes.
        vote = httpx.post(
            f"{second.api}/v1/proposals/{pid}/isg-votes",
            json={"vote": "concur"},
            timeout=30,
            headers={"Authorization": f"Bearer {ilea_token('e2e-isg', 'DHS', 'isg_member')}"},
        )
        assert vote.status_code == 200, vote.text
        assert [v["agency"] for v in vote.json()["isg_votes"]] == ["DHS"]
    finally:
        stop_stack(second)


def test_happy_path_through_the_real_stack(stack: Stack) -> None:
    h = lambda tok: {"Authorization": f"Bearer {tok}"}  # noqa: E731
    po = ilea_token("e2e-po", "STATE", "program_officer")
    body = proposal_body("Cybercrime investigations for Southeast Asia")
    with httpx.Client(base_url=stack.api, timeout=30) as c:
        r = c.post("/v1/proposals", json=body, headers=h(po))
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        for agency in ("STATE", "TREASURY", "DHS", "DOJ"):
            r = c.post(
                f"/v1/proposals/{pid}/isg-votes",
                json={"vote": "concur"},
                headers=h(ilea_token(f"e2e-isg-{agency}", agency, "isg_member")),
            )
            assert r.status_code == 200, r.text
        r = c.post(
            f"/v1/proposals/{pid}/board-decision",
            json={"decision": "approve"},
            headers=h(ilea_token("e2e-chair", "STATE", "board_chair")),
        )
        assert r.status_code == 200 and r.json()["stage"] == "staffing", r.text
        coord = h(ilea_token("e2e-coord-dhs", "DHS", "agency_coordinator"))
        free = c.get("/v1/instructors", params={"agency": "DHS", "expertise": "cybercrime"}, headers=coord).json()
        assert len(free["items"]) >= 2, "the demo roster covers every topic in every agency"
        for req, instructor in zip(r.json()["instructor_requests"], free["items"], strict=False):
            a = c.post(
                f"/v1/instructor-requests/{req['id']}/accept", json={"instructor_id": instructor["id"]}, headers=coord
            )
            assert a.status_code == 200 and a.json()["status"] == "accepted", a.text
        p = c.get(f"/v1/proposals/{pid}", headers=h(po)).json()
        assert p["stage"] == "scheduled"
        events = c.get(p["history_url"], headers=h(po)).json()["items"]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        for prev, nxt in itertools.pairwise(events):
            assert nxt["prev_hash"] == prev["hash"]
        assert c.get(f"/v1/proposals/{pid}/events/verify", headers=h(po)).json()["valid"] is True

    # Temporal's own visibility finds it by the custom search attribute.
    wait_until_listed(f"proposal-{pid}", "IleaStage='scheduled'", {**os.environ, "TEMPORAL_ADDRESS": stack.temporal})


def test_the_application_logs_in_as_a_role_that_cannot_rewrite_audit_rows(stack: Stack) -> None:
    """Issue 13: in `ilea dev` the worker and the API connected as the superuser, which can
    bypass the append-only trigger. Now they log in as a member of ilea_app."""
    po = {"Authorization": f"Bearer {ilea_token('e2e-po', 'STATE', 'program_officer')}"}
    r = httpx.post(f"{stack.api}/v1/proposals", json=proposal_body("Audited"), headers=po, timeout=30)
    assert r.status_code == 201, r.text

    async def check() -> tuple[set[str], list[str]]:
        admin = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{stack.pg_port}/ilea")
        try:
            logins = {
                r["usename"]
                for r in await admin.fetch(
                    "SELECT usename FROM pg_stat_activity WHERE datname = 'ilea' AND pid <> pg_backend_pid()"
                )
            }
        finally:
            await admin.close()
        app = await asyncpg.connect(f"postgresql://{APP_LOGIN}@127.0.0.1:{stack.pg_port}/ilea")
        refused = []
        try:
            for sql in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events", "TRUNCATE audit_events"):
                try:
                    await app.execute(sql)
                except asyncpg.InsufficientPrivilegeError:
                    refused.append(sql.split()[0])
        finally:
            await app.close()
        return logins, refused

    logins, refused = asyncio.run(check())
    assert logins == {APP_LOGIN}, logins  # the worker's and the API's pools, nobody else
    assert refused == ["UPDATE", "DELETE", "TRUNCATE"]
