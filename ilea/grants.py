"""Granting from the command line (``ilea grant``): the first access administrator, or a repair."""

from __future__ import annotations

import getpass
import re
from typing import Any

from ilea.db import create_pool, people
from ilea.domain import Agency, Role, subject_problem
from ilea.settings import Settings
from ilea.text import TextRefused, clean


class GrantRefused(ValueError):
    """The grant breaks an identity rule (the message says which)."""


async def grant(
    settings: Settings, *, sub: str, name: str, email: str, agency: Agency, roles: list[Role]
) -> dict[str, Any]:
    """Set the person's agency and roles (exactly these), written to the access log as ``cli:<user>``.

    The person is checked as ``PUT /v1/people/{sub}`` checks them; a blank name is the ``sub``.

    Raises:
        GrantRefused: a ``sub`` that cannot name a person, a role not valid with the agency, an
            email address that is none, or a name breaking the text rules.
    """
    email = email.strip()
    try:
        name = clean(name, paragraph=False) or sub
    except TextRefused as refused:
        raise GrantRefused(f"the name {refused.message}") from None
    problems = [p for p in [subject_problem(sub), *people.grant_problems(agency, roles)] if p]
    if not re.fullmatch(people.EMAIL_PATTERN, email) or len(email) > people.EMAIL_MAX_LENGTH:
        problems.append(f"{email!r} is not an email address")
    if len(name) > people.NAME_MAX_LENGTH:
        problems.append(f"the name has more than {people.NAME_MAX_LENGTH} characters")
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
