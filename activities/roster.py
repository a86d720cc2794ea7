"""Bookings of instructors: the only activities that can refuse for business reasons."""

from __future__ import annotations

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ilea.activity_io import BookInput, BookResult, ReleaseBookingsInput, ReleaseBookingsResult
from ilea.db import roster
from ilea.messages import (
    InstructorRef,
)


class RosterActivities:
    """Book and release instructors; the pool is injected by the worker."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="book_instructor")
    async def book(self, inp: BookInput) -> BookResult:
        """Book the instructor in the same transaction that marks the request accepted.

        Raises:
            ApplicationError: non-retryable, typed ``BookingConflict`` (naming the other
                course), ``Invalid`` or ``NotFound``, when the booking is refused.
        """
        async with self._pool.acquire() as con:
            try:
                row = await roster.book(
                    con,
                    request_id=inp.request_id,
                    proposal_id=inp.proposal_id,
                    instructor_id=inp.instructor_id,
                    agency=inp.agency.value,
                    expertise=inp.expertise.value,
                    start=inp.start_date,
                    end=inp.end_date,
                    title=inp.title,
                )
            except roster.BookingRefused as err:
                details: list[dict[str, object]] = []
                # an invalid choice of instructor: each broken rule as the API's 422 `errors` show it
                details += [{"loc": ["body", "instructor_id"], "msg": msg} for msg in err.problems]
                if err.conflict:
                    c = err.conflict
                    details.append(
                        {
                            "proposal_id": c.proposal_id,
                            "title": c.title,
                            "start_date": c.start.isoformat(),
                            "end_date": c.end.isoformat(),
                        }
                    )
                raise ApplicationError(str(err), *details, type=err.kind, non_retryable=True) from None
        return BookResult(instructor=InstructorRef(id=row["id"], name=row["name"], component=row["component"]))

    @activity.defn(name="release_bookings")
    async def release_bookings(self, inp: ReleaseBookingsInput) -> ReleaseBookingsResult:
        """Release one request's booking or all of a proposal's; releasing twice is harmless."""
        released = await roster.release(
            self._pool, proposal_id=inp.proposal_id, request_id=inp.request_id, reason=inp.reason
        )
        return ReleaseBookingsResult(released=released)
