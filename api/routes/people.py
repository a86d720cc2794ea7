"""People and their grants (``/v1/people``): the access administrator's API, and the access log.

A grant sets a person's agency and roles; ILEA resolves every request's roles from it (unless
``ILEA_TRUST_TOKEN_ROLES``), so a change counts at the person's next request. Each grant and
revocation is written to the hash-chained access log in the same transaction. An access
administrator cannot change their own grant: another one must (separation of duties).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field, StrictBool, StringConstraints
from temporalio.client import Client

from api.access_witness import ask_witness
from api.auth import Principal
from api.deps import Db, Policy, Temporal
from api.errors import Problem
from api.schemas import ChainCheck
from api.text import LINE
from ilea.db import people
from ilea.db.audit import broken_at
from ilea.domain import SUB_MAX_LENGTH, Agency, Role, subject_problem
from ilea.messages import Strict
from ilea.settings import Settings
from workflows.access_witness import findings

router = APIRouter(prefix="/v1/people", tags=["people"])

AccessAdmin = Annotated[Principal, Depends(Policy(Role.access_admin))]
AccessReader = Annotated[Principal, Depends(Policy(Role.access_admin, Role.auditor))]
Sub = Annotated[str, Path(min_length=1, max_length=SUB_MAX_LENGTH, description="the person's `sub`, exactly as issued")]


class PersonBody(Strict):
    """A grant: who the person is, their agency, and every role they are to hold."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=people.NAME_MAX_LENGTH), LINE]
    email: Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=people.EMAIL_MAX_LENGTH, pattern=people.EMAIL_PATTERN),
    ]
    agency: Agency
    roles: list[Role] = Field(max_length=len(Role))
    active: StrictBool = True


class Person(BaseModel):
    sub: str
    name: str
    email: str
    agency: Agency
    roles: list[Role]
    active: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str


class People(BaseModel):
    items: list[Person]


class AccessEvent(BaseModel):
    seq: int
    at: datetime
    actor: str
    sub: str | None
    action: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class AccessEvents(BaseModel):
    items: list[AccessEvent]


def _check_sub(sub: str) -> None:
    problem = subject_problem(sub)
    if problem:
        raise Problem(422, problem, errors=[{"loc": ["path", "sub"], "msg": problem}])


def _not_yourself(user: Principal, sub: str) -> None:
    if user.sub == sub:
        raise Problem(403, "another access administrator must change your own grant", kind="SeparationOfDuties")


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("", response_model=People, summary="People ILEA knows, with their agency and roles")
async def list_people(
    user: AccessReader,
    db: Db,
    agency: Agency | None = None,
    role: Role | None = None,
    q: Annotated[str | None, Query(max_length=200, description="text in the sub, name or email")] = None,
) -> dict[str, Any]:
    return {"items": await people.search(db, agency=agency, role=role, q=q.replace("\x00", "") if q else None)}


@router.get("/access-log", response_model=AccessEvents, summary="The access log, oldest first (hash-chained)")
async def access_log(
    user: AccessReader,
    db: Db,
    sub: Annotated[str | None, Query(max_length=SUB_MAX_LENGTH, description="only this person's events")] = None,
    after: Annotated[int, Query(ge=0, le=2**31 - 1, description="only events after this seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> dict[str, Any]:
    return {"items": await people.events(db, sub=sub.replace("\x00", "") if sub else None, after=after, limit=limit)}


class AccessLogCheck(ChainCheck):
    #: the highest seq the access-log witness has read (None: it has read none, or did not answer)
    witnessed_seq: int | None = None
    #: whether the witness answered (if not, only the chain was checked)
    witness_answered: bool


@router.get(
    "/access-log/verify",
    response_model=AccessLogCheck,
    summary="Recompute the access log's hash chain, and compare its head with the witness's",
)
async def verify_access_log(user: AccessReader, db: Db, client: Temporal, request: Request) -> dict[str, Any]:
    return await check_access_log(db, client, request.app.state.settings)


async def check_access_log(db: asyncpg.Pool, client: Client, settings: Settings) -> dict[str, Any]:
    """The access log's chain recomputed (a page at a time) and its head compared with the witness's
    (an :class:`AccessLogCheck`); the JSON route and the access page both verify here."""
    # The witness first: the log only grows, so its head now is at least what was witnessed.
    witness = await ask_witness(client, settings)
    check = await people.verify_log(db)
    broken, problems = check.first_broken, broken_at(check.first_broken)
    if witness.head is not None:
        now = await people.head(db)
        cut, found = findings(witness.head, now.seq if now else 0, await people.hash_at(db, witness.head.seq))
        broken = min((s for s in (broken, cut) if s is not None), default=None)
        problems += found
    return {
        "valid": not problems,
        "events": check.events,
        "first_broken_seq": broken,
        "problems": problems,
        "witnessed_seq": witness.head.seq if witness.head else None,
        "witness_answered": witness.answered,
    }


async def grant_person(db: asyncpg.Pool, user: Principal, sub: str, body: PersonBody, ip: str | None) -> dict[str, Any]:
    """A grant by an access administrator, checked against the product's rules (the API and the page)."""
    _check_sub(sub)
    problems = people.grant_problems(body.agency, body.roles)
    if problems:
        raise Problem(422, "; ".join(problems), errors=[{"loc": ["body", "roles"], "msg": p} for p in problems])
    _not_yourself(user, sub)
    return await people.put(
        db,
        sub=sub,
        name=body.name,
        email=body.email,
        agency=body.agency,
        roles=body.roles,
        active=body.active,
        actor=user.sub,
        ip=ip,
    )


async def revoke_person_role(db: asyncpg.Pool, user: Principal, sub: str, role: Role, ip: str | None) -> dict[str, Any]:
    """A revocation by an access administrator (the API and the page)."""
    _check_sub(sub)
    _not_yourself(user, sub)
    person = await people.revoke(db, sub=sub, role=role, actor=user.sub, ip=ip)
    if person is None:
        raise Problem(404, f"ILEA has no grant for {sub}")
    return person


# --- the person (and role) a path names: read through a dependency, as every /v1 path is ---------


@dataclass(frozen=True, slots=True)
class Subject:
    """The ``sub`` in the path, checked against the identity rules (ILEA may not know them yet)."""

    sub: str


@dataclass(frozen=True, slots=True)
class Holding:
    """A role of the person in the path."""

    sub: str
    role: Role


async def subject_in_path(sub: Sub, caller: AccessAdmin) -> Subject:
    _check_sub(sub)
    return Subject(sub)


async def holding_in_path(role: Role, subject: Annotated[Subject, Depends(subject_in_path)]) -> Holding:
    return Holding(subject.sub, role)


@router.put("/{sub}", response_model=Person, summary="Grant: set a person's agency and roles (logged)")
async def put_person(
    subject: Annotated[Subject, Depends(subject_in_path)], body: PersonBody, user: AccessAdmin, db: Db, request: Request
) -> dict[str, Any]:
    return await grant_person(db, user, subject.sub, body, client_ip(request))


@router.delete("/{sub}/roles/{role}", response_model=Person, summary="Revoke one role (logged; counts at once)")
async def revoke_role(
    held: Annotated[Holding, Depends(holding_in_path)], user: AccessAdmin, db: Db, request: Request
) -> dict[str, Any]:
    return await revoke_person_role(db, user, held.sub, held.role, client_ip(request))
