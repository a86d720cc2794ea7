"""Plain-language wording and small pure helpers for the pages (no I/O)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from api.web import times
from api.web.times import as_datetime
from ilea.domain import ACADEMY_NAMES, Academy, Party, PartyKind, Topic

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
    if party.kind is PartyKind.person:
        return str(party.sub)
    if party == Party.program_officer():
        return "Program officer"
    if party == Party.chair():
        return "Board chair"
    assert party.agency is not None
    return f"{party.agency.value} {_PARTY_NOUNS[party.kind]}"


def topic_label(topic: Any) -> str:
    """``corruption_financial_crimes`` → ``corruption and financial crimes``."""
    text = str(topic)
    return TOPIC_WORDS.get(text, text.replace("_", " "))


TOPIC_WORDS = {
    "corruption_financial_crimes": "corruption and financial crimes",
    "leadership_management": "leadership and management",
    "womens_issues": "women's issues",
}


def usd(value: Any) -> str:
    """``180000`` → ``$180,000``; cents only when there are any."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"${amount:,.2f}" if amount != amount.to_integral() else f"${amount:,.0f}"


def academy_label(code: str) -> str:
    try:
        return f"{code}: {ACADEMY_NAMES[Academy(code)]}"
    except ValueError:
        return code


def is_overdue(due: Any, now: datetime | None = None) -> bool:
    at = as_datetime(due)
    return at is not None and at < (now or datetime.now(UTC))


def group_pending(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Who a proposal waits on, one line per party and kind of task: two slots of one agency read
    "DOJ coordinator (2)" (``count``), with the earliest ``since`` and the soonest ``due``; in the
    order the parties first appear."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for item in items:
        key = (str(item.get("party")), str(item.get("kind")))
        group = groups.get(key)
        if group is None:
            groups[key] = {**item, "count": 1}
            continue
        group["count"] += 1
        for field in ("since", "due"):
            known = [v for v in (group.get(field), item.get(field)) if as_datetime(v) is not None]
            group[field] = min(known, key=lambda v: as_datetime(v) or datetime.max.replace(tzinfo=UTC), default=None)
    return list(groups.values())


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


#: The lifecycle's main path as the step indicator shows it (product.md, "Lifecycle").
STEPS = (
    ("submitted", "Submitted"),
    ("isg_review", "ISG review"),
    ("board_review", "Policy Board"),
    ("staffing", "Staffing"),
    ("scheduled", "Scheduled"),
    ("delivered", "Delivered"),
)
_STEP_OF = {"changes_requested": "isg_review", "staffing_at_risk": "staffing"}


def lifecycle_steps(stage: str, fast_tracked: bool, reached: str | None = None) -> dict[str, Any]:
    """The step indicator: each step complete, current or to come; a terminal stage stops at the step it left.

    ``reached`` is the stage a terminal proposal left (from its trail); fast-tracked
    proposals show the Board step as skipped.
    """
    terminal = stage in {"rejected", "withdrawn", "expired", "cancelled"}
    at = _STEP_OF.get(str(reached if terminal else stage), str(reached if terminal else stage))
    keys = [k for k, _ in STEPS]
    index = keys.index(at) if at in keys else 0
    steps = []
    for i, (key, label) in enumerate(STEPS):
        status = "complete" if i < index or (stage == "delivered" and i == index) else "current" if i == index else ""
        if key == "board_review" and fast_tracked:
            label = "Policy Board (skipped: fast track)"
        steps.append({"key": key, "label": label, "status": status})
    if terminal:
        steps[index]["status"] = "current"
    return {"steps": steps, "current": index + 1, "total": len(STEPS), "terminal": terminal}


NOTICE_KINDS = {
    "action": "action needed",
    "reminder": "reminder",
    "escalation": "escalation",
    "submitted": "submitted",
    "fast_track": "fast track",
    "outcome": "stage change",
    "pending_action": "action needed",
}
_CODES = re.compile(
    r"\b(" + "|".join(sorted({*STAGE_LABELS, *(t.value for t in Topic)}, key=len, reverse=True)) + r")\b"
)


def in_words(text: str) -> str:
    """Codes in a stored subject (``staffing_at_risk``, ``corruption_financial_crimes``) as words."""
    return _CODES.sub(lambda m: STAGE_LABELS.get(m.group(1), "") or topic_label(m.group(1)), text)


def delivery(n: dict[str, Any], *, email_on: bool, tz: Any = None) -> str:
    """A notification's email delivery in words."""
    status = str(n.get("email_status") or n.get("email") or "")
    if status == "sent":
        return f"emailed {times.when(n.get('sent_at'), tz) if tz else times.when(n.get('sent_at'))}"
    if status == "failed":
        return "the email failed; it is tried again"
    if status == "sending":
        return "being emailed"
    if status == "not_configured" or not email_on:
        return "shown here only (email is not set up)"
    return "email queued"


_NEED_FIELD = {"agency": "agency", "expertise": "expertise", "count": "how many", "alt_0": "first alternate",
               "alt_1": "second alternate"}  # fmt: skip


def field_label(field: str, labels: dict[str, str]) -> str:
    """The error summary's name for a field: ``need_2_count`` → ``Need 3, how many``."""
    if field in labels:
        return labels[field]
    parts = field.split("_", 2)
    if len(parts) == 3 and parts[0] == "need" and parts[1].isdigit():
        return f"Need {int(parts[1]) + 1}, {_NEED_FIELD.get(parts[2], parts[2])}"
    return field.replace("_", " ").capitalize()
