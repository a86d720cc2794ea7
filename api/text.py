"""The field types of request bodies that product.md edition 2 constrains beyond their type:
text, amounts of money and dates.

Text is trimmed and NFC-normalised, CRLF (and a lone CR) becomes LF, and control characters
(but line breaks where a paragraph is allowed) and bidirectional-override characters are
refused. An amount has at most 2 decimal places, is at least 0 and below 100,000,000, and is
stored in one form (``-0`` is ``0.00``, ``1E+6`` is ``1000000.00``). A date lies within the
years the federal calendar covers.

These rules apply where a person's input enters (the HTTP bodies and the web forms), not to
the models that cross the Temporal boundary: a workflow started before a rule existed must
still decode its own history.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from ilea.text import TextRefused, clean
from workflows.rules import CALENDAR_YEARS


def _clean(value: Any, *, paragraph: bool) -> Any:
    if not isinstance(value, str):
        return value  # the str validation after this says what is wrong
    try:
        return clean(value, paragraph=paragraph)
    except TextRefused as refused:
        raise PydanticCustomError(refused.kind, refused.template, refused.context) from None


def paragraph(value: str) -> str:
    """``value`` cleaned by the rules of :data:`PARAGRAPH` (for a form field read by hand, such as the
    web forms' comments and reasons); a broken rule raises ``PydanticCustomError`` with its message."""
    text: str = _clean(value, paragraph=True)
    return text


#: One line of text (a title, a name): no line breaks. Put it after the length constraints, so
#: they count the cleaned text: ``Annotated[str, StringConstraints(max_length=200), LINE]``.
LINE = BeforeValidator(lambda value: _clean(value, paragraph=False))
#: Text that may run over several lines (a justification, a comment, a reason).
PARAGRAPH = BeforeValidator(lambda value: _clean(value, paragraph=True))

Title = Annotated[str, StringConstraints(min_length=3, max_length=200), LINE]
Justification = Annotated[str, StringConstraints(max_length=5000), PARAGRAPH]
Comment = Annotated[str, StringConstraints(max_length=5000), PARAGRAPH]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000), PARAGRAPH]


# --- amounts ------------------------------------------------------------------------------------

COST_LIMIT = Decimal(100_000_000)
CENT = Decimal("0.01")


def _amount(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise PydanticCustomError("amount", "must be an amount in US dollars, such as 125000.00")
    if value < 0:
        raise PydanticCustomError("amount", "must be at least 0")
    if value >= COST_LIMIT:
        raise PydanticCustomError("amount", "must be below 100,000,000")
    try:
        cents = value.quantize(CENT)
    except InvalidOperation:  # pragma: no cover - bounded above, so it always fits
        raise PydanticCustomError("amount", "must be below 100,000,000") from None
    if cents != value:
        raise PydanticCustomError("amount", "may have at most 2 decimal places")
    return cents + 0  # + 0 turns -0.00 into 0.00


#: US dollars: at least 0, below 100,000,000, at most 2 decimal places; stored with exactly 2.
Cost = Annotated[Decimal, Field(allow_inf_nan=True), AfterValidator(_amount)]


# --- dates ---------------------------------------------------------------------------------------

FIRST_DAY = date(CALENDAR_YEARS.start, 1, 1)
LAST_DAY = date(CALENDAR_YEARS.stop - 1, 12, 31)


def _calendar_day(value: date) -> date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise PydanticCustomError(
            "date_range",
            "must be between {first} and {last}",
            {"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()},
        )
    return value


#: A date the federal business calendar covers (year 9999 is no course date).
CalendarDate = Annotated[date, AfterValidator(_calendar_day)]
