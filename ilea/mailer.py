"""Who a notification goes to, and the email it becomes (pure: no I/O)."""

from __future__ import annotations

import re
from datetime import UTC, date
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from ilea.domain import Agency, Party, PartyKind
from ilea.settings import Settings

#: mail domain of each agency, for the default ``ilea-<role>@<domain>`` addresses
AGENCY_DOMAINS = {
    Agency.STATE: "state.gov",
    Agency.TREASURY: "treasury.gov",
    Agency.DHS: "dhs.gov",
    Agency.DOJ: "usdoj.gov",
}

#: what a sub that is an email address looks like
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

#: the ``<role>`` of the default mailbox of each kind of party
_MAILBOX_ROLE = {PartyKind.isg: "isg", PartyKind.board: "board", PartyKind.agency: "coordinator"}


def addresses_for(party: str, settings: Settings, *, email: str | None = None) -> list[str]:
    """The mailbox(es) of a party.

    ``ILEA_NOTIFY_ADDRESSES`` (JSON, party → comma-separated addresses) wins;
    otherwise ``isg:DHS`` → ``ilea-isg@dhs.gov``, ``agency:DOJ`` →
    ``ilea-coordinator@usdoj.gov``, ``board:chair`` → ``ilea-board-chair@state.gov``,
    ``program_officer`` → ``ilea-program-officer@state.gov``. A person (``person:<sub>``, a
    proposal's owner) is written to at ``email`` (their address on file in ILEA), else at their
    sub when it is an address, else at the program office's mailbox (owners are program officers).
    """
    configured = settings.notify_addresses.get(party)
    if configured:
        return [a.strip() for a in configured.split(",") if a.strip()]
    try:
        parsed = Party.parse(party)
    except ValueError:
        return []
    if parsed.kind is PartyKind.person:
        if email:
            return [email]
        if parsed.sub and _ADDRESS.fullmatch(parsed.sub):
            return [parsed.sub]
        return addresses_for(str(Party.program_officer()), settings)
    if parsed == Party.program_officer():
        return [f"ilea-program-officer@{AGENCY_DOMAINS[Agency.STATE]}"]
    if parsed == Party.chair():
        return [f"ilea-board-chair@{AGENCY_DOMAINS[Agency.STATE]}"]
    assert parsed.agency is not None
    return [f"ilea-{_MAILBOX_ROLE[parsed.kind]}@{AGENCY_DOMAINS[parsed.agency]}"]


def build_message(row: dict[str, Any], to: list[str], settings: Settings) -> EmailMessage:
    """One notification row as an email; the Message-ID is stable so a resend can be recognised."""
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(to)
    msg["Subject"] = f"[ILEA] {row['subject']}"
    msg["Date"] = format_datetime(row["created_at"])
    domain = settings.smtp_from.rpartition("@")[2] or "ilea.local"
    msg["Message-ID"] = f"<ilea-notification-{row['id']}@{domain}>" if row.get("id") else make_msgid(domain=domain)
    msg["X-ILEA-Proposal"] = str(row["proposal_id"])
    msg["X-ILEA-Kind"] = str(row["kind"])
    body = row.get("body") or ""
    msg.set_content(
        f"{row['subject']}\n\n{body}\n\nProposal: {row['proposal_id']}\n"
        f"This message is sent to {row['party']} by the ILEA course-approval system.\n"
    )
    return msg


def build_digest(party: str, rows: list[dict[str, Any]], to: list[str], settings: Settings, day: date) -> EmailMessage:
    """A party's notifications of one day as one email, oldest first.

    The Message-ID names the day, the party and the first row, so a resend of the
    same digest (after a crash) can be recognised as the same message.
    """
    rows = sorted(rows, key=lambda r: r["id"])
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = ", ".join(to)
    noun = "notification" if len(rows) == 1 else "notifications"
    msg["Subject"] = f"[ILEA] Daily digest for {party}, {day.isoformat()}: {len(rows)} {noun}"
    msg["Date"] = format_datetime(max(r["created_at"] for r in rows))
    domain = settings.smtp_from.rpartition("@")[2] or "ilea.local"
    slug = re.sub(r"[^A-Za-z0-9]+", "-", party).strip("-") or "party"
    msg["Message-ID"] = f"<ilea-digest-{day.isoformat()}-{slug}-{rows[0]['id']}@{domain}>"
    msg["X-ILEA-Kind"] = "digest"
    parts = [f"{len(rows)} {noun} for {party} since the last digest, oldest first.\n"]
    for n, row in enumerate(rows, 1):
        when = row["created_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = (row.get("body") or "").strip()
        parts.append(
            f"{n}. {row['subject']}  ({when})\n{body + chr(10) if body else ''}Proposal: {row['proposal_id']}\n"
        )
    parts.append(f"This daily digest is sent to {party} by the ILEA course-approval system.\n")
    msg.set_content("\n".join(parts))
    return msg
