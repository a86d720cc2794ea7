"""NUL is refused in any text of a request body (PostgreSQL cannot store it)."""

from __future__ import annotations

from enum import StrEnum

import pytest
from pydantic import ValidationError

from ilea.messages import Strict


class Colour(StrEnum):
    red = "red"


class Text(str):
    pass


class Body(Strict):
    name: str = ""
    tags: list[str] = []
    colour: Colour = Colour.red
    count: int = 0
    anything: object = None


@pytest.mark.parametrize(
    "fields",
    [{"name": "a\x00b"}, {"tags": ["ok", "\x00"]}, {"anything": Text("sub\x00class")}, {"anything": ["x", "y\x00"]}],
    ids=["text", "list", "str-subclass", "list-of-any"],
)
def test_nul_is_refused_in_any_text(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="NUL"):
        Body(**fields)


def test_text_without_nul_and_other_values_pass() -> None:
    body = Body(name="a b", tags=["x"], colour=Colour.red, count=3, anything=Text("fine"))
    assert (body.name, body.tags, body.colour, body.count, body.anything) == ("a b", ["x"], Colour.red, 3, "fine")
