"""Sending a form's action to the proposal's workflow: the same Update as the JSON API.

Done: redirect with a note (POST-redirect-GET). Refused: the caller renders the
same page again, with exactly what the person entered and the reason in an error
summary that takes focus. The workflow is the one place that decides; the forms
only check what the form itself must carry (a choice made, a text within its limit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from pydantic_core import PydanticCustomError
from temporalio.client import Client

from api import actions
from api.actions import ActionUpdate, InputT
from api.auth import Principal
from api.deps import Db, ProposalRef
from api.errors import Problem
from api.text import paragraph
from api.web.render import safe_next
from api.web.session import flash

#: Comments and reasons: the limit the pages announce, refused (never cut) beyond it.
TEXT_LIMIT = 5000


@dataclass
class Outcome:
    """What came of a form: ``errors`` by field (``form`` for the form as a whole), empty when done;
    ``values``, the form as it was sent (:func:`act` keeps it), for the page that shows it again."""

    status: int = 200
    errors: dict[str, list[str]] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)

    def add(self, key: str, message: str, status: int = 422) -> None:
        self.errors.setdefault(key, []).append(message)
        self.status = status


@dataclass(frozen=True)
class Refill:
    """A form refused before any action: what was entered, the error by field, and the page's status."""

    values: dict[str, Any]
    errors: dict[str, str]
    status: int = 422


def text_of(form: dict[str, str], key: str, outcome: Outcome, *, limit: int = TEXT_LIMIT) -> str | None:
    """A comment or reason by the API's text rules (:func:`api.text.paragraph`: trimmed, NFC, line
    breaks as LF; control and bidirectional-override characters refused); over the limit, counted
    on the cleaned text as the API counts it, it is an error, never silently cut."""
    try:
        text = paragraph(form.get(key) or "")
    except PydanticCustomError as err:
        outcome.add(key, err.message())
        return None
    if len(text) > limit:
        outcome.add(key, f"is {len(text):,} characters; the limit is {limit:,}. Shorten it and send again")
    return text or None


def choice_of(form: dict[str, str], key: str, allowed: Mapping[str, Any], outcome: Outcome, what: str) -> str:
    value = form.get(key, "")
    if value not in allowed:
        outcome.add(key, f"choose {what}")
    return value


def _loc_key(loc: Any) -> str:
    parts = [str(p) for p in (loc if isinstance(loc, list | tuple) else [loc]) if p not in ("body", "proposal")]
    return parts[-1] if parts else "form"


async def act(
    client: Client,
    db: Db,
    user: Principal,
    form: dict[str, str],
    proposal_id: str,
    update: ActionUpdate[InputT],
    make: Callable[[], InputT],
    outcome: Outcome,
    fields: tuple[str, ...] = (),
) -> bool:
    """Send one action through ``api.actions.send`` unless the form already has errors.

    True when done; otherwise the reasons are on ``outcome``: a refusal names a field
    (``fields``) when the rule it broke is about one, else it belongs to the form as a whole.
    The form's ``form_id`` is the action's idempotency key, so a double submit acts once.
    """
    outcome.values = form
    if outcome.errors:
        return False
    try:
        await actions.send(client, db, user, ProposalRef(proposal_id), update, make(), key=form.get("form_id"))
    except Problem as problem:
        placed = False
        for item in problem.errors or []:
            key = _loc_key(item.get("loc"))
            if key in fields:
                outcome.add(key, str(item.get("msg")), problem.status)
                placed = True
        if not placed:
            outcome.add("form", f"Refused: {problem.detail}", problem.status)
    except ValidationError as err:
        for e in err.errors():
            key = _loc_key(e["loc"])
            outcome.add(key if key in fields else "form", e["msg"])
    return not outcome.errors


def done(request: Request, form: dict[str, str], default: str, message: str) -> RedirectResponse:
    """After an action: to the form's ``next`` page (within the UI) with a one-time note."""
    response = RedirectResponse(safe_next(form.get("next"), default), status_code=303)
    flash(response, request, "ok", message)
    return response
