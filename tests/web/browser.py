"""Playwright helpers for the browser tests: the served app, sign-in, keyboard-only moves, axe, screenshots.

The browser is Debian's Chromium (``/usr/bin/chromium``; ``.ci/run`` installs it), launched once per
session by pytest-playwright-asyncio through ``browser_type_launch_args`` in ``tests/web/conftest.py``:
nothing is downloaded. Screenshots land in ``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import uvicorn
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Page
from playwright.async_api import Error as PlaywrightError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from ilea.devstack import free_port
from ilea.settings import Settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
WIDTHS = {"desktop": 1280, "phone": 390}
#: axe-core impact levels that fail a page (Section 508 / WCAG 2.1 AA as axe tags them)
BLOCKING = {"serious", "critical"}
_AXE = Axe()


async def serve(settings: Settings, pool: asyncpg.Pool, env: WorkflowEnvironment) -> AsyncIterator[str]:
    """The app on a real local port (the ``api`` fixture's worker runs the workflows)."""
    app = create_app(settings, pool=pool, temporal=env.client)
    app.state.live_interval_ms = 600  # the pages' live refresh, faster than the 5 s people get
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


async def new_page(browser: Browser, width: int = 1280, **kw: Any) -> tuple[BrowserContext, Page]:
    """A fresh context (own cookies) and page at ``width`` px; the caller closes the context."""
    context = await browser.new_context(viewport={"width": width, "height": 900}, **kw)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    return context, page


async def sign_in(page: Page, base: str, sub: str, then: str = "/ui/inbox") -> None:
    """Choose a demo user on the development sign-in page and land on ``then``."""
    await page.goto(f"{base}/ui/login?next={then}")
    await page.locator(f"label[for=u-{sub}]").click()  # USWDS draws the radio on its label
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(re.escape(base + then.split("?")[0])))


async def tab_to(page: Page, selector: str, *, limit: int = 150) -> None:
    """Press Tab (only the keyboard) until the element matching ``selector`` has the focus."""
    await page.wait_for_load_state()
    for _ in range(limit):
        try:
            if await page.evaluate("s => { const a = document.activeElement; return !!a && a.matches(s); }", selector):
                return
        except PlaywrightError:  # a navigation the last key started: wait for the new page
            await page.wait_for_load_state()
            continue
        await page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never took the focus after {limit} Tabs")


async def axe_problems(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is, one line each."""
    result = await _AXE.run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result.response["violations"]
        if v.get("impact") in BLOCKING
    ]


async def shoot(page: Page, name: str) -> Path:
    """A full-page screenshot in ``artifacts/screenshots/``; a blank page fails."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    data = await page.screenshot(path=str(path), full_page=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 15_000, f"{name} looks blank"
    return path


async def overflow(page: Page) -> int:
    """How many pixels the page is wider than its viewport (0: no sideways scrolling)."""
    return int(await page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def js(value: Any) -> str:
    return json.dumps(value)


needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
