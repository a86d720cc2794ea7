"""`python -m bench.profile`: where the worker's and the API's CPU goes under the benchmark's load.

Starts the benchmark's own stack (``ilea dev --headless``, as ``make bench`` does), puts the
lifecycle load on it (N lifecycles by C clients over HTTP) and samples the worker and the API
with py-spy meanwhile, writing each profile as collapsed stacks
(``bench-results/profile-worker.txt``, ``profile-api.txt``: one stack per line, ``;``-joined
frames and a sample count, for flame-graph tools). Then prints, for each process, the frames
with the most samples of their own among the active ones (a thread waiting for work or the
event loop's own frame is idle). The figures of issue 17's notes came from such runs::

    pip install py-spy
    .venv/bin/python -m bench.profile --n 400 --c 50 --seconds 40

and the share of a function with all it calls from a profile written before, e.g.::

    .venv/bin/python -m bench.profile --read bench-results/profile-worker.txt \
        --frame "activate (" --frame "activities/projection.py" --frame "sandbox/_importer"
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import sys
import tempfile
from pathlib import Path

from bench import lifecycle
from bench import stack as stackmod
from bench.stack import CpuMeter

#: leaf frames that are a thread or the event loop waiting, not working
IDLE_LEAVES = ("_worker (concurrent/futures/thread.py:81)", "Runner.run (asyncio/runners.py", "")


def _active_stacks(collapsed: Path) -> list[tuple[list[str], int]]:
    """Each active stack's frames and samples (a leaf of :data:`IDLE_LEAVES` is a wait)."""
    stacks = []
    for line in collapsed.read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        leaf = frames.split(";")[-1]
        if not any(leaf.startswith(idle) if idle else leaf == "" for idle in IDLE_LEAVES):
            stacks.append((frames.split(";"), int(count)))
    return stacks


def own_samples(collapsed: Path) -> tuple[int, collections.Counter[str]]:
    """Active samples in all, and the active samples of each leaf frame."""
    leaves: collections.Counter[str] = collections.Counter()
    for frames, count in _active_stacks(collapsed):
        leaves[frames[-1]] += count
    return sum(leaves.values()), leaves


def shares(collapsed: Path, patterns: list[str]) -> dict[str, float]:
    """Of the active samples, the share (%) whose stack holds a frame containing each pattern:
    a function with everything it calls (e.g. ``"activate ("``, ``"activities/projection.py"``)."""
    stacks = _active_stacks(collapsed)
    active = sum(count for _, count in stacks) or 1
    return {
        pattern: 100 * sum(count for frames, count in stacks if any(pattern in f for f in frames)) / active
        for pattern in patterns
    }


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")


async def run(spy: str, n: int, c: int, seconds: int, rate: int, out: Path) -> None:
    state = Path(tempfile.mkdtemp(prefix="ilea-profile-"))
    stack = await asyncio.to_thread(stackmod.start, state)
    tokens = lifecycle.Tokens()
    try:
        pg = stackmod.postgres_pid(state)
        cpu = CpuMeter({**stack.pids, **({"postgres": pg} if pg else {})})
        await lifecycle.run_load(stack.api, 8, 8, 1, tokens)  # warm-up
        files = {role: out / f"profile-{role}.txt" for role in ("worker", "api")}
        spies = [
            await asyncio.create_subprocess_exec(
                *(spy, "record", "-p", str(stack.pids[role]), "-d", str(seconds), "-r", str(rate)),
                *("-f", "raw", "-o", str(path), "--nonblocking"),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            for role, path in files.items()
        ]
        cpu.start()
        result = await lifecycle.run_load(stack.api, n, c, 10, tokens)
        used = cpu.stop()
        for s in spies:
            await s.wait()
    finally:
        stackmod.stop(stack)
    done = max(result.completed, 1)
    per = {k: round(v * 1000 / done) for k, v in used["cpu_seconds"].items()}
    say(f"{result.completed} lifecycles ({result.failed} failed); CPU ms per lifecycle: {per}")
    for role, path in files.items():
        if not path.is_file():
            say(f"{role}: py-spy wrote nothing (is it allowed to attach? run as root or see ptrace_scope)")
            continue
        active, leaves = own_samples(path)
        say(f"\n{role}: {active} active samples ({path}); most samples of their own:")
        for frame, count in leaves.most_common(15):
            say(f"  {100 * count / max(active, 1):5.1f} %  {frame[:110]}")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=400, help="lifecycles (default 400)")
    p.add_argument("--c", type=int, default=50, help="concurrent clients (default 50)")
    p.add_argument("--seconds", type=int, default=40, help="how long py-spy samples (default 40)")
    p.add_argument("--rate", type=int, default=100, help="samples per second (default 100)")
    p.add_argument("--out", type=Path, default=Path("bench-results"), help="where the profiles go")
    p.add_argument(
        "--read",
        type=Path,
        metavar="PROFILE",
        help="no load: read a profile written before and print the share of each --frame in it",
    )
    p.add_argument("--frame", action="append", default=[], help="a frame's text, e.g. 'activate (' (repeatable)")
    a = p.parse_args()
    if a.read is not None:
        for pattern, share in shares(a.read, a.frame).items():
            say(f"  {share:5.1f} %  {pattern}")
        return
    # the virtual environment's own first (make bench runs it without activating the venv)
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    a.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(spy, a.n, a.c, a.seconds, a.rate, a.out))


if __name__ == "__main__":
    main()
