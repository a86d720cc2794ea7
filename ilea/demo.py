"""Demo data for development: the people of the demo sign-in, their tokens, and a roster.

`ilea dev` seeds the roster and prints the tokens; the web login page (development only)
lists the same people, so a token from the banner and a demo sign-in name the same person.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, NamedTuple

from ilea.domain import COMPONENTS, INSTRUCTOR_AGENCIES, Agency, Role, Topic
from ilea.settings import Settings
from ilea.tokens import issue_token


class DemoUser(NamedTuple):
    sub: str
    name: str
    agency: Agency
    roles: list[Role]


DEMO_USERS: list[DemoUser] = [
    DemoUser("demo-po", "Pat Okafor (INL program officer)", Agency.STATE, [Role.program_officer]),
    DemoUser("demo-isg-state", "Sam Rivera (ISG, State/INL)", Agency.STATE, [Role.isg_member]),
    DemoUser("demo-isg-treasury", "Tara Chen (ISG, Treasury)", Agency.TREASURY, [Role.isg_member]),
    DemoUser("demo-isg-dhs", "Dana Brooks (ISG, DHS)", Agency.DHS, [Role.isg_member]),
    DemoUser("demo-isg-doj", "Jordan Lee (ISG, Justice)", Agency.DOJ, [Role.isg_member]),
    DemoUser("demo-board-treasury", "Morgan Hale (Board, Treasury)", Agency.TREASURY, [Role.board_member]),
    DemoUser("demo-board-dhs", "Avery Stone (Board, DHS)", Agency.DHS, [Role.board_member]),
    DemoUser("demo-board-doj", "Riley Quinn (Board, Justice)", Agency.DOJ, [Role.board_member]),
    DemoUser("demo-chair", "Casey Morgan (Board chair, State)", Agency.STATE, [Role.board_chair]),
    DemoUser("demo-coord-treasury", "Robin Park (Treasury coordinator)", Agency.TREASURY, [Role.agency_coordinator]),
    DemoUser("demo-coord-dhs", "Jamie Cruz (DHS coordinator)", Agency.DHS, [Role.agency_coordinator]),
    DemoUser("demo-coord-doj", "Alex Novak (Justice coordinator)", Agency.DOJ, [Role.agency_coordinator]),
    DemoUser("demo-auditor", "Kim Walsh (auditor)", Agency.STATE, [Role.auditor]),
    DemoUser("demo-access-admin", "Lee Grant (access administrator, State/INL)", Agency.STATE, [Role.access_admin]),
]

_ROSTER_NS = uuid.UUID("2b7c1a52-93c4-4f0e-8f53-1ea0c0de0002")
_FIRST = ["Maria", "James", "Aisha", "Daniel", "Elena", "Victor", "Grace", "Omar", "Lucia", "Henry", "Nadia", "Peter"]
_LAST = [
    "Alvarez",
    "Bennett",
    "Diallo",
    "Fischer",
    "Gomez",
    "Hughes",
    "Ivanova",
    "Khan",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Ortiz",
]


def demo_roster() -> list[dict[str, Any]]:
    """Four active instructors per agency; every topic covered twice in each agency."""
    topics = list(Topic)
    roster = []
    n = 0
    for agency in INSTRUCTOR_AGENCIES:
        for i in range(4):
            expertise = [topics[(i * 3 + k) % len(topics)].value for k in range(6)]
            roster.append(
                {
                    "instructor_id": str(uuid.uuid5(_ROSTER_NS, f"{agency}-{i}")),
                    "name": f"{_FIRST[n % 12]} {_LAST[(n * 5) % 12]}",
                    "agency": agency.value,
                    "component": COMPONENTS[agency][i % len(COMPONENTS[agency])],
                    "expertise": expertise,
                    "languages": ["en", ["es", "fr", "ru", "th"][i]],
                }
            )
            n += 1
    return roster


def demo_tokens(settings: Settings) -> list[tuple[str, str, str]]:
    """``(sub, "AGENCY role+role", token)`` of every demo user, valid 30 days."""
    return [
        (
            u.sub,
            f"{u.agency.value} {'+'.join(r.value for r in u.roles)}",
            issue_token(settings, sub=u.sub, agency=u.agency, roles=u.roles, name=u.name, ttl=timedelta(days=30)),
        )
        for u in DEMO_USERS
    ]
