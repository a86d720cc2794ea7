"""The roster page (coordinators add, deactivate and reactivate instructors) and the notifications page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from ilea.db import roster
from ilea.settings import Settings
from tests.api.conftest import TokenFor
from tests.web.conftest import csrf_of, form_fields, sign_in
from tests.web.test_pages import text


def add_form(csrf: str, **over: str | list[str]) -> dict[str, str | list[str]]:
    form: dict[str, str | list[str]] = {
        "csrf_token": csrf,
        "name": "Maria Gomez",
        "component": "HSI",
        "expertise": ["wildlife_trafficking", "human_trafficking"],
        "languages": "English, Spanish",
    }
    form.update(over)
    return form


async def test_coordinator_adds_deactivates_and_reactivates_an_instructor(
    api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    doj = await roster.create_instructor(
        pool, name="Dana Justice", agency="DOJ", component="FBI", expertise=["cybercrime"], languages=["en"]
    )
    sign_in(api, settings, "coord-dhs", "DHS", "agency_coordinator")
    page = await api.get("/ui/roster")
    assert page.status_code == 200
    assert "Instructor roster: DHS" in page.text and 'href="/ui/roster" aria-current="page"' in page.text
    assert "No instructors yet." in page.text and "Dana Justice" not in page.text  # only the own agency
    assert form_fields(page.text, "/ui/roster")["component"] == "HSI"
    component = page.text.split('id="component"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="([^"]+)"', component) == ["HSI", "CBP", "USSS", "FLETC"]
    csrf = csrf_of(page.text)

    # Mistakes come back next to their field, with what was typed kept.
    r = await api.post("/ui/roster", data=add_form(csrf, component="FBI"))
    assert r.status_code == 422 and 'id="err-component"' in r.text and "choose one of HSI, CBP, USSS, FLETC" in r.text
    assert 'value="Maria Gomez"' in r.text and 'value="wildlife_trafficking" checked' in r.text
    r = await api.post("/ui/roster", data=add_form(csrf, expertise=[], name="X"))
    assert r.status_code == 422 and 'id="err-expertise"' in r.text and 'id="err-name"' in r.text
    assert await roster.list_instructors(pool, agency="DHS", expertise=None) == []

    r = await api.post("/ui/roster", data=add_form(csrf))
    assert r.status_code == 303 and r.headers["location"] == "/ui/roster"
    [added] = await roster.list_instructors(pool, agency="DHS", expertise=None)
    assert (added["name"], added["component"], added["active"]) == ("Maria Gomez", "HSI", True)
    assert added["expertise"] == ["human_trafficking", "wildlife_trafficking"]
    assert added["languages"] == ["English", "Spanish"]
    shown = text((page := await api.get("/ui/roster")).text)
    assert "Maria Gomez is on the DHS roster." in shown
    assert "Maria Gomez HSI human trafficking, wildlife trafficking English, Spanish Active Deactivate" in shown

    action = f"/ui/roster/{added['id']}/active"
    assert f'action="{action}"' in page.text
    r = await api.post(action, data={"csrf_token": csrf_of(page.text), "active": "false"})
    assert r.status_code == 303
    shown = text((await api.get("/ui/roster")).text)
    assert "Maria Gomez is deactivated" in shown and "Deactivated Reactivate" in shown
    assert (await roster.get_instructor(pool, added["id"]) or {})["active"] is False
    r = await api.post(action, data={"csrf_token": csrf, "active": "true"})
    assert "Maria Gomez is active again." in text((await api.get("/ui/roster")).text)
    assert (await roster.get_instructor(pool, added["id"]) or {})["active"] is True

    # Another agency's instructor is not this coordinator's to change; a forged form is refused.
    r = await api.post(f"/ui/roster/{doj['id']}/active", data={"csrf_token": csrf, "active": "false"})
    assert "Refused: Dana Justice is on the DOJ roster." in text((await api.get("/ui/roster")).text)
    assert (await roster.get_instructor(pool, doj["id"]) or {})["active"] is True
    r = await api.post(action, data={"csrf_token": "0" * 64, "active": "false"})
    assert r.status_code == 403


async def test_others_see_the_roster_read_only(api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool) -> None:
    await roster.create_instructor(
        pool, name="Dana Justice", agency="DOJ", component="FBI", expertise=["cybercrime"], languages=[]
    )
    sign_in(api, settings, "po-1", "STATE", "program_officer")
    page = await api.get("/ui/roster")
    assert page.status_code == 200 and "Dana Justice" in page.text and "DOJ" in page.text
    assert 'action="/ui/roster"' not in page.text and "/active" not in page.text
    assert 'href="/ui/roster"' not in page.text  # not in the navigation either
    r = await api.post("/ui/roster", data=add_form(csrf_of(page.text), component="FBI"))
    assert r.status_code == 403
    # A coordinator of State (which provides no instructors) has nothing to edit.
    sign_in(api, settings, "coord-state", "STATE", "agency_coordinator")
    page = await api.get("/ui/roster")
    assert page.status_code == 200 and 'action="/ui/roster"' not in page.text


async def test_notifications_page_lists_the_viewers_own_newest_first(
    api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    now = datetime.now(UTC)
    await pool.executemany(
        "INSERT INTO notifications (proposal_id, event_key, party, kind, subject, body, created_at, email_status,"
        " sent_at) VALUES ('p-1', $1, $2, 'pending_action', $3, $4, $5, $6, $7)",
        [
            ("a", "isg:DHS", "Older: vote on course A", "Please vote.", now - timedelta(days=2), "sent", now),
            ("b", "isg:DHS", "Newer: reminder for course A", "", now - timedelta(hours=1), "pending", None),
            ("c", "agency:DOJ", "Someone else's request", "", now, "pending", None),
            ("d", "board:DHS", "Not this person's seat", "", now, "failed", None),
        ],
    )
    sign_in(api, settings, "isg-dhs", "DHS", "isg_member")
    page = await api.get("/ui/notifications")
    assert page.status_code == 200
    shown = text(page.text)
    assert shown.index("Newer: reminder for course A") < shown.index("Older: vote on course A")
    assert "Someone else" not in shown and "Not this person's seat" not in shown
    # delivery in words (no SMTP server in tests: queued mail is shown here only), times in ET
    assert "to the DHS ISG seat · shown here only (email is not set up)" in shown
    assert re.search(r"to the DHS ISG seat · emailed \w{3} \d{1,2} \w{3} \d{4}, \d{1,2}:\d\d [AP]M ET", shown)
    assert "Please vote." in shown and 'href="/ui/proposals/p-1"' in page.text
    assert 'href="/ui/notifications" aria-current="page"' in page.text
    assert "pending_action" not in page.text

    sign_in(api, settings, "aud", "STATE", "auditor")
    assert "No notifications yet." in (await api.get("/ui/notifications")).text
    api.cookies.clear()
    r = await api.get("/ui/notifications")
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")


async def _notices(pool: asyncpg.Pool) -> dict[str, int]:
    """Three notifications (two to the DHS ISG seat, one to the DOJ coordinator): their ids by key."""
    now = datetime.now(UTC)
    await pool.executemany(
        "INSERT INTO notifications (proposal_id, event_key, party, kind, subject, body, created_at)"
        " VALUES ('p-1', $1, $2, 'action', $3, '', $4)",
        [
            ("old", "isg:DHS", "Vote on course A", now - timedelta(days=1)),
            ("new", "isg:DHS", "Reminder: course A", now),
            ("doj", "agency:DOJ", "Staff course A", now),
        ],
    )
    rows = await pool.fetch("SELECT event_key, id FROM notifications WHERE proposal_id = 'p-1'")
    return {r["event_key"]: r["id"] for r in rows}


async def test_a_person_marks_a_notification_read_and_filters_the_unread(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings, pool: asyncpg.Pool
) -> None:
    ids = await _notices(pool)
    sign_in(api, settings, "isg-dhs", "DHS", "isg_member")
    page = await api.get("/ui/notifications")
    shown = text(page.text)
    # unread in words, each with its own form (no JavaScript needed)
    assert shown.count("Unread") >= 2 and " Read " not in shown
    for key in ("old", "new"):
        assert f'action="/ui/notifications/{ids[key]}/read"' in page.text
    assert f"/ui/notifications/{ids['doj']}/read" not in page.text

    form = form_fields(page.text, f"/ui/notifications/{ids['old']}/read")
    assert form["csrf_token"] == csrf_of(page.text)
    forged = await api.post(f"/ui/notifications/{ids['old']}/read", data={**form, "csrf_token": "0" * 32})
    assert forged.status_code == 403
    assert await pool.fetchval("SELECT count(*) FROM notification_reads") == 0

    r = await api.post(f"/ui/notifications/{ids['old']}/read", data=form)
    assert r.status_code == 303 and r.headers["location"] == "/ui/notifications"
    page = await api.get(r.headers["location"])
    assert "“Vote on course A” is marked read." in text(page.text)
    assert f'action="/ui/notifications/{ids["old"]}/read"' not in page.text
    assert f'action="/ui/notifications/{ids["new"]}/read"' in page.text
    # the same read state as the JSON API's (the same database function, per person)
    bearer = auth("isg-dhs", "DHS", "isg_member")
    listed = (await api.get("/v1/notifications", params={"unread": "true"}, headers=bearer)).json()
    assert [n["subject"] for n in listed["items"]] == ["Reminder: course A"]

    only = await api.get("/ui/notifications", params={"unread": "1"})
    only_text = text(only.text)
    assert "Reminder: course A" in only_text and "Vote on course A" not in only_text
    assert 'href="/ui/notifications?unread=1" aria-current="true"' in only.text  # said, not only coloured

    # another person of the same seat has read nothing
    sign_in(api, settings, "isg-dhs-2", "DHS", "isg_member")
    other = await api.get("/ui/notifications", params={"unread": "1"})
    assert "Vote on course A" in text(other.text)

    # mark all as read: the rest of the viewer's own, nobody else's
    form = form_fields(other.text, "/ui/notifications/read-all")
    r = await api.post("/ui/notifications/read-all", data=form)
    assert r.status_code == 303
    assert "2 notifications are marked read." in text((await api.get("/ui/notifications")).text)
    reads = await pool.fetch("SELECT notification_id, sub FROM notification_reads ORDER BY sub, notification_id")
    assert {(r["notification_id"], r["sub"]) for r in reads} == {
        (ids["old"], "isg-dhs"),
        (ids["old"], "isg-dhs-2"),
        (ids["new"], "isg-dhs-2"),
    }


async def test_a_person_may_not_mark_another_partys_notification(
    api: httpx.AsyncClient, settings: Settings, pool: asyncpg.Pool
) -> None:
    ids = await _notices(pool)
    sign_in(api, settings, "isg-dhs", "DHS", "isg_member")
    page = await api.get("/ui/notifications")
    form = form_fields(page.text, f"/ui/notifications/{ids['old']}/read")
    r = await api.post(f"/ui/notifications/{ids['doj']}/read", data=form)
    assert r.status_code == 303
    refused = text((await api.get(r.headers["location"])).text)
    # Told as a missing one is: nothing says whom another party's notification addresses.
    assert "Refused: you have no notification with that number; nothing changed." in refused
    assert "DOJ coordinator" not in refused
    r = await api.post("/ui/notifications/999999/read", data=form)
    assert "Refused: you have no notification with that number" in text((await api.get(r.headers["location"])).text)
    assert await pool.fetchval("SELECT count(*) FROM notification_reads") == 0
