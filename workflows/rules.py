"""Pure decision rules of product.md: no I/O, no clock, no randomness.

The workflow calls these with ``workflow.now()``; the API calls the same
validation with the wall clock. Each is unit-tested on its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pycountry

from ilea.domain import Academy, Agency, BoardPosition, CourseType, IsgVote
from ilea.messages import InstructorNeed, ProposalFields, RuleConfig

EASTERN = ZoneInfo("America/New_York")

#: ISO 3166-1 alpha-2 codes, read once at import (never inside a workflow task).
COUNTRY_CODES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)


# --- the federal business calendar --------------------------------------------


#: Years the calendar covers; a date outside them is refused rather than guessed.
CALENDAR_YEARS = range(2000, 2201)

# The maintained calendar of `holidays`, with observed days (a Saturday holiday is
# observed the Friday before, a Sunday one the Monday after). Computed once at import:
# `holidays` reads locale settings, which a workflow must never do.
_FEDERAL_HOLIDAYS: frozenset[date] = frozenset(
    holidays.country_holidays("US", years=CALENDAR_YEARS, observed=True, language="en_US").keys()
)


def _federal_holidays(year: int) -> frozenset[date]:
    if year not in CALENDAR_YEARS:
        raise ValueError(f"{year} is outside the federal calendar ({CALENDAR_YEARS.start}-{CALENDAR_YEARS.stop - 1})")
    return _FEDERAL_HOLIDAYS


def is_business_day(day: date) -> bool:
    """True for a weekday that is not a US federal holiday (or its observed day)."""
    return day.weekday() < 5 and day not in _federal_holidays(day.year)


def add_business_days(day: date, n: int) -> date:
    """The n-th business day after ``day`` (``day`` itself never counts); n may be negative."""
    step = 1 if n >= 0 else -1
    remaining = abs(n)
    current = day
    while remaining:
        current += timedelta(days=step)
        if is_business_day(current):
            remaining -= 1
    return current


def eastern_date(at: datetime) -> date:
    """The calendar date in Eastern Time of an aware timestamp."""
    return at.astimezone(EASTERN).date()


def start_of_day(day: date) -> datetime:
    """00:00 Eastern Time on ``day``, as a UTC timestamp."""
    return datetime.combine(day, time.min, tzinfo=EASTERN).astimezone(UTC)


def end_of_day(day: date) -> datetime:
    """The end of ``day`` in Eastern Time (i.e. 00:00 ET of the next day).

    The last day there is (``date.max``) has no next day: it ends at its own start, so a date
    at the end of the calendar bounds a deadline instead of overflowing it.
    """
    return start_of_day(day + timedelta(days=1) if day < date.max else day)


def business_deadline(opened_at: datetime, business_days: int) -> datetime:
    """End of the ``business_days``-th business day after the day ``opened_at`` falls on (ET)."""
    return end_of_day(add_business_days(eastern_date(opened_at), business_days))


def reminder_time(deadline: datetime, business_days_before: int) -> datetime:
    """``business_days_before`` business days before ``deadline`` (an end-of-day in ET)."""
    last_day = eastern_date(deadline - timedelta(seconds=1))
    return end_of_day(add_business_days(last_day, -business_days_before))


def days_before(day: date, days: int) -> date:
    """``days`` calendar days before ``day``, or the first date there is."""
    return day - timedelta(days=days) if days < (day - date.min).days else date.min


def days_after(day: date, days: int) -> date:
    """``days`` calendar days after ``day``, or the last date there is."""
    return day + timedelta(days=days) if days < (date.max - day).days else date.max


def default_cutoff(start_date: date, days_before_start: int) -> date:
    """The staffing cutoff: ``days_before_start`` calendar days before the course starts."""
    return days_before(start_date, days_before_start)


def revised_cutoff(cutoff: date, old_start: date, new_start: date, rules: RuleConfig) -> date:
    """The cutoff after a revision moved the course from ``old_start`` to ``new_start``.

    The default is recomputed from the new start; an extension (a cutoff later than the old
    default) is kept when it still fits: later than the new default and at least the minimum
    days before the new start. The cutoff moves only later than its default, never earlier.
    """
    default = default_cutoff(new_start, rules.staffing_cutoff_days)
    extended = cutoff > default_cutoff(old_start, rules.staffing_cutoff_days)
    if extended and default < cutoff <= days_before(new_start, rules.staffing_cutoff_min_days):
        return cutoff
    return default


# --- proposal validation -------------------------------------------------------

Problem = tuple[tuple[str | int, ...], str]


def validate_proposal(fields: ProposalFields, today: date, rules: RuleConfig) -> list[Problem]:
    """Every cross-field and reference-data rule the proposal breaks, each with the field it concerns.

    Args:
        fields: the proposal, already valid field by field.
        today: the submission date (Eastern Time).
        rules: lead time and other limits.

    Returns:
        ``(loc, message)`` pairs; empty when the proposal is valid.
    """
    return proposal_problems(dict(fields), today, rules)


def proposal_problems(values: Mapping[str, Any], today: date, rules: RuleConfig) -> list[Problem]:
    """:func:`validate_proposal` on the fields that are valid on their own (``values``, by field
    name): a rule runs when every field it reads is there, so a request that also breaks field
    rules still hears about every cross-field rule it can be judged on, in the same answer.
    """
    problems: list[Problem] = []
    body = ("body",)
    start, end = values.get("start_date"), values.get("end_date")
    course_type, academy = values.get("course_type"), values.get("academy")
    if start is not None and end is not None:
        days = (end - start).days + 1
        if end < start:
            problems.append(((*body, "end_date"), "The course cannot end before it starts (check the end date)"))
        elif course_type is CourseType.leld and not 35 <= days <= 49:
            problems.append(
                ((*body, "end_date"), f"An leld course lasts six weeks (35 to 49 days); this one lasts {days} days")
            )
        elif course_type in (CourseType.specialized, CourseType.executive) and days > 21:
            problems.append(
                ((*body, "end_date"), f"A {course_type} course lasts at most 21 days; this one lasts {days} days")
            )
    if course_type is CourseType.executive and academy is not None and academy is not Academy.ROS:
        problems.append(((*body, "academy"), "Executive courses are given only at ROS (Roswell)"))
    if start is not None:
        earliest = days_after(today, rules.min_lead_days)
        latest = days_after(today, rules.max_horizon_days)
        if start < earliest:
            problems.append(
                (
                    (*body, "start_date"),
                    f"The course must start at least {rules.min_lead_days} days after submission "
                    f"(on or after {earliest.isoformat()})",
                )
            )
        elif start > latest:
            problems.append(
                (
                    (*body, "start_date"),
                    f"The course must start at most {rules.max_horizon_days} days "
                    f"({rules.max_horizon_days / 365:.0f} years) after submission (on or before {latest.isoformat()})",
                )
            )
    seen: set[str] = set()
    for i, code in enumerate(values.get("participating_countries") or ()):
        loc = (*body, "participating_countries", i)
        if code not in COUNTRY_CODES:
            problems.append((loc, f"{code!r} is not a country code (two capital letters, such as HU for Hungary)"))
        elif code in seen:
            problems.append((loc, f"{code} is listed twice"))
        seen.add(code)
    for i, need in enumerate(values.get("instructor_needs") or ()):
        loc = (*body, "instructor_needs", i)
        if need.agency is Agency.STATE:
            problems.append(((*loc, "agency"), "instructors come from TREASURY, DHS or DOJ"))
        for j, alt in enumerate(need.alternate_agencies):
            if alt is Agency.STATE:
                problems.append(((*loc, "alternate_agencies", j), "instructors come from TREASURY, DHS or DOJ"))
            elif alt is need.agency or need.alternate_agencies.index(alt) != j:
                problems.append(((*loc, "alternate_agencies", j), f"{alt} is listed twice"))
    return problems


# --- ISG round outcome ----------------------------------------------------------


class IsgOutcome(StrEnum):
    changes_requested = "changes_requested"
    rejected = "rejected"
    board_with_dissent = "board_with_dissent"
    fast_track = "fast_track"
    board = "board"


def fast_track_eligible(course_type: CourseType, cost: Decimal, votes: Iterable[IsgVote], max_cost: Decimal) -> bool:
    """Delegated authority: a specialized course, within the cost limit, four explicit concurs."""
    votes = list(votes)
    return (
        course_type is CourseType.specialized
        and cost <= max_cost
        and len(votes) == 4
        and all(v is IsgVote.concur for v in votes)
    )


def isg_outcome(
    votes: Mapping[Agency, IsgVote], course_type: CourseType, cost: Decimal, max_cost: Decimal
) -> IsgOutcome:
    """The outcome of a closed round; the first rule of product.md that applies wins."""
    tally = Counter(votes.values())
    if tally[IsgVote.request_changes]:
        return IsgOutcome.changes_requested
    if tally[IsgVote.nonconcur] >= 2:
        return IsgOutcome.rejected
    if tally[IsgVote.nonconcur] == 1:
        return IsgOutcome.board_with_dissent
    if fast_track_eligible(course_type, cost, votes.values(), max_cost):
        return IsgOutcome.fast_track
    return IsgOutcome.board


def chair_block_reason(positions: Mapping[Agency, BoardPosition]) -> str | None:
    """Why the chair may not approve now, or None when approval is allowed."""
    against = sorted(a.value for a, p in positions.items() if p is BoardPosition.nonconcur)
    if len(against) >= 2:
        return f"{len(against)} Board members have recorded nonconcur ({', '.join(against)}); the chair may not approve"
    return None


# --- staffing -----------------------------------------------------------------------


def next_agency(need: InstructorNeed, tried: Sequence[Agency]) -> Agency | None:
    """The need's next alternate agency not yet asked for this slot, if any."""
    for agency in (need.agency, *need.alternate_agencies):
        if agency not in tried:
            return agency
    return None
