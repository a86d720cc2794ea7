"""What the production walk-through and the image test share: a separately started Temporal
dev server with the `ilea` namespace made the production way, a roster file, production
settings, the agencies' OpenID provider with the people of deploy/examples/people.csv, and
one proposal driven to `scheduled` over HTTP with the access tokens that provider issues.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ilea.devstack import bin_path, free_port, wait_for_port
from tests.deploy.manifests import DEPLOY
from tests.e2e.test_stack import proposal_body
from tests.oidc_provider import (
    access_token,
    api_resource,
    at_provider,
    native_client,
    provider_config,
    rsa_jwk,
    rsa_key,
    running_provider,
    write_pem,
)

NAMESPACE = "ilea"
#: Production settings every process of the walk-through gets (besides its ports and names).
JWT_SECRET = "walkthrough-" + "k" * 40
#: The roster the walk-through imports: DHS has the two cybercrime instructors the proposal
#: below asks for.
ROSTER_FILE = DEPLOY / "examples" / "roster.csv"
#: The people the access administrator grants in the walk-through (their `sub` at the provider).
PEOPLE_FILE = DEPLOY / "examples" / "people.csv"
#: The first access administrator, granted with `ilea grant` (the provider's login is the `sub`).
ADMIN_SUB = "0b7e2c1d-5a4f-4e8b-9c3d-2f1a6b7c8d90"
#: How the provider knows ILEA: the web application (private_key_jwt, as Login.gov requires),
#: and the API as a resource whose access tokens are JWTs with this audience and scope.
WEB_CLIENT = "ilea-web"
API_AUDIENCE = "api://ilea"
API_SCOPE = "ilea:api"
#: A program a person runs to call the API (a native app: PKCE, loopback redirect).
CLI_CLIENT = native_client("ilea-cli", "http://127.0.0.1/callback")

#: ``(agency, role) -> Authorization header`` of the person who acts in that seat.
Bearer = Callable[[str, str], dict[str, str]]


def walkthrough_script() -> str:
    """The shell block of deploy/README.md's production walk-through."""
    text = (DEPLOY / "README.md").read_text()
    block = re.search(r"<!-- walkthrough:begin -->\n```sh\n(.*?)```\n<!-- walkthrough:end -->", text, re.S)
    assert block, "deploy/README.md has no walk-through block"
    return block[1]


@dataclass(frozen=True)
class Person:
    sub: str
    name: str
    email: str
    agency: str
    roles: tuple[str, ...]


def people() -> list[Person]:
    """The rows of deploy/examples/people.csv."""
    with PEOPLE_FILE.open(newline="") as f:
        return [
            Person(r["sub"], r["name"], r["email"], r["agency"], tuple(r["roles"].split(";")))
            for r in csv.DictReader(f)
        ]


@dataclass
class AgencyProvider:
    """The agencies' OpenID provider, knowing ILEA as a web application and its API as a resource."""

    issuer: str
    #: ILEA's private key for private_key_jwt (its public half is registered with the provider)
    key_path: Path
    _tokens: dict[str, str] = field(default_factory=dict)

    def web_env(self) -> dict[str, str]:
        """The sign-in settings the walk-through asks of the operator."""
        return {
            "ILEA_OIDC_ISSUER": self.issuer,
            "ILEA_OIDC_CLIENT_ID": WEB_CLIENT,
            "ILEA_OIDC_PRIVATE_KEY_PATH": str(self.key_path),
        }

    def api_env(self) -> dict[str, str]:
        """ILEA accepting the provider's access tokens (deploy/README.md, "Programs calling the API")."""
        meta = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10).json()
        return {
            "ILEA_JWT_ALGORITHM": "RS256",
            "ILEA_JWT_JWKS_URL": meta["jwks_uri"],
            "ILEA_JWT_ISSUER": self.issuer,
            "ILEA_JWT_AUDIENCE": API_AUDIENCE,
        }

    def token(self, sub: str) -> str:
        """The access token for ILEA's API that the provider issues ``sub`` (signed in at its login page)."""
        if sub not in self._tokens:
            self._tokens[sub] = asyncio.run(
                access_token(self.issuer, CLI_CLIENT, sub, resource=API_AUDIENCE, scope=API_SCOPE)
            )
        return self._tokens[sub]

    def bearer(self, sub: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub)}"}

    def seats(self) -> Bearer:
        """Each seat's header, for the person of people.csv who holds it."""
        holder = {(p.agency, role): p.sub for p in people() for role in p.roles}
        return lambda agency, role: self.bearer(holder[agency, role])


@contextlib.contextmanager
def agency_provider(root: Path, apps: Sequence[str] = ()) -> Iterator[AgencyProvider]:
    """The provider running (its files in ``root``), with ILEA's web sign-in registered for each
    base URL of ``apps``."""
    root.mkdir(exist_ok=True)
    key = rsa_key()
    web = {
        "client_id": WEB_CLIENT,
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "RS256",
        "jwks": {"keys": [rsa_jwk(key, "ilea-key-1", private=False)]},
        "redirect_uris": [f"{a}/ui/auth/callback" for a in apps] or ["https://ilea.example.gov/ui/auth/callback"],
        "post_logout_redirect_uris": [f"{a}/ui/signed-out" for a in apps],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }
    config = provider_config(clients=[web, CLI_CLIENT], resources={API_AUDIENCE: api_resource(API_SCOPE)})
    with running_provider(config, root) as issuer:
        yield AgencyProvider(issuer, write_pem(key, root / "ilea-oidc.pem"))


def loopback_browser() -> httpx.AsyncClient:
    """A browser that, like Chromium and Firefox, takes http://127.0.0.1 for a secure context, so
    it sends back the `Secure` cookies ILEA sets in production. (httpx copies its cookie jar
    for every request, so a cookie policy would not last: each cookie is marked as usable on
    this origin once stored.)"""
    browser = httpx.AsyncClient(timeout=10)

    async def secure_context(response: httpx.Response) -> None:
        assert response.url.host == "127.0.0.1", response.url
        for cookie in browser.cookies.jar:
            cookie.secure = False

    browser.event_hooks["response"] = [secure_context]
    return browser


async def web_sign_in(browser: httpx.AsyncClient, base: str, login: str) -> httpx.Response:
    """Sign in to the web pages at ``base`` through the provider's login page; ILEA's answer to the callback."""
    begun = await browser.get(f"{base}/ui/auth/login", params={"next": "/ui/inbox"})
    assert begun.status_code == 303, begun.text
    callback = f"{base}/ui/auth/callback"
    back = await at_provider(browser, begun.headers["location"], login, back=lambda url: url.startswith(callback))
    return await browser.get(back)


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


def drive_to_scheduled(apis: Sequence[str], title: str, token: Bearer) -> str:
    """Submit, four ISG concurs, the chair's approval and DHS's two accepts, each action sent
    to the next API in turn by the person in that seat; returns the proposal id once it reads
    `scheduled`."""
    turn = iter(range(1_000))

    def call(method: str, path: str, headers: dict[str, str], **kwargs: object) -> httpx.Response:
        base = apis[next(turn) % len(apis)]
        response = httpx.request(method, f"{base}{path}", headers=headers, timeout=30, **kwargs)  # type: ignore[arg-type]
        assert response.status_code < 300, f"{method} {path} on {base}: {response.status_code} {response.text}"
        return response

    po = token("STATE", "program_officer")
    pid: str = call("POST", "/v1/proposals", po, json=proposal_body(title)).json()["id"]
    for agency in ("STATE", "TREASURY", "DHS", "DOJ"):
        call(
            "POST",
            f"/v1/proposals/{pid}/isg-votes",
            token(agency, "isg_member"),
            json={"vote": "concur"},
        )
    decided = call(
        "POST",
        f"/v1/proposals/{pid}/board-decision",
        token("STATE", "board_chair"),
        json={"decision": "approve"},
    ).json()
    assert decided["stage"] == "staffing"
    coordinator = token("DHS", "agency_coordinator")
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
