"""The in-process app of the API tests, a browser-like session helper, and the served app for Playwright."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from ilea.domain import Agency, Role
from ilea.settings import Settings
from ilea.tokens import issue_token
from tests.api.conftest import api, auth, settings  # noqa: F401  (fixtures reused as they are)
from tests.web.browser import CHROMIUM, serve

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def sign_in(client: httpx.AsyncClient, cfg: Settings, sub: str, agency: str, *roles: str) -> None:
    """Put a session cookie on the client, as the login page would."""
    token = issue_token(cfg, sub=sub, agency=Agency(agency), roles=[Role(r) for r in roles], name=sub)
    client.cookies.set("ilea_session", token, domain="ilea.test")


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


class _FormReader(HTMLParser):
    """The values a browser would send for one form: inputs, checked radios/checkboxes, selected options, textareas."""

    def __init__(self, action: str) -> None:
        super().__init__(convert_charrefs=True)
        self.action, self.inside, self.values = action, False, {}  # type: ignore[var-annotated]
        self._select: str | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action
        if not self.inside or not a.get("name", tag == "option"):
            return
        if tag == "input" and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("radio", "checkbox") and "checked" not in a:
                return
            self.values[a["name"]] = a.get("value", "")
        elif tag == "select":
            self._select = a["name"]
            self.values.setdefault(a["name"], None)
        elif tag == "option" and self._select:
            if self.values.get(self._select) is None and "selected" in a:
                self.values[self._select] = a.get("value", "")
            self._first_option = self._first_option if self._first_option is not None else a.get("value", "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.values[a["name"]] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select:
            if self.values.get(self._select) is None:
                self.values[self._select] = self._first_option or ""
            self._select, self._first_option = None, None
        elif tag == "textarea":
            self._textarea = None


def form_fields(html: str, action: str) -> dict[str, str]:
    """What submitting the form with this ``action`` unchanged would send."""
    reader = _FormReader(action)
    reader.feed(html)
    assert reader.values, f"no form posting to {action}"
    return dict(reader.values)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    """pytest-playwright-asyncio launches Debian's Chromium once per session: no browser download."""
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    return {
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
async def served(
    api: httpx.AsyncClient,  # noqa: F811  (the imported fixture: its worker runs the workflows)
    dev_env: WorkflowEnvironment,
    pool: asyncpg.Pool,
    settings: Settings,  # noqa: F811
) -> AsyncIterator[str]:
    """The app on a local port, sharing the ``api`` fixture's database and worker."""
    async for base in serve(settings, pool, dev_env):
        yield base
