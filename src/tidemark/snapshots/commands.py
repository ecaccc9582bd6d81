"""`tidemark snapshot ...` and `tidemark import snapshots`: capture, read, compare, import."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import func, select

from tidemark.clock import months_before
from tidemark.console import (
    CustomerOption,
    JsonOption,
    err,
    first_user_id,
    new_table,
    now,
    open_engine,
    out,
    parse_moment,
    print_json,
    resolve_account,
    resolve_customer,
    show,
    show_time,
)
from tidemark.db.engine import unit_of_work
from tidemark.errors import InvalidInput
from tidemark.settings import get_settings
from tidemark.snapshots import service
from tidemark.snapshots.capture import capture_accounts, check_snapshot_type
from tidemark.snapshots.fields import FIELDS, SNAPSHOT_TYPES
from tidemark.snapshots.importer import import_snapshots, read_lines
from tidemark.snapshots.service import SnapshotRecord
from tidemark.success.models import Account

snapshot_app = typer.Typer(
    name="snapshot",
    help="Capture account snapshots and read their history.",
    no_args_is_help=True,
)
import_app = typer.Typer(name="import", help="Import history from files.", no_args_is_help=True)

AccountOption = Annotated[
    str | None,
    typer.Option("--account", "-a", help="Account id or name.", show_default=False),
]


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A Rich progress bar on stderr; yields a callback that advances it by n."""
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
    task = progress.add_task(description, total=total)
    with progress:
        yield lambda n: progress.advance(task, n)


def _seconds(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _id_span(ids: list[int]) -> str:
    if len(ids) <= 5:
        return ", ".join(str(i) for i in ids)
    return f"{min(ids)}…{max(ids)}"


@snapshot_app.command("create")
def create(
    account: AccountOption = None,
    reason: Annotated[
        str | None, typer.Option(help="Why the snapshot is taken (kept with it).")
    ] = None,
    snapshot_type: Annotated[
        str, typer.Option("--type", help=f"Snapshot type: {', '.join(SNAPSHOT_TYPES)}.")
    ] = "manual",
    customer: CustomerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Capture a snapshot of one account, or of every account of the customer.

    Example: tidemark snapshot create --account "TechCorp Solutions" --reason "before QBR"
    """
    check_snapshot_type(snapshot_type)
    started = time.perf_counter()
    at = now()
    with open_engine() as engine, unit_of_work(engine, write=True) as session:
        tenant = resolve_customer(session, customer)
        options: dict[str, Any] = {
            "customer_id": tenant.customer_id,
            "at": at,
            "snapshot_type": snapshot_type,
            "reason": reason,
            "created_by": first_user_id(session, tenant.customer_id),
            "batch_size": get_settings().capture_batch_size,
        }
        subject: str | None = None
        if account is not None:
            target = resolve_account(session, customer_id=tenant.customer_id, ref=account)
            subject = target.account_name
            result = capture_accounts(session, account_ids=[target.account_id], **options)
        else:
            total = session.execute(
                select(func.count())
                .select_from(Account)
                .where(Account.customer_id == tenant.customer_id)
            ).scalar_one()
            with progress_bar("Capturing", total) as advance:
                result = capture_accounts(session, progress=advance, **options)
    seconds = _seconds(started)
    ids = result.snapshot_ids
    if as_json:
        print_json(
            {
                "snapshot_ids": ids,
                "count": len(ids),
                "significant": result.significant,
                "snapshot_timestamp": at,
                "seconds": seconds,
            }
        )
        return
    if subject is not None:
        out.print(
            f"Captured snapshot {ids[0]} of [bold]{escape(subject)}[/bold] "
            f"({snapshot_type}) in {seconds:.2f} s."
        )
    elif not ids:
        out.print(f"{escape(tenant.customer_name)} has no accounts yet; nothing captured.")
    else:
        out.print(
            f"Captured {len(ids)} snapshot(s) (ids {_id_span(ids)}; "
            f"{result.significant} significant) in {seconds:.2f} s."
        )


def _snapshot_table(records: list[SnapshotRecord], *, title: str | None = None) -> Table:
    table = new_table(
        "ID",
        "Account",
        "Time (UTC)",
        "Type",
        "Health",
        "Trend",
        "Revenue",
        "Signif.",
        title=title,
    )
    for r in records:
        table.add_row(
            str(r["snapshot_id"]),
            show(r["account_name"]),
            show_time(r["snapshot_timestamp"]),
            show(r["snapshot_type"]),
            show(r["overall_health_score"]),
            show(r["health_score_trend"]),
            show(r["revenue"]),
            show(r["is_significant_change"]),
        )
    return table


@snapshot_app.command("list")
def list_snapshots(
    account: AccountOption = None,
    snapshot_type: Annotated[
        str | None, typer.Option("--type", help="Only this snapshot type.", show_default=False)
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="From this date or datetime (UTC).", show_default=False)
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Up to this date (whole day) or datetime.", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Page size.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Matches to skip.")] = 0,
    customer: CustomerOption = None,
    as_json: JsonOption = False,
) -> None:
    """List snapshots, newest first, filtered by account, type and time.

    Example: tidemark snapshot list --account "TechCorp Solutions" --since 2025-01-01 --limit 20
    """
    if snapshot_type is not None:
        check_snapshot_type(snapshot_type)
    start = parse_moment(since, where="--since")
    end = parse_moment(until, where="--until", end_of_day=True)
    if start is not None and end is not None and start > end:
        raise InvalidInput("--since", "must not be after --until")
    with open_engine() as engine, unit_of_work(engine) as session:
        tenant = resolve_customer(session, customer)
        account_id = None
        if account is not None:
            account_id = resolve_account(
                session, customer_id=tenant.customer_id, ref=account
            ).account_id
        page = service.list_snapshots(
            session,
            customer_id=tenant.customer_id,
            account_id=account_id,
            snapshot_type=snapshot_type,
            start=start,
            end=end,
            limit=limit,
            offset=offset,
        )
    if as_json:
        print_json(
            {"total": page.total, "limit": page.limit, "offset": page.offset, "items": page.items}
        )
        return
    if not page.items:
        out.print(f"No snapshots match ({page.total} in all).")
        return
    out.print(_snapshot_table(page.items))
    last = offset + len(page.items)
    out.print(f"Showing {offset + 1}–{last} of {page.total}.")


@snapshot_app.command("latest")
def latest(
    account: AccountOption = None,
    customer: CustomerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the newest snapshot of every account (or of one).

    Example: tidemark snapshot latest --customer "Test Company"
    """
    with open_engine() as engine, unit_of_work(engine) as session:
        tenant = resolve_customer(session, customer)
        account_ids = None
        if account is not None:
            account_ids = [
                resolve_account(session, customer_id=tenant.customer_id, ref=account).account_id
            ]
        records = service.latest(session, customer_id=tenant.customer_id, account_ids=account_ids)
    if as_json:
        print_json(records)
        return
    if not records:
        out.print("No snapshots yet. Take some with `tidemark snapshot create`.")
        return
    table = new_table(
        "Account",
        "Time (UTC)",
        "Health",
        "Trend",
        "Revenue",
        "Status",
        "Critical KPIs",
        title=f"Latest snapshots of {escape(tenant.customer_name)}",
    )
    for r in records:
        names = [str(k.get("kpi_name")) for k in r["top_critical_kpis"] or [] if k.get("kpi_name")]
        critical_text = show(r["critical_kpis_count"])
        if names:
            more = ", …" if len(names) > 2 else ""
            critical_text += f" ({escape(', '.join(names[:2]))}{more})"
        table.add_row(
            show(r["account_name"]),
            show_time(r["snapshot_timestamp"]),
            show(r["overall_health_score"]),
            show(r["health_score_trend"]),
            show(r["revenue"]),
            show(r["account_status"]),
            critical_text,
        )
    out.print(table)


@snapshot_app.command("show")
def show_snapshot(
    snapshot_id: Annotated[int, typer.Argument(help="Snapshot id.")],
    customer: CustomerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show every field of one snapshot.

    Example: tidemark snapshot show 42 --json
    """
    with open_engine() as engine, unit_of_work(engine) as session:
        tenant = resolve_customer(session, customer)
        record = service.get(session, customer_id=tenant.customer_id, snapshot_id=snapshot_id)
    if as_json:
        print_json(record)
        return
    table = new_table("Field", "Value", title=f"Snapshot {snapshot_id}")
    for spec in FIELDS:
        table.add_row(spec.name, show(record[spec.name]))
    out.print(table)


@snapshot_app.command("compare")
def compare(
    first_id: Annotated[int, typer.Argument(help="The older snapshot's id.")],
    second_id: Annotated[int, typer.Argument(help="The newer snapshot's id.")],
    show_all: Annotated[bool, typer.Option("--all", help="Show unchanged fields too.")] = False,
    customer: CustomerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare two snapshots field by field: old, new and the delta of numbers.

    Example: tidemark snapshot compare 12 40 --all
    """
    with open_engine() as engine, unit_of_work(engine) as session:
        tenant = resolve_customer(session, customer)
        old, new, changes = service.compare(
            session, customer_id=tenant.customer_id, first_id=first_id, second_id=second_id
        )
    shown = [c for c in changes if show_all or c.changed]
    if as_json:
        print_json(
            {
                "old": {k: old[k] for k in ("snapshot_id", "account_name", "snapshot_timestamp")},
                "new": {k: new[k] for k in ("snapshot_id", "account_name", "snapshot_timestamp")},
                "changed_count": sum(c.changed for c in changes),
                "fields": [
                    {
                        "field": c.field,
                        "old": c.old,
                        "new": c.new,
                        "delta": c.delta,
                        "changed": c.changed,
                    }
                    for c in shown
                ],
            }
        )
        return
    title = (
        f"{escape(str(old['account_name']))} {first_id} ({show(old['snapshot_timestamp'])}) → "
        f"{escape(str(new['account_name']))} {second_id} ({show(new['snapshot_timestamp'])})"
    )
    if not shown:
        out.print(f"{title}\nNo field changed.")
        return
    table = new_table("Field", "Old", "New", "Delta", title=title)
    for c in shown:
        delta = show(c.delta) if c.delta is not None else ""
        if c.delta is not None and c.delta > 0:
            delta = f"[green]+{delta}[/green]"
        elif c.delta is not None and c.delta < 0:
            delta = f"[red]{delta}[/red]"
        name = c.field if c.changed else f"[dim]{c.field}[/dim]"
        table.add_row(name, show(c.old), show(c.new), delta)
    out.print(table)
    out.print(f"{sum(c.changed for c in changes)} of {len(changes)} compared fields changed.")


@snapshot_app.command("history")
def history(
    account: Annotated[
        str, typer.Option("--account", "-a", help="Account id or name.", show_default=False)
    ],
    months: Annotated[int, typer.Option(min=1, max=1200, help="How many months back.")] = 6,
    customer: CustomerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show an account's snapshots over the last N months, oldest first.

    Example: tidemark snapshot history --account "TechCorp Solutions" --months 3
    """
    at = now()
    since = months_before(at, months)
    with open_engine() as engine, unit_of_work(engine) as session:
        tenant = resolve_customer(session, customer)
        target = resolve_account(session, customer_id=tenant.customer_id, ref=account)
        records = service.history(
            session, customer_id=tenant.customer_id, account_id=target.account_id, since=since
        )
        name = target.account_name
        account_id = target.account_id
    if as_json:
        print_json(
            {
                "account_id": account_id,
                "account_name": name,
                "since": since,
                "until": at,
                "snapshots": records,
            }
        )
        return
    if not records:
        out.print(f"No snapshots of {escape(name)} since {show(since)}.")
        return
    table = new_table(
        "ID",
        "Time (UTC)",
        "Health",
        "Change",
        "Trend",
        "Revenue",
        "Critical KPIs",
        "Signif.",
        title=f"{escape(name)}: last {months} month(s)",
    )
    for r in records:
        table.add_row(
            str(r["snapshot_id"]),
            show_time(r["snapshot_timestamp"]),
            show(r["overall_health_score"]),
            show(r["health_score_change_from_last"]),
            show(r["health_score_trend"]),
            show(r["revenue"]),
            show(r["critical_kpis_count"]),
            show(r["is_significant_change"]),
        )
    out.print(table)


def _count_lines(path: Path) -> int:
    """Lines in a file, counted without decoding it (the progress bar's total)."""
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


@import_app.command("snapshots")
def import_history(
    file: Annotated[Path, typer.Argument(help="JSON Lines file, one snapshot per line.")],
    customer: CustomerOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import historical snapshots from a JSON Lines file; all lines or none.

    Example: tidemark import snapshots history.jsonl --customer "Test Company"
    """
    if not file.is_file():
        raise InvalidInput(str(file), "no such file")
    try:
        total = _count_lines(file)
    except OSError as error:
        raise InvalidInput(str(file), f"cannot read: {error.strerror}") from None
    started = time.perf_counter()
    with open_engine() as engine, unit_of_work(engine, write=True) as session:
        tenant = resolve_customer(session, customer)
        with progress_bar("Importing", total) as advance:
            result = import_snapshots(
                session,
                customer_id=tenant.customer_id,
                lines=read_lines(file),
                now=now(),
                progress=advance,
            )
    seconds = _seconds(started)
    if as_json:
        print_json(
            {
                "snapshot_ids": result.snapshot_ids,
                "count": len(result.snapshot_ids),
                "lines": result.lines,
                "accounts_created": result.accounts_created,
                "accounts_matched": result.accounts_matched,
                "seconds": seconds,
            }
        )
        return
    out.print(
        f"Imported {len(result.snapshot_ids)} snapshot(s) from {result.lines} line(s) "
        f"({result.accounts_matched} account(s) matched, {result.accounts_created} created) "
        f"in {seconds:.2f} s."
    )
