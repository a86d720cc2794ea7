"""The dashboard in a real browser (Playwright driving Debian's Chromium), as each role uses it.

- axe-core on every page each role sees, at 1280 and 390 px: no serious or critical violation, no
  sideways scrolling at 390 px; a screenshot of each page at both widths in artifacts/screenshots/.
- A refused vote keeps Non-concur and the typed text; the live refresh never touches a form being filled.
- A keyboard-only journey (Tab, Enter, Space; no mouse): sign in, submit, vote, decide.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from playwright.async_api import Browser, Page, expect

from ilea.demo import DEMO_USERS
from tests.api.conftest import TokenFor
from tests.support import fields, seed_instructors
from tests.web.browser import WIDTHS, axe_problems, needs_chromium, new_page, overflow, shoot, sign_in, tab_to

pytestmark = needs_chromium

PO = ("demo-po", "STATE", "program_officer")
SEATS = ("STATE", "TREASURY", "DHS", "DOJ")


def seat(agency: str) -> tuple[str, str, str]:
    return (f"demo-isg-{agency.lower()}", agency, "isg_member")


async def submit(api: httpx.AsyncClient, auth: TokenFor, title: str, **kw: Any) -> str:
    r = await api.post("/v1/proposals", json=fields(title=title, **kw).model_dump(mode="json"), headers=auth(*PO))
    assert r.status_code == 201, r.text
    pid: str = r.json()["id"]
    return pid


async def post(
    api: httpx.AsyncClient, auth: TokenFor, who: tuple[str, str, str], path: str, body: dict[str, Any]
) -> Any:
    r = await api.post(path, json=body, headers=auth(*who))
    assert r.status_code == 200, r.text
    return r.json()


async def world(api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool) -> dict[str, str]:
    """Proposals in the stages people meet: ISG review, Board review with dissent, staffing, withdrawn."""
    await seed_instructors(pool)
    ids: dict[str, str] = {}
    ids["isg"] = await submit(api, auth, "Countering cybercrime in the Mekong")
    await post(
        api,
        auth,
        seat("STATE"),
        f"/v1/proposals/{ids['isg']}/isg-votes",
        {"vote": "nonconcur", "comment": "Overlaps the Bangkok course"},
    )
    ids["board"] = await submit(api, auth, "Leadership for prosecutors")
    for s in SEATS:
        vote = {"vote": "nonconcur", "comment": "Too costly for one academy"} if s == "DOJ" else {"vote": "concur"}
        await post(api, auth, seat(s), f"/v1/proposals/{ids['board']}/isg-votes", vote)
    await post(
        api,
        auth,
        ("demo-board-treasury", "TREASURY", "board_member"),
        f"/v1/proposals/{ids['board']}/board-positions",
        {"position": "concur", "comment": "Worth it"},
    )
    ids["staffing"] = await submit(api, auth, "Financial investigations for Central Europe")
    for s in SEATS:
        await post(api, auth, seat(s), f"/v1/proposals/{ids['staffing']}/isg-votes", {"vote": "concur"})
    doc = await post(
        api,
        auth,
        ("demo-chair", "STATE", "board_chair"),
        f"/v1/proposals/{ids['staffing']}/board-decision",
        {"decision": "approve"},
    )
    first = doc["instructor_requests"][0]
    ids["request"], ids["coordinator"] = first["id"], f"demo-coord-{first['agency'].lower()}"
    ids["withdrawn"] = await submit(api, auth, "Hate crimes investigations")
    await post(
        api, auth, PO, f"/v1/proposals/{ids['withdrawn']}/withdraw", {"reason": "The budget moved to another academy"}
    )
    return ids


def pages_of(ids: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """Each demo user and the pages they use: (name for the screenshot, path)."""
    common = [("board", "/ui/board"), ("inbox", "/ui/inbox"), ("notifications", "/ui/notifications")]
    po, isg, board, staff = (f"/ui/proposals/{ids[k]}" for k in ("withdrawn", "isg", "board", "staffing"))
    return {
        "demo-po": [*common, ("mine", "/ui/mine"), ("new", "/ui/new"), ("reports", "/ui/reports"),
                    ("proposal-staffing", staff), ("withdraw", f"{isg}/withdraw"), ("proposal-withdrawn", po)],
        "demo-isg-dhs": [*common, ("vote", f"{isg}/vote"), ("proposal-isg", isg)],
        "demo-board-dhs": [("inbox", "/ui/inbox"), ("position", f"{board}/position")],
        "demo-chair": [("inbox", "/ui/inbox"), ("decision", f"{board}/decision"), ("proposal-board", board)],
        ids["coordinator"]: [("inbox", "/ui/inbox"), ("request", f"/ui/requests/{ids['request']}"),
                           ("roster", "/ui/roster")],
        "demo-auditor": [("board", "/ui/board"), ("reports", "/ui/reports"), ("verify", f"{staff}/verify")],
    }  # fmt: skip


#: Tags (a stage, Overdue, a count) drawn over more than one line: two half-boxes, not one tag.
BROKEN_TAGS = (
    "() => [...document.querySelectorAll('.usa-tag')].filter(t => t.getClientRects().length > 1)"
    ".map(t => t.textContent.trim())"
)


async def test_every_page_for_every_role_at_both_widths_passes_axe(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool, served: str, browser: Browser
) -> None:
    ids = await world(api, auth, pool)
    problems: dict[str, list[str]] = {}
    checked = 0
    for label, width in WIDTHS.items():
        shot: set[str] = set()
        context, page = await new_page(browser, width)
        try:
            await page.goto(f"{served}/ui/login")
            problems |= {f"login@{width}": p for p in [await axe_problems(page)] if p}
            await shoot(page, f"login-{label}")
            for user, paths in pages_of(ids).items():
                await sign_in(page, served, user, "/ui/board")
                for name, path in paths:
                    response = await page.goto(served + path)
                    assert response is not None and response.status == 200, (
                        f"{user} {path}: {response and response.status}"
                    )
                    found = await axe_problems(page)
                    if found:
                        problems[f"{user} {path} @{width}"] = found
                    if width == WIDTHS["phone"]:
                        assert await overflow(page) <= 0, f"{user} {path} scrolls sideways at {width} px"
                    broken = await page.evaluate(BROKEN_TAGS)
                    assert broken == [], f"{user} {path} at {width} px: tags over two lines {broken}"
                    if name not in shot:  # each page once per width, as the first role to use it sees it
                        await shoot(page, f"{name}-{label}")
                        shot.add(name)
                    checked += 1
        finally:
            await context.close()
    assert checked == 2 * sum(len(p) for p in pages_of(ids).values())
    assert not problems, "\n".join(f"{k}:\n  " + "\n  ".join(v) for k, v in problems.items())


async def test_a_refused_vote_keeps_non_concur_and_the_typed_text(
    api: httpx.AsyncClient, auth: TokenFor, served: str, browser: Browser
) -> None:
    pid = await submit(api, auth, "Countering wildlife trafficking")
    context, page = await new_page(browser)
    try:
        await sign_in(page, served, "demo-isg-dhs", "/ui/inbox")
        await page.get_by_role("link", name=re.compile("^Vote")).click()
        await expect(page.locator("input[name=vote]:checked")).to_have_count(0)  # nothing preset
        # "comment required": the refusal comes back with Non-concur still chosen
        await page.locator("label[for=vote-nonconcur]").click()
        await page.get_by_role("button", name="Record the vote").click()
        await expect(page.locator("#error-summary")).to_be_focused()
        await expect(page.locator("#vote-nonconcur")).to_be_checked()
        # meanwhile the proposal is withdrawn: the typed vote is refused and kept as it was
        await post(api, auth, PO, f"/v1/proposals/{pid}/withdraw", {"reason": "The course moved to next fiscal year"})
        typed = "DHS cannot support this: no maritime component.\nSee our memo of 3 March."
        await page.get_by_label("Comment").fill(typed)
        await page.get_by_role("button", name="Record the vote").click()
        summary = page.locator("#error-summary")
        await expect(summary).to_be_focused()
        await expect(summary).to_contain_text("Refused:")
        await expect(page.locator("#vote-nonconcur")).to_be_checked()
        await expect(page.locator("#vote-concur")).not_to_be_checked()
        await expect(page.get_by_label("Comment")).to_have_value(typed)
        await shoot(page, "refused-vote-desktop")
    finally:
        await context.close()
    doc = (await api.get(f"/v1/proposals/{pid}", headers=auth(*PO))).json()
    assert doc["isg_votes"] == []  # nothing was recorded, let alone a Concur


async def test_the_live_refresh_never_touches_a_form_being_filled(
    api: httpx.AsyncClient, auth: TokenFor, served: str, browser: Browser
) -> None:
    first = await submit(api, auth, "First course on the board")
    context, page = await new_page(browser)
    try:
        await sign_in(page, served, "demo-auditor", "/ui/board")
        await page.evaluate("window.__notReloaded = true")
        # untouched, the rows refresh by themselves (every 0.6 s here, 5 s for people)
        await post(api, auth, seat("DHS"), f"/v1/proposals/{first}/isg-votes", {"vote": "concur"})
        await submit(api, auth, "Second course, arrived later")
        await expect(page.locator("#board-rows")).to_contain_text("Second course, arrived later")
        await expect(page.locator("#live-status")).to_contain_text("Updated")
        # a keyboard user on a row's link keeps their place: the rows wait while the focus is in them
        # (replacing them dropped the focus, and the Enter that followed went nowhere)
        link = page.locator("#board-rows a").first
        await link.focus()
        held = await page.locator("#board-rows").inner_html()
        await submit(api, auth, "Course arriving while a row has the focus")
        await asyncio.sleep(2.5)  # several refresh periods
        await expect(link).to_be_focused()
        assert await page.locator("#board-rows").inner_html() == held
        await link.blur()
        await expect(page.locator("#board-rows")).to_contain_text("Course arriving while a row has the focus")
        # half-filled: typed text, a chosen option, the focus; more proposals arrive; nothing changes
        search = page.get_by_label("Title or reference")
        await search.fill("mekong cyber")
        await page.get_by_label("Academy").select_option("BKK")
        await search.focus()
        before = await page.locator("#board-rows").inner_html()
        await submit(api, auth, "Third course, while the form is filled")
        await asyncio.sleep(2.5)  # several refresh periods
        await expect(search).to_have_value("mekong cyber")
        await expect(search).to_be_focused()
        await expect(page.get_by_label("Academy")).to_have_value("BKK")
        assert await page.locator("#board-rows").inner_html() == before
        assert await page.evaluate("window.__notReloaded === true")
    finally:
        await context.close()


async def _keyboard_sign_in(page: Page, base: str, sub: str, then: str) -> None:
    """The sign-in page by keyboard: Tab into the radio group, arrow down to the person, Enter."""
    await page.context.clear_cookies()
    await page.goto(f"{base}/ui/login?next={then}")
    await tab_to(page, "input[name=sub]:checked")
    for _ in range([u.sub for u in DEMO_USERS].index(sub)):
        await page.keyboard.press("ArrowDown")
    await expect(page.locator(f"#u-{sub}")).to_be_focused()
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(re.escape(then) + "$"))


async def _keyboard_fill(page: Page, selector: str, text: str) -> None:
    await tab_to(page, selector)
    await page.keyboard.type(text)


async def test_keyboard_only_submit_vote_and_decide(
    api: httpx.AsyncClient, auth: TokenFor, pool: asyncpg.Pool, served: str, browser: Browser
) -> None:
    """Tab, Shift+Tab, Space, Enter and typing only: no clicks, no mouse."""
    await seed_instructors(pool)
    start = datetime.now(UTC).date() + timedelta(days=90)
    context, page = await new_page(browser)
    try:
        await _keyboard_sign_in(page, served, "demo-po", "/ui/new")
        await _keyboard_fill(page, "#title", "Keyboard: countering illicit finance")
        await tab_to(page, "#academy")
        await page.keyboard.type("BUD")  # typing selects the option in a focused select
        await tab_to(page, "#topic")
        await page.keyboard.type("corruption")
        await tab_to(page, "#start_date")
        await page.keyboard.type(start.strftime("%m%d%Y"))
        await tab_to(page, "#end_date")
        await page.keyboard.type((start + timedelta(days=4)).strftime("%m%d%Y"))
        await _keyboard_fill(page, "#seats", "24")
        await _keyboard_fill(page, "#participating_countries", "HU, RO")
        await _keyboard_fill(page, "#estimated_cost_usd", "180000")
        await tab_to(page, "#need_0_agency")
        await page.keyboard.type("TREASURY")
        await tab_to(page, "#need_0_expertise")
        await page.keyboard.type("corruption")
        await tab_to(page, "button.usa-button[type=submit]:not([name])")
        await page.keyboard.press("Enter")
        await page.wait_for_url(re.compile(r"/ui/proposals/[0-9a-f-]+$"))
        await expect(page.locator(".usa-alert--success")).to_contain_text("The proposal is submitted")
        pid = page.url.rsplit("/", 1)[1]

        # the four seats vote from their inboxes: Tab to the task, Enter, Space on a radio, type, Enter
        for agency in SEATS:
            await _keyboard_sign_in(page, served, f"demo-isg-{agency.lower()}", "/ui/inbox")
            await tab_to(page, f'a[href="/ui/proposals/{pid}/vote"]')
            await page.keyboard.press("Enter")
            await page.wait_for_url(re.compile("/vote$"))
            await tab_to(page, "#vote-concur")
            await page.keyboard.press("Space")
            await _keyboard_fill(page, "#comment", f"{agency} concurs")
            await tab_to(page, "form[method=post] button[type=submit]")
            await page.keyboard.press("Enter")
            await expect(page.locator(".usa-alert--success")).to_contain_text("Your vote is recorded.")

        # the chair decides: approve with a comment
        await _keyboard_sign_in(page, served, "demo-chair", "/ui/inbox")
        await tab_to(page, f'a[href="/ui/proposals/{pid}/decision"]')
        await page.keyboard.press("Enter")
        await tab_to(page, "#decision-approve")
        await page.keyboard.press("Space")
        await _keyboard_fill(page, "#comment", "Approved for FY27")
        await tab_to(page, "form[method=post] button[type=submit]")
        await page.keyboard.press("Enter")
        await expect(page.locator(".usa-alert--success")).to_contain_text("The decision is recorded.")
    finally:
        await context.close()
    doc = (await api.get(f"/v1/proposals/{pid}", headers=auth(*PO))).json()
    assert doc["stage"] == "staffing" and doc["board_decision"]["comment"] == "Approved for FY27"
    events = (await api.get(f"/v1/proposals/{pid}/events", headers=auth(*PO))).json()["items"]
    assert sorted(e["detail"]["comment"] for e in events if e["action"] == "isg_vote") == sorted(
        f"{a} concurs" for a in SEATS
    )


async def test_the_accessibility_check_can_fail(browser: Browser) -> None:
    """axe really runs: an image without a text alternative is a critical violation."""
    context, page = await new_page(browser)
    try:
        await page.set_content('<html lang="en"><title>t</title><main><h1>x</h1><img src="data:,"></main></html>')
        assert any(p.startswith("image-alt (critical)") for p in await axe_problems(page))
    finally:
        await context.close()
