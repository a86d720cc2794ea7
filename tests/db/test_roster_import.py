"""Importing a roster: idempotent, updates in place, all or nothing; and `ilea roster import`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from ilea.db import roster
from ilea.roster_file import RosterInvalid, parse_csv

ROOT = Path(__file__).resolve().parents[2]
HEADER = "key,name,agency,component,expertise,languages,active\n"
ROSTER = (
    HEADER
    + "T-1001,Maria Alvarez,TREASURY,IRS-CI,cybercrime;corruption_financial_crimes,en;es,true\n"
    + "D-77,Omar Khan,DHS,HSI,counterterrorism,en;fr,true\n"
    + "J-5,Grace Ortiz,DOJ,FBI,cybercrime,en,true\n"
)


async def snapshot(pool: asyncpg.Pool) -> list[tuple[object, ...]]:
    rows = await pool.fetch(
        "SELECT id, name, agency, component, expertise, languages, active, deactivated_at IS NOT NULL AS off"
        " FROM instructors ORDER BY id"
    )
    return [tuple(r) for r in rows]


async def test_importing_twice_changes_nothing_the_second_time(pool: asyncpg.Pool) -> None:
    first = await roster.import_roster(pool, parse_csv(ROSTER))
    assert (len(first.created), first.updated, first.unchanged) == (3, [], [])
    before = await snapshot(pool)
    again = await roster.import_roster(pool, parse_csv(ROSTER))
    assert (again.created, again.updated, sorted(again.unchanged)) == ([], [], sorted(first.created))
    assert await snapshot(pool) == before
    listed = await roster.list_instructors(pool, agency="DHS", expertise="counterterrorism")
    assert [(i["name"], i["component"], i["languages"]) for i in listed] == [("Omar Khan", "HSI", ["en", "fr"])]


async def test_a_changed_row_updates_its_instructor_in_place(pool: asyncpg.Pool) -> None:
    await roster.import_roster(pool, parse_csv(ROSTER))
    changed = ROSTER.replace(
        "Omar Khan,DHS,HSI,counterterrorism,en;fr,true", "Omar Khan,DHS,CBP,counterterrorism,en,false"
    )
    done = await roster.import_roster(pool, parse_csv(changed))
    (omar,) = [r for r in parse_csv(changed) if r.key == "D-77"]
    assert (done.updated, len(done.unchanged), done.created) == ([omar.instructor_id], 2, [])
    row = await roster.get_instructor(pool, omar.instructor_id)
    assert row is not None and (row["component"], row["languages"], row["active"]) == ("CBP", ["en"], False)
    assert await pool.fetchval("SELECT count(*) FROM instructors") == 3


async def test_an_instructor_of_another_agency_writes_nothing(pool: asyncpg.Pool) -> None:
    await roster.import_roster(pool, parse_csv(ROSTER))
    (maria,) = [r for r in parse_csv(ROSTER) if r.key == "T-1001"]
    before = await snapshot(pool)
    hijack = (
        HEADER
        + "N-1,Nadia Novak,DOJ,ATF,cybercrime,en,true\n"
        + f"{maria.instructor_id},Maria A,DOJ,FBI,cybercrime,en,true\n"
    )
    try:
        await roster.import_roster(pool, parse_csv(hijack))
    except RosterInvalid as refused:
        assert [(e.row, e.column) for e in refused.errors] == [(3, "key")]
        assert "TREASURY roster" in refused.errors[0].message
    else:
        raise AssertionError("an instructor of another agency was imported")
    assert await snapshot(pool) == before  # not even the good first row


def run_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ILEA_", "TEMPORAL_"))}
    env |= {"ILEA_DATABASE_URL": db_url}
    return subprocess.run(
        [sys.executable, "-m", "cli", "roster", "import", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_cli_imports_a_file_and_refuses_a_bad_one_whole(
    pool: asyncpg.Pool, db_url: str, tmp_path: Path
) -> None:
    good = tmp_path / "roster.csv"
    good.write_text(ROSTER)
    out = run_cli(db_url, str(good))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{good}: created 3, updated 0, unchanged 0"
    assert run_cli(db_url, str(good)).stdout.strip() == f"{good}: created 0, updated 0, unchanged 3"

    before = await snapshot(pool)
    bad = tmp_path / "bad.csv"
    bad.write_text(ROSTER + "D-78,Ana Lee,DHS,FBI,cybercrime,en,true\nD-79,Ben Ode,DHS,HSI,knitting,en,true\n")
    out = run_cli(db_url, str(bad))
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f"{bad}:5: component: one of HSI, CBP, USSS, FLETC, not FBI",
        f"{bad}:6: expertise: one or more topics separated by ';' (unknown: knitting)",
        f"{bad}: nothing imported (2 problem(s))",
    ]
    assert await snapshot(pool) == before
    only_dhs = run_cli(db_url, str(good), "--agency", "DHS")
    assert only_dhs.returncode == 1 and "TREASURY is not your agency (DHS)" in only_dhs.stderr


async def waiting_on_a_lock(pool: asyncpg.Pool) -> None:
    """Until some session of this database waits on a lock (polled: PostgreSQL tells no one)."""
    sql = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    while not await pool.fetchval(sql):  # noqa: ASYNC110
        await asyncio.sleep(0.05)


async def test_two_agencies_importing_the_same_new_roster_id_at_once_never_share_it(pool: asyncpg.Pool) -> None:
    """A roster id given as the key is taken as is. When DHS creates it while Treasury's import
    of the same id waits on that insert, Treasury's row must be refused, not written over the
    DHS instructor (with a Treasury component) by ON CONFLICT DO UPDATE."""
    shared = str(uuid.uuid4())
    (treasury_row,) = parse_csv(HEADER + f"{shared},Maria Alvarez,TREASURY,IRS-CI,cybercrime,en,true\n")
    async with pool.acquire() as dhs:
        tx = dhs.transaction()
        await tx.start()
        await dhs.execute(
            "INSERT INTO instructors (id, name, agency, component, expertise, languages)"
            " VALUES ($1, 'Omar Khan', 'DHS', 'HSI', '{counterterrorism}', '{en}')",
            shared,
        )
        treasury = asyncio.create_task(roster.import_roster(pool, [treasury_row]))
        await waiting_on_a_lock(pool)  # Treasury's import read no such id and waits on the insert
        await tx.commit()
        with pytest.raises(RosterInvalid) as refused:
            await treasury
    assert [(e.row, e.column) for e in refused.value.errors] == [(2, "key")]
    assert "DHS roster" in refused.value.errors[0].message
    row = await roster.get_instructor(pool, shared)
    assert row is not None and (row["name"], row["agency"], row["component"]) == ("Omar Khan", "DHS", "HSI")
