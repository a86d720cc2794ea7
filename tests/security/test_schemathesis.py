"""Schemathesis against the app's own OpenAPI document, every ``/v1`` operation, in-process.

Positive cases (valid by the schema) and negative ones (invalid by the schema) are sent
through Schemathesis' ASGI transport with a token that may call every operation. The
checks: no 5xx ever, every response conforms to the documented status codes, content
types and schemas, and negative input is refused with a 4xx.

Schemathesis runs the app on an event loop of its own (a portal thread), so the app under
test opens its own pool and Temporal client there (as in production); the worker stays on
the test's loop, which this test keeps free by running the fuzzing in a thread.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from ilea.domain import Agency, Role
from ilea.settings import Settings
from ilea.tokens import issue_token
from tests.api.conftest import TokenFor
from tests.support import fields, seed_instructors

MAX_EXAMPLES = int(os.environ.get("ILEA_FUZZ_EXAMPLES", "25"))
ALL_ROLES = list(Role)

POSITIVE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
NEGATIVE_CHECKS = [*POSITIVE_CHECKS, negative_data_rejection]


def bearer(settings: Settings, sub: str, agency: Agency) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, sub=sub, agency=agency, roles=ALL_ROLES, name=sub)}"}


async def seed(api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool) -> dict[str, list[str]]:
    """Real resources for the path parameters: proposals in review and in staffing, requests, instructors."""
    instructors = await seed_instructors(pool, per_agency=1)
    po = auth("po-seed", "STATE", "program_officer")
    ids: dict[str, list[str]] = {"proposal_id": [], "request_id": [], "instructor_id": []}
    for title in ("Fuzzing target in review", "Fuzzing target in staffing"):
        r = await api.post("/v1/proposals", json=fields(title=title).model_dump(mode="json"), headers=po)
        assert r.status_code == 201, r.text
        ids["proposal_id"].append(r.json()["id"])
    staffed = ids["proposal_id"][1]
    for agency in ("STATE", "TREASURY", "DHS", "DOJ"):
        r = await api.post(
            f"/v1/proposals/{staffed}/isg-votes",
            json={"vote": "concur"},
            headers=auth(f"seed-isg-{agency}", agency, "isg_member"),
        )
        assert r.status_code == 200, r.text
    r = await api.post(
        f"/v1/proposals/{staffed}/board-decision",
        json={"decision": "approve"},
        headers=auth("seed-chair", "STATE", "board_chair"),
    )
    assert r.status_code == 200 and r.json()["stage"] == "staffing", r.text
    ids["request_id"] = [x["id"] for x in r.json()["instructor_requests"]]
    ids["instructor_id"] = [i for agency_ids in instructors.values() for i in agency_ids]
    return ids


def fuzz(
    app: Any, tokens: list[dict[str, str]], real: dict[str, list[str]], mode: schemathesis.GenerationMode
) -> tuple[list[str], int]:
    """Run every /v1 operation; the failures (one line each) and the number of calls made."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=r"^/v1/")
    checks = NEGATIVE_CHECKS if mode is schemathesis.GenerationMode.NEGATIVE else POSITIVE_CHECKS
    failures: list[str] = []
    calls = 0
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 19, [op.label for op in operations]
    for op in operations:
        # The token is a fixed header, so it is never mutated away (401 is not what is tested here).
        strategies = [op.as_strategy(generation_mode=mode, headers=token) for token in tokens]
        names = [p.name for p in op.path_parameters]
        if names and all(real.get(n) for n in names):
            # Half the cases address a resource that exists, so handlers past the 404 are reached too.
            strategies += [
                st.fixed_dictionaries({n: st.sampled_from(real[n]) for n in names}).flatmap(
                    lambda params, token=token, op=op: op.as_strategy(
                        generation_mode=mode, path_parameters=params, headers=token
                    )
                )
                for token in tokens
            ]

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            # The same cases on every run (CI must not flake); ILEA_FUZZ_RANDOM=1 explores new ones.
            derandomize=not os.environ.get("ILEA_FUZZ_RANDOM"),
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(strategies))
        def run(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate(checks=checks, timeout=30)

        try:
            run()
        except Unsatisfiable:
            # Nothing of this operation can be made invalid by the schema alone (a free-form path
            # parameter, no query, no body): there is no negative case to send.
            assert mode is schemathesis.GenerationMode.NEGATIVE, op.label
        except (Exception, BaseExceptionGroup) as err:  # a failed check, with its falsifying example
            failures.append(f"{op.label}: {type(err).__name__}: {err}")
    return failures, calls


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
async def test_v1_operations_conform_and_never_fail(
    mode: schemathesis.GenerationMode,
    api: httpx.AsyncClient,
    auth: TokenFor,
    pool: asyncpg.Pool,
    db_url: str,
    dev_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    real = await seed(api, auth, pool)
    own = settings.model_copy(
        update={
            "database_url": db_url,
            "temporal_address": dev_env.client.service_client.config.target_host,
            "db_pool_min": 1,
            "db_pool_max": 5,
            "rate_limit_per_minute": 0,
        }
    )
    app = create_app(own)
    tokens = [bearer(own, "fuzz-dhs", Agency.DHS), bearer(own, "fuzz-state", Agency.STATE)]
    started = time.monotonic()
    try:
        failures, calls = await asyncio.to_thread(fuzz, app, tokens, real, mode)
    finally:
        await asyncio.to_thread(schemathesis_asgi.shutdown_lifespans)
    assert not failures, "\n\n".join(failures)
    assert calls >= 19 * 10, calls
    assert time.monotonic() - started < 180
