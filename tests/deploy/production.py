"""What the production walk-through and the image test share: a separately started Temporal
dev server with the `ilea` namespace made the production way, a roster file, production
settings and tokens, and one proposal driven to `scheduled` over HTTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from ilea.devstack import bin_path, free_port, wait_for_port
from ilea.domain import Agency, Role
from ilea.settings import Settings
from ilea.tokens import issue_token
from tests.deploy.manifests import DEPLOY
from tests.e2e.test_stack import proposal_body

NAMESPACE = "ilea"
#: Production settings every process of the walk-through gets (besides its ports and names).
JWT_SECRET = "walkthrough-" + "k" * 40
JWT_ISSUER = "https://login.example.gov"
#: The roster the walk-through imports: DHS has the two cybercrime instructors the proposal
#: below asks for.
ROSTER_FILE = DEPLOY / "examples" / "roster.csv"


def token(sub: str, agency: str, *roles: str) -> dict[str, str]:
    """A bearer token the production settings accept (standing in for the identity provider)."""
    settings = Settings(env="production", jwt_secret=JWT_SECRET, jwt_issuer=JWT_ISSUER)
    signed = issue_token(settings, sub=sub, agency=Agency(agency), roles=[Role(r) for r in roles], name=sub)
    return {"Authorization": f"Bearer {signed}"}


class TemporalServer:
    """`temporal server start-dev` on its own, then the namespace and search attributes
    registered by deploy/compose/temporal-bootstrap.sh, as in production."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> TemporalServer:
        command = [bin_path("temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
        command += ["--port", str(self.port), "--ui-port", str(free_port()), "--log-level", "warn"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port, 60, self.process)
        env = {
            **os.environ,
            "PATH": f"{Path(bin_path('temporal')).parent}:{os.environ['PATH']}",
            "TEMPORAL_ADDRESS": self.address,
            "TEMPORAL_NAMESPACE": NAMESPACE,
            "NAMESPACE_RETENTION": "30d",
        }
        done = subprocess.run(
            ["sh", str(DEPLOY / "compose" / "temporal-bootstrap.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def wait_until_ready(base: str, processes: Sequence[subprocess.Popen[bytes]], logs: Sequence[Path]) -> None:
    """Until ``base``/readyz answers 200; fails at once when a process exits."""
    deadline = time.monotonic() + 90
    while True:
        for process, log in zip(processes, logs, strict=True):
            assert process.poll() is None, f"exited {process.returncode}: {log.read_text()[-3000:]}"
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "\n".join(log.read_text()[-2000:] for log in logs)
        time.sleep(0.3)


def drive_to_scheduled(apis: Sequence[str], title: str) -> str:
    """Submit, four ISG concurs, the chair's approval and DHS's two accepts, each action sent
    to the next API in turn; returns the proposal id once it reads `scheduled`."""
    turn = iter(range(1_000))

    def call(method: str, path: str, headers: dict[str, str], **kwargs: object) -> httpx.Response:
        base = apis[next(turn) % len(apis)]
        response = httpx.request(method, f"{base}{path}", headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]
        assert response.status_code < 300, f"{method} {path} on {base}: {response.status_code} {response.text}"
        return response

    po = token("po-pat", "STATE", "program_officer")
    pid: str = call("POST", "/v1/proposals", po, json=proposal_body(title)).json()["id"]
    for agency in ("STATE", "TREASURY", "DHS", "DOJ"):
        call(
            "POST",
            f"/v1/proposals/{pid}/isg-votes",
            token(f"isg-{agency}", agency, "isg_member"),
            json={"vote": "concur"},
        )
    decided = call(
        "POST",
        f"/v1/proposals/{pid}/board-decision",
        token("chair", "STATE", "board_chair"),
        json={"decision": "approve"},
    ).json()
    assert decided["stage"] == "staffing"
    coordinator = token("coord-dhs", "DHS", "agency_coordinator")
    roster = call("GET", "/v1/instructors", coordinator, params={"agency": "DHS", "expertise": "cybercrime"}).json()
    assert [i["name"] for i in roster["items"]] == ["Avery Stone", "Dana Brooks"], "the imported roster"
    for request, instructor in zip(decided["instructor_requests"], roster["items"], strict=True):
        accepted = call(
            "POST",
            f"/v1/instructor-requests/{request['id']}/accept",
            coordinator,
            json={"instructor_id": instructor["id"]},
        )
        assert accepted.json()["status"] == "accepted"
    proposal = call("GET", f"/v1/proposals/{pid}", po).json()
    assert proposal["stage"] == "scheduled", proposal["stage"]
    assert call("GET", f"/v1/proposals/{pid}/events/verify", po).json()["valid"] is True
    return pid
