"""A person at a real browser: headless Chromium, driven over the DevTools protocol, against the served app.

Signs in on the development login page, casts the last ISG vote with a comment
from the inbox form, and sees the vote and the new stage on the proposal page.
Needs only the Chromium binary (CI installs ``chromium-headless-shell``; see
``.ci/run``) and the ``websockets`` package uvicorn already brings.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment
from websockets.asyncio.client import ClientConnection, connect

from api.app import create_app
from ilea.devstack import free_port
from ilea.settings import Settings
from tests.api.conftest import TokenFor
from tests.web.test_pages import submit_via_api

BROWSER = shutil.which("chromium-headless-shell") or shutil.which("chromium") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no headless Chromium installed")


class Cdp:
    """A minimal Chrome DevTools protocol client for one page."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self._ws:
            msg = json.loads(raw)
            fut = self._waiting.pop(msg.get("id", -1), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        n = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[n] = fut
        await self._ws.send(json.dumps({"id": n, "method": method, "params": params}))
        msg = await asyncio.wait_for(fut, timeout=30)
        if "error" in msg:
            raise RuntimeError(f"{method}: {msg['error']}")
        result: dict[str, Any] = msg["result"]
        return result

    async def eval(self, expression: str) -> Any:
        r = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise RuntimeError(d.get("exception", {}).get("description") or d.get("text", "script error"))
        return r["result"].get("value")

    async def until(self, expression: str, within: float = 20) -> Any:
        """Evaluate until truthy (navigations in between are fine)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            with contextlib.suppress(RuntimeError):
                value = await self.eval(expression)
                if value:
                    return value
            if loop.time() > deadline:
                body = await self.eval("document.body ? document.body.innerText : ''")
                raise AssertionError(f"timed out waiting for {expression!r}; the page says:\n{body}")
            await asyncio.sleep(0.1)

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        await self.until(f"location.href === {json.dumps(url)} && document.readyState === 'complete'")

    async def screenshot(self) -> bytes:
        r = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        return base64.b64decode(r["data"])

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        await self._ws.close()


@contextlib.asynccontextmanager
async def chromium(tmp_path: Path) -> AsyncIterator[Cdp]:
    assert BROWSER is not None
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        BROWSER,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--window-size=1280,900",
        f"--remote-debugging-port={port}",
        f"--user-data-dir={tmp_path / 'profile'}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        # Debian's chromium-headless-shell is a shell script that runs the real binary as its
        # child: kill the whole group, or every test leaves a browser behind.
        start_new_session=True,
    )
    try:
        page_ws = None
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
                    page_ws = next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None)
                    if page_ws:
                        break
                await asyncio.sleep(0.1)
        assert page_ws, "Chromium's DevTools endpoint did not come up"
        cdp = Cdp(await connect(page_ws, max_size=None))
        try:
            await cdp.call("Page.enable")
            yield cdp
        finally:
            await cdp.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


@pytest.fixture
async def served(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment, pool: asyncpg.Pool, settings: Settings
) -> AsyncIterator[str]:
    """The app on a real local port (the ``api`` fixture's worker runs the workflows)."""
    app = create_app(settings, pool=pool, temporal=dev_env.client)
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


def keep(shot: Path, data: bytes) -> None:
    """Save a screenshot, and copy it where a person can look at it (``ILEA_SCREENSHOT_DIR``) if asked."""
    shot.write_bytes(data)
    folder = os.environ.get("ILEA_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(folder) / shot.name)


async def test_sign_in_and_vote_from_the_inbox_in_chromium(
    api: httpx.AsyncClient, auth: TokenFor, served: str, tmp_path: Path
) -> None:
    title = "Countering maritime smuggling"
    pid = await submit_via_api(api, auth, title)
    for seat in ("STATE", "TREASURY", "DOJ"):
        r = await api.post(
            f"/v1/proposals/{pid}/isg-votes", json={"vote": "concur"}, headers=auth(f"isg-{seat}", seat, "isg_member")
        )
        assert r.status_code == 200, r.text

    async with chromium(tmp_path) as page:
        # Sign in as the DHS ISG member on the development login page.
        await page.goto(f"{served}/ui/login?next=/ui/inbox")
        await page.eval("document.getElementById('u-demo-isg-dhs').click()")
        await page.eval("document.querySelector('form[action=\"/ui/login\"] button[type=submit]').click()")
        await page.until(f"location.pathname === '/ui/inbox' && document.body.innerText.includes({json.dumps(title)})")
        assert "Dana Brooks" in await page.eval("document.querySelector('header').innerText")
        keep(tmp_path / "inbox.png", await page.screenshot())

        # Vote with a comment through the inbox's form, as a person would: choose, type, press the button.
        form = f'form[action="/ui/proposals/{pid}/vote"]'
        await page.eval(
            f"(() => {{ const f = document.querySelector({json.dumps(form)});"
            " f.querySelector('select[name=vote]').value = 'concur';"
            " f.querySelector('input[name=comment]').value = 'Sound plan; DHS can staff it';"
            " f.querySelector('button[type=submit]').click(); })()"
        )
        await page.until("document.body.innerText.includes('Your vote is recorded.')")
        assert "Nothing is waiting on you." in await page.eval("document.body.innerText")

        # The proposal page shows the vote, its comment, and the stage it moved to.
        await page.goto(f"{served}/ui/proposals/{pid}")
        shown = await page.eval("document.body.innerText")
        assert "Sound plan; DHS can staff it" in shown
        assert "Policy Board review" in shown
        data = await page.screenshot()
        keep(tmp_path / "proposal.png", data)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
        # Nothing overflows the page sideways at 1280 px.
        assert await page.eval("document.documentElement.scrollWidth <= window.innerWidth")


async def test_coordinator_keeps_the_roster_in_chromium(
    api: httpx.AsyncClient, served: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await pool.execute(
        "INSERT INTO notifications (proposal_id, event_key, party, kind, subject, body, created_at)"
        " VALUES ('p-1', 'k', 'agency:DHS', 'pending_action', 'Instructor request: wildlife course', 'Please answer.',"
        " now())"
    )
    async with chromium(tmp_path) as page:
        await page.goto(f"{served}/ui/login?next=/ui/roster")
        await page.eval("document.getElementById('u-demo-coord-dhs').click()")
        await page.eval("document.querySelector('form[action=\"/ui/login\"] button[type=submit]').click()")
        await page.until("location.pathname === '/ui/roster' && !!document.getElementById('name')")
        await page.eval(
            "(() => { document.getElementById('name').value = 'Maria Gomez';"
            " document.getElementById('component').value = 'CBP';"
            " document.getElementById('x-wildlife_trafficking').click();"
            " document.getElementById('languages').value = 'English, Spanish';"
            " document.querySelector('form.roster-add button[type=submit]').click(); })()"
        )
        await page.until("document.body.innerText.includes('Maria Gomez is on the DHS roster.')")
        row = await page.eval("document.querySelector('table.roster tbody tr').innerText")
        assert "Maria Gomez" in row and "CBP" in row and "wildlife trafficking" in row and "Active" in row
        await page.eval("document.querySelector('table.roster tbody tr button[type=submit]').click()")
        await page.until("document.body.innerText.includes('Maria Gomez is deactivated')")
        keep(tmp_path / "roster.png", await page.screenshot())
        assert await page.eval("document.documentElement.scrollWidth <= window.innerWidth")

        await page.goto(f"{served}/ui/notifications")
        assert "Instructor request: wildlife course" in await page.eval("document.body.innerText")
        keep(tmp_path / "notifications.png", await page.screenshot())
