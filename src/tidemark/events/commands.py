"""`tidemark worker` and `tidemark events ...`: automatic capture from the command line."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Annotated

import typer
from rich.markup import escape

from tidemark.console import (
    CustomerOption,
    JsonOption,
    clock,
    new_table,
    now,
    open_engine,
    out,
    print_json,
    resolve_customer,
    show_time,
)
from tidemark.db.engine import unit_of_work
from tidemark.events import service
from tidemark.events.models import EVENT_STATES
from tidemark.events.worker import CycleResult, Worker, WorkerConfig
from tidemark.settings import Settings, get_settings

log = logging.getLogger(__name__)

events_app = typer.Typer(
    name="events",
    help="Inspect the event outbox, retry dead events, report coverage.",
    no_args_is_help=True,
)


def worker_config(settings: Settings, **overrides: object) -> WorkerConfig:
    """The worker configuration from ``TIDEMARK_WORKER_*`` settings, with overrides."""
    values: dict[str, object] = {
        "batch_size": settings.worker_batch_size,
        "lease_seconds": settings.worker_lease_seconds,
        "poll_seconds": settings.worker_poll_seconds,
        "max_attempts": settings.worker_max_attempts,
        "capture_batch_size": settings.capture_batch_size,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return WorkerConfig(**values)  # type: ignore[arg-type]


def worker(
    drain: Annotated[
        bool, typer.Option("--drain", help="Stop once there is nothing left to do.")
    ] = False,
    batch_size: Annotated[
        int | None, typer.Option(help="Events claimed per cycle.", min=1, max=10000)
    ] = None,
    schedules: Annotated[
        bool, typer.Option("--schedules/--no-schedules", help="Also run due schedules.")
    ] = True,
) -> None:
    """Turn outbox events into snapshots and run due schedules, until stopped.

    Run one or more beside the API on PostgreSQL; on SQLite `tidemark serve` runs one
    itself. Ctrl+C or SIGTERM finishes the current cycle and stops.

    Example: tidemark worker --batch-size 500
    """
    settings = get_settings()
    config = worker_config(settings, batch_size=batch_size, schedules=schedules)
    with open_engine() as engine:
        runner = Worker(engine, clock=clock(), config=config)
        if drain:
            total = runner.drain()
            out.print(
                f"Drained: {total.claimed} event(s) claimed, {total.snapshots} snapshot(s), "
                f"{total.deferred} deferred, {total.dead} dead, {total.scheduled} scheduled."
            )
            return
        stop = threading.Event()

        def request_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("Signal %d: stopping after this cycle", signum)
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        out.print(f"Worker {config.owner} on {engine.url.render_as_string()}. Ctrl+C stops.")
        totals = CycleResult()
        runner.run(stop, on_cycle=totals.add)
        out.print(
            f"Stopped: {totals.snapshots} snapshot(s) from {totals.claimed} event(s), "
            f"{totals.dead} dead."
        )


@events_app.command("list")
def list_events(
    customer: CustomerOption = None,
    state: Annotated[
        str | None, typer.Option(help=f"Only events in this state: {', '.join(EVENT_STATES)}.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List a customer's events, newest first (dead ones with their error).

    Example: tidemark events list --customer "Test Company" --state dead
    """
    with open_engine() as engine, unit_of_work(engine) as session:
        tenant = resolve_customer(session, customer)
        page = service.list_events(
            session, customer_id=tenant.customer_id, state=state, limit=limit
        )
        rows, total = page.items, page.total
        items = [
            {
                "event_id": e.event_id,
                "account_id": e.account_id,
                "event_type": e.event_type,
                "state": e.state,
                "created_at": e.created_at,
                "processed_at": e.processed_at,
                "attempts": e.attempts,
                "snapshot_id": e.snapshot_id,
                "last_error": e.last_error,
            }
            for e in rows
        ]
    if as_json:
        print_json({"items": items, "total": total})
        return
    table = new_table(
        "ID",
        "Account",
        "Event",
        "State",
        "Created (UTC)",
        "Snapshot",
        "Error",
        title=f"{len(items)} of {total} event(s)",
    )
    for item in items:
        table.add_row(
            str(item["event_id"]),
            str(item["account_id"]),
            str(item["event_type"]),
            str(item["state"]),
            show_time(item["created_at"]),  # type: ignore[arg-type]
            str(item["snapshot_id"] or ""),
            escape(str(item["last_error"] or "")),
        )
    out.print(table)


@events_app.command("retry")
def retry(
    event_ids: Annotated[
        list[int] | None, typer.Argument(help="Dead events to retry; all dead ones if none.")
    ] = None,
    customer: CustomerOption = None,
) -> None:
    """Put dead events back in the queue with a fresh count of attempts.

    Example: tidemark events retry 4211 4212 --customer "Test Company"
    """
    with open_engine() as engine, unit_of_work(engine, write=True) as session:
        tenant = resolve_customer(session, customer)
        if event_ids:
            moved = service.retry(
                session, customer_id=tenant.customer_id, event_ids=event_ids, now=now()
            )
        else:
            moved = service.retry_dead(session, customer_id=tenant.customer_id, now=now())
    out.print(f"Queued {moved} event(s) again.")


@events_app.command("coverage")
def coverage(customer: CustomerOption = None, as_json: JsonOption = False) -> None:
    """Coverage (accounts with a snapshot in 31 days), event delay and the backlog.

    Example: tidemark events coverage --customer "Test Company" --json
    """
    with open_engine() as engine, unit_of_work(engine) as session:
        tenant = resolve_customer(session, customer)
        figures = service.coverage(session, customer_id=tenant.customer_id, now=now())
    if as_json:
        print_json(figures.as_dict())
        return
    for line in coverage_lines(tenant.customer_name, figures):
        out.print(line)


def coverage_lines(name: str, figures: service.Coverage) -> list[str]:
    """The coverage figures of one tenant as a few readable lines."""
    percent = "n/a" if figures.coverage_percent is None else f"{figures.coverage_percent:.1f} %"

    def seconds(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f} s"

    return [
        f"[bold]{escape(name)}[/bold]: {figures.covered} of {figures.accounts} account(s) "
        f"with a snapshot in the last {service.COVERAGE_DAYS} days ({percent})",
        f"  events in the last day: {figures.processed_last_day}, delay median "
        f"{seconds(figures.delay_median_seconds)}, p99 {seconds(figures.delay_p99_seconds)}",
        f"  pending {figures.pending} (oldest {seconds(figures.oldest_pending_seconds)}), "
        f"deferred {figures.deferred}, "
        + (f"[red]dead {figures.dead}[/red]" if figures.dead else "dead 0"),
    ]
