"""The `ilea` command tells an operator what is wrong in a sentence, never with a traceback:
settings it refuses, a database it cannot reach, a file it cannot read."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import write_private
from ilea.devstack import free_port

ROOT = Path(__file__).resolve().parents[2]
ROSTER = "key,name,agency,component,expertise\nT-1,Jos\u00e9 Ruiz,TREASURY,IRS-CI,cybercrime\n"


def ilea(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ILEA_", "TEMPORAL_"))}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr and "╭" not in done.stderr, done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["migrate"],
        ["roster", "import", "{roster}"],
        ["grant", "--sub", "admin-1", "--email", "admin@state.gov", "--agency", "STATE", "--role", "access_admin"],
    ],
    ids=["migrate", "roster import", "grant"],
)
def test_a_database_that_does_not_answer_is_one_sentence(args: list[str], tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER)
    url = f"postgresql://ilea:s3cret-password@127.0.0.1:{free_port()}/ilea"
    done = ilea(*[a.format(roster=roster) for a in args], ILEA_DATABASE_URL=url)
    no_traceback(done)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("cannot use the database at postgresql://ilea:***@127.0.0.1:") and "refused" in line
    assert "s3cret-password" not in done.stderr


def test_settings_the_command_refuses_are_named_without_their_values() -> None:
    done = ilea(
        "token", "--sub", "a", "--agency", "STATE", "--role", "auditor", ILEA_ENV="production", ILEA_JWT_SECRET="short"
    )
    no_traceback(done)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "ILEA settings refused: ILEA_JWT_SECRET must be at least 32 characters in production"
    )
    bad_number = ilea("migrate", ILEA_SESSION_IDLE_MINUTES="half an hour", ILEA_DATABASE_URL="postgresql://x@h/d")
    no_traceback(bad_number)
    assert bad_number.returncode == 1
    assert bad_number.stderr.strip().startswith("ILEA settings refused: ILEA_SESSION_IDLE_MINUTES: ")
    assert "half an hour" not in bad_number.stderr


def test_a_roster_file_that_is_not_utf8_says_where(tmp_path: Path) -> None:
    """Excel's plain "CSV" is Windows-1252: the file is refused with the line of the first byte
    that is not UTF-8, before the database is asked anything."""
    legacy = tmp_path / "roster.csv"
    legacy.write_bytes(ROSTER.encode("cp1252"))
    done = ilea("roster", "import", str(legacy), ILEA_DATABASE_URL=f"postgresql://x@127.0.0.1:{free_port()}/ilea")
    no_traceback(done)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"{legacy}:2: file: not UTF-8 text (byte 0xE9); save it as CSV UTF-8",
        f"{legacy}: nothing imported (1 problem(s))",
    ]


def dev(state: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``ilea dev`` on free ports with its state in ``state`` (no Temporal UI)."""
    ports = [str(free_port()) for _ in range(3)]
    return ilea(
        "dev", "--state-dir", str(state), "--api-port", ports[0], "--temporal-port", ports[1], "--pg-port", ports[2],
        "--headless", **env,
    )  # fmt: skip


def test_dev_says_in_a_sentence_that_the_embedded_postgres_did_not_start(tmp_path: Path) -> None:
    """A data directory PostgreSQL cannot use (here: a PG_VERSION it does not know)."""
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("7\n")
    done = dev(tmp_path)
    no_traceback(done)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"cannot start the embedded PostgreSQL in {pgdata}: "), line
    assert line.endswith(f"(its log: {pgdata / 'server.log'})"), line


def test_dev_says_in_a_sentence_that_the_api_did_not_come_up(tmp_path: Path, db_url: str) -> None:
    """An API that exits at once (it cannot listen on the address it is given)."""
    done = dev(tmp_path, ILEA_DATABASE_URL=db_url, ILEA_API_HOST="256.0.0.1")
    no_traceback(done)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line == (f"cannot start ILEA: the API exited during start-up (its log: {tmp_path / 'api.log'})"), line


def test_the_demo_tokens_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """`ilea dev` writes 30-day demo tokens to tokens.env: other users of the machine must not read them."""
    path = tmp_path / "tokens.env"
    path.write_text("OLD=1\n")
    path.chmod(0o644)  # as an earlier version left it
    write_private(path, "DEMO_PO=token\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "DEMO_PO=token\n"
