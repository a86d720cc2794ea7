"""Unit tests of the pure rules: the federal business calendar, the ISG outcome, proposal validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ilea.domain import Academy, Agency, BoardPosition, CourseType, IsgVote, Topic
from ilea.messages import InstructorNeed, ProposalFields, RuleConfig
from workflows import rules
from workflows.rules import IsgOutcome

LIMIT = Decimal("150000")
SEATS = (Agency.STATE, Agency.TREASURY, Agency.DHS, Agency.DOJ)

C, N, R, A, D = (
    IsgVote.concur,
    IsgVote.nonconcur,
    IsgVote.request_changes,
    IsgVote.abstain,
    IsgVote.deemed_concur,
)


# --- the federal business calendar --------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "business"),
    [
        (date(2026, 11, 25), True),  # Wednesday before Thanksgiving
        (date(2026, 11, 26), False),  # Thanksgiving
        (date(2026, 11, 27), True),  # the Friday after is not a federal holiday
        (date(2026, 11, 28), False),  # Saturday
        (date(2026, 11, 29), False),  # Sunday
        (date(2026, 12, 24), True),  # Christmas Eve is a working day
        (date(2026, 12, 25), False),  # Christmas (Friday)
        (date(2027, 1, 1), False),  # New Year's Day (Friday)
        (date(2027, 1, 18), False),  # Martin Luther King Jr. Day (Monday)
        (date(2027, 2, 15), False),  # Washington's Birthday (Monday)
        (date(2026, 6, 19), False),  # Juneteenth (Friday)
        (date(2026, 7, 3), False),  # Independence Day falls on a Saturday: observed Friday
        (date(2027, 12, 31), False),  # New Year 2028 falls on a Saturday: observed Friday Dec 31
        (date(2027, 1, 19), True),
    ],
)
def test_is_business_day(day: date, business: bool) -> None:
    assert rules.is_business_day(day) is business


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 11, 25), 1, date(2026, 11, 27)),  # skips Thanksgiving
        (date(2026, 11, 25), 2, date(2026, 11, 30)),  # ... and the weekend
        (date(2026, 11, 27), 10, date(2026, 12, 11)),
        (date(2026, 12, 24), 1, date(2026, 12, 28)),  # Christmas Friday + weekend
        (date(2026, 12, 31), 1, date(2027, 1, 4)),  # New Year Friday + weekend
        (date(2026, 12, 18), 10, date(2027, 1, 5)),  # across both
        (date(2027, 1, 15), 1, date(2027, 1, 19)),  # weekend + MLK Monday
        (date(2027, 2, 12), 1, date(2027, 2, 16)),  # weekend + Presidents Day
        (date(2026, 11, 28), 1, date(2026, 11, 30)),  # from a Saturday: Monday
        (date(2026, 11, 30), 0, date(2026, 11, 30)),
        (date(2027, 1, 19), -1, date(2027, 1, 15)),  # backwards over MLK Day and the weekend
        (date(2026, 11, 30), -2, date(2026, 11, 25)),  # backwards over the weekend and Thanksgiving
    ],
)
def test_add_business_days(start: date, n: int, expected: date) -> None:
    assert rules.add_business_days(start, n) == expected


@pytest.mark.parametrize(
    ("opened_at", "n", "deadline"),
    [
        # Friday after Thanksgiving, 10:00 EST: ten business days end on Fri Dec 11; midnight EST = 05:00 UTC.
        (datetime(2026, 11, 27, 15, tzinfo=UTC), 10, datetime(2026, 12, 12, 5, tzinfo=UTC)),
        # Wednesday 22:00 EST is already Thursday in UTC; the Eastern date counts, Thanksgiving is skipped.
        (datetime(2026, 11, 26, 3, tzinfo=UTC), 1, datetime(2026, 11, 28, 5, tzinfo=UTC)),
        # Across Christmas and New Year: Tue Jan 5 2027 is the tenth business day.
        (datetime(2026, 12, 18, 20, tzinfo=UTC), 10, datetime(2027, 1, 6, 5, tzinfo=UTC)),
        # Summer (EDT, UTC-4) and Juneteenth: the tenth business day is Tue Jun 30.
        (datetime(2026, 6, 15, 14, tzinfo=UTC), 10, datetime(2026, 7, 1, 4, tzinfo=UTC)),
        # Opened under EDT, due under EST (DST ends Sun Nov 1 2026).
        (datetime(2026, 10, 30, 14, tzinfo=UTC), 1, datetime(2026, 11, 3, 5, tzinfo=UTC)),
    ],
)
def test_business_deadline_is_end_of_day_eastern(opened_at: datetime, n: int, deadline: datetime) -> None:
    got = rules.business_deadline(opened_at, n)
    assert got == deadline
    assert got.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("deadline", "before", "reminder"),
    [
        # Due end of Fri Dec 11: two business days before is the end of Wed Dec 9.
        (datetime(2026, 12, 12, 5, tzinfo=UTC), 2, datetime(2026, 12, 10, 5, tzinfo=UTC)),
        # Due end of Tue Jan 5 2027: back over the weekend and New Year to the end of Thu Dec 31.
        (datetime(2027, 1, 6, 5, tzinfo=UTC), 2, datetime(2027, 1, 1, 5, tzinfo=UTC)),
        # Due end of Tue Jun 30 (EDT): back to the end of Fri Jun 26, over the weekend.
        (datetime(2026, 7, 1, 4, tzinfo=UTC), 2, datetime(2026, 6, 27, 4, tzinfo=UTC)),
        # Board: three business days before the end of Tue Jan 19 2027 (after MLK Day) is the end of Wed Jan 13.
        (datetime(2027, 1, 20, 5, tzinfo=UTC), 3, datetime(2027, 1, 14, 5, tzinfo=UTC)),
    ],
)
def test_reminder_time(deadline: datetime, before: int, reminder: datetime) -> None:
    assert rules.reminder_time(deadline, before) == reminder


def test_reminder_is_before_deadline_of_the_same_round() -> None:
    opened = datetime(2026, 11, 27, 15, tzinfo=UTC)
    due = rules.business_deadline(opened, 10)
    remind = rules.reminder_time(due, 2)
    assert opened < remind < due
    assert rules.add_business_days(rules.eastern_date(remind - timedelta(seconds=1)), 2) == rules.eastern_date(
        due - timedelta(seconds=1)
    )


def test_calendar_refuses_years_it_does_not_cover() -> None:
    first_monday_after = date(rules.CALENDAR_YEARS.stop, 1, 2)
    first_monday_after += timedelta(days=(7 - first_monday_after.weekday()) % 7)
    with pytest.raises(ValueError, match="outside the federal calendar"):
        rules.is_business_day(first_monday_after)


# --- the ISG outcome ---------------------------------------------------------------------------


def seat_votes(*votes: IsgVote) -> dict[Agency, IsgVote]:
    return dict(zip(SEATS, votes, strict=True))


@pytest.mark.parametrize(
    ("votes", "course_type", "cost", "expected"),
    [
        pytest.param((R, C, C, C), CourseType.specialized, "1000", IsgOutcome.changes_requested, id="one-rc"),
        pytest.param((R, N, N, C), CourseType.specialized, "1000", IsgOutcome.changes_requested, id="rc-beats-2-nc"),
        pytest.param((N, N, N, R), CourseType.leld, "1000", IsgOutcome.changes_requested, id="rc-beats-3-nc"),
        pytest.param((N, N, C, C), CourseType.specialized, "1000", IsgOutcome.rejected, id="two-nc"),
        pytest.param((N, N, N, N), CourseType.specialized, "1000", IsgOutcome.rejected, id="four-nc"),
        pytest.param((N, N, A, D), CourseType.leld, "1000", IsgOutcome.rejected, id="two-nc-abstain-deemed"),
        pytest.param((N, C, C, C), CourseType.specialized, "1000", IsgOutcome.board_with_dissent, id="one-nc"),
        pytest.param((C, N, A, D), CourseType.executive, "1000", IsgOutcome.board_with_dissent, id="one-nc-mixed"),
        pytest.param((C, C, C, C), CourseType.specialized, "150000", IsgOutcome.fast_track, id="at-limit"),
        pytest.param((C, C, C, C), CourseType.specialized, "0", IsgOutcome.fast_track, id="free"),
        pytest.param((C, C, C, C), CourseType.specialized, "150000.01", IsgOutcome.board, id="over-limit"),
        pytest.param((C, C, C, D), CourseType.specialized, "1000", IsgOutcome.board, id="deemed-concur"),
        pytest.param((C, A, C, C), CourseType.specialized, "1000", IsgOutcome.board, id="abstain"),
        pytest.param((D, D, D, D), CourseType.specialized, "1000", IsgOutcome.board, id="all-silent"),
        pytest.param((C, C, C, C), CourseType.leld, "1000", IsgOutcome.board, id="leld"),
        pytest.param((C, C, C, C), CourseType.executive, "1000", IsgOutcome.board, id="executive"),
    ],
)
def test_isg_outcome(votes: tuple[IsgVote, ...], course_type: CourseType, cost: str, expected: IsgOutcome) -> None:
    assert rules.isg_outcome(seat_votes(*votes), course_type, Decimal(cost), LIMIT) is expected


def test_fast_track_needs_four_votes() -> None:
    three = {Agency.STATE: C, Agency.TREASURY: C, Agency.DHS: C}
    assert not rules.fast_track_eligible(CourseType.specialized, Decimal(1), three.values(), LIMIT)
    assert rules.isg_outcome(three, CourseType.specialized, Decimal(1), LIMIT) is IsgOutcome.board


def test_fast_track_limit_is_configurable() -> None:
    votes = seat_votes(C, C, C, C)
    assert rules.isg_outcome(votes, CourseType.specialized, Decimal("90000"), Decimal("80000")) is IsgOutcome.board
    assert rules.isg_outcome(votes, CourseType.specialized, Decimal("80000"), Decimal("80000")) is IsgOutcome.fast_track


CASTABLE = st.sampled_from(list(IsgVote))
FOUR_VOTES = st.lists(CASTABLE, min_size=4, max_size=4)
COURSE_TYPES = st.sampled_from(list(CourseType))
COSTS = st.decimals(min_value=0, max_value=400_000, places=2, allow_nan=False, allow_infinity=False)


@given(votes=FOUR_VOTES, order=st.permutations(SEATS), course_type=COURSE_TYPES, cost=COSTS)
def test_outcome_ignores_which_seat_cast_which_vote(
    votes: list[IsgVote], order: list[Agency], course_type: CourseType, cost: Decimal
) -> None:
    as_cast = dict(zip(SEATS, votes, strict=True))
    shuffled = dict(zip(order, votes, strict=True))
    # The same votes, inserted in reverse order, too (dict order must not matter either).
    reversed_insertion = dict(reversed(list(shuffled.items())))
    expected = rules.isg_outcome(as_cast, course_type, cost, LIMIT)
    assert rules.isg_outcome(shuffled, course_type, cost, LIMIT) is expected
    assert rules.isg_outcome(reversed_insertion, course_type, cost, LIMIT) is expected


@given(
    others=st.lists(CASTABLE, min_size=3, max_size=3),
    seat=st.sampled_from(SEATS),
    course_type=COURSE_TYPES,
    cost=COSTS,
)
def test_request_changes_always_dominates(
    others: list[IsgVote], seat: Agency, course_type: CourseType, cost: Decimal
) -> None:
    votes = dict(zip([s for s in SEATS if s is not seat], others, strict=True))
    votes[seat] = IsgVote.request_changes
    assert rules.isg_outcome(votes, course_type, cost, LIMIT) is IsgOutcome.changes_requested


@given(votes=FOUR_VOTES, course_type=COURSE_TYPES, cost=COSTS)
def test_outcome_follows_the_first_rule_that_applies(
    votes: list[IsgVote], course_type: CourseType, cost: Decimal
) -> None:
    got = rules.isg_outcome(seat_votes(*votes), course_type, cost, LIMIT)
    against = votes.count(IsgVote.nonconcur)
    if IsgVote.request_changes in votes:
        assert got is IsgOutcome.changes_requested
    elif against >= 2:
        assert got is IsgOutcome.rejected
    elif against == 1:
        assert got is IsgOutcome.board_with_dissent
    elif course_type is CourseType.specialized and cost <= LIMIT and all(v is IsgVote.concur for v in votes):
        assert got is IsgOutcome.fast_track
    else:
        assert got is IsgOutcome.board


# --- the chair's block -------------------------------------------------------------------------


def test_chair_block_reason() -> None:
    nc, cc = BoardPosition.nonconcur, BoardPosition.concur
    assert rules.chair_block_reason({}) is None
    assert rules.chair_block_reason({Agency.DHS: nc, Agency.DOJ: cc, Agency.TREASURY: cc}) is None
    reason = rules.chair_block_reason({Agency.DOJ: nc, Agency.DHS: nc, Agency.TREASURY: cc})
    assert reason is not None and "DHS, DOJ" in reason


# --- proposal validation ----------------------------------------------------------------------

TODAY = date(2026, 3, 2)


def proposal(**overrides: object) -> ProposalFields:
    start = TODAY + timedelta(days=90)
    base: dict[str, object] = {
        "title": "Cybercrime investigations",
        "academy": Academy.BKK,
        "course_type": CourseType.specialized,
        "topic": Topic.cybercrime,
        "start_date": start,
        "end_date": start + timedelta(days=9),
        "seats": 24,
        "participating_countries": ["TH", "VN", "KH"],
        "estimated_cost_usd": Decimal("90000"),
        "justification": "Demand from the region.",
        "instructor_needs": [InstructorNeed(agency=Agency.DHS, expertise=Topic.cybercrime, count=2)],
    }
    base.update(overrides)
    return ProposalFields.model_validate(base)


def problems(f: ProposalFields) -> dict[tuple[str | int, ...], str]:
    found = rules.validate_proposal(f, TODAY, RuleConfig())
    return dict(found)


def test_a_valid_proposal_has_no_problems() -> None:
    assert rules.validate_proposal(proposal(), TODAY, RuleConfig()) == []


def test_every_broken_rule_is_reported_together() -> None:
    start = TODAY + timedelta(days=59)  # one day short of the lead time
    bad = proposal(
        academy=Academy.BUD,
        course_type=CourseType.executive,  # executive outside Roswell
        start_date=start,
        end_date=start + timedelta(days=21),  # 22 days: over the limit
        participating_countries=["HU", "XX", "HU", "ZZ"],
        instructor_needs=[
            InstructorNeed(agency=Agency.STATE, expertise=Topic.cybercrime, count=1),
            InstructorNeed(
                agency=Agency.DOJ, expertise=Topic.cybercrime, count=1, alternate_agencies=[Agency.STATE, Agency.DOJ]
            ),
        ],
    )
    found = rules.validate_proposal(bad, TODAY, RuleConfig())
    locs = [loc for loc, _ in found]
    assert locs == [
        ("body", "end_date"),
        ("body", "academy"),
        ("body", "start_date"),
        ("body", "participating_countries", 1),
        ("body", "participating_countries", 2),
        ("body", "participating_countries", 3),
        ("body", "instructor_needs", 0, "agency"),
        ("body", "instructor_needs", 1, "alternate_agencies", 0),
        ("body", "instructor_needs", 1, "alternate_agencies", 1),
    ]
    msgs = dict(found)
    assert "22" in msgs[("body", "end_date")]
    assert "ROS" in msgs[("body", "academy")]
    assert "60" in msgs[("body", "start_date")]
    assert "'XX'" in msgs[("body", "participating_countries", 1)]
    assert "twice" in msgs[("body", "participating_countries", 2)]
    assert "'ZZ'" in msgs[("body", "participating_countries", 3)]


def test_end_before_start_is_reported_with_the_other_rules() -> None:
    start = TODAY + timedelta(days=10)
    bad = proposal(
        start_date=start,
        end_date=start - timedelta(days=1),
        participating_countries=["TH", "TH"],
        instructor_needs=[InstructorNeed(agency=Agency.STATE, expertise=Topic.cybercrime, count=1)],
    )
    found = problems(bad)
    assert set(found) == {
        ("body", "end_date"),
        ("body", "start_date"),
        ("body", "participating_countries", 1),
        ("body", "instructor_needs", 0, "agency"),
    }
    assert "cannot end before it starts" in found[("body", "end_date")]


@pytest.mark.parametrize(
    ("course_type", "academy", "days", "ok"),
    [
        (CourseType.leld, Academy.BUD, 34, False),
        (CourseType.leld, Academy.BUD, 35, True),
        (CourseType.leld, Academy.BUD, 42, True),
        (CourseType.leld, Academy.BUD, 49, True),
        (CourseType.leld, Academy.BUD, 50, False),
        (CourseType.specialized, Academy.BUD, 1, True),
        (CourseType.specialized, Academy.BUD, 21, True),
        (CourseType.specialized, Academy.BUD, 22, False),
        (CourseType.executive, Academy.ROS, 21, True),
        (CourseType.executive, Academy.ROS, 22, False),
    ],
)
def test_course_length(course_type: CourseType, academy: Academy, days: int, ok: bool) -> None:
    start = TODAY + timedelta(days=90)
    found = problems(
        proposal(course_type=course_type, academy=academy, start_date=start, end_date=start + timedelta(days=days - 1))
    )
    assert (("body", "end_date") not in found) is ok
    assert set(found) <= {("body", "end_date")}


@pytest.mark.parametrize("academy", [a for a in Academy if a is not Academy.ROS])
def test_executive_only_at_roswell(academy: Academy) -> None:
    assert set(problems(proposal(course_type=CourseType.executive, academy=academy))) == {("body", "academy")}
    assert problems(proposal(course_type=CourseType.executive, academy=Academy.ROS)) == {}


@pytest.mark.parametrize(("lead", "ok"), [(59, False), (60, True), (61, True)])
def test_lead_time(lead: int, ok: bool) -> None:
    start = TODAY + timedelta(days=lead)
    found = problems(proposal(start_date=start, end_date=start + timedelta(days=4)))
    assert (found == {}) is ok
    assert set(found) <= {("body", "start_date")}


def test_lead_time_is_configurable() -> None:
    start = TODAY + timedelta(days=30)
    f = proposal(start_date=start, end_date=start)
    assert rules.validate_proposal(f, TODAY, RuleConfig(min_lead_days=30)) == []
    assert [loc for loc, _ in rules.validate_proposal(f, TODAY, RuleConfig(min_lead_days=31))] == [
        ("body", "start_date")
    ]


def test_next_agency_walks_the_alternates() -> None:
    need = InstructorNeed(
        agency=Agency.DOJ, expertise=Topic.cybercrime, count=1, alternate_agencies=[Agency.DHS, Agency.TREASURY]
    )
    assert rules.next_agency(need, []) is Agency.DOJ
    assert rules.next_agency(need, [Agency.DOJ]) is Agency.DHS
    assert rules.next_agency(need, [Agency.DOJ, Agency.DHS]) is Agency.TREASURY
    assert rules.next_agency(need, [Agency.DOJ, Agency.DHS, Agency.TREASURY]) is None


def test_start_at_most_the_horizon_after_submission() -> None:
    """Issue 13: a start in year 9999 passed validation (and wedged the workflow's deadline arithmetic)."""
    last = TODAY + timedelta(days=1095)
    assert problems(proposal(start_date=last, end_date=last)) == {}
    late = last + timedelta(days=1)
    found = problems(proposal(start_date=late, end_date=late))
    assert list(found) == [("body", "start_date")] and last.isoformat() in found[("body", "start_date")]
    assert problems(proposal(start_date=date(9999, 12, 30), end_date=date(9999, 12, 31))).keys() == {
        ("body", "start_date")
    }
    shorter = RuleConfig(max_horizon_days=400)
    assert [loc for loc, _ in rules.validate_proposal(proposal(start_date=late, end_date=late), TODAY, shorter)] == [
        ("body", "start_date")
    ]


def test_rules_run_on_the_fields_that_are_valid() -> None:
    """With some fields invalid on their own, every rule that reads only valid fields still runs."""
    valid = dict(proposal())
    start = valid["start_date"]
    partial = {**valid, "end_date": start - timedelta(days=1), "participating_countries": ["HU", "XX"]}
    del partial["course_type"], partial["seats"]  # as if these two were invalid
    found = dict(rules.proposal_problems(partial, TODAY, RuleConfig()))
    assert set(found) == {("body", "end_date"), ("body", "participating_countries", 1)}
    # Without a valid start date, neither the lead time nor the end date's rules can be judged.
    del partial["start_date"]
    assert set(dict(rules.proposal_problems(partial, TODAY, RuleConfig()))) == {("body", "participating_countries", 1)}
