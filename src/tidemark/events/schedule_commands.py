"""`tidemark schedule ...`: scheduled snapshots of a customer's accounts (seed 000 §4.1.A)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tidemark.console import (
    CustomerOption,
    JsonOption,
    clock,
    err,
    new_table,
    now,
    open_engine,
    out,
    print_json,
    resolve_customer,
    show,
)
from tidemark.db.engine import unit_of_work
from tidemark.events import schedules
from tidemark.events.models import SCHEDULE_FREQUENCIES, SCHEDULE_SCOPES, ScheduleRun
from tidemark.events.schedule_schemas import schedule_body
from tidemark.settings import get_settings

schedule_app = typer.Typer(
    name="schedule",
    help="Scheduled snapshots: daily, weekly, monthly or as recommended, in the customer's zone.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="The schedule's name, unique per customer.")]


def _owner() -> str:
    """The lease owner of a run started from the command line: this host and process."""
    return f"cli:{socket.gethostname()[:40]}:{os.getpid()}"


def _run_body(run: ScheduleRun) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "schedule_id": run.schedule_id,
        "due_at": run.due_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "state": run.state,
        "accounts_total": run.accounts_total,
        "snapshots_created": run.snapshots_created,
        "cursor_account_id": run.cursor_account_id,
        "error": run.error,
    }


@schedule_app.command("list")
def list_schedules(customer: CustomerOption = None, as_json: JsonOption = False) -> None:
    """List the customer's schedules with their next run in the customer's time zone.

    Example: tidemark schedule list --customer "Test Company" --json
    """
    with open_engine() as engine, unit_of_work(engine) as session:
        tenant = resolve_customer(session, customer)
        timezone = schedules.tenant_timezone(session, customer_id=tenant.customer_id)
        rows = [
            schedule_body(s, timezone)
            for s in schedules.list_schedules(session, customer_id=tenant.customer_id)
        ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print(
            f"{escape(tenant.customer_name)} has no schedules yet. Add one with "
            "`tidemark schedule set nightly --frequency daily --at 02:00`."
        )
        return
    table = new_table("ID", "Name", "When", "Accounts", "On", f"Next run ({timezone})")
    for row in rows:
        table.add_row(
            str(row["schedule_id"]),
            show(row["name"]),
            escape(row["description"]),
            escape(
                f"health below {row['health_threshold']}"
                if row["scope"] == "health_below"
                else row["scope"]
            ),
            show(row["enabled"]),
            show(row["next_run_local"]) if row["enabled"] else "[dim]-[/dim]",
        )
    out.print(table)


@schedule_app.command("set")
def set_schedule(
    name: NameArgument,
    frequency: Annotated[
        str, typer.Option(help=f"How often: {', '.join(SCHEDULE_FREQUENCIES)}.")
    ] = "daily",
    at: Annotated[
        str, typer.Option("--at", help="Local time of day in the customer's time zone, HH:MM.")
    ] = schedules.DEFAULT_TIME,
    weekday: Annotated[
        str | None,
        typer.Option(help="Weekly runs: mon..sun or 0-6 (default mon).", show_default=False),
    ] = None,
    day: Annotated[
        int | None,
        typer.Option("--day", help="Monthly runs: day of the month, 1-28 (default 1).", min=1),
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option(
            help=f"Which accounts: {', '.join(SCHEDULE_SCOPES)} "
            "(default all; health_below when --below is given).",
            show_default=False,
        ),
    ] = None,
    below: Annotated[
        float | None,
        typer.Option("--below", help="Health threshold (0-100) of scope health_below."),
    ] = None,
    disable: Annotated[
        bool, typer.Option("--disable", help="Keep the schedule but do not run it.")
    ] = False,
    customer: CustomerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a schedule, or replace the settings of the one with this name.

    Example: tidemark schedule set at-risk --frequency daily --at 02:00 --below 70
    """
    chosen_scope = scope or ("health_below" if below is not None else "all")
    with open_engine() as engine, unit_of_work(engine, write=True) as session:
        tenant = resolve_customer(session, customer)
        existed = schedules.find_by_name(session, customer_id=tenant.customer_id, name=name)
        schedule = schedules.set_schedule(
            session,
            customer_id=tenant.customer_id,
            name=name,
            frequency=frequency,
            now=now(),
            time_of_day=at,
            weekday=None
            if weekday is None
            else schedules.parse_weekday(weekday, where="--weekday"),
            day_of_month=day,
            scope=chosen_scope,
            health_threshold=None if below is None else str(below),
            enabled=not disable,
        )
        timezone = schedules.tenant_timezone(session, customer_id=tenant.customer_id)
        body = schedule_body(schedule, timezone)
    if as_json:
        print_json(body)
        return
    verb = "Updated" if existed is not None else "Created"
    state = (
        f"next run {body['next_run_local']} {escape(timezone)}" if body["enabled"] else "disabled"
    )
    out.print(
        f"{verb} schedule [bold]{escape(body['name'])}[/bold]: {escape(body['description'])}, "
        f"{escape(schedules.scope_of(schedule))}; {state}."
    )


@contextmanager
def _run_progress() -> Iterator[Progress]:
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        # Bars only make sense on a terminal; piped output stays clean.
        disable=not err.is_terminal,
    )
    with progress:
        yield progress


@schedule_app.command("run-now")
def run_now(
    name: NameArgument, customer: CustomerOption = None, as_json: JsonOption = False
) -> None:
    """Run a schedule now, to the end, whatever its next run time (that stays as it is).

    Example: tidemark schedule run-now nightly --customer "Test Company"
    """
    started = time.perf_counter()
    with open_engine() as engine:
        with unit_of_work(engine) as session:
            tenant = resolve_customer(session, customer)
        with _run_progress() as progress:
            task = progress.add_task(f"Running {name}", total=None)
            run = schedules.run_now(
                engine,
                customer_id=tenant.customer_id,
                name=name,
                clock=clock(),
                owner=_owner(),
                batch_size=get_settings().capture_batch_size,
                on_start=lambda started: progress.update(task, total=started.accounts_total),
                progress=lambda n: progress.advance(task, n),
            )
    seconds = time.perf_counter() - started
    if as_json:
        print_json({**_run_body(run), "seconds": round(seconds, 3)})
        return
    out.print(
        f"Run {run.run_id} of [bold]{escape(name)}[/bold] {run.state}: "
        f"{run.snapshots_created} snapshot(s) in {seconds:.2f} s."
    )


@schedule_app.command("delete")
def delete_schedule(name: NameArgument, customer: CustomerOption = None) -> None:
    """Delete a schedule and its runs; the snapshots it took stay.

    Example: tidemark schedule delete nightly --customer "Test Company"
    """
    with open_engine() as engine, unit_of_work(engine, write=True) as session:
        tenant = resolve_customer(session, customer)
        schedule = schedules.get_by_name(session, customer_id=tenant.customer_id, name=name)
        schedules.delete(session, customer_id=tenant.customer_id, schedule_id=schedule.schedule_id)
    out.print(f"Deleted schedule [bold]{escape(name)}[/bold].")
