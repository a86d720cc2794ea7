"""The `ilea` command: the embedded development stack and the production entry points.

This package sits above ``api`` and ``worker`` (it starts them); nothing below imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import asyncpg
import typer
from pydantic import AliasChoices, ValidationError

from ilea import devstack
from ilea.db import create_pool, roster
from ilea.db.migrate import ensure_app_login, wait_for_database
from ilea.db.migrate import migrate as apply_migrations
from ilea.demo import demo_roster, demo_tokens
from ilea.domain import Agency, Role
from ilea.grants import GrantRefused
from ilea.grants import grant as set_grant
from ilea.settings import Settings, redact_url
from ilea.supervisor import Supervisor
from ilea.tokens import issue_token

# No local variables in tracebacks: they would print connection strings and keys.
app = typer.Typer(help="ILEA course approval and staffing.", no_args_is_help=True, pretty_exceptions_show_locals=False)


# --- what an operator is told instead of a traceback ------------------------------------------


def fail(message: str) -> NoReturn:
    """Say what is wrong on stderr and exit 1."""
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _env_name(field: str) -> str:
    """The environment variable of a Settings field (``ILEA_<FIELD>``, or its alias)."""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0]).upper()
    return str(alias).upper() if isinstance(alias, str) else f"ILEA_{field.upper()}"


def load_settings(**values: Any) -> Settings:
    """Settings from the environment; a refused one is named (never its value) and the command exits 1."""
    try:
        return Settings(**values)
    except ValidationError as err:
        problems = [
            ": ".join(
                filter(None, [_env_name(str(e["loc"][0])) if e["loc"] else "", e["msg"].removeprefix("Value error, ")])
            )
            for e in err.errors()
        ]
        fail("ILEA settings refused: " + "; ".join(problems))


#: What connecting to or talking with PostgreSQL raises when it is down, unreachable or refuses us.
DATABASE_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _database_problem(err: BaseException) -> str:
    if isinstance(err, ConnectionRefusedError):
        return "nothing answers there (connection refused); is PostgreSQL running?"
    if isinstance(err, TimeoutError):
        return "no answer in time"
    return f"{type(err).__name__}: {err}"


@contextlib.contextmanager
def database_errors(url: str) -> Iterator[None]:
    """A database that cannot be used becomes one sentence naming it (password hidden), exit 1."""
    try:
        yield
    except DATABASE_ERRORS as err:
        fail(f"cannot use the database at {redact_url(url)}: {_database_problem(err)}")


async def _migrate_and_seed(owner_url: str, seed: bool, app_login: str | None = None, wait: float = 0) -> list[str]:
    """Migrate as the tables' owner; with ``app_login``, also create the application's login."""
    await wait_for_database(owner_url, wait)
    pool = await create_pool(owner_url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as con:
            applied = await apply_migrations(con)
            if app_login:
                await ensure_app_login(con, app_login)
        if seed:
            for person in demo_roster():
                await roster.create_instructor(pool, **person)
    finally:
        await pool.close()
    return applied


@app.command()
def migrate(
    seed_demo: Annotated[bool, typer.Option(help="also add the demo roster")] = False,
    wait: Annotated[float, typer.Option(help="seconds to keep trying while PostgreSQL does not answer")] = 0,
) -> None:
    """Apply database migrations (and seed reference data) as the tables' owner, under an advisory lock."""
    settings = load_settings()
    owner_url = settings.migration_database_url or settings.database_url
    if not owner_url:
        raise typer.BadParameter("ILEA_MIGRATION_DATABASE_URL (or ILEA_DATABASE_URL) is not set")
    with database_errors(owner_url):
        applied = asyncio.run(_migrate_and_seed(owner_url, seed_demo, wait=wait))
    typer.echo(f"applied: {', '.join(applied) or 'nothing new'}")


roster_app = typer.Typer(help="The instructor roster.", no_args_is_help=True)
app.add_typer(roster_app, name="roster")


@roster_app.command("import")
def roster_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: see ilea/roster_file.py")],
    agency: Annotated[Agency | None, typer.Option(help="refuse rows of any other agency")] = None,
) -> None:
    """Create or update instructors from a CSV file: idempotent, all or nothing."""
    from ilea.db.roster import import_roster_file
    from ilea.roster_file import RosterInvalid, decode

    settings = load_settings()
    if not settings.database_url:
        raise typer.BadParameter("ILEA_DATABASE_URL is not set")
    try:
        data = file.read_bytes()
    except OSError as err:
        fail(f"{file}: cannot read it ({err.strerror})")
    try:
        text = decode(data)
        with database_errors(settings.database_url):
            done = asyncio.run(import_roster_file(settings.database_url, text, agency))
    except RosterInvalid as invalid:
        for e in invalid.errors:
            typer.echo(f"{file}:{e.row}: {e.column}: {e.message}", err=True)
        typer.echo(f"{file}: nothing imported ({len(invalid.errors)} problem(s))", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{file}: created {len(done.created)}, updated {len(done.updated)}, unchanged {len(done.unchanged)}")


@app.command()
def api() -> None:
    """Serve the HTTP API (uvicorn) on ILEA_API_HOST:ILEA_API_PORT."""
    # Imported here, not at the top: the API process need not load the worker, nor the worker the API.
    import uvicorn

    from api.app import create_app
    from ilea.logs import setup_logging
    from ilea.loop import tune_gc

    settings = load_settings()
    setup_logging(settings)
    app = create_app(settings)
    tune_gc()
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
    )


@app.command()
def worker() -> None:
    """Run the Temporal worker (the same as `python worker.py`)."""
    import worker as worker_module

    worker_module.main()


@app.command()
def token(
    sub: Annotated[str, typer.Option(help="subject (user id)")],
    agency: Annotated[Agency, typer.Option()],
    role: Annotated[list[Role], typer.Option(help="repeat for several roles")],
    name: Annotated[str, typer.Option()] = "",
    hours: Annotated[int, typer.Option(help="validity")] = 12,
) -> None:
    """Print a signed development JWT accepted by the running API."""
    typer.echo(
        issue_token(load_settings(), sub=sub, agency=agency, roles=role, name=name or sub, ttl=timedelta(hours=hours))
    )


@app.command()
def grant(
    sub: Annotated[str, typer.Option(help="the person's subject, exactly as the identity provider issues it")],
    email: Annotated[str, typer.Option()],
    agency: Annotated[Agency, typer.Option()],
    role: Annotated[list[Role], typer.Option(help="repeat for several roles; the grant becomes exactly these")],
    name: Annotated[str, typer.Option()] = "",
) -> None:
    """Grant a person their agency and roles (the first access_admin); written to the access log."""
    settings = load_settings()
    try:
        with database_errors(settings.database_url or ""):
            person = asyncio.run(set_grant(settings, sub=sub, name=name, email=email, agency=agency, roles=role))
    except GrantRefused as err:
        raise typer.BadParameter(str(err)) from None
    typer.echo(f"granted {person['sub']}: {person['agency']} {', '.join(person['roles'])}")


@app.command()
def dev(
    api_port: Annotated[int | None, typer.Option(help="default ILEA_API_PORT or 8000")] = None,
    temporal_port: Annotated[int | None, typer.Option(help="default 7233")] = None,
    ui_port: Annotated[int | None, typer.Option(help="default 8233")] = None,
    pg_port: Annotated[int | None, typer.Option(help="embedded PostgreSQL port, default 54329")] = None,
    state_dir: Annotated[Path | None, typer.Option(help="default .ilea")] = None,
    headless: Annotated[bool, typer.Option(help="no Temporal Web UI")] = False,
) -> None:
    """Start everything on embedded defaults: Temporal dev server, PostgreSQL, worker, API."""
    base = load_settings()
    if base.env == "production":
        raise typer.BadParameter("`ilea dev` is for development; ILEA_ENV is production")
    state = (state_dir or base.state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    api_port = api_port or base.api_port
    temporal_port = temporal_port or base.dev_temporal_port
    ui_port = ui_port or base.dev_temporal_ui_port
    started = time.monotonic()

    wanted = {"API": api_port, "Temporal": temporal_port}
    if not headless:
        wanted["Temporal UI"] = ui_port
    if not base.database_url:
        wanted["PostgreSQL"] = pg_port or base.dev_pg_port
    busy = [f"{what} port {port}" for what, port in wanted.items() if not devstack.port_is_free(port)]
    if busy:
        typer.echo(f"cannot start: {', '.join(busy)} already in use (is another `make run` running?)", err=True)
        raise typer.Exit(2)
    temporal = devstack.TemporalDevServer(
        state / "temporal.db", temporal_port, ui_port, headless=headless, log_file=state / "temporal.log"
    )
    pg: devstack.EmbeddedPostgres | None = None
    supervisor: Supervisor | None = None
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        temporal.start(wait=False)  # PostgreSQL starts and migrates meanwhile
        database_url = base.database_url
        owner_url, app_login = base.migration_database_url or database_url, None
        if not database_url:
            pg = devstack.EmbeddedPostgres(state / "pgdata", pg_port or base.dev_pg_port).start()
            # Migrations run as the owner; the worker and the API log in as ilea_app's member,
            # which cannot update, delete or truncate audit rows.
            owner_url, database_url, app_login = pg.url, pg.app_url, devstack.APP_LOGIN
        assert owner_url is not None
        env = {
            # Against the dev server (5 s long polls) a stopped worker shows in /readyz in 20 s.
            "ILEA_WORKER_POLL_MAX_AGE_SECONDS": str(devstack.WORKER_POLL_MAX_AGE_S),
            **os.environ,
            "ILEA_DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": temporal.address,
            "ILEA_API_PORT": str(api_port),
        }
        settings = load_settings(
            database_url=database_url,
            temporal_address=temporal.address,
            api_port=api_port,
        )
        with database_errors(owner_url):
            asyncio.run(_migrate_and_seed(owner_url, seed=True, app_login=app_login))
        temporal.wait()
        # A crashed worker or API is started again (with backoff); only Ctrl-C stops the stack.
        supervisor = Supervisor(env, say=lambda line: typer.echo(line, err=True))
        for role in ("worker", "api"):
            supervisor.add(role, [sys.executable, "-m", "cli", role], state / f"{role}.log")
        supervisor.start_all()
        _wait_ready(api_port, supervisor)
        _banner(settings, api_port, None if headless else ui_port, state, time.monotonic() - started)
        while not stopping:
            supervisor.check(stopping=lambda: stopping)
            time.sleep(0.2)
    except devstack.StartFailed as err:
        fail(str(err))  # what did not start, in a sentence; everything started is stopped below
    finally:
        typer.echo("stopping…")
        if supervisor is not None:
            supervisor.stop()
        temporal.stop()
        if pg is not None and pg.started_here:
            pg.stop()
        typer.echo("stopped; state kept in " + str(state))


def _wait_ready(port: int, supervisor: Supervisor, timeout: float = 60) -> None:
    """Until the API's /readyz answers 200; StartFailed if the worker or the API exits first,
    or it takes longer than ``timeout`` seconds."""
    import httpx

    names = {"api": "the API", "worker": "the worker"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in supervisor.children:
            if child.process is None or child.process.poll() is not None:
                raise devstack.StartFailed(
                    f"cannot start ILEA: {names[child.role]} exited during start-up (its log: {child.log_file})"
                )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    logs = ", ".join(str(c.log_file) for c in supervisor.children)
    raise devstack.StartFailed(f"cannot start ILEA: the API was not ready after {timeout:.0f} s (logs: {logs})")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600, an existing file's mode too):
    the demo tokens in it sign anyone in for 30 days."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _banner(settings: Settings, api_port: int, ui_port: int | None, state: Path, took: float) -> None:
    tokens = demo_tokens(settings)
    lines = [
        "",
        f"ILEA is up ({took:.1f}s)",
        f"  API          http://127.0.0.1:{api_port}",
        f"  API docs     http://127.0.0.1:{api_port}/docs",
        f"  Temporal UI  http://127.0.0.1:{ui_port}" if ui_port else "  Temporal UI  (headless)",
        f"  Temporal     {settings.temporal_address}   PostgreSQL {redact_url(settings.database_url or '')}",
        f"  State        {state}  (logs: worker.log, api.log, temporal.log)",
        "",
        "Demo tokens (valid 30 days; also in " + str(state / "tokens.env") + "):",
    ]
    env_lines = []
    for sub, what, tok in tokens:
        lines.append(f"  {sub:<22} {what}")
        lines.append(f"    {tok}")
        env_lines.append(f"{sub.upper().replace('-', '_')}={tok}")
    write_private(state / "tokens.env", "\n".join(env_lines) + "\n")
    lines += ["", "Press Ctrl-C to stop everything (state is kept for the next `make run`).", ""]
    typer.echo("\n".join(lines))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
