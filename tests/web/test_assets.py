"""USWDS is served from our own static files: every file its stylesheet names is there, nothing external."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import httpx

from api.web.render import HERE
from ilea.settings import Settings
from tests.web.conftest import sign_in

USWDS = HERE / "static" / "uswds"
ROOT = Path(__file__).resolve().parents[2]


def test_every_file_the_uswds_stylesheet_names_is_shipped() -> None:
    css = (USWDS / "css" / "uswds.min.css").read_text()
    refs = {
        m.split("?")[0].split("#")[0] for m in re.findall(r"url\(['\"]?([^'\")]+)", css) if not m.startswith("data:")
    }
    assert len(refs) > 40  # fonts and icons
    missing = sorted(r for r in refs if not (USWDS / "css" / r).resolve().is_file())
    assert missing == []
    assert (USWDS / "LICENSE.md").is_file() and (USWDS / "js" / "uswds.min.js").is_file()
    # and the wheel carries them (tests/deploy checks every data file against package-data)
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["api.web"]
    assert {"static/uswds/*/*", "static/uswds/*/*/*"} <= set(data)


async def test_pages_load_only_our_own_assets(api: httpx.AsyncClient, settings: Settings) -> None:
    sign_in(api, settings, "aud", "STATE", "auditor")
    page = (await api.get("/ui/board")).text
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert not re.match(r"(https?:)?//", url), url
    for asset in ("/ui/static/uswds/css/uswds.min.css", "/ui/static/uswds/js/uswds.min.js", "/ui/static/ilea.css"):
        r = await api.get(asset)
        assert r.status_code == 200 and len(r.content) > 1000, asset
