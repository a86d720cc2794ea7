"""Slots and instructor requests of one proposal: a deterministic state machine.

No Temporal calls and no I/O: the workflow passes in the time and the id
generator, performs bookings through activities, and records the events.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ilea.domain import Agency, RequestStatus
from ilea.messages import InstructorNeed, InstructorRef, InstructorRequestView, RuleConfig
from workflows import rules

NewId = Callable[[], str]


class Staffing:
    """Every request ever sent for a proposal; the last request of a slot is its live one."""

    def __init__(self, proposal_id: str, rule_config: RuleConfig) -> None:
        self.proposal_id = proposal_id
        self.rules = rule_config
        self.requests: list[InstructorRequestView] = []

    def copy(self) -> Staffing:
        """A copy whose requests can change without changing these (each request is copied: the
        changes below set their fields; the lists inside them are replaced, never appended to)."""
        new = Staffing(self.proposal_id, self.rules)
        new.requests = [r.model_copy() for r in self.requests]
        return new

    # --- reading --------------------------------------------------------------------

    def get(self, request_id: str) -> InstructorRequestView | None:
        return next((r for r in self.requests if r.id == request_id), None)

    def live(self) -> list[InstructorRequestView]:
        """The current request of every slot, in slot order."""
        latest: dict[int, InstructorRequestView] = {}
        for r in self.requests:
            latest[r.slot] = r
        return [latest[s] for s in sorted(latest)]

    def with_status(self, status: RequestStatus) -> list[InstructorRequestView]:
        return [r for r in self.live() if r.status is status]

    @property
    def started(self) -> bool:
        return bool(self.requests)

    def all_filled(self) -> bool:
        live = self.live()
        return bool(live) and all(r.status is RequestStatus.accepted for r in live)

    def any_unfilled(self) -> bool:
        return any(r.status is RequestStatus.unfilled for r in self.live())

    # --- changing ---------------------------------------------------------------------

    def _send(
        self,
        *,
        slot: int,
        need_index: int,
        need: InstructorNeed,
        agency: Agency,
        asked: list[Agency],
        now: datetime,
        new_id: NewId,
    ) -> InstructorRequestView:
        due = rules.business_deadline(now, self.rules.request_business_days)
        request = InstructorRequestView(
            id=new_id(),
            proposal_id=self.proposal_id,
            slot=slot,
            need_index=need_index,
            agency=agency,
            expertise=need.expertise,
            status=RequestStatus.open,
            due=due,
            sent_at=now,
            attempt=sum(1 for r in self.requests if r.slot == slot) + 1,
            asked_agencies=[*asked, agency],
        )
        self.requests.append(request)
        return request

    def open_all(self, needs: list[InstructorNeed], now: datetime, new_id: NewId) -> list[InstructorRequestView]:
        """One request per slot (``count`` slots per need), all sent at once."""
        sent = []
        slot = 0
        for index, need in enumerate(needs):
            for _ in range(need.count):
                slot += 1
                sent.append(
                    self._send(
                        slot=slot,
                        need_index=index,
                        need=need,
                        agency=need.agency,
                        asked=[],
                        now=now,
                        new_id=new_id,
                    )
                )
        return sent

    def close_and_advance(
        self,
        request: InstructorRequestView,
        status: RequestStatus,
        reason: str,
        needs: list[InstructorNeed],
        now: datetime,
        new_id: NewId,
    ) -> InstructorRequestView | None:
        """A decline or a lapsed deadline: ask the next alternate, or mark the slot unfilled.

        Returns:
            the new request to the next agency, or None when the slot is now unfilled.
        """
        need = needs[request.need_index]
        following = rules.next_agency(need, request.asked_agencies)
        request.reason = reason
        if following is None:
            request.status = RequestStatus.unfilled
            request.closed_as = status
            return None
        request.status = status
        return self._send(
            slot=request.slot,
            need_index=request.need_index,
            need=need,
            agency=following,
            asked=request.asked_agencies,
            now=now,
            new_id=new_id,
        )

    def accept(self, request: InstructorRequestView, instructor: InstructorRef) -> None:
        request.status = RequestStatus.accepted
        request.instructor = instructor
        request.reason = None

    def release(
        self,
        request: InstructorRequestView,
        reason: str,
        needs: list[InstructorNeed],
        now: datetime,
        new_id: NewId,
    ) -> InstructorRequestView:
        """The coordinator released the instructor: the slot reopens to the same agency."""
        request.status = RequestStatus.released
        request.reason = reason
        return self._send(
            slot=request.slot,
            need_index=request.need_index,
            need=needs[request.need_index],
            agency=request.agency,
            asked=[],
            now=now,
            new_id=new_id,
        )

    def retarget(
        self,
        request: InstructorRequestView,
        agency: Agency,
        needs: list[InstructorNeed],
        now: datetime,
        new_id: NewId,
    ) -> InstructorRequestView:
        """An unfilled slot sent by the program officer to any instructor-providing agency."""
        request.status = request.closed_as or RequestStatus.declined
        return self._send(
            slot=request.slot,
            need_index=request.need_index,
            need=needs[request.need_index],
            agency=agency,
            asked=request.asked_agencies,
            now=now,
            new_id=new_id,
        )

    def cancel_all(self, reason: str) -> list[InstructorRequestView]:
        """Withdrawal or cancellation: every live request is cancelled.

        Returns:
            the requests that held a booking, which the caller must release.
        """
        booked = []
        for request in self.live():
            if request.status is RequestStatus.accepted:
                booked.append(request)
            if request.status in (RequestStatus.open, RequestStatus.accepted, RequestStatus.unfilled):
                request.status = RequestStatus.cancelled
                request.reason = reason
        return booked
