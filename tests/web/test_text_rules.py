"""The web forms' comments and reasons follow the API's text rules (api/text.py): control and
bidirectional-override characters refused, NFC, CRLF to LF, the limit counted on the cleaned text."""

from __future__ import annotations

import re

import httpx

from ilea.settings import Settings
from tests.api.conftest import TokenFor
from tests.web.conftest import csrf_of, sign_in
from tests.web.test_pages import submit_via_api, text

PO = ("po-1", "STATE", "program_officer")


async def test_a_vote_comment_is_held_to_the_apis_text_rules(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings
) -> None:
    pid = await submit_via_api(api, auth, "Countering human trafficking")
    sign_in(api, settings, "isg-dhs", "DHS", "isg_member")
    csrf = csrf_of((await api.get(f"/ui/proposals/{pid}/vote")).text)

    def vote(form_id: str, comment: str) -> dict[str, str]:
        return {"csrf_token": csrf, "form_id": form_id, "vote": "nonconcur", "comment": comment}

    for n, (typed, reason) in enumerate(
        [
            ("Approve \u202eesrever", "must not contain bidirectional-override characters (U+202E found)"),
            ("Ring the bell\x07 now", "must not contain control characters other than line breaks (U+0007 found)"),
        ]
    ):
        r = await api.post(f"/ui/proposals/{pid}/vote", data=vote(f"bad-{n}", typed))
        assert r.status_code == 422, r.text[:300]
        assert 'id="error-summary" autofocus' in r.text
        assert f"Comment: {reason}" in text(r.text)
        assert re.search(r'id="vote-nonconcur" [^>]*checked', r.text)  # what was chosen is kept
    trail = (await api.get(f"/v1/proposals/{pid}/events", headers=auth(*PO))).json()["items"]
    assert [e["action"] for e in trail if e["action"] == "isg_vote"] == []  # nothing was recorded

    # CRLF (what browsers send) counts as one line break, as in the API: 499 lines of 9 characters
    # and "Café " are 5,494 characters as sent, 4,994 once cleaned (within 5,000); NFD becomes NFC
    long = "Cafe\u0301 " + ("x" * 9 + "\r\n") * 499
    r = await api.post(f"/ui/proposals/{pid}/vote", data=vote("good", long))
    assert r.status_code == 303, text(r.text)[:2000]
    doc = (await api.get(f"/v1/proposals/{pid}", headers=auth(*PO))).json()
    (recorded,) = doc["isg_votes"]
    assert recorded["comment"] == ("Café " + ("x" * 9 + "\n") * 499).strip()
    assert "\r" not in recorded["comment"]


async def test_a_withdrawal_reason_is_held_to_the_apis_text_rules(
    api: httpx.AsyncClient, auth: TokenFor, settings: Settings
) -> None:
    pid = await submit_via_api(api, auth, "Hate crimes investigations")
    sign_in(api, settings, *PO)
    csrf = csrf_of((await api.get(f"/ui/proposals/{pid}/withdraw")).text)
    typed = "The budget moved \u2066to another academy\u2069 this year"
    r = await api.post(f"/ui/proposals/{pid}/withdraw", data={"csrf_token": csrf, "form_id": "w", "reason": typed})
    assert r.status_code == 422
    assert "Reason: must not contain bidirectional-override characters (U+2066 found)" in text(r.text)
    assert f">{typed}</textarea>" in r.text  # exactly what was typed comes back
    doc = (await api.get(f"/v1/proposals/{pid}", headers=auth(*PO))).json()
    assert doc["stage"] != "withdrawn"
