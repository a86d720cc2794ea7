"""A person at a real browser signs in through the identity provider's own login page.

Playwright (Python, async API) drives the machine's Chromium against ILEA served on a real
port and the OpenID provider of ``conftest.py``: the person lands on their inbox with the
roles ILEA granted them, votes, and signs out of ILEA and of the provider; the session
cookie they had is refused afterwards.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from ilea.domain import Agency, Role
from ilea.settings import Settings
from ilea.tokens import issue_token
from tests.access.conftest import OpenIdProvider, access_log, grant
from tests.support import fields, running_worker

CHROMIUM = os.environ.get("ILEA_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-headless-shell")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed"), pytest.mark.timeout(240)]


@pytest.fixture
async def served(
    oidc_provider: OpenIdProvider, dev_env: WorkflowEnvironment, pool: asyncpg.Pool, task_queue: str
) -> AsyncIterator[tuple[str, Settings]]:
    """ILEA on the port the provider knows, roles from grants, a worker running the workflows."""
    settings = oidc_provider.settings(task_queue)
    app = create_app(settings, pool=pool, temporal=dev_env.client)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=oidc_provider.app_port, log_level="warning", lifespan="on")
    )
    async with running_worker(dev_env.client, pool, task_queue):
        task = asyncio.create_task(server.serve())
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started
        try:
            yield f"http://127.0.0.1:{oidc_provider.app_port}", settings
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, timeout=10)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def local_only(page: Page) -> None:
    """Nothing leaves the machine (the provider's pages link a web font)."""

    async def route(r: object) -> None:
        request = r.request  # type: ignore[attr-defined]
        if request.url.startswith("http://127.0.0.1:"):
            await r.continue_()  # type: ignore[attr-defined]
        else:
            await r.abort()  # type: ignore[attr-defined]

    await page.route("**/*", route)


def keep(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    folder = os.environ.get("ILEA_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)


async def test_sign_in_at_the_provider_vote_and_sign_out(
    served: tuple[str, Settings], browser: Browser, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    base, settings = served
    title = "Investigating maritime smuggling"
    await grant(pool, "po-1", "STATE", "program_officer")
    await grant(pool, "00u-dana-brooks", "DHS", "isg_member", name="Dana Brooks")
    po = issue_token(settings, sub="po-1", agency=Agency.STATE, roles=[Role.program_officer])
    async with httpx.AsyncClient(base_url=base) as api:
        r = await api.post(
            "/v1/proposals",
            json=fields(title=title).model_dump(mode="json"),
            headers={"Authorization": f"Bearer {po}"},
        )
        assert r.status_code == 201, r.text
        pid = r.json()["id"]

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await local_only(page)

    # Straight to the inbox: ILEA sends the browser to the provider's own login page.
    await page.goto(f"{base}/ui/inbox")
    assert page.url.startswith(settings.oidc_issuer or "")
    await page.fill("input[name=login]", "00u-dana-brooks")
    await page.fill("input[name=password]", "correct horse battery staple")
    keep(tmp_path / "provider-login.png", await page.screenshot())
    await page.click("button[type=submit]")

    # Back at ILEA, on the inbox, with the roles the grant gives.
    await page.wait_for_url(f"{base}/ui/inbox")
    await expect(page.locator("header.usa-header")).to_contain_text("Dana Brooks")
    await expect(page.locator("header.usa-header")).to_contain_text("(DHS; isg member)")
    await expect(page.locator("main")).to_contain_text(title)
    keep(tmp_path / "inbox.png", await page.screenshot())
    cookies = {c["name"]: c for c in await context.cookies(base)}
    session = cookies["ilea_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax" and "." not in session["value"]

    # Acts: the ISG vote, from the inbox's task to its decision page.
    await page.locator(f'a[href="/ui/proposals/{pid}/vote"]').click()
    form = page.locator(f'form[action="/ui/proposals/{pid}/vote"]')
    await form.locator("label[for=vote-concur]").click()
    await form.locator("textarea[name=comment]").fill("DHS can support this course")
    await form.get_by_role("button", name="Record the vote").click()
    await expect(page.locator("main")).to_contain_text("Your vote is recorded.")
    async with httpx.AsyncClient(base_url=base) as api:
        doc = (await api.get(f"/v1/proposals/{pid}", headers={"Authorization": f"Bearer {po}"})).json()
    assert [(v["agency"], v["vote"], v["by"]) for v in doc["isg_votes"]] == [("DHS", "concur", "00u-dana-brooks")]

    # Sign out: ILEA ends the session, then the provider asks to confirm ending its own.
    await page.locator("header.usa-header").get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{settings.oidc_issuer}/session/end**")
    keep(tmp_path / "provider-logout.png", await page.screenshot())
    await page.get_by_role("button", name="Yes, sign me out").click()
    await page.wait_for_url(f"{base}/ui/signed-out**")
    await expect(page.locator("h1")).to_have_text("You are signed out")

    # The old cookie opens nothing: ILEA sends the browser to sign in again, and the
    # provider, whose session ended too, asks for the login again.
    await context.add_cookies([{**session}])  # type: ignore[list-item]
    await page.goto(f"{base}/ui/inbox")
    await page.wait_for_selector("input[name=login]")
    assert page.url.startswith(settings.oidc_issuer or "")
    async with httpx.AsyncClient(base_url=base, cookies={"ilea_session": session["value"]}) as stale:
        assert (await stale.get("/ui/inbox")).headers["location"].startswith("/ui/login")
        assert (await stale.get("/v1/tasks")).status_code == 401
    await context.close()

    mine = [e["action"] for e in await access_log(pool) if e["sub"] == "00u-dana-brooks"]
    assert mine == ["grant", "sign_in", "sign_out"]
