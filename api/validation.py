"""Every broken rule of a request, in one list of ``{loc, msg}``, in words a program officer
understands.

Two sources feed it: pydantic's errors for the request's fields (each turned into a plain
sentence by :func:`explain`), and the proposal rules of ``workflows.rules`` (cross-field and
reference data), which :func:`check_proposal` runs on every field that is valid on its own, so
a proposal with a bad seat count and an end before its start hears about both at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from api.schemas import ProposalBody
from ilea.messages import RuleConfig
from workflows import rules

Error = dict[str, Any]
Loc = tuple[str | int, ...]
BodyT = TypeVar("BodyT", bound=BaseModel)


def label(loc: Sequence[str | int]) -> str:
    """``("body", "instructor_needs", 0, "count")`` → ``"Instructor needs, item 1, count"``.

    A revision's ``("body", "proposal", "seats")`` reads ``"Seats"``, as in a submission.
    """
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    if len(parts) > 1 and parts[0] == "proposal":  # a revision's fields read as the proposal's own
        parts = parts[1:]
    words = [f"item {p + 1}" if isinstance(p, int) else str(p).replace("_", " ") for p in parts]
    text = ", ".join(words) or "The request body"
    return text[0].upper() + text[1:]


def _choices(expected: str) -> str:
    """pydantic's ``"'a', 'b' or 'c'"`` as ``"a, b, c"``."""
    return ", ".join(re.findall(r"'([^']*)'", expected)) or expected


#: pydantic error type → the sentence after the field's label.
_PHRASES: dict[str, str] = {
    "missing": "is required",
    "extra_forbidden": "cannot be set in this request",
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object with named fields",
    "model_type": "must be an object with named fields",
    "model_attributes_type": "must be an object with named fields",
    "date_type": "must be a date such as 2027-03-01",
    "date_parsing": "must be a date such as 2027-03-01",
    "date_from_datetime_parsing": "must be a date such as 2027-03-01",
    "date_from_datetime_inexact": "must be a date such as 2027-03-01 (no time of day)",
    "decimal_type": "must be an amount in US dollars, such as 125000.00",
    "decimal_parsing": "must be an amount in US dollars, such as 125000.00",
    "finite_number": "must be an amount in US dollars, such as 125000.00",
}


def explain(error: ErrorDetails) -> str:
    """One pydantic error as a sentence: ``"Seats must be at least 1"``."""
    kind, ctx = error["type"], error.get("ctx") or {}
    name = label(error["loc"])
    if kind == "json_invalid":
        return "The request body is not valid JSON"
    if kind in _PHRASES:
        return f"{name} {_PHRASES[kind]}"
    if kind in ("enum", "literal_error"):
        return f"{name} must be one of: {_choices(str(ctx.get('expected', '')))} (not {error.get('input')!r})"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        limit = next(iter(ctx.values()))
        words = {
            "greater_than_equal": "at least",
            "less_than_equal": "at most",
            "greater_than": "more than",
            "less_than": "less than",
        }
        return f"{name} must be {words[kind]} {limit}"
    if kind == "string_too_short":
        n = ctx["min_length"]
        return f"{name} must not be empty" if n == 1 else f"{name} must be at least {n} characters"
    if kind == "string_too_long":
        return f"{name} must be at most {ctx['max_length']} characters"
    if kind == "too_short":
        return f"{name} needs at least {ctx['min_length']} item(s)"
    if kind == "too_long":
        return f"{name} may have at most {ctx['max_length']} items"
    if kind in ("value_error", "assertion_error"):
        return f"{name}: {error['msg'].removeprefix('Value error, ').removeprefix('Assertion failed, ')}"
    if kind in ("control_character", "bidi_control", "amount", "date_range"):  # api/text.py's own
        return f"{name} {error['msg']}"
    return f"{name}: {error['msg']}"


def explain_all(errors: Iterable[ErrorDetails], prefix: Loc = ()) -> list[Error]:
    """pydantic's errors as ``{loc, msg}`` (``prefix`` before each loc, e.g. ``("body",)``)."""
    return [{"loc": [*prefix, *e["loc"]], "msg": explain({**e, "loc": (*prefix, *e["loc"])})} for e in errors]


def valid_fields(model: type[BaseModel], raw: Any) -> dict[str, Any]:
    """The fields of ``raw`` (a JSON object) that are valid on their own, validated, by name."""
    if not isinstance(raw, dict):
        return {}
    blank = model.model_construct()
    found: dict[str, Any] = {}
    for name in model.model_fields:
        if name not in raw:
            continue
        try:
            model.__pydantic_validator__.validate_assignment(blank, name, raw[name])
        except ValidationError:
            continue
        found[name] = getattr(blank, name)
    return found


def check_proposal(
    raw: Any, today: date, config: RuleConfig, model: type[BodyT], at: Loc = ()
) -> tuple[BodyT | None, list[Error]]:
    """Validate ``raw`` as ``model`` and the proposal in it at ``at`` against the proposal rules.

    Args:
        raw: the request body as parsed JSON.
        today: the submission date (Eastern Time).
        config: the proposal rules' limits (lead time, horizon).
        model: the body's model: :class:`ProposalBody`, or one holding it at ``at``.
        at: where the proposal sits in the body (``("proposal",)`` in a revision).

    Returns:
        The validated body and no errors, or None and every error found: the fields' own, then
        each proposal rule that the fields valid on their own can be judged on.
    """
    try:
        body = model.model_validate(raw)
    except ValidationError as err:
        body, errors = None, explain_all(err.errors(), ("body",))
    else:
        errors = []
    proposal: Any = body
    for step in at:
        proposal = getattr(proposal, str(step)) if body is not None else None
    if proposal is not None:
        values = dict(proposal)
    else:
        inner = raw
        for step in at:
            inner = inner.get(step) if isinstance(inner, dict) else None
        values = valid_fields(ProposalBody, inner)
    for loc, msg in rules.proposal_problems(values, today, config):
        errors.append({"loc": ["body", *at, *loc[1:]], "msg": msg})
    return (body if not errors else None), errors
