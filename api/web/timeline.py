"""A proposal's audit trail for people: who (name and agency), a sentence per event, the time in their zone.

``entries`` is pure (events, names, zone → rows); ``display_names`` gathers the names the
system knows for the subs in a trail; ``csv_text`` is the auditor's export.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from api.web import times
from api.web.present import STAGE_LABELS, VOTE_LABELS, party_label, topic_label

ROUND_OUTCOMES = {
    "board": "goes to the Policy Board",
    "board_with_dissent": "goes to the Policy Board, with a dissent",
    "fast_track": "is approved under delegated authority (fast track)",
    "changes_requested": "goes back to the program officer for changes",
    "rejected": "is rejected",
}
DECISIONS = {"approve": "approves", "disapprove": "disapproves", "return_to_isg": "returns it to the ISG"}
POSITIONS = {"concur": "concurs", "nonconcur": "does not concur"}
ACTIONS = {
    "isg_vote": "an ISG vote",
    "board_position": "a Board position",
    "board_decision": "the Board decision",
    "withdraw": "to withdraw it",
    "revise": "a revision",
    "staffing_cutoff": "to move the staffing cutoff",
    "accept_request": "to accept an instructor request",
    "decline_request": "to decline an instructor request",
    "release_request": "to release an instructor",
    "retarget_request": "to re-target a slot",
    "hand_over": "to hand the proposal over",
}


@dataclass(frozen=True)
class Entry:
    seq: int
    at: str
    iso: str
    who: str
    sentence: str
    action: str

    @property
    def clause(self) -> str:
        """The sentence without its full stop, for quoting inside another sentence."""
        return self.sentence.removesuffix(".")


def _who(event: Mapping[str, Any], names: Mapping[str, str]) -> str:
    actor = str(event.get("actor") or "")
    if actor == "system" or not actor:
        return "The system"
    name = names.get(actor) or actor
    return f"{name} ({event['agency']})" if event.get("agency") else name


def _quote(d: Mapping[str, Any], key: str = "comment") -> str:
    return f": “{d[key]}”" if d.get(key) else ""


#: the actions that change a proposal's owner (``owner_changed``: the trail's older name)
HANDED = ("owner_changed", "handed_over")


def sentence(event: Mapping[str, Any], names: Mapping[str, str], tz: ZoneInfo = times.EASTERN) -> str:
    """One audit event as a sentence (without the actor's name where the sentence starts with it)."""
    d: Mapping[str, Any] = event.get("detail") or {}
    who = _who(event, names)
    agency = event.get("agency") or d.get("agency") or ""
    slot = f"slot {d['slot']}" if d.get("slot") else "a slot"
    match event.get("action"):
        case "submitted":
            return f"{who} submitted “{d.get('title', '')}” for ISG review."
        case "isg_vote":
            vote = VOTE_LABELS.get(str(d.get("vote")), str(d.get("vote")))
            changed = (
                f", changing the seat's vote from “{VOTE_LABELS.get(d['replaces'], d['replaces'])}”"
                if d.get("replaces")
                else ""
            )
            return f"{who} {vote} for the {agency} ISG seat (round {d.get('round', '?')}){changed}{_quote(d)}."
        case "deemed_concur":
            return f"The {agency} ISG seat did not vote in time and is deemed to concur (round {d.get('round', '?')})."
        case "isg_round_closed":
            outcome = ROUND_OUTCOMES.get(str(d.get("outcome")), str(d.get("outcome", "")).replace("_", " "))
            return f"ISG round {d.get('round', '')} closed: the proposal {outcome}."
        case "board_position":
            position = POSITIONS.get(str(d.get("position")), str(d.get("position")))
            return f"{who} {position} for the {agency} Board seat{_quote(d)}."
        case "board_decision":
            decision = DECISIONS.get(str(d.get("decision")), str(d.get("decision")))
            return f"{who}, Board chair, {decision}{_quote(d)}."
        case "stage_changed":
            frm = STAGE_LABELS.get(str(d.get("from")), str(d.get("from")))
            to = STAGE_LABELS.get(str(d.get("to")), str(d.get("to")))
            why = f" ({d['why']})" if d.get("why") else ""
            return f"The proposal moved from {frm} to {to}{why}."
        case "reminder":
            due = times.due_text(d.get("due"), tz)
            party = str(d.get("party", ""))
            # the Board reminder names the Board as a whole ("board"), not one of its parties
            to = "the Policy Board" if party == "board" else f"the {party_label(party)}"
            return f"A reminder went to {to}" + (f"; due {due}." if due else ".")
        case "escalation":
            return f"Escalated to the Board chair and the owner: {d.get('reason', 'a deadline passed')}."
        case "withdrawn":
            return f"{who} withdrew the proposal: “{d.get('reason', '')}”."
        case "revised":
            return f"{who} sent revision {d.get('revision', '')} to the ISG{_quote(d)}."
        case "cutoff_changed":
            return f"{who} moved the staffing cutoff from {times.when(d.get('from'))} to {times.when(d.get('to'))}."
        case "request_sent":
            expertise = topic_label(d.get("expertise", ""))
            return f"An instructor request for {slot} ({expertise}) went to the {agency} coordinator."
        case "request_accepted":
            person = d.get("instructor") or {}
            named = person.get("name") if isinstance(person, Mapping) else None
            return f"{who} booked {named or 'an instructor'} for {slot}." if named else f"{who} filled {slot}."
        case "request_declined":
            reason = f": “{d['reason']}”" if d.get("reason") else ""
            return f"{who} declined the instructor request for {slot}{reason}."
        case "request_expired":
            return f"The {agency} coordinator did not answer in time: the request for {slot} counts as declined."
        case "request_retargeted":
            return f"{who} sent {slot} to {d.get('agency', '')}."
        case "slot_unfilled":
            return f"No agency is left to ask: {slot} is unfilled."
        case "booking_released":
            reason = f": “{d['reason']}”" if d.get("reason") else ""
            return f"{who if who != 'The system' else 'A booking'} released an instructor{reason}."
        case "owner_changed" | "handed_over":
            to = str(d.get("to") or d.get("owner") or "")
            to_name = names.get(to) or d.get("to_name") or to
            frm = str(d.get("from") or "")
            return f"{who} handed the proposal over{f' from {names.get(frm, frm)}' if frm else ''} to {to_name}."
        case "refused":
            tried = ACTIONS.get(str(d.get("attempted")), str(d.get("attempted", "")).replace("_", " "))
            return f"{who} tried {tried}; refused: {d.get('reason', '')}."
    extra = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in d.items() if v not in (None, "", [], {}))
    return f"{who}: {str(event.get('action', '')).replace('_', ' ')}" + (f" ({extra})." if extra else ".")


def entries(events: Iterable[Mapping[str, Any]], names: Mapping[str, str], tz: ZoneInfo = times.EASTERN) -> list[Entry]:
    out = []
    for e in events:
        at = times.as_datetime(e.get("at"))
        out.append(
            Entry(
                seq=int(e.get("seq") or 0),
                at=times.when(at, tz),
                iso=at.isoformat() if at else "",
                who=_who(e, names),
                sentence=sentence(e, names, tz),
                action=str(e.get("action", "")),
            )
        )
    return out


def names_in(doc: Mapping[str, Any]) -> dict[str, str]:
    """The display names a proposal document carries (submitter, voters, Board, chair)."""
    names: dict[str, str] = {}
    if doc.get("submitted_by") and doc.get("submitted_by_name"):
        names[doc["submitted_by"]] = doc["submitted_by_name"]
    for record in [*doc.get("isg_votes", []), *doc.get("board_positions", []), doc.get("board_decision") or {}]:
        if record.get("by") and record.get("by_name"):
            names[record["by"]] = record["by_name"]
    return names


def people_in(doc: Mapping[str, Any], events: Iterable[Mapping[str, Any]]) -> set[str]:
    """The subs a trail names: each event's actor, a hand-over's two owners, and the owner now."""
    subs = {str(doc.get("owner") or "")}
    for e in events:
        d = e.get("detail") or {}
        subs |= {str(e.get("actor") or "")} | {str(d.get(k) or "") for k in ("from", "to") if e.get("action") in HANDED}
    return subs - {"", "system"}


async def display_names(
    db: asyncpg.Pool, doc: Mapping[str, Any], events: Iterable[Mapping[str, Any]]
) -> dict[str, str]:
    """Names for the people in a trail (:func:`people_in`): the people directory where it exists, the document's own."""
    names = names_in(doc)
    wanted = sorted(people_in(doc, events) - set(names))
    if wanted and await db.fetchval("SELECT to_regclass('people') IS NOT NULL"):
        for row in await db.fetch("SELECT sub, name FROM people WHERE sub = ANY($1::text[])", wanted):
            if row["name"]:
                names[row["sub"]] = row["name"]
    return names


def csv_text(proposal_id: str, events: Iterable[Mapping[str, Any]], names: Mapping[str, str]) -> str:
    """The trail as CSV: one row per event, times in UTC and ET, the sentence, the raw detail and the hashes."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["proposal_id", "seq", "at_utc", "at_et", "actor", "name", "agency", "action", "what_happened",
                "detail_json", "prev_hash", "hash"])  # fmt: skip
    for e in events:
        at = times.as_datetime(e.get("at"))
        w.writerow(
            [
                proposal_id,
                e.get("seq"),
                at.isoformat().replace("+00:00", "Z") if at else "",
                times.when(at),
                e.get("actor"),
                names.get(str(e.get("actor")), ""),
                e.get("agency") or "",
                e.get("action"),
                sentence(e, names),
                json.dumps(e.get("detail") or {}, sort_keys=True, default=str),
                e.get("prev_hash"),
                e.get("hash"),
            ]
        )
    return out.getvalue()
