"""Chaos tests run only when ILEA_CHAOS=1 (`make chaos`): each starts its own stack."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator

import pytest

from tests.chaos.stack import ChaosStack, remove_stack, start_stack


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("ILEA_CHAOS") == "1":
        return
    skip = pytest.mark.skip(reason="chaos tests run with ILEA_CHAOS=1 (make chaos)")
    for item in items:
        if item.get_closest_marker("chaos"):
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        item.chaos_failed = True  # type: ignore[attr-defined]
    return report


@pytest.fixture
def chaos_stack(request: pytest.FixtureRequest) -> Iterator[ChaosStack]:
    stack = start_stack()
    try:
        yield stack
    finally:
        # Keep the logs and data of a failed run for a look.
        failed = getattr(request.node, "chaos_failed", False)
        remove_stack(stack, keep=failed or os.environ.get("ILEA_CHAOS_KEEP") == "1")
