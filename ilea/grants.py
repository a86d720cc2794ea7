"""Granting from the command line (``ilea grant``): the first access administrator, or a repair."""

from __future__ import annotations

import getpass
from typing import Any

from ilea.db import create_pool, people
from ilea.domain import Agency, Role, subject_problem
from ilea.settings import Settings


class GrantRefused(ValueError):
    """The grant breaks an identity rule (the message says which)."""


async def grant(
    settings: Settings, *, sub: str, name: str, email: str, agency: Agency, roles: list[Role]
) -> dict[str, Any]:
    """Set the person's agency and roles (exactly these), written to the access log as ``cli:<user>``.

    Raises:
        GrantRefused: a ``sub`` that cannot name a person, or a role not valid with the agency.
    """
    problems = [p for p in [subject_problem(sub), *people.grant_problems(agency, roles)] if p]
    if problems:
        raise GrantRefused("; ".join(problems))
    if not settings.database_url:
        raise GrantRefused("ILEA_DATABASE_URL is not set")
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        return await people.put(
            pool, sub=sub, name=name, email=email, agency=agency, roles=roles, actor=f"cli:{getpass.getuser()}"
        )
    finally:
        await pool.close()
