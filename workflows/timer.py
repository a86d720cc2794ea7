"""One durable timer for a workflow's next deadline.

After samples-python ``updatable_timer/updatable_timer_lib.py``: the workflow asks the timer
to wait for the next deadline and never handles the timer's future itself. Unlike that
sample, which starts a new ``wait_condition`` timeout each time it is woken, this timer stays
armed while the deadline stays where it is: most actions (a vote, a Board position) leave
the next deadline unchanged, so they neither cancel nor start a timer, and a proposal's
history holds one timer per distinct deadline. The recorded histories replay against
exactly these commands (tests/workflows/test_replay.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

#: The longest the timer sleeps in one go. A deadline further away (a course dated years
#: ahead, or at the end of the calendar) is slept towards in steps: the loop wakes, finds
#: nothing due and arms the timer again. No deadline of a real proposal is this far.
LONGEST_SLEEP = timedelta(days=3650)


class DeadlineTimer:
    """The workflow's one timer, armed for a deadline until that deadline moves or comes."""

    def __init__(self) -> None:
        self._sleep: asyncio.Future[None] | None = None
        self._at: datetime | None = None

    @property
    def fired(self) -> bool:
        return self._sleep is not None and self._sleep.done()

    async def wait(self, due_at: datetime | None, woken: Callable[[], bool]) -> bool:
        """Wait until ``due_at`` (None: no deadline) or until ``woken()`` holds.

        Returns:
            True when the deadline has come (the timer is then spent), False when woken first;
            the timer then stays armed for the next call.
        """
        if due_at is not None and due_at <= workflow.now():
            due = True
        else:
            self._arm(due_at)
            await workflow.wait_condition(lambda: woken() or self.fired)
            due = self.fired
        if due:
            # Forgotten, not cancelled: a deadline already past when the loop came round leaves
            # any earlier timer to fire unheard, as the recorded histories expect.
            self._sleep, self._at = None, None
        return due

    def cancel(self) -> None:
        """No more deadlines: cancel the armed timer, if any."""
        self._arm(None)

    def _arm(self, at: datetime | None) -> None:
        if at == self._at and (at is None or self._sleep is not None):
            return
        if self._sleep is not None and not self._sleep.done():
            self._sleep.cancel()
        self._at = at
        self._sleep = None
        if at is not None:
            delay = min(at - workflow.now(), LONGEST_SLEEP).total_seconds()
            self._sleep = asyncio.ensure_future(asyncio.sleep(delay))
