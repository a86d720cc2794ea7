"""Security properties of the HTTP contract.

* Mass assignment: every request body refuses unknown fields, so no client sets `stage`,
  `submitted_by` or `id`.
* No internal fields in responses: what the read model stores for its own use (the `doc`
  column, `pending_parties`, `pending_agencies`, idempotency bookkeeping) never reaches a
  client, and every response object carries only the properties its OpenAPI schema
  documents. Decided: `version` (the workflow's state counter), `deadlines`, `revisions`
  and the request bookkeeping of InstructorRequest (`attempt`, `asked_agencies`, ...) are
  public by design ("more fields are welcome", api.md); the DB columns are not.
* An audit write that fails fails the action: no decision reaches the read model without
  its audit entry, and once the audit trail accepts writes again the action completes
  with its entry recorded exactly once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.app import create_app
from api.routes import instructors, proposals, reports, requests, tasks
from ilea.settings import Settings
from tests.api.conftest import TokenFor
from tests.support import fields, seed_instructors

#: Read-model columns and bookkeeping that are no part of any response.
INTERNAL = frozenset(
    {"doc", "pending_parties", "pending_agencies", "body_hash", "caller", "event_key", "method_path", "status_code"}
)
#: Fields a client must never be able to set.
SERVER_OWNED = {"stage": "board_review", "submitted_by": "mallory", "owner": "mallory", "id": "proposal-of-my-choosing"}

PO = ("po-prop", "STATE", "program_officer")
V1_MODULES = (proposals, requests, instructors, tasks, reports)


def body_routes() -> list[APIRoute]:
    """The /v1 routes that take a body, from the routers the app includes."""
    routes = [r for m in V1_MODULES for r in m.router.routes if isinstance(r, APIRoute)]
    return [r for r in routes if r.path.startswith("/v1/") and r.body_field]


def models_within(model: type[BaseModel]) -> set[type[BaseModel]]:
    """The model and every model nested in its fields (lists and optionals included)."""
    found: set[type[BaseModel]] = set()
    stack: list[Any] = [model]
    while stack:
        t = stack.pop()
        if isinstance(t, type) and issubclass(t, BaseModel):
            if t in found:
                continue
            found.add(t)
            stack += [f.annotation for f in t.model_fields.values()]
        else:
            stack += list(getattr(t, "__args__", ()))
    return found


def test_every_request_body_forbids_unknown_fields() -> None:
    routes = body_routes()
    # Every POST of api.md, plus PATCH /v1/instructors/{id}.
    assert {(m, r.path) for r in routes for m in r.methods} >= {
        ("POST", "/v1/proposals"),
        ("POST", "/v1/proposals/{proposal_id}/isg-votes"),
        ("POST", "/v1/proposals/{proposal_id}/revisions"),
        ("POST", "/v1/proposals/{proposal_id}/board-positions"),
        ("POST", "/v1/proposals/{proposal_id}/board-decision"),
        ("POST", "/v1/proposals/{proposal_id}/withdraw"),
        ("POST", "/v1/proposals/{proposal_id}/staffing-cutoff"),
        ("POST", "/v1/instructor-requests/{request_id}/accept"),
        ("POST", "/v1/instructor-requests/{request_id}/decline"),
        ("POST", "/v1/instructor-requests/{request_id}/release"),
        ("POST", "/v1/instructor-requests/{request_id}/retarget"),
        ("POST", "/v1/instructors"),
        ("PATCH", "/v1/instructors/{instructor_id}"),
    }
    for route in routes:
        assert route.body_field is not None
        for model in models_within(route.body_field.field_info.annotation):
            assert model.model_config.get("extra") == "forbid", f"{route.path}: {model.__name__} accepts extras"
            assert not set(SERVER_OWNED) & set(model.model_fields), (route.path, model.__name__)


def test_openapi_documents_closed_request_bodies() -> None:
    """Clients generated from /openapi.json learn the same: `additionalProperties: false`."""
    doc = create_app(Settings(env="test")).openapi()  # type: ignore[call-arg]
    schemas = doc["components"]["schemas"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if not path.startswith("/v1/") or "requestBody" not in op:
                continue
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            if "$ref" in schema:  # inline when the route validates the body itself (all rules at once)
                schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
            assert schema.get("additionalProperties") is False, f"{method.upper()} {path}"


async def submit(api: httpx.AsyncClient, auth: TokenFor, **extra: Any) -> httpx.Response:
    return await api.post("/v1/proposals", json={**fields().model_dump(mode="json"), **extra}, headers=auth(*PO))


def assert_refused_field(r: httpx.Response, name: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert any(e["loc"][-1] == name for e in r.json()["errors"]), r.text


async def test_a_client_cannot_set_server_owned_fields(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    for name, value in SERVER_OWNED.items():
        assert_refused_field(await submit(api, auth, **{name: value}), name)
    assert await pool.fetchval("SELECT count(*) FROM proposals") == 0

    r = await submit(api, auth)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    actions: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
        ("isg-votes", {"vote": "concur"}, ("isg-dhs", "DHS", "isg_member")),
        ("board-positions", {"position": "concur"}, ("board-dhs", "DHS", "board_member")),
        ("board-decision", {"decision": "approve"}, ("chair", "STATE", "board_chair")),
        ("withdraw", {"reason": "no"}, PO),
        ("staffing-cutoff", {"cutoff": "2030-01-01"}, PO),
        ("revisions", {"proposal": fields().model_dump(mode="json"), "comment": "c"}, PO),
    ]
    for path, body, who in actions:
        for name, value in SERVER_OWNED.items():
            r = await api.post(f"/v1/proposals/{pid}/{path}", json={**body, name: value}, headers=auth(*who))
            assert_refused_field(r, name)
    # A nested model is closed too: a revision cannot smuggle `stage` inside the proposal.
    r = await api.post(
        f"/v1/proposals/{pid}/revisions",
        json={"proposal": {**fields().model_dump(mode="json"), "stage": "staffing"}, "comment": "c"},
        headers=auth(*PO),
    )
    assert_refused_field(r, "stage")
    got = (await api.get(f"/v1/proposals/{pid}", headers=auth(*PO))).json()
    assert (got["stage"], got["submitted_by"], got["isg_votes"]) == ("isg_review", "po-prop", [])
    assert got["id"] == pid

    coord = auth("coord-dhs", "DHS", "agency_coordinator")
    instructor = {"name": "Ana Lopez", "component": "HSI", "expertise": ["cybercrime"], "languages": ["en"]}
    for name, value in {**SERVER_OWNED, "agency": "DOJ", "active": False}.items():
        assert_refused_field(await api.post("/v1/instructors", json={**instructor, name: value}, headers=coord), name)
    for path, body, headers in (
        ("accept", {"instructor_id": "x"}, coord),
        ("decline", {"reason": "r"}, coord),
        ("release", {"reason": "r"}, coord),
        ("retarget", {"agency": "DOJ"}, auth(*PO)),
    ):
        r = await api.post(f"/v1/instructor-requests/nope/{path}", json={**body, "status": "accepted"}, headers=headers)
        assert_refused_field(r, "status")


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def undocumented(doc: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> list[str]:
    """Paths of properties in ``value`` that ``schema`` does not document (and of internal names)."""
    schema = _resolve(doc, schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [_resolve(doc, s) for s in schema[key]]
            kind = {dict: "object", list: "array"}.get(type(value))
            fitting = [s for s in options if s.get("type") == kind] or options
            return undocumented(doc, fitting[0], value, where)
    problems: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties")
        for k, v in value.items():
            if k in INTERNAL:
                problems.append(f"{where}.{k} (internal)")
            if props is None:
                continue  # a free-form object (an audit event's detail, counts by stage)
            if k not in props:
                problems.append(f"{where}.{k}")
            else:
                problems += undocumented(doc, props[k], v, f"{where}.{k}")
    elif isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            problems += undocumented(doc, schema["items"], v, f"{where}[{i}]")
    return problems


async def test_responses_carry_only_documented_fields_and_no_internal_ones(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    await seed_instructors(pool, per_agency=1)
    pid = (await submit(api, auth)).json()["id"]
    everyone = auth("all", "DHS", "isg_member", "board_member", "agency_coordinator", "auditor")
    for agency in ("STATE", "TREASURY", "DHS", "DOJ"):
        r = await api.post(
            f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth(f"i-{agency}", agency, "isg_member")
        )
        assert r.status_code == 200, r.text
    decided = await api.post(
        f"/v1/proposals/{pid}/board-decision", json={"decision": "approve"}, headers=auth("ch", "STATE", "board_chair")
    )
    assert decided.status_code == 200 and decided.json()["instructor_requests"], decided.text
    doc = (await api.get("/openapi.json")).json()
    calls = [
        ("get", f"/v1/proposals/{pid}", "/v1/proposals/{proposal_id}"),
        ("get", "/v1/proposals", "/v1/proposals"),
        ("get", f"/v1/proposals/{pid}/events", "/v1/proposals/{proposal_id}/events"),
        ("get", f"/v1/proposals/{pid}/events/verify", "/v1/proposals/{proposal_id}/events/verify"),
        ("get", "/v1/tasks", "/v1/tasks"),
        ("get", "/v1/instructor-requests", "/v1/instructor-requests"),
        ("get", "/v1/instructors", "/v1/instructors"),
        ("get", "/v1/reports/cycle-times", "/v1/reports/cycle-times"),
    ]
    for method, url, template in calls:
        r = await api.request(method, url, headers=everyone)
        assert r.status_code == 200, (url, r.text)
        schema = doc["paths"][template][method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert undocumented(doc, schema, r.json(), url) == []
    # The action responses too (the Proposal as the workflow returned it).
    schema = doc["paths"]["/v1/proposals/{proposal_id}/board-decision"]["post"]["responses"]["200"]
    assert undocumented(doc, schema["content"]["application/json"]["schema"], decided.json(), "decision") == []
    proposal = (await api.get(f"/v1/proposals/{pid}", headers=everyone)).json()
    assert not INTERNAL & set(proposal)
    assert isinstance(proposal["version"], int)  # public by decision: a state counter, no secret
    # The read model does hold those columns: the check above is not vacuous.
    row = await pool.fetchrow("SELECT * FROM proposals WHERE id = $1", pid)
    assert row is not None and {"doc", "pending_parties", "pending_agencies"} <= set(row.keys())


async def audit_rows(pool: asyncpg.Pool, pid: str, action: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM audit_events WHERE proposal_id = $1 AND action = $2", pid, action)


@pytest.mark.timeout(120)
async def test_an_audit_write_failure_fails_the_action(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool, owner_pool: asyncpg.Pool
) -> None:
    r = await submit(api, auth)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    po = auth(*PO)
    # The audit trail refuses ISG votes: the projection's transaction (read model, audit
    # entry, notifications) fails as a whole and is retried by the workflow.
    await owner_pool.execute(
        "ALTER TABLE audit_events ADD CONSTRAINT test_refuse_isg_vote CHECK (action <> 'isg_vote') NOT VALID"
    )
    vote = asyncio.create_task(
        api.post(
            f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth("isg-dhs", "DHS", "isg_member")
        )
    )
    try:
        done, _ = await asyncio.wait({vote}, timeout=6)
        assert not done, f"the vote answered without its audit entry: {vote.result().status_code}"
        got = (await api.get(f"/v1/proposals/{pid}", headers=po)).json()
        assert got["isg_votes"] == [] and got["version"] == 1
        assert {p["party"] for p in got["pending_on"]} == {"isg:STATE", "isg:TREASURY", "isg:DHS", "isg:DOJ"}
        assert await audit_rows(pool, pid, "isg_vote") == []
        tasks = (await api.get("/v1/tasks", headers=auth("isg-dhs2", "DHS", "isg_member"))).json()["items"]
        assert [t["proposal_id"] for t in tasks] == [pid]  # still pending on DHS
    finally:
        await owner_pool.execute("ALTER TABLE audit_events DROP CONSTRAINT test_refuse_isg_vote")
    # The workflow retries its projection (local activity, backoff capped at 10 s): the vote
    # now lands together with its audit entry, and the caller gets its answer.
    r = await asyncio.wait_for(vote, timeout=45)
    assert r.status_code == 200, r.text
    assert [v["agency"] for v in r.json()["isg_votes"]] == ["DHS"]
    got = (await api.get(f"/v1/proposals/{pid}", headers=po)).json()
    assert [(v["agency"], v["vote"]) for v in got["isg_votes"]] == [("DHS", "concur")]
    rows = await audit_rows(pool, pid, "isg_vote")
    assert len(rows) == 1 and rows[0]["actor"] == "isg-dhs"
    events = (await api.get(f"/v1/proposals/{pid}/events", headers=po)).json()["items"]
    assert [e["action"] for e in events].count("isg_vote") == 1
    check = (await api.get(f"/v1/proposals/{pid}/events/verify", headers=po)).json()
    assert check["valid"] is True


async def test_nul_in_text_is_refused_at_the_edge_and_never_wedges_a_proposal(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    """PostgreSQL stores no NUL: such text must be refused before a workflow holds it.

    Before the fix a vote comment with NUL was accepted by the workflow, whose projection
    then failed forever, holding the proposal's lock: every later action on it hung.
    """
    po = auth(*PO)
    r = await submit(api, auth, title="Nul\u0000title")
    assert_refused_field(r, "title")
    assert await pool.fetchval("SELECT count(*) FROM proposals") == 0
    pid = (await submit(api, auth)).json()["id"]
    dhs = auth("isg-dhs", "DHS", "isg_member")
    r = await asyncio.wait_for(
        api.post(f"/v1/proposals/{pid}/isg-votes", json={"vote": "nonconcur", "comment": "no\u0000"}, headers=dhs),
        timeout=10,
    )
    assert_refused_field(r, "comment")
    r = await asyncio.wait_for(api.post(f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=dhs), 10)
    assert r.status_code == 200 and [v["agency"] for v in r.json()["isg_votes"]] == ["DHS"], r.text
    coord = auth("coord-dhs", "DHS", "agency_coordinator")
    r = await api.post(
        "/v1/instructors", json={"name": "A\u0000B", "component": "HSI", "expertise": ["cybercrime"]}, headers=coord
    )
    assert_refused_field(r, "name")
    # Path and query values reach SQL as parameters: a 400 problem, never a 500.
    for method, url, headers, body in (
        ("GET", "/v1/proposals?q=a%00b", po, None),
        ("GET", "/v1/proposals/a%00b", po, None),
        ("GET", "/v1/proposals/a%00b/events", po, None),
        ("GET", "/v1/instructor-requests?proposal_id=a%00", po, None),
        ("PATCH", "/v1/instructors/a%00", coord, {"active": True}),
        ("POST", "/v1/instructor-requests/a%00/accept", coord, {"instructor_id": "x"}),
        ("POST", "/v1/proposals/a%00/isg-votes", dhs, {"vote": "concur"}),
    ):
        r = await api.request(method, url, json=body, headers=headers)
        assert r.status_code == 400, (url, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
