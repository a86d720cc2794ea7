"""A scheduled course as an iCalendar (RFC 5545) event: all-day, from the first to the last course day.

Pure: (proposal document, who may see which instructors, now) → text. The instructors are named
only for those product.md lets see them (program officers, the chair, auditors: all; a coordinator:
their own agency's).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from api.web.present import academy_label, topic_label


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 §3.1)."""
    data, out = line.encode(), list[bytes]()
    while len(data) > 75:
        cut = 75 if not out else 74
        while cut and (data[cut] & 0xC0) == 0x80:  # never split a UTF-8 character
            cut -= 1
        out.append(data[:cut])
        data = data[cut:]
    out.append(data)
    return "\r\n ".join(part.decode() for part in out)


def course_event(doc: dict[str, Any], *, host: str, sees: Callable[[str], bool], now: datetime | None = None) -> str:
    """The VCALENDAR text for the course of ``doc``."""
    start, end = date.fromisoformat(doc["start_date"]), date.fromisoformat(doc["end_date"])
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    booked = [r for r in doc.get("instructor_requests", []) if r.get("status") == "accepted" and r.get("instructor")]
    named = [f"{r['instructor']['name']} ({r['agency']})" for r in booked if sees(r["agency"])]
    ref = f"{doc['reference']}: " if doc.get("reference") else ""
    countries = ", ".join(doc["participating_countries"])
    lines_of_text = [
        f"{ref}{doc['title']}",
        f"Topic: {topic_label(doc['topic'])}; {doc['seats']} participants from {countries}.",
        f"Instructors: {', '.join(named)}." if named else f"Instructors booked: {len(booked)}.",
    ]
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//ILEA course approval//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{doc['id']}@{host}",
        f"DTSTAMP:{stamp}",
        f"DTSTART;VALUE=DATE:{start:%Y%m%d}",
        f"DTEND;VALUE=DATE:{end + timedelta(days=1):%Y%m%d}",  # exclusive: the day after the last course day
        f"SUMMARY:{_escape('ILEA course: ' + doc['title'])}",
        f"LOCATION:{_escape('ILEA ' + academy_label(doc['academy']))}",
        f"DESCRIPTION:{_escape(chr(10).join(lines_of_text))}",
        f"STATUS:{'CONFIRMED' if doc.get('stage') in ('scheduled', 'delivered') else 'TENTATIVE'}",
        "TRANSP:OPAQUE",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
