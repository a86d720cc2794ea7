"""Times as people read them: US Eastern ("ET") by default, deadlines as days and business days left.

Pure functions of (value, now, zone): no clock is read here, so tests pin ``now``.
The business-day calendar is the workflow's own (``workflows.rules``), so the page
counts the same days the deadline was computed with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workflows.rules import EASTERN, is_business_day

#: The zones a person may choose instead of Eastern (label shown in the chooser).
ZONES: dict[str, str] = {
    "America/New_York": "US Eastern (ET)",
    "America/Chicago": "US Central (CT)",
    "America/Denver": "US Mountain (MT)",
    "America/Los_Angeles": "US Pacific (PT)",
    "Europe/Budapest": "Budapest (CET)",
    "Asia/Bangkok": "Bangkok (ICT)",
    "Africa/Gaborone": "Gaborone (CAT)",
    "America/El_Salvador": "San Salvador (CST)",
    "UTC": "UTC",
}
_ABBREV = {"America/New_York": "ET", "America/Chicago": "CT", "America/Denver": "MT", "America/Los_Angeles": "PT"}


def zone(name: str | None) -> ZoneInfo:
    """The named zone if it is one we offer, else US Eastern."""
    if name in ZONES:
        try:
            return ZoneInfo(str(name))
        except ZoneInfoNotFoundError:
            pass
    return EASTERN


def zone_label(tz: ZoneInfo) -> str:
    """``ET`` for Eastern (whatever daylight saving says), the zone's abbreviation otherwise."""
    return _ABBREV.get(tz.key, "UTC" if tz.key == "UTC" else "")


def as_datetime(value: Any) -> datetime | None:
    """An aware timestamp from a datetime or ISO text (naive means UTC); None for anything else."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date) or (isinstance(value, str) and len(value) == 10):
        return None  # a calendar date is no instant: it must not shift with the zone
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def day_text(day: date) -> str:
    """``Tue 15 Dec 2026``."""
    return f"{day:%a} {day.day} {day:%b %Y}"


def _suffix(tz: ZoneInfo, local: datetime) -> str:
    label = zone_label(tz)
    return label or (local.tzname() or tz.key)


def when(value: Any, tz: ZoneInfo = EASTERN) -> str:
    """A timestamp as ``Tue 15 Dec 2026, 2:05 PM ET``; a date as ``Tue 15 Dec 2026``."""
    at = as_datetime(value)
    if at is None:
        day = as_date(value) if value not in (None, "") else None
        return day_text(day) if day else ""
    local = at.astimezone(tz)
    clock = local.strftime("%I:%M %p").lstrip("0")
    return f"{day_text(local.date())}, {clock} {_suffix(tz, local)}"


def is_end_of_day(at: datetime, tz: ZoneInfo) -> bool:
    return at.astimezone(tz).time() == time(0, 0)


def business_days_between(first: date, last: date) -> int:
    """Business days from ``first`` through ``last``, both included (0 when ``last`` < ``first``)."""
    n, day = 0, first
    while day <= last:
        n += is_business_day(day)
        day += timedelta(days=1)
    return n


@dataclass(frozen=True)
class Deadline:
    """How a deadline reads: ``end of Tue 15 Dec ET — 3 business days left``."""

    text: str
    left: str
    overdue: bool
    at: datetime

    def __str__(self) -> str:
        return f"{self.text} — {self.left}" if self.left else self.text


def due_text(value: Any, tz: ZoneInfo = EASTERN, *, this_year: int | None = None) -> str:
    """``end of Tue 15 Dec 2026 ET`` for an end-of-day deadline (the year left out when it is ``this_year``)."""
    at = as_datetime(value)
    if at is None:
        return ""
    local = at.astimezone(tz)
    label = _suffix(tz, local)
    if is_end_of_day(at, tz):
        last = local.date() - timedelta(days=1)
        day = day_text(last)[:-5] if last.year == this_year else day_text(last)
        return f"end of {day} {label}"
    day = day_text(local.date())[:-5] if local.year == this_year else day_text(local.date())
    return f"{local.strftime('%I:%M %p').lstrip('0')} {label}, {day}"


def last_day(at: datetime, tz: ZoneInfo = EASTERN) -> date:
    """The last day to act before a deadline (the day an end-of-day deadline ends)."""
    local = at.astimezone(tz)
    return local.date() - timedelta(days=1) if is_end_of_day(at, tz) else local.date()


def deadline(value: Any, now: datetime, tz: ZoneInfo = EASTERN) -> Deadline | None:
    """A due timestamp as a person reads it, as of ``now``.

    Deadlines are the end of a day in Eastern time (midnight ET of the next day), so
    "end of Tue 15 Dec" names the day the work must be done on, in the viewer's zone.
    Business days left count today (if it is one) through the last day.
    """
    at = as_datetime(value)
    if at is None:
        return None
    text = due_text(at, tz, this_year=now.astimezone(tz).year)
    last = last_day(at, tz)
    today = now.astimezone(tz).date()
    if at <= now:
        late = business_days_between(last + timedelta(days=1), today)
        since = f"overdue by {late} business day{'s' * (late != 1)}" if late else "overdue"
        return Deadline(text, since, True, at)
    if last == today:
        return Deadline(text, "last day", False, at)
    left = business_days_between(today, last)
    return Deadline(text, f"{left} business day{'s' * (left != 1)} left", False, at)


def urgency(due: Any, now: datetime) -> tuple[int, float]:
    """Sort key, most urgent first: overdue (longest first), then soonest due, then no deadline."""
    at = as_datetime(due)
    if at is None:
        return (2, 0.0)
    seconds = (at - now).total_seconds()
    return (0, seconds) if seconds <= 0 else (1, seconds)
