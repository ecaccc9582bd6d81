"""The `tidemark` command line: a thin shell over the library.

Each domain keeps its commands in its own ``commands.py``; this module mounts
them and holds the few commands about the whole installation (init, status,
demo).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from sqlalchemy import Engine

from tidemark.assistant.commands import ask
from tidemark.assistant.eval_commands import evaluate
from tidemark.console import (
    JsonOption,
    ReportingGroup,
    configure_logging,
    database_url,
    err,
    new_table,
    now,
    open_engine,
    out,
    print_json,
)
from tidemark.db.engine import make_engine, unit_of_work
from tidemark.db.migrate import current_revision, upgrade
from tidemark.db.status import (
    PersistenceReport,
    missing_report,
    persistence_report,
    report_dict,
    sqlite_file,
)
from tidemark.errors import Conflict, NotFound
from tidemark.events import service as events
from tidemark.events.commands import coverage_lines, events_app, worker, worker_config
from tidemark.events.schedule_commands import schedule_app
from tidemark.settings import get_settings
from tidemark.snapshots.commands import import_app, snapshot_app
from tidemark.snapshots.sections import SECTION_CACHE
from tidemark.tenancy import service as tenants

if TYPE_CHECKING:
    from tidemark.demo import DemoSummary
from tidemark.tenancy.commands import customers_app, keys_app

app = typer.Typer(
    cls=ReportingGroup,
    name="tidemark",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(customers_app)
app.add_typer(snapshot_app)
app.add_typer(import_app)
app.add_typer(keys_app)
app.add_typer(events_app)
app.add_typer(schedule_app)
app.command("worker")(worker)
app.command("ask")(ask)
app.command("eval")(evaluate)


@app.callback()
def root() -> None:
    """Tidemark keeps immutable point-in-time snapshots of accounts and answers about their history.

    The database comes from TIDEMARK_DATABASE_URL, else TIDEMARK_DATA_DIR/tidemark.db.
    Set TIDEMARK_NOW (ISO 8601) to pin the clock.

    Example: tidemark demo && tidemark snapshot latest
    """
    configure_logging(get_settings().log_level)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@app.command()
def init() -> None:
    """Create the database, or migrate it to the newest schema, and say where it is.

    Example: TIDEMARK_DATA_DIR=./data tidemark init
    """
    url = database_url()
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    finally:
        engine.dispose()
    path = sqlite_file(url)
    where = str(path) if path else engine.url.render_as_string(hide_password=True)
    if before == after:
        out.print(f"Database at {escape(where)} is already at the newest schema ({after}).")
    else:
        out.print(f"Database at {escape(where)} migrated from {before or 'empty'} to {after}.")


def _print_report(report: PersistenceReport) -> None:
    location = report.path or report.url
    out.print(f"[bold]Database[/bold]  {report.backend}: {escape(location)}")
    if report.path:
        out.print(f"          URL {escape(report.url)}")
    if not report.exists:
        out.print("[yellow]No database file yet.[/yellow] Create it with `tidemark init`.")
        return
    if report.file_bytes is not None:
        wal = f" + {_size(report.wal_bytes)} write-ahead log" if report.wal_bytes else ""
        out.print(f"          file {_size(report.file_bytes)}{wal}")
    state = (
        "[green]up to date[/green]"
        if report.up_to_date
        else "[yellow]behind: run `tidemark init`[/yellow]"
    )
    out.print(
        f"[bold]Schema[/bold]    revision {report.revision or 'none'} "
        f"(newest {report.head}), {state}"
    )
    tables = new_table("Table", "Rows", "Size", title="Persisted tables")
    for t in report.tables:
        rows = "[yellow]missing[/yellow]" if t.rows is None else f"{t.rows:,}"
        tables.add_row(t.name, rows, _size(t.bytes))
    out.print(tables)
    if report.tenants:
        people = new_table("ID", "Customer", "Users", "Accounts", "Snapshots", title="Tenants")
        for c in report.tenants:
            people.add_row(
                str(c.customer_id),
                escape(c.customer_name),
                f"{c.users:,}",
                f"{c.accounts:,}",
                f"{c.snapshots:,}",
            )
        out.print(people)
        if report.tenant_count > len(report.tenants):
            out.print(f"… and {report.tenant_count - len(report.tenants)} more tenants.")
    s = report.storage
    if s is not None:
        out.print("[bold]Snapshot storage[/bold]")
        out.print(
            f"  {s.snapshots:,} snapshots of {s.accounts_with_snapshots:,} accounts; "
            f"{s.sections:,} distinct sections shared by {s.section_references:,} references"
        )
        if s.sections_by_kind:
            kinds = ", ".join(f"{k} {n:,}" for k, n in s.sections_by_kind.items())
            out.print(f"  sections by kind: {kinds}")
        per = f"{s.bytes_per_snapshot:,.0f} bytes per snapshot" if s.bytes_per_snapshot else ""
        out.print(f"  {_size(s.bytes)} in all{', ' + per if per else ''} (measured by {s.method})")
    out.print("[bold]Only in memory[/bold] (nothing to back up)")
    for m in report.memory_only:
        out.print(f"  {m.name}: {m.description}")


@app.command()
def status(as_json: JsonOption = False) -> None:
    """Report what is persisted: database location, schema, tables, snapshot storage.

    Read-only: unlike other commands it never migrates, so it can show a schema that is behind.

    Example: tidemark status --json
    """
    url = database_url()
    path = sqlite_file(url)
    figures: dict[str, events.Coverage] = {}
    if path is not None and not path.exists():
        report = missing_report(url)
    else:
        with open_engine(migrate=False) as engine:
            report = persistence_report(engine)
            if report.up_to_date:
                with unit_of_work(engine) as session:
                    moment = now()
                    for tenant in tenants.list_all(session):
                        figures[tenant.customer_name] = events.coverage(
                            session, customer_id=tenant.customer_id, now=moment
                        )
    if as_json:
        body = report_dict(report)
        body["coverage"] = {name: f.as_dict() for name, f in figures.items()}
        print_json(body)
    else:
        _print_report(report)
        if figures:
            out.print("[bold]Automatic capture[/bold] (coverage, event delay, dead events)")
            for name, f in figures.items():
                for line in coverage_lines(name, f):
                    out.print("  " + line)


@contextmanager
def quiet_logger(name: str, *, unless_level: int) -> Iterator[None]:
    """Raise logger ``name`` to WARNING for the block, unless logging is at ``unless_level``."""
    logger = logging.getLogger(name)
    previous = logger.level
    if logging.getLogger().getEffectiveLevel() > unless_level:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)


@contextmanager
def _stage_progress() -> Iterator[Progress]:
    progress = Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
        # Bars only make sense on a terminal; piped output stays clean.
        disable=not err.is_terminal,
    )
    with progress:
        yield progress


def _load_demo(engine: Engine, *, seed: int, reset: bool) -> DemoSummary:
    """Load the demo customer in one transaction, first deleting it when ``reset``."""
    # Imported here so that commands which never touch the demo start faster.
    from tidemark.demo import load_demo
    from tidemark.demo.profiles import CUSTOMER_NAME

    with unit_of_work(engine, write=True) as session:
        try:
            existing = tenants.get_by_name(session, name=CUSTOMER_NAME)
        except NotFound:
            existing = None
        if existing is not None:
            if not reset:
                path = sqlite_file(database_url())
                folder = f"delete the data folder ({path.parent}) or " if path else ""
                raise Conflict(
                    f"the demo customer {CUSTOMER_NAME!r} already exists; "
                    f"{folder}run `tidemark demo --reset` to load it afresh"
                )
            tenants.delete(session, customer_id=existing.customer_id)
            # Freed section ids can be handed out again on SQLite; drop what was decoded.
            SECTION_CACHE.clear(engine)
        with _stage_progress() as progress:
            tasks: dict[str, TaskID] = {}

            def advance(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total)
                progress.update(tasks[stage], completed=done, total=total)

            # A simulated year is hundreds of captures; one log line each would bury the summary.
            with quiet_logger("tidemark.snapshots", unless_level=logging.DEBUG):
                return load_demo(session, now=now(), seed=seed, progress=advance)


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed of the generated history.")] = 7,
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete the demo customer's rows first.")
    ] = False,
) -> None:
    """Load the demo customer "Test Company": accounts, KPIs, playbooks, notes and history.

    Example: tidemark demo --reset --seed 7
    """
    started = time.perf_counter()
    with open_engine() as engine:
        summary = _load_demo(engine, seed=seed, reset=reset)
    for line in summary.render():
        typer.echo(line)
    out.print(f"Loaded in {time.perf_counter() - started:.1f} s.")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    with_demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Load the demo customer when it is missing and print a demo API key."
        ),
    ] = False,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) on the configured database.

    Example: tidemark serve --demo --port 8000
    """
    import uvicorn

    from tidemark.api import create_app
    from tidemark.demo.profiles import CUSTOMER_NAME
    from tidemark.tenancy import keys

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    with open_engine() as engine:
        if with_demo:
            with unit_of_work(engine) as session:
                try:
                    tenants.get_by_name(session, name=CUSTOMER_NAME)
                    present = True
                except NotFound:
                    present = False
            if not present:
                for line in _load_demo(engine, seed=7, reset=False).render():
                    typer.echo(line)
            with unit_of_work(engine, write=True) as session:
                tenant = tenants.get_by_name(session, name=CUSTOMER_NAME)
                _, text = keys.create(
                    session,
                    customer_id=tenant.customer_id,
                    role="admin",
                    now=now(),
                    name="demo server",
                )
            out.print(f"Demo API key (admin of {CUSTOMER_NAME}): {text}", markup=False)
            out.print(
                f"Try: curl -H 'Authorization: Bearer {text}' "
                f"http://{host}:{port}/api/account-snapshots/latest",
                markup=False,
                soft_wrap=True,
            )
        in_process = settings.worker_in_process
        if in_process is None:
            in_process = engine.dialect.name == "sqlite"
        worker = worker_config(settings) if in_process else None
        out.print(f"Serving on http://{host}:{port} (API docs at /docs). Ctrl+C stops.")
        if worker is not None:
            out.print("An event worker runs in this process (TIDEMARK_WORKER_IN_PROCESS).")
        app = create_app(engine=engine, worker=worker)
        # Full collections of the long-lived start-up heap made the latency tail
        # (docs/API.md): keep those objects out of the collector's way.
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 50, 100)
        uvicorn.run(app, host=host, port=port, log_level="info")


def main() -> None:
    """Console entry point of `tidemark`."""
    app(prog_name="tidemark")
