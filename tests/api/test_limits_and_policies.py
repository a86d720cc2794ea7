"""Resource limits, and the authorization policy every route must declare."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi.routing import APIRoute
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import Policy
from ilea.domain import Role
from ilea.settings import Settings
from tests.api.conftest import TokenFor
from tests.support import fields

PUBLIC = {"/healthz", "/readyz"}


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, including those of included routers (kept nested by newer FastAPI)."""
    found: list[APIRoute] = []
    for r in routes:
        if isinstance(r, APIRoute):
            found.append(r)
        elif hasattr(r, "original_router"):
            found += api_routes(r.original_router.routes)
    return found


def declared_policies(route: APIRoute) -> list[Policy]:
    found: list[Policy] = []
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Policy):
            found.append(dep.call)
        stack.extend(dep.dependencies)
    return found


def test_every_v1_route_declares_a_policy() -> None:
    app = create_app(Settings(env="test"))  # type: ignore[call-arg]
    routes = api_routes(app.routes)
    assert len(routes) >= 20
    missing = [
        f"{sorted(r.methods)} {r.path}"
        for r in routes
        if r.path not in PUBLIC and r.path.startswith("/v1") and not declared_policies(r)
    ]
    assert missing == []


EXPECTED_ROLES = {
    ("POST", "/v1/proposals"): {Role.program_officer},
    ("POST", "/v1/proposals/{proposal_id}/isg-votes"): {Role.isg_member},
    ("POST", "/v1/proposals/{proposal_id}/revisions"): {Role.program_officer},
    ("POST", "/v1/proposals/{proposal_id}/board-positions"): {Role.board_member},
    ("POST", "/v1/proposals/{proposal_id}/board-decision"): {Role.board_chair},
    ("POST", "/v1/proposals/{proposal_id}/withdraw"): {Role.program_officer},
    ("POST", "/v1/proposals/{proposal_id}/staffing-cutoff"): {Role.program_officer},
    ("POST", "/v1/proposals/{proposal_id}/owner"): {Role.program_officer},
    ("GET", "/v1/instructor-requests"): {Role.agency_coordinator, Role.program_officer, Role.auditor},
    ("POST", "/v1/instructor-requests/{request_id}/accept"): {Role.agency_coordinator},
    ("POST", "/v1/instructor-requests/{request_id}/decline"): {Role.agency_coordinator},
    ("POST", "/v1/instructor-requests/{request_id}/release"): {Role.agency_coordinator},
    ("POST", "/v1/instructor-requests/{request_id}/retarget"): {Role.program_officer},
    ("POST", "/v1/instructors"): {Role.agency_coordinator},
    ("POST", "/v1/instructors/import"): {Role.agency_coordinator},
    ("GET", "/v1/reports/cycle-times"): {Role.program_officer, Role.auditor},
}


def test_route_roles_match_the_contract() -> None:
    app = create_app(Settings(env="test"))  # type: ignore[call-arg]
    seen = 0
    for route in api_routes(app.routes):
        for method in route.methods:
            expected = EXPECTED_ROLES.get((method, route.path))
            if expected is None:
                continue
            roles = {r for p in declared_policies(route) for r in p.roles}
            assert roles == expected, (method, route.path)
            seen += 1
    assert seen == len(EXPECTED_ROLES)


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED_ROLES))
async def test_other_roles_get_403(api: httpx.AsyncClient, auth: TokenFor, method: str, path: str) -> None:
    allowed = EXPECTED_ROLES[(method, path)]
    for role in set(Role) - allowed:
        url = path.replace("{proposal_id}", "p-1").replace("{request_id}", "r-1")
        r = await api.request(method, url, json={}, headers=auth("someone", "DHS", role))
        assert r.status_code == 403, (role, method, path, r.text)


async def test_large_body_is_413(api: httpx.AsyncClient, auth: TokenFor) -> None:
    body = fields().model_dump(mode="json")
    body["justification"] = "x" * 400_000
    r = await api.post("/v1/proposals", json=body, headers=auth("po", "STATE", "program_officer"))
    assert r.status_code == 413
    assert r.json()["status"] == 413


@pytest.fixture
async def strict_api(
    dev_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(env="test", task_queue=task_queue, rate_limit_per_minute=60, rate_limit_burst=5)  # type: ignore[call-arg]
    app = create_app(settings, pool=pool, temporal=dev_env.client)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ilea.test") as client,
    ):
        yield client


async def test_burst_from_one_caller_is_429(strict_api: httpx.AsyncClient, auth: TokenFor) -> None:
    headers = auth("po", "STATE", "program_officer")
    codes = [(await strict_api.get("/v1/proposals", headers=headers)).status_code for _ in range(8)]
    assert codes[:5] == [200] * 5
    assert 429 in codes[5:]
    r = await strict_api.get("/v1/proposals", headers=headers)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # Another caller is not affected.
    assert (await strict_api.get("/v1/proposals", headers=auth("other", "DHS", "auditor"))).status_code == 200
