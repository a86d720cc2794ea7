"""The one action path: every action, from the JSON API or a web form, is one typed call to
``api.actions.send``; the proposal or request a path names is loaded once, by a dependency."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from api import actions
from api.app import create_app
from api.idempotency import fingerprint
from ilea.db import proposals
from ilea.domain import ROLE_AGENCIES, Agency, Role
from ilea.messages import ErrorType
from ilea.settings import Settings
from tests.api.conftest import TokenFor
from tests.api.test_limits_and_policies import api_routes
from tests.support import fields, seed_instructors
from tests.web.conftest import csrf_of, sign_in
from workflows import rules
from workflows.proposal import ProposalWorkflow, workflow_id

#: Every action route, who may call it, and a body valid by its schema.
PROPOSAL_ACTIONS: list[tuple[str, Role, dict[str, Any]]] = [
    ("isg-votes", Role.isg_member, {"vote": "concur"}),
    ("revisions", Role.program_officer, {"proposal": fields().model_dump(mode="json"), "comment": "c"}),
    ("board-positions", Role.board_member, {"position": "concur"}),
    ("board-decision", Role.board_chair, {"decision": "approve"}),
    ("withdraw", Role.program_officer, {"reason": "budget"}),
    ("staffing-cutoff", Role.program_officer, {"cutoff": "2030-01-01"}),
]
REQUEST_ACTIONS: list[tuple[str, Role, dict[str, Any]]] = [
    ("accept", Role.agency_coordinator, {"instructor_id": "i-1"}),
    ("decline", Role.agency_coordinator, {"reason": "busy"}),
    ("release", Role.agency_coordinator, {"reason": "ill"}),
    ("retarget", Role.program_officer, {"agency": "DOJ"}),
]
ACTIONS = [(f"/v1/proposals/nope/{p}", r, b) for p, r, b in PROPOSAL_ACTIONS] + [
    (f"/v1/instructor-requests/nope/{p}", r, b) for p, r, b in REQUEST_ACTIONS
]


def home(role: Role) -> Agency:
    """An agency that may hold ``role`` (a DHS program officer is refused before anything else)."""
    return Agency.STATE if Agency.STATE in ROLE_AGENCIES[role] else Agency.DHS


def test_an_idempotency_key_is_one_update_id_per_caller() -> None:
    assert actions.update_id("alice", None) is None and actions.update_id("alice", "") is None
    first = actions.update_id("alice", "k-1")
    assert first == actions.update_id("alice", "k-1") == "idem-" + first.removeprefix("idem-")
    assert len(first) == len("idem-") + 32
    assert first != actions.update_id("bob", "k-1") and first != actions.update_id("alice", "k-2")
    # A new proposal's id: the same for a retry with the key, fresh without one.
    assert actions.new_proposal_id("alice", "k-1") == actions.new_proposal_id("alice", "k-1")
    assert actions.new_proposal_id("alice", "k-1") != actions.new_proposal_id("bob", "k-1")
    assert actions.new_proposal_id("alice", None) != actions.new_proposal_id("alice", None)


def test_an_action_is_named_after_its_update() -> None:
    """The name in the audit trail's ``attempted`` and in the log is the Update's own name."""
    names = [
        actions.action_name(ProposalWorkflow.isg_vote),
        actions.action_name(ProposalWorkflow.revise),
        actions.action_name(ProposalWorkflow.board_position),
        actions.action_name(ProposalWorkflow.board_decision),
        actions.action_name(ProposalWorkflow.withdraw),
        actions.action_name(ProposalWorkflow.staffing_cutoff),
        actions.action_name(ProposalWorkflow.accept_request),
        actions.action_name(ProposalWorkflow.decline_request),
        actions.action_name(ProposalWorkflow.release_request),
        actions.action_name(ProposalWorkflow.retarget_request),
    ]
    assert names == [
        "isg_vote",
        "revise",
        "board_position",
        "board_decision",
        "withdraw",
        "staffing_cutoff",
        "accept_request",
        "decline_request",
        "release_request",
        "retarget_request",
    ]


def test_no_route_reads_a_resource_id_itself() -> None:
    """A path's proposal, request or instructor reaches a handler only through its dependency."""
    app = create_app(Settings(env="test"))  # type: ignore[call-arg]
    direct = [
        f"{sorted(r.methods)} {r.path}: {[p.name for p in r.dependant.path_params]}"
        for r in api_routes(app.routes)
        if r.path.startswith("/v1") and r.dependant.path_params
    ]
    assert direct == []


@pytest.mark.parametrize(("url", "role", "body"), ACTIONS, ids=[u.split("/nope/")[1] for u, _, _ in ACTIONS])
async def test_a_missing_target_is_401_403_422_then_404_and_leaves_no_trace(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool, url: str, role: Role, body: dict[str, Any]
) -> None:
    """The order of the answers: who asks, what they may do, what they sent, and only then what exists."""
    r = await api.post(url, json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer"), r.text
    other = next(x for x in Role if x is not role and x is not Role.auditor)
    r = await api.post(url, json=body, headers=auth("u-1", home(other), other))
    assert (r.status_code, r.json().get("code")) == (403, ErrorType.forbidden), r.text
    r = await api.post(url, json={**body, "stage": "scheduled"}, headers=auth("u-1", home(role), role))
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "stage", r.text
    r = await api.post(url, json=body, headers=auth("u-1", home(role), role))
    assert r.status_code == 404 and r.json()["detail"].startswith("no ") and "code" not in r.json(), r.text
    assert await pool.fetchval("SELECT count(*) FROM audit_events") == 0  # a 404 is not a refusal


async def test_reads_of_a_missing_proposal_are_404(api: httpx.AsyncClient, auth: TokenFor) -> None:
    for path in ("/v1/proposals/nope", "/v1/proposals/nope/events", "/v1/proposals/nope/events/verify"):
        assert (await api.get(path)).status_code == 401
        r = await api.get(path, headers=auth("a-1", "STATE", "auditor"))
        assert (r.status_code, r.json()["detail"]) == (404, "no proposal nope"), (path, r.text)


def accepted_updates(history: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """``(update name, update id, input)`` of every accepted Update in a workflow history."""
    found = []
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            continue
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        arg = json.loads(request.input.args.payloads[0].data)
        found.append((request.input.name, request.meta.update_id, arg))
    return found


async def test_the_api_and_the_web_forms_send_the_same_update(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings, dev_env: WorkflowEnvironment
) -> None:
    """Both send through ``actions.send``: the key (a header, or a form's id) is the Update id, and
    the input asks for no state in the result (what production always sent)."""
    r = await api.post(
        "/v1/proposals", json=fields().model_dump(mode="json"), headers=auth("po-1", "STATE", "program_officer")
    )
    pid = r.json()["id"]
    vote = {"vote": "concur"}
    r = await api.post(
        f"/v1/proposals/{pid}/isg-votes",
        json=vote,
        headers={**auth("isg-dhs", "DHS", "isg_member"), "Idempotency-Key": "vote-dhs"},
    )
    assert r.status_code == 200 and [v["agency"] for v in r.json()["isg_votes"]] == ["DHS"], r.text
    sign_in(api, settings, "isg-doj", "DOJ", "isg_member")
    page = await api.get(f"/ui/proposals/{pid}")
    r = await api.post(
        f"/ui/proposals/{pid}/vote", data={"csrf_token": csrf_of(page.text), "form_id": "form-doj", "vote": "concur"}
    )
    assert r.status_code == 303
    history = await dev_env.client.get_workflow_handle(workflow_id(pid)).fetch_history()
    votes = [u for u in accepted_updates(history) if u[0] == "isg_vote"]
    body_digest = fingerprint(f"POST /v1/proposals/{pid}/isg-votes", json.dumps(vote).encode())
    assert [(uid, arg["actor"]["sub"], arg["return_state"]) for _, uid, arg in votes] == [
        # The header's key with the body's fingerprint (api/idempotency.py).
        (actions.update_id("isg-dhs", f"vote-dhs\x00{body_digest}"), "isg-dhs", False),
        (actions.update_id("isg-doj", "form-doj"), "isg-doj", False),
    ]


async def test_a_refusal_is_audited_under_its_updates_name_from_both_paths(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings, pool: asyncpg.Pool
) -> None:
    await seed_instructors(pool, per_agency=1)
    r = await api.post(
        "/v1/proposals", json=fields().model_dump(mode="json"), headers=auth("po-1", "STATE", "program_officer")
    )
    pid = r.json()["id"]
    # Four eyes: the submitter may not vote, over HTTP or on the page.
    r = await api.post(
        f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth("po-1", "STATE", "isg_member")
    )
    assert (r.status_code, r.json()["code"]) == (403, "FourEyes")
    sign_in(api, settings, "po-1", "STATE", "isg_member")
    page = await api.get(f"/ui/proposals/{pid}")
    await api.post(f"/ui/proposals/{pid}/vote", data={"csrf_token": csrf_of(page.text), "vote": "concur"})
    # The chair may not decide during ISG review: a 409, audited the same way.
    r = await api.post(
        f"/v1/proposals/{pid}/board-decision", json={"decision": "approve"}, headers=auth("c", "STATE", "board_chair")
    )
    assert (r.status_code, r.json()["code"]) == (409, "WrongStage")
    rows = await pool.fetch(
        "SELECT actor, detail FROM audit_events WHERE proposal_id = $1 AND action = 'refused' ORDER BY seq", pid
    )
    assert [(x["actor"], x["detail"]["attempted"], x["detail"]["code"], x["detail"]["status"]) for x in rows] == [
        ("po-1", "isg_vote", "FourEyes", 403),
        ("po-1", "isg_vote", "FourEyes", 403),
        ("c", "board_decision", "WrongStage", 409),
    ]


async def test_coordinators_see_and_change_only_their_own_agency(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    """The agency policies are dependencies; a bad body or query is still a 422 first."""
    staff = await seed_instructors(pool, per_agency=1)
    dhs = auth("coord-dhs", "DHS", "agency_coordinator")
    r = await api.get("/v1/instructor-requests?agency=DOJ", headers=dhs)
    assert (r.status_code, r.json()["code"]) == (403, ErrorType.wrong_agency), r.text
    r = await api.get("/v1/instructor-requests?agency=DOJ&status=bogus", headers=dhs)
    assert r.status_code == 422, r.text
    r = await api.get("/v1/instructor-requests", headers=dhs)
    assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}

    # STATE has no coordinators: such a token is refused whatever it sends (product.md edition 2).
    state = auth("coord-state", "STATE", "agency_coordinator")
    entry = {"name": "Ana Lopez", "component": "HSI", "expertise": ["cybercrime"], "languages": ["en"]}
    for body in ({**entry, "name": ""}, entry):
        r = await api.post("/v1/instructors", json=body, headers=state)
        assert (r.status_code, r.json()["code"]) == (403, ErrorType.wrong_agency), r.text
    r = await api.post("/v1/instructors", json={**entry, "component": "FBI"}, headers=dhs)
    assert (r.status_code, r.json()["errors"][0]["loc"]) == (422, ["body", "component"]), r.text

    doj_instructor = staff[Agency.DOJ][0]
    r = await api.patch("/v1/instructors/nope", json={"active": "maybe"}, headers=dhs)
    assert r.status_code == 422, r.text
    r = await api.patch("/v1/instructors/nope", json={"active": False}, headers=dhs)
    assert (r.status_code, r.json()["detail"]) == (404, "no instructor nope"), r.text
    r = await api.patch(f"/v1/instructors/{doj_instructor}", json={"active": False}, headers=dhs)
    assert (r.status_code, r.json()["code"]) == (403, ErrorType.wrong_agency), r.text
    doj = auth("coord-doj", "DOJ", "agency_coordinator")
    r = await api.patch(f"/v1/instructors/{doj_instructor}", json={"active": False}, headers=doj)
    assert r.status_code == 200 and r.json()["active"] is False, r.text


async def test_an_action_looks_its_proposal_up_only_when_temporal_does_not_know_it(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Update finds the proposal's workflow or answers NOT_FOUND: a proposal Temporal knows
    costs no read of the read model before it; one it does not know is looked up then. A
    proposal that never existed is 404 from the JSON API and the web forms alike (the page's
    own lookup), with nothing recorded in any audit trail."""
    r = await api.post(
        "/v1/proposals", json=fields().model_dump(mode="json"), headers=auth("po-1", "STATE", "program_officer")
    )
    pid = r.json()["id"]
    looked: list[str] = []
    exists = proposals.exists

    async def counted(db: asyncpg.Pool, proposal_id: str) -> bool:
        looked.append(proposal_id)
        return await exists(db, proposal_id)

    monkeypatch.setattr(proposals, "exists", counted)
    r = await api.post(
        f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth("d", "DHS", "isg_member")
    )
    assert r.status_code == 200 and looked == [], (r.text, looked)
    r = await api.post("/v1/proposals/nope/isg-votes", json={"vote": "concur"}, headers=auth("d", "DHS", "isg_member"))
    assert (r.status_code, r.json()["detail"], looked) == (404, "no proposal nope", ["nope"]), r.text
    events = await pool.fetchval("SELECT count(*) FROM audit_events WHERE proposal_id = $1", pid)
    sign_in(api, settings, "isg-doj", "DOJ", "isg_member")
    page = await api.get(f"/ui/proposals/{pid}")
    r = await api.post("/ui/proposals/nope/vote", data={"csrf_token": csrf_of(page.text), "vote": "concur"})
    assert r.status_code == 404, r.status_code
    assert await pool.fetchval("SELECT count(*) FROM audit_events WHERE proposal_id <> $1", pid) == 0
    assert await pool.fetchval("SELECT count(*) FROM audit_events WHERE proposal_id = $1", pid) == events


async def test_an_action_on_an_id_no_proposal_could_have_is_404(api: httpx.AsyncClient, auth: TokenFor) -> None:
    """An id Temporal refuses outright (longer than a workflow id may be) is answered like any
    other unknown proposal, not as a failure of Temporal."""
    for pid in ("x" * 2000, "%20", "a%2Fb"):
        r = await api.post(
            f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth("d", "DHS", "isg_member")
        )
        assert r.status_code == 404, (pid[:20], r.status_code, r.text[:300])


async def test_a_submission_starts_its_workflow_with_its_search_attributes(
    api: httpx.AsyncClient, auth: TokenFor, dev_env: WorkflowEnvironment
) -> None:
    """The start records the four attributes the first commit would upsert (the ISG round open),
    so that commit upserts none: a visibility write and a history event fewer per proposal."""
    f = fields()
    r = await api.post(
        "/v1/proposals", json=f.model_dump(mode="json"), headers=auth("po-1", "STATE", "program_officer")
    )
    assert r.status_code == 201, r.text
    history = await dev_env.client.get_workflow_handle(workflow_id(r.json()["id"])).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes.search_attributes.indexed_fields
    assert {name: json.loads(p.data) for name, p in started.items()} == {
        "IleaStage": "isg_review",
        "IleaAcademy": f.academy.value,
        "IleaTopic": f.topic.value,
        "IleaStartDate": rules.start_of_day(f.start_date).isoformat(),
    }
    upserts = [e for e in history.events if e.HasField("upsert_workflow_search_attributes_event_attributes")]
    assert all(
        "IleaStage" not in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        for e in upserts
    )
