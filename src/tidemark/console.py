"""What every CLI command shares: the clock, the engine, tenants, errors and output.

Commands stay thin: they parse options, open one unit of work, call a service
and print. Everything that would otherwise be repeated in each of them lives
here.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from typer.core import TyperGroup

from tidemark.clock import Clock, clock_from_env, ensure_utc
from tidemark.db.engine import make_engine
from tidemark.db.migrate import current_revision, head_revision, upgrade
from tidemark.errors import InvalidInput, TidemarkError
from tidemark.settings import get_settings
from tidemark.success import accounts
from tidemark.success.models import Account
from tidemark.tenancy import service as tenants
from tidemark.tenancy.models import Customer, User

log = logging.getLogger("tidemark.cli")


# Rich resolves sys.stdout / sys.stderr at write time, so these follow any redirection.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

CustomerOption = Annotated[
    str | None,
    typer.Option(
        "--customer",
        "-c",
        help="Tenant name; may be left out when only one tenant exists.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")
]


# --- time -------------------------------------------------------------------------------


def clock() -> Clock:
    """The clock of this process: fixed by ``TIDEMARK_NOW`` when set, else the system clock."""
    return clock_from_env()


def now() -> datetime:
    """The current moment as an aware UTC datetime, from :func:`clock`."""
    return clock().now()


def parse_moment(text: str | None, *, where: str, end_of_day: bool = False) -> datetime | None:
    """A date or datetime option as aware UTC; a bare date means its start (or end) of day."""
    if text is None:
        return None
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, time.max if end_of_day else time.min, UTC)
        return ensure_utc(datetime.fromisoformat(value))
    except ValueError:
        raise InvalidInput(
            where, f"{text!r} is not a date (use 2025-01-31 or 2025-01-31T09:30)"
        ) from None


# --- logging ----------------------------------------------------------------------------


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record arrives (it may be swapped)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write one formatted line to the current stderr."""
        self.stream = sys.stderr
        super().emit(record)


_HANDLER: _StderrHandler | None = None


def configure_logging(level: str) -> None:
    """Send log records to stderr, one readable line each; installs the handler once."""
    global _HANDLER
    root = logging.getLogger()
    if _HANDLER is None:
        _HANDLER = _StderrHandler()
        _HANDLER.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
        )
        root.addHandler(_HANDLER)
        # Migration chatter is not news to the user; `tidemark init` reports the outcome.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    resolved = logging.getLevelName(level.strip().upper())
    root.setLevel(resolved if isinstance(resolved, int) else logging.INFO)


# --- database ---------------------------------------------------------------------------


def database_url() -> str:
    """The configured database URL (``TIDEMARK_DATABASE_URL`` or the file in the data folder)."""
    return get_settings().resolved_database_url()


def schema_is_current(engine: Engine) -> bool:
    """Whether the database is at the newest migration shipped with this code."""
    return current_revision(engine) == head_revision()


@contextmanager
def open_engine(*, migrate: bool = True) -> Iterator[Engine]:
    """An engine on the configured database, brought up to date quietly, disposed after."""
    engine = make_engine(database_url())
    try:
        if migrate and not schema_is_current(engine):
            log.debug("Migrating %s to the newest schema", engine.url)
            upgrade(engine)
        yield engine
    finally:
        engine.dispose()


def resolve_customer(session: Session, name: str | None) -> Customer:
    """The tenant named by ``--customer``, or the only one when none is named."""
    if not name and not tenants.list_all(session):
        raise InvalidInput(
            "--customer",
            "no customers exist yet; run `tidemark customers create NAME` or `tidemark demo`",
        )
    return tenants.resolve(session, name=name)


def first_user_id(session: Session, customer_id: int) -> int | None:
    """The tenant's oldest user, who is named as the creator of manual snapshots."""
    return session.execute(
        select(func.min(User.user_id)).where(User.customer_id == customer_id)
    ).scalar_one_or_none()


def resolve_account(session: Session, *, customer_id: int, ref: str) -> Account:
    """The tenant's account by id, else exact name, else case-insensitive name."""
    return accounts.find(session, customer_id=customer_id, ref=ref, where="--account")


# --- output -----------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """``value`` with decimals as strings, datetimes and dates in ISO 8601, bytes in hex."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    return str(value)


def print_json(value: Any) -> None:
    """Write ``value`` as indented JSON to stdout."""
    typer.echo(json.dumps(jsonable(value), ensure_ascii=False, indent=2))


def show(value: Any) -> str:
    """A short human form of a field value for tables (markup-escaped)."""
    if value is None:
        return "[dim]-[/dim]"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return escape(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    if isinstance(value, date | Decimal | int | float):
        return escape(str(value))
    if isinstance(value, list | tuple) and not value:
        return "[dim](none)[/dim]"
    if isinstance(value, list | tuple) and all(isinstance(item, str | int) for item in value):
        return escape(", ".join(str(item) for item in value))
    if isinstance(value, list | tuple | dict):
        return escape(json.dumps(jsonable(value), ensure_ascii=False))
    return escape(str(value))


#: Columns whose values read wrongly when folded (ids, times, amounts).
_NO_WRAP = {"ID", "Time (UTC)", "Revenue", "Health", "Change", "Delta", "Rows", "Size"}


def new_table(*headers: str, title: str | None = None) -> Table:
    """A Rich table whose id, time and number columns never fold onto two lines."""
    table = Table(title=title, box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    for header in headers:
        table.add_column(header, no_wrap=header in _NO_WRAP)
    return table


def show_time(value: datetime | None) -> str:
    """A compact UTC time for table cells (the column header says UTC)."""
    if value is None:
        return "[dim]-[/dim]"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def fail(message: str) -> None:
    """Print one red error line on stderr (line breaks inside ``message`` are folded)."""
    line = " ".join(message.split())
    err.print(f"[bold red]Error:[/bold red] [red]{escape(line)}[/red]", soft_wrap=True)


class ReportingGroup(TyperGroup):
    """The root command group: turns product errors into one red line and exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command; report TidemarkError and unreachable databases without a traceback."""
        try:
            return super().invoke(ctx)
        except TidemarkError as error:
            fail(str(error))
            raise typer.Exit(1) from None
        except OperationalError as error:
            fail(f"cannot use the database: {str(error.orig).strip() or error}")
            raise typer.Exit(1) from None
