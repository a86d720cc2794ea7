"""ilea/roster_file.py: a roster CSV checked row by row, every problem reported at once."""

from __future__ import annotations

import uuid

import pytest

from ilea.domain import Agency
from ilea.roster_file import ROSTER_NAMESPACE, RosterInvalid, RowError, check_rows, parse_csv

HEADER = "key,name,agency,component,expertise,languages,active\n"
GOOD = (
    HEADER
    + "T-1001,Maria Alvarez,TREASURY,IRS-CI,cybercrime;corruption_financial_crimes,en;es,true\n"
    + "D-77, Omar  Khan ,dhs,HSI,counterterrorism,,\n"
    + "J-5,Grace Ortiz,DOJ,FBI,cybercrime,en,false\n"
)


def problems(text: str, agency: Agency | None = None) -> list[RowError]:
    with pytest.raises(RosterInvalid) as refused:
        parse_csv(text, agency)
    return refused.value.errors


def test_a_good_file_gives_one_checked_row_per_instructor() -> None:
    rows = parse_csv(GOOD)
    assert [(r.key, r.name, r.agency, r.component, r.row) for r in rows] == [
        ("T-1001", "Maria Alvarez", Agency.TREASURY, "IRS-CI", 2),
        ("D-77", "Omar Khan", Agency.DHS, "HSI", 3),
        ("J-5", "Grace Ortiz", Agency.DOJ, "FBI", 4),
    ]
    assert rows[0].expertise == ("corruption_financial_crimes", "cybercrime") and rows[0].languages == ("en", "es")
    assert [r.active for r in rows] == [True, True, False] and rows[1].languages == ()


def test_ids_are_stable_per_agency_and_a_roster_id_is_kept() -> None:
    (first,) = parse_csv(HEADER + "T-1001,Maria Alvarez,TREASURY,IRS-CI,cybercrime,en,true\n")
    assert first.instructor_id == str(uuid.uuid5(ROSTER_NAMESPACE, "TREASURY:T-1001"))
    (same_key_elsewhere,) = parse_csv(HEADER + "T-1001,Maria Alvarez,DHS,HSI,cybercrime,en,true\n")
    assert same_key_elsewhere.instructor_id != first.instructor_id  # agencies' numbering may overlap
    existing = str(uuid.uuid4())
    (kept,) = parse_csv(HEADER + f"{existing.upper()},Maria Alvarez,TREASURY,IRS-CI,cybercrime,en,true\n")
    assert kept.instructor_id == existing


def test_every_problem_of_every_row_is_reported_with_its_line() -> None:
    text = (
        HEADER
        + "T-1,Maria Alvarez,TREASURY,IRS-CI,cybercrime,en,true\n"
        + ",X,NAVY,HSI,astrology,e,maybe\n"
        + "T-2,Omar Khan,TREASURY,HSI,cybercrime,en,true\n"
        + "T-1,Maria Again,TREASURY,OCC,cybercrime,en,true\n"
        + "T-3,Grace Ortiz,TREASURY,OCC,cybercrime,en,true,extra\n"
    )
    found = {(e.row, e.column) for e in problems(text)}
    assert found == {
        (3, "key"),
        (3, "name"),
        (3, "agency"),
        (3, "expertise"),
        (3, "languages"),
        (3, "active"),
        (4, "component"),
        (5, "key"),
        (6, "row"),
    }
    assert any("IRS-CI, FinCEN, OCC" in e.message for e in problems(text) if e.row == 4)
    assert any("row 2" in e.message for e in problems(text) if e.row == 5)


def test_the_header_must_name_the_columns() -> None:
    (error,) = problems("key,name,agency,component,skills\nT-1,Maria Alvarez,TREASURY,IRS-CI,cybercrime\n")
    assert (error.row, error.column) == (1, "header")
    assert "missing expertise" in error.message and "unknown skills" in error.message
    (empty,) = problems(HEADER)
    assert empty.column == "file"


def test_a_coordinators_import_holds_only_their_agency() -> None:
    errors = problems(GOOD, Agency.TREASURY)
    assert {(e.row, e.column) for e in errors} == {(3, "agency"), (4, "agency")}
    rows = check_rows(
        [(0, {"key": "T-9", "name": "Ana Lee", "component": "OCC", "expertise": ["cybercrime"]})], Agency.TREASURY
    )
    assert rows[0].agency is Agency.TREASURY and rows[0].active is True


def test_names_follow_the_text_rules_of_every_other_field() -> None:
    """A roster file is input like any form: no control or bidirectional-override characters
    (a NUL used to reach PostgreSQL and fail the whole import with a traceback), and the text
    NFC-normalised, so the same name typed two ways is stored one way."""
    text = (
        HEADER
        + "T-1,Maria\u202eAlvarez,TREASURY,IRS-CI,cybercrime,en,true\n"
        + "T-2,Bob\x00Xu,TREASURY,IRS-CI,cybercrime,en,true\n"
        + "T-3,Ann Lee,TREASURY,IRS-CI,cybercrime,en;\x07x,true\n"
    )
    errors = problems(text)
    assert [(e.row, e.column) for e in errors] == [(2, "name"), (3, "name"), (4, "languages")]
    assert "U+202E" in errors[0].message and "bidirectional" in errors[0].message
    assert "U+0000" in errors[1].message and "control characters" in errors[1].message
    assert "U+0007" in errors[2].message
    (cafe,) = parse_csv(HEADER + "T-5,Rene\u0301 Cafe\u0301,TREASURY,IRS-CI,cybercrime,en,true\n")
    assert cafe.name == "Ren\u00e9 Caf\u00e9"


def test_a_header_naming_a_column_twice_is_refused() -> None:
    """csv.DictReader keeps the last of two same-named columns: a file with two name columns
    would silently import the wrong one."""
    (error,) = problems(
        "key,name,agency,component,expertise,name\nT-1,Maria Alvarez,TREASURY,IRS-CI,cybercrime,Someone Else\n"
    )
    assert (error.row, error.column) == (1, "header") and "name twice" in error.message
