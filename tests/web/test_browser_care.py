"""In the browser, at 1280 and 390 px (axe: no serious or critical violation; no sideways scrolling;
a screenshot of each state in artifacts/screenshots/): the notifications page marked read and
filtered, and the proposal page's hand-over, refused and done."""

from __future__ import annotations

import re

import asyncpg
import httpx
from playwright.async_api import Browser, Page, expect

from ilea.db import people
from ilea.domain import Agency, Role
from tests.api.conftest import TokenFor
from tests.web.browser import WIDTHS, axe_problems, needs_chromium, new_page, overflow, shoot, sign_in
from tests.web.test_browser import submit

pytestmark = needs_chromium


async def _checked(page: Page, name: str, label: str) -> None:
    """axe, no sideways scroll, and the screenshot of the page as it is now."""
    problems = await axe_problems(page)
    assert not problems, f"{name} @{label}:\n  " + "\n  ".join(problems)
    assert await overflow(page) <= 0, f"{name} scrolls sideways at {label}"
    await shoot(page, f"{name}-{label}")


async def test_notifications_marked_read_and_filtered_at_both_widths(
    api: httpx.AsyncClient, auth: TokenFor, served: str, browser: Browser
) -> None:
    for title in ("Countering wildlife trafficking", "Cybercrime for prosecutors", "Leadership for investigators"):
        await submit(api, auth, title)  # each asks the DHS ISG seat for a vote
    for label, width in WIDTHS.items():
        context, page = await new_page(browser, width)
        try:
            await sign_in(page, served, "demo-isg-dhs", "/ui/notifications")
            cards = page.locator("li.usa-card")
            unread = page.locator("li.usa-card.ilea-unread")
            await expect(unread.first).to_contain_text("Unread")
            before = await unread.count()
            assert before >= 2
            await _checked(page, "notifications-unread", label)

            subject = (await unread.first.locator("h2").text_content() or "").strip().removeprefix("Unread").strip()
            await unread.first.get_by_role("button", name=re.compile("^Mark as read")).click()
            await expect(page.locator(".usa-alert--success")).to_contain_text(f"“{subject}” is marked read.")
            await expect(unread).to_have_count(before - 1)
            read = cards.filter(has_text=subject)
            await expect(read).to_contain_text("Read ·")
            await expect(read.get_by_role("button", name=re.compile("^Mark as read"))).to_have_count(0)
            await _checked(page, "notifications-read", label)

            await page.get_by_role("link", name="Unread only").click()
            await expect(page.get_by_role("link", name="Unread only")).to_have_attribute("aria-current", "true")
            await expect(cards).to_have_count(before - 1)
            await expect(cards.filter(has_text=subject)).to_have_count(0)
            await _checked(page, "notifications-unread-only", label)
        finally:
            await context.close()


async def test_hand_over_refused_then_done_at_both_widths(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool, served: str, browser: Browser
) -> None:
    await people.put(
        pool,
        sub="demo-po-2",
        name="Jordan Ellis",
        email="ellis@state.gov",
        agency=Agency.STATE,
        roles=[Role.program_officer],
        actor="admin",
    )
    for label, width in WIDTHS.items():
        pid = await submit(api, auth, f"Border security for {label} readers")  # owned by demo-po
        context, page = await new_page(browser, width)
        try:
            await sign_in(page, served, "demo-po", f"/ui/proposals/{pid}")
            field = page.get_by_label("Hand the proposal over to")
            await expect(field).to_be_visible()
            await field.scroll_into_view_if_needed()
            await _checked(page, "handover-form", label)

            # to the owner now: refused, the typed login kept, the reason in the focused error summary
            await field.fill("demo-po")
            await page.get_by_role("button", name="Hand over").click()
            summary = page.locator("#error-summary")
            await expect(summary).to_be_focused()
            await expect(summary).to_contain_text("New owner: demo-po already owns this proposal")
            await expect(field).to_have_value("demo-po")
            await expect(field).to_have_attribute("aria-invalid", "true")
            await _checked(page, "handover-refused", label)

            await field.fill("demo-po-2")
            await page.get_by_role("button", name="Hand over").click()
            await expect(page.locator(".usa-alert--success")).to_contain_text(
                "The proposal is handed over to Jordan Ellis."
            )
            await expect(page.locator("#timeline ~ *").last).to_contain_text(
                "handed the proposal over from demo-po to Jordan Ellis."
            )
            await _checked(page, "handover-done", label)
        finally:
            await context.close()
        doc = (await api.get(f"/v1/proposals/{pid}", headers=auth("demo-po", "STATE", "program_officer"))).json()
        assert doc["owner"] == "demo-po-2"
