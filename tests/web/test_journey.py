"""One proposal's whole journey, by people at a real browser (headless Chromium over the DevTools protocol).

The program officer submits a Board-bound proposal on the new-proposal form; the four ISG seats concur from
their inboxes; the chair approves from hers; the Treasury and DHS coordinators each book an instructor from
theirs. Meanwhile the program officer keeps the board open in a browser of her own (own profile, own session),
and sees the row turn to Scheduled without reloading, from the page's own 5 s poll.

Screenshots of the board, the proposal page and an inbox land in ``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from ilea.domain import Agency
from tests.support import seed_instructors
from tests.web.test_browser import BROWSER, Cdp, chromium, keep, served  # noqa: F401  (served: a fixture, reused)

pytestmark = pytest.mark.skipif(BROWSER is None, reason="no headless Chromium installed")

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
TITLE = "Journey: countering illicit finance in the Danube region"


def save(tmp_path: Path, name: str, data: bytes) -> None:
    """Keep a screenshot with the test (and ``ILEA_SCREENSHOT_DIR``), and always in ``artifacts/screenshots``."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, f"{name} looks blank"
    keep(tmp_path / name, data)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / name, ARTIFACTS / name)


async def sign_in_as(page: Cdp, base: str, sub: str, then: str) -> None:
    """Choose a demo user on the development login page and land on ``then``."""
    await page.goto(f"{base}/ui/login?next={then}")
    await page.eval(f"document.getElementById({json.dumps('u-' + sub)}).click()")
    await page.eval("document.querySelector('form[action=\"/ui/login\"] button[type=submit]').click()")
    await page.until(f"location.pathname === {json.dumps(then)} && document.readyState === 'complete'")


async def fill_and_submit(page: Cdp, form: str, values: dict[str, str]) -> None:
    """Set the form's fields by name (inputs, selects, textareas) and press its submit button."""
    await page.eval(
        f"(() => {{ const f = document.querySelector({json.dumps(form)});"
        " if (!f) throw new Error('no form ' + " + json.dumps(form) + ");"
        f" const values = {json.dumps(values)};"
        " for (const [name, value] of Object.entries(values)) {"
        "   const el = f.querySelector('[name=\"' + name + '\"]');"
        "   if (!el) throw new Error('no field ' + name);"
        "   el.value = value;"
        "   if (el.value !== value) throw new Error('cannot set ' + name + ' to ' + value); }"
        " f.querySelector('button[type=submit]').click(); })()"
    )


def board_row(title: str) -> str:
    """JS: the board row's stage cell text for the proposal ('' while absent)."""
    return (
        "(() => { const tr = [...document.querySelectorAll('#board-rows tr')]"
        f".find(r => r.cells[0] && r.cells[0].innerText.includes({json.dumps(title)}));"
        " return tr ? tr.cells[1].innerText.trim() : ''; })()"
    )


async def test_a_proposal_from_the_form_to_scheduled_in_chromium(
    api: httpx.AsyncClient,
    served: str,  # noqa: F811  (the imported fixture)
    pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    staff = await seed_instructors(pool)
    start = datetime.now(UTC).date() + timedelta(days=90)
    (tmp_path / "officer").mkdir()
    (tmp_path / "others").mkdir()
    async with chromium(tmp_path / "officer") as board, chromium(tmp_path / "others") as page:
        # 1. The program officer fills in the new-proposal form: specialized, 5 days, 3 countries, Board-level cost.
        await sign_in_as(board, served, "demo-po", "/ui/new")
        await fill_and_submit(
            board,
            'form.proposal[action="/ui/new"]',
            {
                "title": TITLE,
                "academy": "BUD",
                "course_type": "specialized",
                "topic": "corruption_financial_crimes",
                "start_date": start.isoformat(),
                "end_date": (start + timedelta(days=4)).isoformat(),
                "seats": "24",
                "participating_countries": "HU, RO, RS",
                "estimated_cost_usd": "180,000",
                "justification": "Regional demand for financial investigations training.",
                "need_0_agency": "TREASURY",
                "need_0_expertise": "corruption_financial_crimes",
                "need_0_count": "1",
                "need_1_agency": "DHS",
                "need_1_expertise": "corruption_financial_crimes",
                "need_1_count": "1",
            },
        )
        await board.until(
            "location.pathname.startsWith('/ui/proposals/')"
            " && document.body.innerText.includes('The proposal is submitted')"
        )
        pid = (await board.eval("location.pathname")).removeprefix("/ui/proposals/")
        shown = await board.eval("document.body.innerText")
        assert TITLE in shown and "ISG review" in shown

        # 2. Each ISG seat concurs from its inbox.
        for seat in ("state", "treasury", "dhs", "doj"):
            await sign_in_as(page, served, f"demo-isg-{seat}", "/ui/inbox")
            form = f'form[action="/ui/proposals/{pid}/vote"]'
            await page.until(f"!!document.querySelector({json.dumps(form)})")
            if seat == "state":
                save(tmp_path, "journey-inbox.png", await page.screenshot())
            await fill_and_submit(page, form, {"vote": "concur", "comment": f"{seat.upper()} concurs"})
            await page.until("document.body.innerText.includes('Your vote is recorded.')")
        await page.goto(f"{served}/ui/proposals/{pid}")
        await page.until("document.body.innerText.includes('Policy Board review')")

        # 3. The chair approves from her inbox.
        await sign_in_as(page, served, "demo-chair", "/ui/inbox")
        form = f'form[action="/ui/proposals/{pid}/decision"]'
        await page.until(f"!!document.querySelector({json.dumps(form)})")
        await fill_and_submit(page, form, {"decision": "approve", "comment": "Approved for FY funding"})
        await page.until("document.body.innerText.includes('The decision is recorded.')")
        await page.goto(f"{served}/ui/proposals/{pid}")
        await page.until("document.body.innerText.includes('Staffing')")

        # The program officer opens the board now (before the last booking) and leaves it alone.
        await board.goto(f"{served}/ui/board")
        await board.until(f"{board_row(TITLE)} === 'Staffing'")
        await board.eval("window.__notReloaded = true")

        # 4. Each coordinator books one of their free instructors from the inbox.
        for agency, coordinator in ((Agency.TREASURY, "demo-coord-treasury"), (Agency.DHS, "demo-coord-dhs")):
            await sign_in_as(page, served, coordinator, "/ui/inbox")
            form = 'form[action^="/ui/requests/"][action$="/accept"]'
            await page.until(
                f"(() => {{ const f = document.querySelector({json.dumps(form)});"
                " return !!f && !!f.querySelector('select[name=instructor_id] option[value]:not([value=\"\"])'); })()"
            )
            picked = await page.eval(
                f"document.querySelector({json.dumps(form)}).querySelector('select[name=instructor_id]').options[0].value"
            )
            assert picked in staff[agency]  # from the seeded roster, and free
            await fill_and_submit(page, form, {"instructor_id": picked})
            await page.until("document.body.innerText.includes('The instructor is booked.')")

        # 5. The board the officer left open turns the row to Scheduled by itself, within a few polls.
        await board.until(f"{board_row(TITLE)} === 'Scheduled'", within=15)
        assert await board.eval("window.__notReloaded === true"), "the board page was reloaded"
        assert await board.eval("document.getElementById('live-status').innerText.startsWith('Updated')")
        assert await board.eval("document.querySelector('[data-stage=\"scheduled\"]').textContent") == "1"
        save(tmp_path, "journey-board.png", await board.screenshot())

        await board.goto(f"{served}/ui/proposals/{pid}")
        shown = await board.eval("document.body.innerText")
        assert "Scheduled" in shown and "Treasury Instructor" in shown and "Dhs Instructor" in shown
        save(tmp_path, "journey-proposal.png", await board.screenshot())
