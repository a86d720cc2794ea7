"""The access-log witness: an independent record of how far the access log has reached.

The access log is hash-chained, so a change to an entry breaks the chain at the next one;
but deleting the newest entries, or rewriting them and recomputing their hashes, leaves a
chain that holds. This singleton workflow reads the head of the log (seq and hash) every
``every_seconds`` and keeps the highest it has read, in Temporal's history, which the
database's owner cannot rewrite. ``/v1/people/access-log/verify`` asks it (a query) and reports
the newest entries deleted when the log now ends below the witnessed seq, or rewritten when
the hash at that seq is another. Sign-in never waits on it: the log is written as before, and
the witness only reads it.

It continues as new after ``reads_per_run`` reads, carrying the witnessed head, so its
history stays small however long it runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.access_log import AccessLogActivities
    from ilea.messages import LogHead, ReadHeadInput, WitnessedHead, WitnessInput

#: one witness per task queue (the worker fleet and the database it serves)
WORKFLOW_ID_PREFIX = "access-log-witness"


def witness_id(task_queue: str) -> str:
    return f"{WORKFLOW_ID_PREFIX}-{task_queue}"


def keep_highest(kept: WitnessedHead | None, read: LogHead | None, now: datetime) -> WitnessedHead | None:
    """What the witness keeps after reading ``read``: never a lower head (the log only grows; a
    lower one is what deletion leaves), nor another hash at a seq it has seen."""
    if read is None or (kept is not None and read.seq <= kept.seq):
        return kept
    return WitnessedHead(seq=read.seq, hash=read.hash, at=now)


def findings(witnessed: WitnessedHead | None, head_seq: int, hash_then: str | None) -> tuple[int | None, list[str]]:
    """Compare the log with the witness: ``head_seq`` is the log's newest seq now, ``hash_then``
    the hash the log now has at the witnessed seq (None when that entry is gone). Returns the
    first seq found wrong (or None) and each finding in words."""
    if witnessed is None:
        return None, []
    when = witnessed.at.strftime("%Y-%m-%d %H:%M:%S UTC")
    if head_seq < witnessed.seq:
        return head_seq + 1, [
            f"newest entries deleted: the log ends at event {head_seq}, but event {witnessed.seq} was witnessed"
            f" at {when}"
        ]
    if hash_then != witnessed.hash:
        return witnessed.seq, [f"event {witnessed.seq} was rewritten after it was witnessed at {when}"]
    return None, []


@workflow.defn(name="AccessLogWitness")
class AccessLogWitness:
    def __init__(self) -> None:
        self._head: WitnessedHead | None = None

    @workflow.run
    async def run(self, inp: WitnessInput) -> None:
        self._head = inp.head
        for _ in range(inp.reads_per_run):
            read = await workflow.execute_activity_method(
                AccessLogActivities.read_head,
                ReadHeadInput(),
                start_to_close_timeout=timedelta(seconds=30),
                # a database outage is waited out, however long
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
            self._head = keep_highest(self._head, read.head, workflow.now())
            await workflow.sleep(timedelta(seconds=inp.every_seconds))
        workflow.continue_as_new(
            WitnessInput(every_seconds=inp.every_seconds, reads_per_run=inp.reads_per_run, head=self._head)
        )

    @workflow.query
    def head(self) -> WitnessedHead | None:
        """The highest head witnessed so far (None before the first entry)."""
        return self._head
