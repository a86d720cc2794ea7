"""The text of an event's time in every hash chain (:func:`ilea.chain.utc_text`)."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ilea.chain import utc_text

#: offsets from UTC the times may carry (whole minutes, as zoneinfo gives them)
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(min_value=datetime(1001, 1, 1), max_value=datetime(9998, 12, 31), timezones=OFFSETS))
def test_utc_text_is_the_text_every_stored_chain_was_hashed_with(at: datetime) -> None:
    """Chains recorded before are verified with today's code: the text may never change."""
    assert utc_text(at) == at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_utc_text_keeps_every_microsecond_and_the_zeros() -> None:
    eastern = timezone(timedelta(hours=-5))
    assert utc_text(datetime(2026, 12, 2, 5, 4, 3, tzinfo=eastern)) == "2026-12-02T10:04:03.000000Z"
    assert utc_text(datetime(2027, 1, 1, 0, 0, 0, 7, tzinfo=UTC)) == "2027-01-01T00:00:00.000007Z"


def test_utc_text_imports_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The workflow chains its audit events in Temporal's sandbox, where every import goes
    through the sandbox's importer: ``datetime.strftime`` imports ``time`` on each call, which
    made this line 1.6 % of the worker's CPU under load (py-spy, issue 17)."""
    imported: list[str] = []
    real = builtins.__import__

    def counting(name: str, *args: Any, **kwargs: Any) -> Any:
        imported.append(name)
        return real(name, *args, **kwargs)

    at = datetime(2026, 12, 2, 9, 58, 5, 544889, tzinfo=UTC)
    monkeypatch.setattr(builtins, "__import__", counting)
    text = utc_text(at)
    monkeypatch.undo()
    assert imported == [] and text == "2026-12-02T09:58:05.544889Z"
