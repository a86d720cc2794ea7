"""Entry point of the floor's worker process (the workflow lives in :mod:`bench.floor`)."""

from __future__ import annotations

import argparse
from typing import Any

from bench.floor import serve
from ilea.loop import run_loop


def main() -> None:
    parser = argparse.ArgumentParser(description="the benchmark's floor worker")
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--max-workflow-task-polls", type=int, help="Worker max_concurrent_workflow_task_polls")
    parser.add_argument("--nonsticky-ratio", type=float, help="Worker nonsticky_to_sticky_poll_ratio")
    args = parser.parse_args()
    kwargs: dict[str, Any] = {}
    if args.max_workflow_task_polls:
        kwargs["max_concurrent_workflow_task_polls"] = args.max_workflow_task_polls
    if args.nonsticky_ratio:
        kwargs["nonsticky_to_sticky_poll_ratio"] = args.nonsticky_ratio
    run_loop(serve(args.address, args.task_queue, **kwargs))  # the loop the system's worker runs on


if __name__ == "__main__":
    main()
