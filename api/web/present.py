"""Plain-language wording and small pure helpers for the pages (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from ilea.domain import ACADEMY_NAMES, Academy, Party, PartyKind

STAGE_LABELS = {
    "submitted": "Submitted",
    "isg_review": "ISG review",
    "changes_requested": "Changes requested",
    "board_review": "Policy Board review",
    "staffing": "Staffing",
    "staffing_at_risk": "Staffing at risk",
    "scheduled": "Scheduled",
    "delivered": "Delivered",
    "rejected": "Rejected",
    "withdrawn": "Withdrawn",
    "expired": "Expired",
    "cancelled": "Cancelled",
}

TASK_LABELS = {
    "isg_vote": "ISG vote",
    "board_position": "Board position",
    "board_decision": "Board decision",
    "overdue_board": "Board decision (overdue)",
    "instructor_request": "Instructor request",
    "revise": "Revision",
    "retarget": "Unfilled slot to re-target",
}

VOTE_LABELS = {
    "concur": "concurs",
    "nonconcur": "does not concur",
    "request_changes": "requests changes",
    "abstain": "abstains",
    "deemed_concur": "deemed to concur (no vote in time)",
}

ROUND_OUTCOMES = {
    "board": "on to the Policy Board",
    "board_with_dissent": "on to the Policy Board, with dissent",
    "fast_track": "approved under delegated authority (fast track)",
    "changes_requested": "changes requested",
    "rejected": "rejected",
}


#: how a party of each kind is named on the pages, after its agency
_PARTY_NOUNS = {PartyKind.isg: "ISG seat", PartyKind.board: "Board member", PartyKind.agency: "coordinator"}


def party_label(party: Party | str) -> str:
    """``isg:DHS`` → ``DHS ISG seat``; ``board:chair`` → ``Board chair``; anything else as it is."""
    if isinstance(party, str):
        text = party
        try:
            party = Party.parse(text)
        except ValueError:
            return text
    if party == Party.program_officer():
        return "Program officer"
    if party == Party.chair():
        return "Board chair"
    assert party.agency is not None
    return f"{party.agency.value} {_PARTY_NOUNS[party.kind]}"


def academy_label(code: str) -> str:
    try:
        return f"{code}: {ACADEMY_NAMES[Academy(code)]}"
    except ValueError:
        return code


def as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def when(value: Any) -> str:
    """A timestamp as ``2027-03-01 14:05 UTC`` (dates as they are)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and len(value) == 10:  # a date, not a timestamp
        return value
    at = as_datetime(value)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else ""


def is_overdue(due: Any, now: datetime | None = None) -> bool:
    at = as_datetime(due)
    return at is not None and at < (now or datetime.now(UTC))


def _detail_text(detail: dict[str, Any]) -> str:
    parts = []
    for key, value in detail.items():
        if value in (None, "", [], {}):
            continue
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)


def describe_event(event: dict[str, Any]) -> str:
    """One audit event as a sentence a person can read."""
    d: dict[str, Any] = event.get("detail") or {}
    who = "The system" if event.get("actor") == "system" else str(event.get("actor"))
    if event.get("agency") and event.get("actor") != "system":
        who = f"{who} ({event['agency']})"
    comment = f" - “{d['comment']}”" if d.get("comment") else ""
    action = event.get("action", "")
    match action:
        case "submitted":
            return f"{who} submitted “{d.get('title', '')}”."
        case "isg_vote":
            vote = VOTE_LABELS.get(str(d.get("vote")), str(d.get("vote")))
            return f"{who} {vote} on the ISG seat{comment}."
        case "deemed_concur":
            return f"The {event.get('agency')} ISG seat did not vote in time and is deemed to concur."
        case "isg_round_closed":
            outcome = ROUND_OUTCOMES.get(str(d.get("outcome")), str(d.get("outcome", "")).replace("_", " "))
            return f"ISG round {d.get('round', '')} closed: {outcome}."
        case "board_position":
            return f"{who} records the Board position “{d.get('position')}”{comment}."
        case "board_decision":
            return f"{who} decides: {str(d.get('decision', '')).replace('_', ' ')}{comment}."
        case "stage_changed":
            frm = STAGE_LABELS.get(str(d.get("from")), d.get("from"))
            to = STAGE_LABELS.get(str(d.get("to")), d.get("to"))
            why = f" ({d['why']})" if d.get("why") else ""
            return f"Stage changed from {frm} to {to}{why}."
        case "reminder":
            party = str(d.get("party", ""))
            # the Board reminder names the Board as a whole ("board"), not one of its parties
            return f"Reminder sent to {'the Policy Board' if party == 'board' else party_label(party)}."
        case "escalation":
            return f"Escalated: {_detail_text(d)}."
        case "withdrawn":
            return f"{who} withdrew the proposal: {d.get('reason', '')}."
        case "revised":
            return f"{who} submitted a revision{comment}."
        case "cutoff_changed":
            return f"{who} moved the staffing cutoff: {_detail_text(d)}."
        case "request_sent":
            return f"Instructor request sent to {d.get('agency', event.get('agency', ''))} (slot {d.get('slot', '')})."
        case "request_accepted":
            return f"{who} accepted an instructor request: {_detail_text(d)}."
        case "request_declined":
            return f"{who} declined an instructor request: {d.get('reason', '')}."
        case "request_expired":
            return f"An instructor request to {event.get('agency')} expired unanswered (slot {d.get('slot', '')})."
        case "request_retargeted":
            return f"{who} sent an unfilled slot to {d.get('agency', '')}."
        case "slot_unfilled":
            return f"Slot {d.get('slot', '')} is unfilled."
        case "booking_released":
            return f"A booking was released: {d.get('reason', '')}."
        case "refused":
            return f"{who} tried {str(d.get('attempted', '')).replace('_', ' ')}; refused: {d.get('reason', '')}."
    text = _detail_text(d)
    return f"{who}: {action.replace('_', ' ')}" + (f" ({text})." if text else ".")


@dataclass(frozen=True)
class Bar:
    label: str
    median: float
    p90: float
    count: int


def bar_chart(bars: list[Bar], *, width: int = 640, row: int = 34) -> dict[str, Any]:
    """Geometry of a horizontal bar chart of median and p90 days (drawn by the template)."""
    label_w, pad = 170, 60
    top = max([b.p90 for b in bars] + [b.median for b in bars] + [1.0])
    scale = (width - label_w - pad) / top
    rows = []
    for i, b in enumerate(bars):
        y = 10 + i * row
        rows.append(
            {
                "label": b.label,
                "y": y,
                "median_w": max(1.0, round(b.median * scale, 1)),
                "p90_w": max(1.0, round(b.p90 * scale, 1)),
                "median": round(b.median, 1),
                "p90": round(b.p90, 1),
                "count": b.count,
            }
        )
    return {"width": width, "height": 20 + len(bars) * row, "x0": label_w, "rows": rows}
