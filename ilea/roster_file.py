"""An agency's instructor roster as a file: parsing and checking, no I/O.

The production way to load and update a roster is a CSV file (``ilea roster import``) or
the same rows as JSON (``POST /v1/instructors/import``). One row per instructor:

    key,name,agency,component,expertise,languages,active
    T-1001,Maria Alvarez,TREASURY,IRS-CI,corruption_financial_crimes;cybercrime,en;es,true

- ``key``: the agency's own stable identifier for the person (an employee number, say),
  or the id of an instructor already on the roster (as ``GET /v1/instructors`` lists it).
  The same file imported twice therefore changes nothing the second time.
- ``expertise``: topics, ``;``-separated; ``languages``: ``;``-separated codes.
- ``active``: ``true`` (the default when the column is absent or empty) or ``false``.

Every row is checked before anything is written, and every broken rule of every row is
reported at once (:class:`RosterInvalid`).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ilea.domain import COMPONENTS, INSTRUCTOR_AGENCIES, Agency, Topic
from ilea.text import TextRefused, clean

#: Namespace of the instructor ids derived from an agency's own identifiers.
ROSTER_NAMESPACE = uuid.UUID("8d7c2e1a-5b4f-4c3d-9e2a-1ea0c0de0016")
COLUMNS = ("key", "name", "agency", "component", "expertise", "languages", "active")
OPTIONAL = frozenset({"languages", "active"})
MAX_ROWS = 5000
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:/-]{0,99}")
_TRUE, _FALSE = {"true", "yes", "1", ""}, {"false", "no", "0"}


@dataclass(frozen=True)
class RosterRow:
    """One instructor as the file gives them, checked."""

    key: str
    name: str
    agency: Agency
    component: str
    expertise: tuple[str, ...]
    languages: tuple[str, ...]
    active: bool
    #: where it came from: the file's line number (CSV) or the item's index (JSON)
    row: int = 0

    @property
    def instructor_id(self) -> str:
        """The roster id: the key itself when it is one (a UUID), else derived from it."""
        if _is_uuid(self.key):
            return self.key.lower()
        return str(uuid.uuid5(ROSTER_NAMESPACE, f"{self.agency.value}:{self.key}"))


@dataclass(frozen=True)
class RowError:
    """A broken rule: ``row`` is the file's line number (CSV) or the item's index (JSON)."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.column}: {self.message}"


class RosterInvalid(Exception):
    """Some rows break the rules; nothing is to be written."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the roster: " + "; ".join(map(str, errors[:5])))
        self.errors = errors


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


def _as_list(value: Any) -> list[str]:
    """``a;b`` from a CSV cell, or a JSON list of strings."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return _split(str(value or ""))


def check_row(
    raw: Mapping[Any, Any], row: int, agency: Agency | None = None
) -> tuple[RosterRow | None, list[RowError]]:
    """Check one row; ``agency`` is the only agency allowed (a coordinator's own), if given."""
    errors: list[RowError] = []

    def bad(column: str, message: str) -> None:
        errors.append(RowError(row, column, message))

    def text(column: str, value: str) -> str | None:
        """``value`` under the text rules of every form (ilea/text.py); None when it breaks one."""
        try:
            return clean(value, paragraph=False)
        except TextRefused as refused:
            bad(column, refused.message)
            return None

    if raw.get(None):  # csv.DictReader's bucket for values beyond the header's columns
        bad("row", f"more values than the {len(COLUMNS)} columns (a ',' inside a value needs quotes)")
    key = str(raw.get("key") or "").strip()
    if not _KEY.fullmatch(key):
        bad("key", "1-100 letters, digits or . _ @ : / - (the agency's identifier for the person)")
    name = " ".join((text("name", str(raw.get("name") or "")) or "").split())
    if not 2 <= len(name) <= 200 and not any(e.column == "name" for e in errors):
        bad("name", "2-200 characters")
    agency_text = str(raw.get("agency") or (agency.value if agency else "")).strip().upper()
    parsed_agency = next((a for a in INSTRUCTOR_AGENCIES if a.value == agency_text), None)
    if parsed_agency is None:
        bad("agency", f"one of {', '.join(a.value for a in INSTRUCTOR_AGENCIES)}, not {agency_text or 'nothing'}")
    elif agency is not None and parsed_agency != agency:
        bad("agency", f"{parsed_agency.value} is not your agency ({agency.value})")
    component = text("component", str(raw.get("component") or ""))
    if component is not None and parsed_agency is not None and component not in COMPONENTS[parsed_agency]:
        bad("component", f"one of {', '.join(COMPONENTS[parsed_agency])}, not {component or 'nothing'}")
    topics = {t.value for t in Topic}
    expertise = _as_list(raw.get("expertise"))
    unknown = [t for t in expertise if t not in topics]
    if not expertise or unknown:
        bad("expertise", f"one or more topics separated by ';' (unknown: {', '.join(unknown) or 'none given'})")
    languages = [lang for lang in (text("languages", v) for v in _as_list(raw.get("languages"))) if lang is not None]
    if len(languages) > 20 or any(not 2 <= len(lang) <= 40 for lang in languages):
        bad("languages", "up to 20 codes of 2-40 characters, separated by ';'")
    active_value = raw.get("active", True)
    active_text = str(active_value).strip().lower() if not isinstance(active_value, bool) else str(active_value).lower()
    if active_text not in _TRUE | _FALSE:
        bad("active", f"true or false, not {active_value!r}")
    if errors or parsed_agency is None or component is None:
        return None, errors
    return (
        RosterRow(
            key=key,
            name=name,
            agency=parsed_agency,
            component=component,
            expertise=tuple(sorted(set(expertise))),
            languages=tuple(dict.fromkeys(languages)),
            active=active_text in _TRUE,
            row=row,
        ),
        [],
    )


def check_rows(rows: Iterable[tuple[int, Mapping[Any, Any]]], agency: Agency | None = None) -> list[RosterRow]:
    """Every row checked, and no instructor twice; raises :class:`RosterInvalid` listing
    every problem of every row."""
    checked: list[RosterRow] = []
    errors: list[RowError] = []
    first_seen: dict[str, int] = {}
    for number, raw in rows:
        row, problems = check_row(raw, number, agency)
        errors += problems
        if row is None:
            continue
        if row.instructor_id in first_seen:
            errors.append(RowError(number, "key", f"the same instructor as row {first_seen[row.instructor_id]}"))
            continue
        first_seen[row.instructor_id] = number
        checked.append(row)
    if len(checked) + len(errors) == 0:
        errors.append(RowError(0, "file", "no instructors in it"))
    if errors:
        raise RosterInvalid(errors)
    if len(checked) > MAX_ROWS:
        raise RosterInvalid([RowError(0, "file", f"at most {MAX_ROWS} instructors at a time")])
    return checked


def decode(data: bytes) -> str:
    """A roster file's bytes as text: UTF-8 (Excel's "CSV UTF-8" starts with a BOM), or UTF-16
    when it starts with a UTF-16 BOM. Anything else (Excel's plain "CSV" is Windows-1252) is
    refused with the line of its first byte that is not UTF-8, rather than guessed at.

    Raises:
        RosterInvalid: the file is not UTF-8 text.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise RosterInvalid([RowError(1, "file", "not UTF-16 text after its byte-order mark")]) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        byte = data[err.start]
        raise RosterInvalid(
            [RowError(line, "file", f"not UTF-8 text (byte 0x{byte:02X}); save it as CSV UTF-8")]
        ) from None


def parse_csv(text: str, agency: Agency | None = None) -> list[RosterRow]:
    """The rows of a roster CSV (a header line, then one instructor a line)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in COLUMNS if c not in header and c not in OPTIONAL and not (c == "agency" and agency)]
    unknown = [h for h in header if h not in COLUMNS]
    # csv.DictReader keeps the last of two same-named columns: the first would be lost unsaid.
    twice = sorted({h for h in header if header.count(h) > 1})
    if missing or unknown or twice:
        what = [f"missing {', '.join(missing)}"] if missing else []
        what += [f"unknown {', '.join(unknown)}"] if unknown else []
        what += [f"{h} twice" for h in twice]
        raise RosterInvalid([RowError(1, "header", f"{'; '.join(what)} (columns: {', '.join(COLUMNS)})")])
    reader.fieldnames = header
    rows = ((reader.line_num, row) for row in reader if any(str(v or "").strip() for v in row.values()))
    return check_rows(rows, agency)
