"""Sign-in (development only), the session cookie, sign-out, and redirects for strangers."""

from __future__ import annotations

import asyncpg
import httpx
from fastapi import FastAPI

from api.app import create_app
from ilea.settings import Settings
from tests.web.conftest import csrf_of, sign_in


async def test_root_redirects_to_board_and_board_to_login(api: httpx.AsyncClient) -> None:
    r = await api.get("/")
    assert r.status_code in (302, 303, 307) and r.headers["location"] == "/ui/board"
    r = await api.get("/ui/board")
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")


async def test_login_lists_demo_users_and_sets_httponly_lax_cookie(api: httpx.AsyncClient) -> None:
    page = await api.get("/ui/login")
    assert page.status_code == 200
    assert "Pat Okafor (INL program officer)" in page.text and "Kim Walsh (auditor)" in page.text
    assert '<label class="usa-radio__label" for="u-demo-isg-dhs">' in page.text  # every choice has a label
    r = await api.post("/ui/login", data={"sub": "demo-isg-dhs", "next": "/ui/inbox"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/inbox"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("ilea_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here
    inbox = await api.get("/ui/inbox")
    assert inbox.status_code == 200 and "Dana Brooks (ISG, DHS)" in inbox.text
    # The same cookie authenticates the JSON API too.
    assert (await api.get("/v1/tasks")).status_code == 200


async def test_login_over_https_sets_secure_cookie(api: httpx.AsyncClient) -> None:
    r = await api.post("/ui/login", data={"sub": "demo-po"}, headers={"x-forwarded-proto": "https"})
    assert r.status_code == 303
    assert "Secure" in r.headers["set-cookie"]


async def test_login_refuses_unknown_user_and_foreign_origin(api: httpx.AsyncClient) -> None:
    r = await api.post("/ui/login", data={"sub": "mallory"})
    assert r.status_code == 400 and "set-cookie" not in r.headers
    r = await api.post("/ui/login", data={"sub": "demo-po"}, headers={"origin": "https://evil.example"})
    assert r.status_code == 403 and "set-cookie" not in r.headers
    assert "evil.example" in r.text


async def test_logout_clears_the_cookie(api: httpx.AsyncClient) -> None:
    await api.post("/ui/login", data={"sub": "demo-po"})
    board = await api.get("/ui/board")
    r = await api.post("/ui/logout", data={"csrf_token": csrf_of(board.text)})
    assert r.status_code == 303
    assert 'ilea_session=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert (await api.get("/ui/board")).status_code == 303


async def test_no_demo_login_in_production() -> None:
    settings = Settings(env="production", jwt_secret="x" * 40)
    app: FastAPI = create_app(settings, pool=object(), temporal=object())  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ilea.test") as client:
        assert (await client.get("/ui/login")).status_code == 404
        r = await client.post("/ui/login", data={"sub": "demo-po"})
        assert r.status_code == 404 and "set-cookie" not in r.headers


async def test_pages_declare_who_they_are_for(api: httpx.AsyncClient, settings: Settings) -> None:
    """Viewer: a stranger goes to sign in and comes back; ViewerWith: another role gets a 403 page; polls get 401."""
    r = await api.get("/ui/board", params={"stage": "staffing"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/board%3Fstage%3Dstaffing"
    assert (await api.get("/ui/inbox/rows")).status_code == 401
    r = await api.post("/ui/proposals/p-1/vote", data={"vote": "concur"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/inbox"

    sign_in(api, settings, "isg-dhs", "DHS", "isg_member")
    for path in ("/ui/new", "/ui/reports"):
        r = await api.get(path)
        assert r.status_code == 403, path
        assert "you are signed in as isg-dhs" in r.text
    r = await api.get("/ui/proposals/no-such-id")
    assert r.status_code == 404 and "No such proposal." in r.text


async def test_a_person_may_show_times_in_another_zone(api: httpx.AsyncClient, settings: Settings) -> None:
    sign_in(api, settings, "isg-dhs", "DHS", "isg_member")
    board = await api.get("/ui/board")
    assert "Times are US Eastern (ET)." in board.text
    r = await api.post(
        "/ui/settings/zone", data={"csrf_token": csrf_of(board.text), "zone": "Europe/Budapest", "next": "/ui/inbox"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/inbox"
    api.cookies.set("ilea_tz", r.cookies["ilea_tz"], domain="ilea.test")
    page = await api.get("/ui/inbox")
    assert "Times are now shown in Budapest (CET)." in page.text and "Times are Budapest (CET)." in page.text
    r = await api.post("/ui/settings/zone", data={"csrf_token": csrf_of(page.text), "zone": "Mars/Olympus"})
    assert "ilea_tz" not in r.cookies  # only the zones offered


async def test_the_sessions_one_person_holds_are_capped_by_the_setting(
    api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    """ILEA_SESSION_MAX_PER_PERSON: a sign-in past the cap ends that person's oldest session."""
    settings.session_max_per_person = 2  # the app holds this very object
    cookies = []
    for _ in range(3):  # three browsers
        api.cookies.clear()
        r = await api.post("/ui/login", data={"sub": "demo-po"})
        assert r.status_code == 303
        cookies.append(r.cookies["ilea_session"])
    assert await pool.fetchval("SELECT count(*) FROM web_sessions WHERE sub = 'demo-po'") == 2
    api.cookies.clear()
    api.cookies.set("ilea_session", cookies[0], domain="ilea.test")
    assert (await api.get("/ui/board")).status_code == 303  # the oldest browser is signed out
    api.cookies.set("ilea_session", cookies[2], domain="ilea.test")
    assert (await api.get("/ui/board")).status_code == 200
