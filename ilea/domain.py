"""The product's vocabulary: the words of product.md, defined once.

Agencies, roles, stages, academies, course types, topics, votes and decisions, and the
*parties* a proposal can wait on or notify (``isg:DHS``, ``board:DOJ``, ``board:chair``,
``agency:TREASURY``, ``program_officer``). No I/O and no wire formats here: the messages that
cross Temporal and HTTP live in their own modules and import these words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Stage(StrEnum):
    submitted = "submitted"
    isg_review = "isg_review"
    changes_requested = "changes_requested"
    board_review = "board_review"
    staffing = "staffing"
    staffing_at_risk = "staffing_at_risk"
    scheduled = "scheduled"
    delivered = "delivered"
    rejected = "rejected"
    withdrawn = "withdrawn"
    expired = "expired"
    cancelled = "cancelled"


TERMINAL_STAGES = frozenset({Stage.delivered, Stage.rejected, Stage.withdrawn, Stage.expired, Stage.cancelled})


class Agency(StrEnum):
    STATE = "STATE"
    TREASURY = "TREASURY"
    DHS = "DHS"
    DOJ = "DOJ"


ISG_SEATS: tuple[Agency, ...] = (Agency.STATE, Agency.TREASURY, Agency.DHS, Agency.DOJ)
BOARD_MEMBERS: tuple[Agency, ...] = (Agency.TREASURY, Agency.DHS, Agency.DOJ)
INSTRUCTOR_AGENCIES: tuple[Agency, ...] = (Agency.TREASURY, Agency.DHS, Agency.DOJ)

COMPONENTS: Mapping[Agency, tuple[str, ...]] = MappingProxyType(
    {
        Agency.TREASURY: ("IRS-CI", "FinCEN", "OCC"),
        Agency.DHS: ("HSI", "CBP", "USSS", "FLETC"),
        Agency.DOJ: ("FBI", "DEA", "ATF", "USMS", "ICITAP", "OPDAT"),
    }
)


class Role(StrEnum):
    program_officer = "program_officer"
    isg_member = "isg_member"
    board_member = "board_member"
    board_chair = "board_chair"
    agency_coordinator = "agency_coordinator"
    auditor = "auditor"
    access_admin = "access_admin"


#: The agencies each role is valid with (product.md, "Who uses it").
ROLE_AGENCIES: Mapping[Role, frozenset[Agency]] = MappingProxyType(
    {
        Role.program_officer: frozenset({Agency.STATE}),
        Role.isg_member: frozenset(ISG_SEATS),
        Role.board_member: frozenset(BOARD_MEMBERS),
        Role.board_chair: frozenset({Agency.STATE}),
        Role.agency_coordinator: frozenset(INSTRUCTOR_AGENCIES),
        Role.auditor: frozenset(Agency),
        Role.access_admin: frozenset({Agency.STATE}),
    }
)

#: The actor name the workflow records for itself; no person may carry it.
SYSTEM_ACTOR = "system"
SUB_MAX_LENGTH = 128


def subject_problem(sub: str) -> str | None:
    """Why ``sub`` cannot name a person (product.md's identity rules), or None when it can."""
    if not sub:
        return "the subject (sub) is empty"
    if len(sub) > SUB_MAX_LENGTH:
        return f"the subject (sub) is longer than {SUB_MAX_LENGTH} characters"
    if not sub.isprintable():
        return "the subject (sub) has characters that cannot be printed"
    if sub == SYSTEM_ACTOR:
        return f"the subject (sub) {SYSTEM_ACTOR!r} is reserved"
    return None


def misplaced_roles(agency: Agency, roles: Iterable[Role]) -> list[Role]:
    """The roles that ``agency`` cannot hold (e.g. a DHS ``program_officer``)."""
    return [r for r in roles if agency not in ROLE_AGENCIES[r]]


class Academy(StrEnum):
    BUD = "BUD"
    BKK = "BKK"
    GAB = "GAB"
    SAL = "SAL"
    ROS = "ROS"


ACADEMY_NAMES: Mapping[Academy, str] = MappingProxyType(
    {
        Academy.BUD: "Budapest (Europe)",
        Academy.BKK: "Bangkok (Asia)",
        Academy.GAB: "Gaborone (Africa)",
        Academy.SAL: "San Salvador (Latin America; regional training center in Lima)",
        Academy.ROS: "Roswell (executive-level policy)",
    }
)


class CourseType(StrEnum):
    leld = "leld"
    specialized = "specialized"
    executive = "executive"


class Topic(StrEnum):
    leadership_management = "leadership_management"
    criminal_investigations = "criminal_investigations"
    counterterrorism = "counterterrorism"
    counternarcotics = "counternarcotics"
    hate_crimes = "hate_crimes"
    corruption_financial_crimes = "corruption_financial_crimes"
    womens_issues = "womens_issues"
    human_trafficking = "human_trafficking"
    wildlife_trafficking = "wildlife_trafficking"
    cybercrime = "cybercrime"
    emerging_trends = "emerging_trends"


class IsgVote(StrEnum):
    concur = "concur"
    nonconcur = "nonconcur"
    request_changes = "request_changes"
    abstain = "abstain"
    deemed_concur = "deemed_concur"


class BoardPosition(StrEnum):
    concur = "concur"
    nonconcur = "nonconcur"


class BoardDecision(StrEnum):
    approve = "approve"
    disapprove = "disapprove"
    return_to_isg = "return_to_isg"


class RequestStatus(StrEnum):
    open = "open"
    accepted = "accepted"
    declined = "declined"
    expired = "expired"
    unfilled = "unfilled"
    released = "released"
    cancelled = "cancelled"


class PartyKind(StrEnum):
    """Which body a party belongs to."""

    isg = "isg"
    board = "board"
    agency = "agency"
    program_officer = "program_officer"
    person = "person"


#: the seat name of the Policy Board's chair in ``board:chair``
CHAIR = "chair"


@dataclass(frozen=True, slots=True)
class Party:
    """Someone a proposal waits on or tells: a seat, a Board member, an agency, or the program office.

    On the wire and in the database a party is its string form (``str(party)``); build one with
    the constructors and read one with :meth:`parse`, never by formatting or splitting by hand.
    """

    kind: PartyKind
    agency: Agency | None = None
    seat: str | None = None
    #: a person's ``sub`` (``person:<sub>``): e.g. a proposal's owner
    sub: str | None = None

    @classmethod
    def isg(cls, agency: Agency) -> Party:
        """The ISG seat of ``agency`` (any ``isg_member`` of that agency votes for it)."""
        return cls(PartyKind.isg, Agency(agency))

    @classmethod
    def board(cls, agency: Agency) -> Party:
        """A Policy Board member department (TREASURY, DHS, DOJ)."""
        return cls(PartyKind.board, Agency(agency))

    @classmethod
    def chair(cls) -> Party:
        """The Policy Board's chair (STATE)."""
        return cls(PartyKind.board, Agency.STATE, CHAIR)

    @classmethod
    def coordinators(cls, agency: Agency) -> Party:
        """An instructor-providing agency's coordinators."""
        return cls(PartyKind.agency, Agency(agency))

    @classmethod
    def program_officer(cls) -> Party:
        """INL's program officers (one office)."""
        return cls(PartyKind.program_officer)

    @classmethod
    def person(cls, sub: str) -> Party:
        """One person, by the ``sub`` their tokens carry (a proposal's owner is told as a person)."""
        if not sub:
            raise ValueError("a person party needs a sub")
        return cls(PartyKind.person, sub=sub)

    @classmethod
    def parse(cls, text: str) -> Party:
        """``"isg:DHS"`` → ``Party.isg(Agency.DHS)``; raises ``ValueError`` for anything else."""
        if text == PartyKind.program_officer.value:
            return cls.program_officer()
        kind, sep, rest = text.partition(":")
        if not sep:
            raise ValueError(f"not a party: {text!r}")
        if kind == PartyKind.person and rest:
            return cls.person(rest)
        if kind == PartyKind.board and rest == CHAIR:
            return cls.chair()
        try:
            party_kind, agency = PartyKind(kind), Agency(rest)
        except ValueError:
            raise ValueError(f"not a party: {text!r}") from None
        party = cls(party_kind, agency)
        if party not in all_parties():
            raise ValueError(f"not a party: {text!r}")
        return party

    def __str__(self) -> str:
        if self.kind is PartyKind.program_officer:
            return self.kind.value
        if self.kind is PartyKind.person:
            return f"{self.kind.value}:{self.sub}"
        if self.seat is not None:
            return f"{self.kind.value}:{self.seat}"
        assert self.agency is not None
        return f"{self.kind.value}:{self.agency.value}"


def all_parties() -> tuple[Party, ...]:
    """Every party the system can name but persons (``person:<sub>``, one per person)."""
    return (
        *(Party.isg(a) for a in ISG_SEATS),
        *(Party.board(a) for a in BOARD_MEMBERS),
        Party.chair(),
        *(Party.coordinators(a) for a in INSTRUCTOR_AGENCIES),
        Party.program_officer(),
    )


def parties_for(agency: Agency, roles: Iterable[Role], *, sub: str | None = None) -> list[Party]:
    """The parties a person of ``agency`` holding ``roles`` acts for (their inbox and notifications).

    With ``sub``, the person themselves too (``person:<sub>``: what is addressed to them alone,
    such as a proposal owner's notifications).
    """
    held = set(roles)
    parties: list[Party] = [Party.person(sub)] if sub else []
    if Role.isg_member in held and agency in ISG_SEATS:
        parties.append(Party.isg(agency))
    if Role.board_member in held and agency in BOARD_MEMBERS:
        parties.append(Party.board(agency))
    if Role.board_chair in held and agency is Agency.STATE:
        parties.append(Party.chair())
    if Role.agency_coordinator in held and agency in INSTRUCTOR_AGENCIES:
        parties.append(Party.coordinators(agency))
    if Role.program_officer in held and agency is Agency.STATE:
        parties.append(Party.program_officer())
    return parties
