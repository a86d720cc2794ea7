"""One look with a real browser: the board, rendered by headless Chromium (skipped when none is installed)."""

from __future__ import annotations

import asyncio
import http.server
import re
import shutil
import struct
import threading
from pathlib import Path

import httpx
import pytest

from api.web.render import HERE
from ilea.settings import Settings
from tests.api.conftest import TokenFor
from tests.web.conftest import sign_in
from tests.web.test_pages import submit_via_api

BROWSER = shutil.which("chromium-headless-shell") or shutil.which("chromium") or shutil.which("google-chrome")


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium installed")
async def test_board_renders_in_chromium(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings, tmp_path: Path
) -> None:
    await submit_via_api(api, auth, "Countering cybercrime in the Mekong")
    sign_in(api, settings, "aud", "STATE", "auditor")
    html = (await api.get("/ui/board")).text
    # The page's only asset is our own stylesheet; load it from disk next to the page.
    assert html.count('rel="stylesheet"') == 1 and "https://" not in html.split("<body", 1)[0]
    (tmp_path / "board.html").write_text(html.replace("/ui/static/style.css", "style.css"))
    shutil.copy(HERE / "static" / "style.css", tmp_path / "style.css")
    shot = tmp_path / "board.png"
    assert BROWSER is not None
    proc = await asyncio.create_subprocess_exec(
        BROWSER,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1280,900",
        f"--screenshot={shot}",
        (tmp_path / "board.html").as_uri(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await asyncio.wait_for(proc.wait(), timeout=60) == 0
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 900)
    # A blank white page compresses to a few kilobytes; text, the header band and the table do not.
    assert len(data) > 20_000


class _Canned(http.server.BaseHTTPRequestHandler):
    """Serves a saved board page (with its real CSP header) and a saved later poll answer."""

    pages: dict[str, tuple[str, bytes, dict[str, str]]] = {}

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in self.pages:
            self.send_error(404)
            return
        kind, body, headers = self.pages[path]
        self.send_response(200)
        self.send_header("Content-Type", kind)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium installed")
async def test_board_script_refreshes_the_table_under_its_csp(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings
) -> None:
    await submit_via_api(api, auth, "First course on the board")
    sign_in(api, settings, "aud", "STATE", "auditor")
    page = await api.get("/ui/board")
    await submit_via_api(api, auth, "Second course, arrived later")
    rows = await api.get("/ui/board/rows")
    assert "Second course" not in page.text and "Second course" in rows.text
    _Canned.pages = {
        "/ui/board": ("text/html", page.content, {"Content-Security-Policy": page.headers["content-security-policy"]}),
        "/ui/board/rows": ("application/json", rows.content, {}),
        "/ui/static/style.css": ("text/css", (HERE / "static" / "style.css").read_bytes(), {}),
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert BROWSER is not None
        proc = await asyncio.create_subprocess_exec(
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=8000",
            "--dump-dom",
            f"http://127.0.0.1:{server.server_address[1]}/ui/board",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        server.shutdown()
    dom = out.decode()
    assert "First course on the board" in dom
    assert "Second course, arrived later" in dom  # the poll ran (the nonce satisfied the CSP) and repainted
    assert re.search(r'data-stage="isg_review">2<', dom)
    assert "Updated " in dom
