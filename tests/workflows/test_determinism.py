"""The workflow code the sandbox does not re-import keeps to the rules the sandbox enforces.

The worker passes the workflow's pure modules through the sandbox (``worker.PASSTHROUGH``):
imported once per process instead of once per workflow run (issue 17), they also run outside
the sandbox's runtime restrictions. So this reads every module that workflow code can reach
(the closure of ``workflows``'s imports within ``workflows`` and ``ilea``; ``activities`` run as
activities, not as workflow code) and refuses, in each one passed through:

- an import outside a short list of deterministic modules (no ``os``, ``time``, ``random``,
  ``pathlib``, sockets, the database ...);
- the wall clock (``.now()``, ``.today()``, ``.utcnow()``: only ``workflow.now()``), random or
  time-based ids (only ``workflow.uuid4()``), ``open``/``input``/``eval``/``exec``/``__import__``,
  the environment;
- module-level mutable values (a list, dict or set, literal or built) and ``global``: they would
  be shared by every workflow run in the process, which the sandbox kept apart.

The two modules that define workflows (``workflows.proposal``, ``workflows.access_witness``)
are still imported inside the sandbox for every run, where its restrictions apply at runtime
(tests/workflows/test_sandbox.py).
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import enum
import functools
import importlib
import types
from pathlib import Path

import pytest

import worker

ROOT = Path(worker.__file__).parent
#: imported in the sandbox for every run: the workflow classes' own modules
SANDBOXED = {"workflows.proposal", "workflows.access_witness"}
#: what passed-through workflow code may import (each deterministic when given its inputs)
ALLOWED_IMPORTS = {
    "__future__",
    "abc",
    "asyncio",  # the workflow's own event loop: asyncio.sleep is a durable timer there
    "collections",
    "contextlib",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "functools",
    "hashlib",
    "itertools",
    "json",
    "math",
    "operator",
    "re",
    "types",
    "typing",
    "zoneinfo",
    "holidays",  # the federal calendar, computed at import
    "pycountry",  # ISO codes, read at import (never inside a workflow task)
    "pydantic",
    "temporalio",
    "ilea",
    "workflows",
}
#: attribute calls that read the clock or draw an id, unless made on ``workflow``
CLOCK_OR_CHANCE = {"now", "today", "utcnow", "uuid1", "uuid4", "uuid7", "random", "time", "monotonic", "perf_counter"}
#: where the clock and chance live: even a reference to ``datetime.now`` is refused
CLOCK_MODULES = {"datetime", "date", "time", "uuid", "random", "secrets"}
FORBIDDEN_NAMES = {"open", "input", "eval", "exec", "compile", "__import__", "breakpoint", "getenv", "environ"}
MUTABLE_BUILDERS = {"dict", "list", "set", "defaultdict", "Counter", "OrderedDict", "deque", "bytearray"}


def module_path(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:
            names.add("." * node.level + (node.module or ""))  # relative: refused (not followed)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def workflow_code() -> dict[str, ast.Module]:
    """Every module of ours that workflow code can reach, by name, parsed."""
    found: dict[str, ast.Module] = {}
    todo = [f"workflows.{p.stem}" for p in ROOT.joinpath("workflows").glob("*.py") if p.stem != "__init__"]
    while todo:
        name = todo.pop()
        path = module_path(name)
        if name in found or path is None:
            continue
        tree = ast.parse(path.read_text(), str(path))
        if path.name == "__init__.py" and not tree.body:
            continue  # an empty package marker, imported for its modules
        found[name] = tree
        todo += [i for i in imported(found[name]) if i.split(".")[0] in ("workflows", "ilea")]
    return found


def passed_through(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in worker.PASSTHROUGH)


def problems(tree: ast.Module) -> list[str]:
    """What in this module the sandbox would have refused or kept apart, one line each."""
    found: list[str] = []
    for i in sorted(imported(tree)):
        if i.split(".")[0] not in ALLOWED_IMPORTS:
            found.append(f"imports {i}")
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute) and node.attr in CLOCK_OR_CHANCE and reads_clock_or_chance(node, tree):
            found.append(f"line {line}: .{node.attr}")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in FORBIDDEN_NAMES:
            found.append(f"line {line}: {node.id}")
        elif isinstance(node, ast.Global):
            found.append(f"line {line}: global {', '.join(node.names)}")
    for stmt in tree.body:
        value = stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign)) else None
        if value is not None and mutable(value):
            found.append(f"line {stmt.lineno}: a module-level mutable value")
    return found


def reads_clock_or_chance(node: ast.Attribute, tree: ast.Module) -> bool:
    """``x.now()`` called on anything but ``workflow``, or ``datetime.now`` & co. even uncalled
    (a field that happens to be named ``now`` and is only read is no clock)."""
    owner = node.value
    base = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else None
    if base == "workflow":
        return False
    called = any(isinstance(c, ast.Call) and c.func is node for c in ast.walk(tree))
    return called or base in CLOCK_MODULES


def mutable(value: ast.expr) -> bool:
    if isinstance(value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)):
        return True
    if isinstance(value, ast.Call):
        func = value.func
        called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        return called in MUTABLE_BUILDERS
    return False


def test_the_workflow_classes_modules_stay_in_the_sandbox() -> None:
    assert not any(passed_through(m) for m in SANDBOXED)
    code = workflow_code()
    assert set(code) >= SANDBOXED
    # everything else workflow code reaches is passed through, so checked below
    assert [m for m in code if m not in SANDBOXED and not passed_through(m)] == []


@pytest.mark.parametrize("name", sorted(m for m in workflow_code() if m not in SANDBOXED))
def test_passed_through_workflow_code_is_deterministic(name: str) -> None:
    assert problems(workflow_code()[name]) == []


#: module-level values shared by every run are fine when nothing can change them in place
MUTABLE_TYPES = (list, dict, set, bytearray, collections.deque)


def shared_state(module: object) -> list[str]:
    """Module-level values of a passed-through module that a workflow run could change for the
    next: mutable containers, and instances of our own classes unless frozen dataclasses or enum
    members (what the source check cannot see: ``DEFAULT = RuleConfig()``)."""
    found = []
    for name, value in vars(module).items():
        if name.startswith("__"):
            continue  # the interpreter's own (__builtins__, __annotations__)
        kind = type(value)
        if isinstance(value, MUTABLE_TYPES):
            found.append(f"{name}: a {kind.__name__}")
        elif kind.__module__.split(".")[0] in ("workflows", "ilea") and not (
            isinstance(value, enum.Enum) or (dataclasses.is_dataclass(value) and kind.__dataclass_params__.frozen)  # type: ignore[attr-defined]
        ):
            found.append(f"{name}: a {kind.__name__} that can change")
        elif callable(value) and hasattr(value, "cache_info"):
            found.append(f"{name}: a cache (functools)")
    return found


@pytest.mark.parametrize("name", sorted(m for m in workflow_code() if m not in SANDBOXED))
def test_passed_through_modules_share_nothing_that_can_change(name: str) -> None:
    assert shared_state(importlib.import_module(name)) == []


def test_the_shared_state_check_finds() -> None:
    @dataclasses.dataclass
    class Loose:
        n: int = 0

    @dataclasses.dataclass(frozen=True)
    class Fixed:
        n: int = 0

    Loose.__module__ = Fixed.__module__ = "workflows.example"
    module = types.SimpleNamespace(
        SEEN={}, LOOSE=Loose(), FIXED=Fixed(), NAMES=("a",), KINDS=frozenset(), cached=functools.cache(len)
    )
    assert shared_state(module) == ["SEEN: a dict", "LOOSE: a Loose that can change", "cached: a cache (functools)"]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("from datetime import datetime\ndef f():\n    return datetime.now()\n", "line 3: .now"),
        ("import datetime\nx = datetime.date.today\n", "line 2: .today"),
        ("from datetime import date\ntoday = date.today\n", "line 2: .today"),
        ("def f(clock):\n    return clock.now()\n", "line 2: .now"),
        ("import uuid\ndef f():\n    return uuid.uuid4()\n", "line 3: .uuid4"),
        ("def f(p):\n    return open(p).read()\n", "line 2: open"),
        ("import os\n", "imports os"),
        ("from pathlib import Path\n", "imports pathlib"),
        ("import time\n", "imports time"),
        ("from . import rules\n", "imports ."),
        ("SEEN = {}\n", "line 1: a module-level mutable value"),
        ("SEEN: list[str] = list()\n", "line 1: a module-level mutable value"),
        ("def f():\n    global N\n", "line 2: global N"),
    ],
)
def test_the_check_finds(source: str, problem: str) -> None:
    assert problem in problems(ast.parse(source))


def test_the_check_allows_the_workflows_own_clock_and_ids() -> None:
    source = (
        "from temporalio import workflow\ndef f():\n    return workflow.now(), workflow.uuid4()\nDONE = frozenset()\n"
    )
    assert problems(ast.parse(source)) == []
