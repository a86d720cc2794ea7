"""POST /v1/instructors/import: a coordinator loads or updates the agency's roster at once."""

from __future__ import annotations

import asyncpg
import httpx

from tests.api.conftest import TokenFor

ROWS = [
    {"key": "E-1", "name": "Dana Brooks", "component": "HSI", "expertise": ["cybercrime"], "languages": ["en"]},
    {"key": "E-2", "name": "Avery Stone", "component": "CBP", "expertise": ["counterterrorism", "cybercrime"]},
]


async def test_a_coordinator_imports_the_agencys_roster_idempotently(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    coordinator = auth("coord-dhs", "DHS", "agency_coordinator")
    r = await api.post("/v1/instructors/import", json={"instructors": ROWS}, headers=coordinator)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (2, 0, 0)
    assert [(i["name"], i["agency"], i["expertise"], i["active"]) for i in body["items"]] == [
        ("Dana Brooks", "DHS", ["cybercrime"], True),
        ("Avery Stone", "DHS", ["counterterrorism", "cybercrime"], True),
    ]
    again = (await api.post("/v1/instructors/import", json={"instructors": ROWS}, headers=coordinator)).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert [i["id"] for i in again["items"]] == [i["id"] for i in body["items"]]

    retire = [ROWS[0], ROWS[1] | {"active": False}]
    done = (await api.post("/v1/instructors/import", json={"instructors": retire}, headers=coordinator)).json()
    assert (done["updated"], done["unchanged"], done["items"][1]["active"]) == (1, 1, False)
    assert await pool.fetchval("SELECT count(*) FROM instructors WHERE agency = 'DHS'") == 2


async def test_every_bad_row_is_a_422_and_nothing_is_written(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    coordinator = auth("coord-dhs", "DHS", "agency_coordinator")
    rows = [
        ROWS[0],
        {"key": "E-3", "name": "Kim Walsh", "component": "FBI", "expertise": ["astrology"]},
        {"key": "E-4", "name": "Lee Park", "agency": "DOJ", "component": "FBI", "expertise": ["cybercrime"]},
    ]
    r = await api.post("/v1/instructors/import", json={"instructors": rows}, headers=coordinator)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert sorted(tuple(e["loc"]) for e in r.json()["errors"]) == [
        ("body", "instructors", 1, "component"),
        ("body", "instructors", 1, "expertise"),
        ("body", "instructors", 2, "agency"),
    ]
    assert await pool.fetchval("SELECT count(*) FROM instructors") == 0


async def test_another_agencys_instructor_cannot_be_taken_over(api: httpx.AsyncClient, auth: TokenFor) -> None:
    dhs = (
        await api.post(
            "/v1/instructors/import",
            json={"instructors": ROWS[:1]},
            headers=auth("coord-dhs", "DHS", "agency_coordinator"),
        )
    ).json()["items"][0]
    takeover = {"key": dhs["id"], "name": "Dana Brooks", "component": "FBI", "expertise": ["cybercrime"]}
    r = await api.post(
        "/v1/instructors/import",
        json={"instructors": [takeover]},
        headers=auth("coord-doj", "DOJ", "agency_coordinator"),
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"loc": ["body", "instructors", 0, "key"], "msg": f"{dhs['id']} is on the DHS roster, not DOJ's"}
    ]
    state = await api.post(
        "/v1/instructors/import", json={"instructors": ROWS[:1]}, headers=auth("c", "STATE", "agency_coordinator")
    )
    assert state.status_code == 403


async def test_an_imported_name_obeys_the_text_rules_of_a_single_one(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool
) -> None:
    """POST /v1/instructors refuses a bidirectional override or a control character in a name
    or a language; the import used to store both."""
    coordinator = auth("coord-dhs", "DHS", "agency_coordinator")
    rows = [ROWS[0] | {"name": "Dana\u202eBrooks"}, ROWS[1] | {"languages": ["en", "fr\x07"]}]
    r = await api.post("/v1/instructors/import", json={"instructors": rows}, headers=coordinator)
    assert r.status_code == 422, r.text
    assert [(e["loc"], e["msg"]) for e in r.json()["errors"]] == [
        (["body", "instructors", 0, "name"], "must not contain bidirectional-override characters (U+202E found)"),
        (
            ["body", "instructors", 1, "languages"],
            "must not contain control characters such as tabs or line breaks (U+0007 found)",
        ),
    ]
    assert await pool.fetchval("SELECT count(*) FROM instructors") == 0
