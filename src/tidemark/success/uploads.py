"""KPI upload: a CSV or XLSX of KPI values becomes accounts, products, KPIs and monthly series.

One call, one transaction, all or nothing. The file is read and every row
checked first; any bad cell rejects the whole file with every bad row listed,
before a single row is written. Then the work is set-based: the tenant's
accounts, products, KPIs, reference ranges and series are looked up in a few
queries for all rows at once, and written with one bulk statement per table
and kind (insert or update), never a query per row. Each account that
received rows gets a ``kpi_data_uploaded`` event in the same transaction (one
insert for all), from which its snapshot is taken.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tidemark.db.base import Base
from tidemark.errors import Conflict, InvalidInput, NotFound
from tidemark.events.outbox import EventType, emit
from tidemark.success.files import (
    MAX_ROWS,
    CellError,
    CellValue,
    Columns,
    Sheet,
    number_cell,
    raise_if_errors,
    read_table,
    text_cell,
)
from tidemark.success.models import (
    KPI,
    Account,
    KPIReferenceRange,
    KPITimeSeries,
    KPIUpload,
    Product,
)
from tidemark.success.scoring import STATUS_POINTS, kpi_status
from tidemark.success.values import plain
from tidemark.tenancy.models import CATEGORIES, Customer

#: Columns of a KPI file, and other spellings accepted for them.
KPI_COLUMNS: Final = Columns(
    known=(
        "account_name",
        "external_account_id",
        "category",
        "kpi_parameter",
        "data",
        "impact_level",
        "weight",
        "measurement_frequency",
        "product",
        "month",
        "year",
    ),
    aliases={
        "account": "account_name",
        # The platform's own KPI export calls the CRM id "Account ID".
        "account_id": "external_account_id",
        "external_id": "external_account_id",
        "kpi": "kpi_parameter",
        "kpi_name": "kpi_parameter",
        "value": "data",
        "impact": "impact_level",
        "frequency": "measurement_frequency",
        "product_name": "product",
    },
)
REQUIRED: Final = ("category", "kpi_parameter", "data")
IMPACT_LEVELS: Final[dict[str, str]] = {"high": "High", "medium": "Medium", "low": "Low"}
#: Weights are stored as numeric(10, 4).
MAX_WEIGHT: Final = Decimal(10) ** 6
FIRST_YEAR: Final = 2000
MONTH_NAMES: Final[dict[str, int]] = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_CATEGORY_NAMES: Final[dict[str, str]] = {
    " ".join(c.casefold().replace("_", " ").replace("-", " ").split()): c for c in CATEGORIES
}
#: Ids per IN list: well under SQLite's limit of bound parameters.
CHUNK: Final = 5000


def month_cell(cell: CellValue) -> int | None:
    """A month as 1-12 or an English month name (None when empty)."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    if isinstance(cell, str) and cell.strip().casefold().rstrip(".") in MONTH_NAMES:
        return MONTH_NAMES[cell.strip().casefold().rstrip(".")]
    number = _whole(cell, "a month (1-12 or a month name)")
    if not 1 <= number <= 12:
        raise CellError(f"{number} is not a month (1-12 or a month name)")
    return number


def year_cell(cell: CellValue) -> int | None:
    """A four-digit year (None when empty)."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    return _whole(cell, "a year")


def _whole(cell: CellValue, what: str) -> int:
    if isinstance(cell, bool):
        raise CellError(f"{cell} is not {what}")
    if isinstance(cell, Decimal | int):
        number = Decimal(cell)
    elif isinstance(cell, str):
        text = cell.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 6):
            shown = text if len(text) <= 40 else text[:39] + "…"
            raise CellError(f"{shown!r} is not {what}")
        number = Decimal(text)
    else:
        raise CellError(f"expected {what}")
    if number != number.to_integral_value() or abs(number) > 999_999:
        raise CellError(f"{plain(number)} is not {what}")
    return int(number)


def fold(text: str) -> str:
    """The form names are compared in: case and surrounding space ignored."""
    return text.strip().casefold()


# --------------------------------------------------------------------------- accounts


@dataclass(frozen=True, slots=True)
class StoredAccount:
    """An account of the tenant that a file may name."""

    account_id: int
    name: str
    external_id: str | None


def table_of(model: type[Base]) -> Table:
    """A model's table, for Core bulk inserts (one executemany, None values kept as NULL)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def bulk_update(
    session: Session, model: type[Base], key: str, rows: Sequence[dict[str, Any]]
) -> None:
    """Update rows by primary key with one executemany per set of changed columns.

    Core statements, not the ORM's bulk update: 100,000 rows cost the driver's
    time, not the unit of work's bookkeeping per row.
    """
    table = table_of(model)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(sorted(row))].append({f"b_{name}": value for name, value in row.items()})
    for names, group in groups.items():
        statement = (
            update(table)
            .where(table.c[key] == bindparam(f"b_{key}"))
            .values(
                {
                    name: bindparam(f"b_{name}", type_=table.c[name].type)
                    for name in names
                    if name != key
                }
            )
        )
        for part in chunks(group, 20_000):
            session.connection().execute(statement, part)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class AccountDirectory:
    """The tenant's accounts that a file's external ids and names can match, in bulk."""

    def __init__(
        self, session: Session, customer_id: int, names: Iterable[str], external_ids: Iterable[str]
    ) -> None:
        base = select(Account.account_id, Account.account_name, Account.external_account_id).where(
            Account.customer_id == customer_id
        )
        self.by_ext: dict[str, StoredAccount] = {}
        for part in chunks(sorted(set(external_ids))):
            for account_id, name, ext in session.execute(
                base.where(Account.external_account_id.in_(part))
            ):
                if ext is not None:
                    self.by_ext[ext] = StoredAccount(account_id, name, ext)
        wanted = sorted(set(names))
        self.by_name: dict[str, StoredAccount] = {}
        for part in chunks(wanted):
            for account_id, name, ext in session.execute(
                base.where(Account.account_name.in_(part))
            ):
                self.by_name[name] = StoredAccount(account_id, name, ext)
        # Other spellings are matched here rather than with SQL lower(), which folds
        # only ASCII on SQLite (Thai names have no case, but Latin ones mixed in do).
        folds = {fold(name) for name in wanted if name not in self.by_name}
        self.by_fold: dict[str, list[StoredAccount]] = {}
        if folds:
            for account_id, name, ext in session.execute(base.execution_options(yield_per=10_000)):
                if fold(name) in folds:
                    self.by_fold.setdefault(fold(name), []).append(
                        StoredAccount(account_id, name, ext)
                    )

    def by_account_name(self, name: str) -> StoredAccount | None:
        """The account with this exact name, else the only one with it in another case."""
        stored = self.by_name.get(name)
        if stored is not None:
            return stored
        candidates = self.by_fold.get(fold(name), [])
        if len(candidates) > 1:
            listed = ", ".join(sorted(repr(c.name) for c in candidates))
            raise CellError(f"{name!r} matches several accounts when case is ignored: {listed}")
        return candidates[0] if candidates else None


@dataclass(eq=False, slots=True)
class Target:
    """The account a group of rows belongs to: stored, or to be created by this upload."""

    name: str
    external_id: str | None
    first_row: int
    account_id: int | None = None
    #: An external id the file gives a stored account that has none yet.
    new_external_id: str | None = None

    @property
    def is_new(self) -> bool:
        """Whether this upload creates the account."""
        return self.account_id is None


class AccountResolver:
    """Matches each (external id, name) of a file to one target: by external id, then by name."""

    def __init__(self, directory: AccountDirectory) -> None:
        self.directory = directory
        self.stored: dict[int, Target] = {}
        self.by_ext: dict[str, Target] = {}
        self.new_by_fold: dict[str, Target] = {}

    def _stored(self, account: StoredAccount, row: int) -> Target:
        target = self.stored.get(account.account_id)
        if target is None:
            target = Target(account.name, account.external_id, row, account.account_id)
            self.stored[account.account_id] = target
        return target

    def resolve_named(
        self, ext: str | None, name: str, row: int
    ) -> tuple[Target, None] | tuple[None, tuple[str, str]]:
        """The target of a row that names its account; or the column and message of the error."""
        if ext is not None:
            known = self.by_ext.get(ext)
            if known is None and ext in self.directory.by_ext:
                known = self._stored(self.directory.by_ext[ext], row)
                self.by_ext[ext] = known
            if known is not None:
                file_given = known.is_new or known.new_external_id == ext
                if file_given and fold(known.name) != fold(name):
                    return None, (
                        "external_account_id",
                        f"external id {ext!r} belongs to account {known.name!r} "
                        f"(row {known.first_row}), not {name!r}",
                    )
                return known, None
        try:
            stored = self.directory.by_account_name(name)
        except CellError as exc:
            return None, ("account_name", str(exc))
        if stored is not None:
            target = self._stored(stored, row)
            if ext is not None:
                if target.external_id is not None and target.external_id != ext:
                    return None, (
                        "external_account_id",
                        f"account {target.name!r} has external id {target.external_id!r}, "
                        f"not {ext!r}",
                    )
                if target.external_id is None:
                    target.external_id = target.new_external_id = ext
                    self.by_ext[ext] = target
            return target, None
        new = self.new_by_fold.get(fold(name))
        if new is None:
            target = Target(name, ext, row)
            self.new_by_fold[fold(name)] = target
            if ext is not None:
                self.by_ext[ext] = target
            return target, None
        if ext is not None:
            if new.external_id is None:
                new.external_id = ext
                self.by_ext[ext] = new
            elif new.external_id != ext:
                return None, (
                    "external_account_id",
                    f"account {new.name!r} is given external id {new.external_id!r} "
                    f"on row {new.first_row}, not {ext!r}",
                )
        return new, None

    def resolve_external(self, ext: str, row: int) -> Target | None:
        """The target of a row that gives only an external id."""
        known = self.by_ext.get(ext)
        if known is None and ext in self.directory.by_ext:
            known = self._stored(self.directory.by_ext[ext], row)
            self.by_ext[ext] = known
        return known

    def targets(self) -> list[Target]:
        """Every target, stored and new, in order of first row."""
        every = {id(t): t for t in (*self.stored.values(), *self.new_by_fold.values())}
        return sorted(every.values(), key=lambda t: t.first_row)


def insert_accounts(
    session: Session, customer_id: int, targets: Sequence[Target], now: datetime
) -> None:
    """Create the new targets' accounts in bulk and note their ids."""
    new = [t for t in targets if t.is_new]
    rows: list[dict[str, Any]] = [
        {
            "customer_id": customer_id,
            "account_name": t.name,
            "external_account_id": t.external_id,
            "account_status": "active",
            "profile_metadata": {},
            "created_at": now,
        }
        for t in new
    ]
    for part in chunks(rows, 20_000):
        session.execute(insert(table_of(Account)), part)
    # Read the ids back by name (unique per tenant): one query per chunk, where
    # RETURNING in parameter order would fall back to a statement per row on SQLite.
    by_name = {t.name: t for t in new}
    for part in chunks(list(by_name)):
        for account_id, name in session.execute(
            select(Account.account_id, Account.account_name).where(
                Account.customer_id == customer_id, Account.account_name.in_(part)
            )
        ):
            by_name[name].account_id = account_id
    filled = [
        {"account_id": t.account_id, "external_account_id": t.new_external_id, "updated_at": now}
        for t in targets
        if not t.is_new and t.new_external_id is not None
    ]
    if filled:
        bulk_update(session, Account, "account_id", filled)


def tenant_zone(session: Session, customer_id: int) -> tzinfo:
    """The tenant's time zone (UTC when unset or unknown); NotFound for no such tenant."""
    zone_name = session.execute(
        select(Customer.timezone).where(Customer.customer_id == customer_id)
    ).scalar_one_or_none()
    if zone_name is None:
        raise NotFound("customer", customer_id)
    try:
        return ZoneInfo(zone_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def lock_tenant(session: Session, customer_id: int) -> None:
    """Serialise this tenant's uploads (PostgreSQL row lock; SQLite has one writer anyway)."""
    session.execute(
        select(Customer.customer_id).where(Customer.customer_id == customer_id).with_for_update()
    )


# --------------------------------------------------------------------------- the upload


@dataclass(slots=True)
class KpiRow:
    """One checked data row of a KPI file."""

    number: int
    account_name: str | None
    external_id: str | None
    category: str
    parameter: str
    data: str
    value: Decimal
    impact_level: str | None
    weight: Decimal | None
    frequency: str | None
    product: str | None
    year: int
    month: int
    target: Target | None = None
    product_ref: ProductRef | None = None


@dataclass(eq=False, slots=True)
class ProductRef:
    """A product of a target: stored, or created by this upload."""

    name: str
    target: Target
    product_id: int | None = None


@dataclass(slots=True)
class UploadResult:
    """What a KPI upload wrote."""

    upload_id: int
    version: int
    rows: int
    account_id: int | None
    accounts_created: int
    accounts_matched: int
    products_created: int
    kpis_created: int
    kpis_updated: int
    series_created: int
    series_updated: int
    months: list[str]
    #: Every account the upload touched, for the event of a later snapshot.
    account_ids: list[int] = field(default_factory=list)


def upload_kpis(
    session: Session,
    *,
    customer_id: int,
    user_id: int | None,
    filename: str,
    content: bytes,
    now: datetime,
    account_name: str | None = None,
    month: int | None = None,
    year: int | None = None,
    max_rows: int = MAX_ROWS,
) -> UploadResult:
    """Apply a KPI file to the tenant's accounts, products, KPIs and series, and keep it."""
    zone = tenant_zone(session, customer_id)
    local = now.astimezone(zone)
    current = (local.year, local.month)
    defaults = _defaults(account_name, month, year, current)
    sheet = read_table(content, filename, KPI_COLUMNS, max_rows=max_rows)
    _check_columns(sheet, defaults.account_name)
    errors: list[dict[str, Any]] = []
    rows = _parse_rows(sheet, defaults, current, errors)

    directory = AccountDirectory(
        session,
        customer_id,
        names=(r.account_name for r in rows if r.account_name is not None),
        external_ids=(r.external_id for r in rows if r.external_id is not None),
    )
    resolver = AccountResolver(directory)
    _resolve_accounts(sheet, rows, resolver, errors)
    # Rows already refused stay out of the later checks, which still run so that
    # one answer lists every bad row.
    rows = [row for row in rows if row.target is not None]
    targets = resolver.targets()
    stored_ids = [t.account_id for t in targets if t.account_id is not None]

    products = _resolve_products(session, customer_id, rows, stored_ids)
    kpis = _KpiIndex(session, customer_id, stored_ids)
    ranges = _RangeIndex(session, customer_id)
    _name_parameters(rows, kpis, ranges)
    _check_duplicates(sheet, rows, errors)
    raise_if_errors(errors)

    lock_tenant(session, customer_id)
    accounts_created = sum(1 for t in targets if t.is_new)
    try:
        insert_accounts(session, customer_id, targets, now)
        products_created = _insert_products(session, customer_id, products, now)
        upload = _keep_file(session, customer_id, user_id, filename, content, rows, targets, now)
        created, updated = _write_kpis(session, customer_id, rows, kpis, upload.upload_id, now)
        series_created, series_updated = _write_series(session, customer_id, rows, ranges, now)
    except IntegrityError:
        # Every key was looked up a moment ago; only a concurrent writer gets here.
        raise Conflict(
            "accounts, products or KPIs of this file were changed by another request at the "
            "same time; upload the file again"
        ) from None
    # Written and checked: each account that received rows gets its event, in one insert.
    emit(
        session,
        customer_id=customer_id,
        event_type=EventType.KPI_DATA_UPLOADED,
        account_ids=sorted({_key(row)[0] for row in rows}),
        at=now,
        payload={"upload_id": upload.upload_id, "version": upload.version, "rows": len(rows)},
    )
    single = targets[0].account_id if len(targets) == 1 else None
    return UploadResult(
        upload_id=upload.upload_id,
        version=upload.version,
        rows=len(rows),
        account_id=single,
        accounts_created=accounts_created,
        accounts_matched=len(resolver.stored),
        products_created=products_created,
        kpis_created=created,
        kpis_updated=updated,
        series_created=series_created,
        series_updated=series_updated,
        months=sorted({f"{r.year}-{r.month:02d}" for r in rows}),
        account_ids=[t.account_id for t in targets if t.account_id is not None],
    )


@dataclass(frozen=True, slots=True)
class _Defaults:
    account_name: str | None
    month: int | None
    year: int | None


def _defaults(
    account_name: str | None, month: int | None, year: int | None, current: tuple[int, int]
) -> _Defaults:
    name = None
    if account_name is not None:
        name = account_name.strip() or None
        if name is not None and (len(name) > 255 or "\x00" in name):
            raise InvalidInput("account_name", "at most 255 characters, without NUL characters")
    if month is not None and not 1 <= month <= 12:
        raise InvalidInput("month", f"{month} is not a month (1-12)")
    if year is not None and not FIRST_YEAR <= year <= current[0]:
        raise InvalidInput("year", f"{year} is not a year from {FIRST_YEAR} to {current[0]}")
    effective = (year or current[0], month or current[1])
    if effective > current:
        raise InvalidInput("month", f"{effective[0]}-{effective[1]:02d} is after the current month")
    return _Defaults(name, month, year)


def _check_columns(sheet: Sheet, default_account: str | None) -> None:
    missing = [c for c in REQUIRED if not sheet.has(c)]
    if not (sheet.has("account_name") or sheet.has("external_account_id") or default_account):
        missing.insert(0, "account_name or external_account_id")
    if missing:
        raise InvalidInput(
            "header",
            f"missing required column(s): {', '.join(missing)} (a file without an account "
            "column needs the account_name form field)",
        )


def _parse_rows(
    sheet: Sheet, defaults: _Defaults, current: tuple[int, int], errors: list[dict[str, Any]]
) -> list[KpiRow]:
    parser = _RowParser(sheet, defaults, current, errors)
    rows: list[KpiRow] = []
    for number, cells in zip(sheet.numbers, sheet.rows, strict=True):
        row = parser.parse(number, cells)
        if row is not None:
            rows.append(row)
    return rows


_UNSEEN: Final = object()


class _RowParser:
    """Checks one data row at a time, adding an error for every bad cell."""

    def __init__(
        self,
        sheet: Sheet,
        defaults: _Defaults,
        current: tuple[int, int],
        errors: list[dict[str, Any]],
    ) -> None:
        self.sheet = sheet
        self.defaults = defaults
        self.current = current
        self.errors = errors
        self.at = {name: sheet.index(name) for name in KPI_COLUMNS.known}
        self.number = 0
        self.cells: tuple[CellValue, ...] = ()
        self.failed: set[str] = set()
        self.seen: dict[tuple[str, CellValue] | None, Any] = {}

    def fail(self, column: str, message: str) -> None:
        """Record a bad cell of the current row."""
        self.errors.append(self.sheet.error(self.number, column, message))
        self.failed.add(column)

    def cell(self, column: str, convert: Any, *args: Any) -> Any:
        """The converted cell of ``column`` (None when the file lacks it or it is bad)."""
        position = self.at[column]
        if position is None:
            return None
        raw = self.cells[position]
        # Files repeat most cells (months, categories, KPI names): convert each text once.
        key: tuple[str, CellValue] | None = (column, raw)
        try:
            done = self.seen.get(key, _UNSEEN)
        except TypeError:  # an unhashable cell
            done, key = _UNSEEN, None
        if done is _UNSEEN:
            try:
                done = convert(raw, *args)
            except CellError as exc:
                done = exc
            if key is not None:
                self.seen[key] = done
        if isinstance(done, CellError):
            self.fail(column, str(done))
            return None
        return done

    def parse(self, number: int, cells: tuple[CellValue, ...]) -> KpiRow | None:
        """The checked row, or None when any cell of it is bad."""
        self.number, self.cells, self.failed = number, cells, set()
        name = self.cell("account_name", text_cell, 255)
        ext = self.cell("external_account_id", text_cell, 100)
        if name is None and ext is None:
            name = self.defaults.account_name
        category = self.cell("category", category_cell)
        parameter = self.cell("kpi_parameter", text_cell, 200)
        impact = self.cell("impact_level", impact_cell)
        weight = self.cell("weight", weight_cell)
        frequency = self.cell("measurement_frequency", text_cell, 50)
        product = self.cell("product", text_cell, 100)
        value_cell = self.cell("data", data_cell)
        year, month = self._month()
        for column, present in (("category", category), ("kpi_parameter", parameter)):
            if present is None and column not in self.failed:
                self.fail(column, "is empty")
        if (
            name is None
            and ext is None
            and not {"account_name", "external_account_id"} & self.failed
        ):
            self.fail(
                "account_name",
                "is empty: give account_name or external_account_id "
                "(or the account_name form field)",
            )
        if self.failed:
            return None
        data, value = value_cell
        return KpiRow(
            number=number,
            account_name=name,
            external_id=ext,
            category=category,
            parameter=parameter,
            data=data,
            value=value,
            impact_level=impact,
            weight=weight,
            frequency=frequency,
            product=product,
            year=year,
            month=month,
        )

    def _month(self) -> tuple[int, int]:
        current_year, current_month = self.current
        row_month = self.cell("month", month_cell)
        row_year = self.cell("year", year_cell)
        year = row_year if row_year is not None else self.defaults.year or current_year
        month = row_month if row_month is not None else self.defaults.month or current_month
        if row_year is not None and not FIRST_YEAR <= row_year <= current_year:
            self.fail("year", f"{row_year} is not a year from {FIRST_YEAR} to {current_year}")
        elif (year, month) > self.current and (row_year is not None or row_month is not None):
            column = "month" if row_month is not None else "year"
            self.fail(column, f"{year}-{month:02d} is after the current month")
        return year, month


def category_cell(cell: CellValue) -> str | None:
    """One of the five health categories, in any case (None when empty)."""
    text = text_cell(cell, 50)
    if text is None:
        return None
    category = _CATEGORY_NAMES.get(
        " ".join(text.casefold().replace("_", " ").replace("-", " ").split())
    )
    if category is None:
        raise CellError(f"{text!r} is not a category; use one of {', '.join(CATEGORIES)}")
    return category


def impact_cell(cell: CellValue) -> str | None:
    """High, Medium or Low, in any case (None when empty)."""
    text = text_cell(cell, 20)
    if text is None:
        return None
    impact = IMPACT_LEVELS.get(text.casefold())
    if impact is None:
        raise CellError(f"{text!r} is not High, Medium or Low")
    return impact


def weight_cell(cell: CellValue) -> Decimal | None:
    """A KPI weight above 0 and below 1,000,000 (None when empty)."""
    weight = number_cell(cell)
    if weight is not None and not 0 < weight < MAX_WEIGHT:
        raise CellError(f"{plain(weight)} is not a weight above 0 and below 1,000,000")
    return weight


def data_cell(cell: CellValue) -> tuple[str, Decimal]:
    """A KPI value: the text as written (kept) and the number it means."""
    text = text_cell(cell, 100)
    value = number_cell(cell)
    if text is None or value is None:
        raise CellError("is empty")
    return text, value


def _resolve_accounts(
    sheet: Sheet, rows: list[KpiRow], resolver: AccountResolver, errors: list[dict[str, Any]]
) -> None:
    pairs: dict[tuple[str | None, str | None], list[KpiRow]] = defaultdict(list)
    for row in rows:
        pairs[(row.external_id, row.account_name)].append(row)
    # Rows with a name first, so an external id that only a later row names is known.
    named = [(key, group) for key, group in pairs.items() if key[1] is not None]
    external_only = [(key, group) for key, group in pairs.items() if key[1] is None]
    for (ext, name), group in named:
        assert name is not None
        target, problem = resolver.resolve_named(ext, name, group[0].number)
        for row in group:
            if problem is not None:
                errors.append(sheet.error(row.number, *problem))
            row.target = target
    for (ext, _name), group in external_only:
        assert ext is not None
        target = resolver.resolve_external(ext, group[0].number)
        for row in group:
            if target is None:
                errors.append(
                    sheet.error(
                        row.number,
                        "external_account_id",
                        f"no account has external id {ext!r}; add account_name to create it",
                    )
                )
            row.target = target


def _resolve_products(
    session: Session, customer_id: int, rows: list[KpiRow], stored_ids: Sequence[int]
) -> list[ProductRef]:
    """Attach each row's product; returns the products this upload must create."""
    exact: dict[tuple[int, str], int] = {}
    folded: dict[tuple[int, str], tuple[int, str]] = {}
    wanted = sorted(
        {r.target.account_id for r in rows if r.product and r.target and r.target.account_id}
    )
    for part in chunks(wanted):
        for product_id, account_id, name in session.execute(
            select(Product.product_id, Product.account_id, Product.product_name).where(
                Product.customer_id == customer_id, Product.account_id.in_(part)
            )
        ):
            exact[(account_id, name)] = product_id
            folded.setdefault((account_id, fold(name)), (product_id, name))
    refs: dict[tuple[int, str], ProductRef] = {}
    new: list[ProductRef] = []
    for row in rows:
        if row.product is None:
            continue
        target = row.target
        assert target is not None
        key = (id(target), fold(row.product))
        ref = refs.get(key)
        if ref is None:
            ref = ProductRef(row.product, target)
            if target.account_id is not None:
                found = exact.get((target.account_id, row.product))
                if found is not None:
                    ref.product_id = found
                elif (target.account_id, fold(row.product)) in folded:
                    ref.product_id, ref.name = folded[(target.account_id, fold(row.product))]
            if ref.product_id is None:
                new.append(ref)
            refs[key] = ref
        row.product_ref = ref
    return new


def _insert_products(
    session: Session, customer_id: int, new: list[ProductRef], now: datetime
) -> int:
    rows = [
        {
            "customer_id": customer_id,
            "account_id": ref.target.account_id,
            "product_name": ref.name,
            "created_at": now,
        }
        for ref in new
    ]
    for part in chunks(rows, 20_000):
        session.execute(insert(table_of(Product)), part)
    # Ids by (account, name), unique per account: see insert_accounts.
    by_key = {(ref.target.account_id, ref.name): ref for ref in new}
    for part in chunks(sorted({ref.target.account_id or 0 for ref in new})):
        for product_id, account_id, name in session.execute(
            select(Product.product_id, Product.account_id, Product.product_name).where(
                Product.customer_id == customer_id, Product.account_id.in_(part)
            )
        ):
            ref = by_key.get((account_id, name))
            if ref is not None:
                ref.product_id = product_id
    return len(new)


class _KpiIndex:
    """The stored KPIs of the file's accounts, by account, product and parameter."""

    def __init__(self, session: Session, customer_id: int, account_ids: Sequence[int]) -> None:
        self.exact: dict[tuple[int, int | None, str], int] = {}
        self.folded: dict[tuple[int, int | None, str], list[tuple[int, str]]] = {}
        #: The newest month (year * 12 + month - 1) of each KPI's stored series.
        self.newest: dict[tuple[int, int | None, str], int] = {}
        for part in chunks(sorted(account_ids)):
            for kpi_id, account_id, product_id, parameter in session.execute(
                select(KPI.kpi_id, KPI.account_id, KPI.product_id, KPI.kpi_parameter).where(
                    KPI.customer_id == customer_id, KPI.account_id.in_(part)
                )
            ):
                self.exact[(account_id, product_id, parameter)] = kpi_id
                self.folded.setdefault((account_id, product_id, fold(parameter)), []).append(
                    (kpi_id, parameter)
                )
            month_index = func.max(KPITimeSeries.year * 12 + KPITimeSeries.month - 1)
            for account_id, product_id, parameter, newest in session.execute(
                select(
                    KPITimeSeries.account_id,
                    KPITimeSeries.product_id,
                    KPITimeSeries.kpi_parameter,
                    month_index,
                )
                .where(KPITimeSeries.customer_id == customer_id, KPITimeSeries.account_id.in_(part))
                .group_by(
                    KPITimeSeries.account_id, KPITimeSeries.product_id, KPITimeSeries.kpi_parameter
                )
            ):
                self.newest[(account_id, product_id, parameter)] = int(newest)

    def spelling(self, account_id: int, product_id: int | None, parameter: str) -> str | None:
        """The stored spelling of a KPI parameter of this account and product, if one exists."""
        if (account_id, product_id, parameter) in self.exact:
            return parameter
        found = self.folded.get((account_id, product_id, fold(parameter)), [])
        return found[0][1] if found else None


class _RangeIndex:
    """The tenant's reference ranges by parameter, exact spelling first."""

    def __init__(self, session: Session, customer_id: int) -> None:
        self.exact: dict[str, tuple[str, Decimal, Decimal]] = {}
        self.folded: dict[str, str] = {}
        for parameter, direction, critical, risk in session.execute(
            select(
                KPIReferenceRange.kpi_parameter,
                KPIReferenceRange.direction,
                KPIReferenceRange.critical_threshold,
                KPIReferenceRange.risk_threshold,
            ).where(KPIReferenceRange.customer_id == customer_id)
        ):
            self.exact[parameter] = (direction, critical, risk)
            self.folded.setdefault(fold(parameter), parameter)

    def spelling(self, parameter: str) -> str | None:
        """The spelling of the range for this parameter, if the tenant has one."""
        if parameter in self.exact:
            return parameter
        return self.folded.get(fold(parameter))

    def status(self, parameter: str, value: Decimal) -> str | None:
        """Healthy, Risk or Critical by the parameter's range; None without a range."""
        found = self.exact.get(parameter)
        if found is None:
            return None
        direction, critical, risk = found
        return kpi_status(value, direction=direction, critical=critical, risk=risk)


def _name_parameters(rows: list[KpiRow], kpis: _KpiIndex, ranges: _RangeIndex) -> None:
    """Spell each row's parameter as the stored KPI or the range does, so they stay one KPI."""
    cache: dict[tuple[int, int, str], str] = {}
    for row in rows:
        target = row.target
        assert target is not None
        product = row.product_ref
        key = (id(target), id(product) if product else 0, row.parameter)
        spelled = cache.get(key)
        if spelled is None:
            spelled = None
            if target.account_id is not None and (product is None or product.product_id):
                spelled = kpis.spelling(
                    target.account_id, product.product_id if product else None, row.parameter
                )
            if spelled is None:
                spelled = ranges.spelling(row.parameter) or row.parameter
            cache[key] = spelled
        row.parameter = spelled


def _check_duplicates(sheet: Sheet, rows: list[KpiRow], errors: list[dict[str, Any]]) -> None:
    first: dict[tuple[int, int, str, int, int], int] = {}
    for row in rows:
        key = (
            id(row.target),
            id(row.product_ref) if row.product_ref else 0,
            fold(row.parameter),
            row.year,
            row.month,
        )
        seen = first.setdefault(key, row.number)
        if seen != row.number:
            errors.append(
                sheet.error(
                    row.number,
                    "kpi_parameter",
                    f"repeats row {seen}: the same account, product, KPI and month",
                )
            )


def _keep_file(
    session: Session,
    customer_id: int,
    user_id: int | None,
    filename: str,
    content: bytes,
    rows: list[KpiRow],
    targets: list[Target],
    now: datetime,
) -> KPIUpload:
    newest = session.execute(
        select(func.max(KPIUpload.version)).where(KPIUpload.customer_id == customer_id)
    ).scalar_one()
    name = PurePath(filename.replace("\\", "/")).name.strip() or "upload"
    upload = KPIUpload(
        customer_id=customer_id,
        account_id=targets[0].account_id if len(targets) == 1 else None,
        user_id=user_id,
        uploaded_at=now,
        version=(newest or 0) + 1,
        original_filename=name[-255:],
        raw_file=content,
        parsed_data=[_parsed(row) for row in rows],
        row_count=len(rows),
    )
    session.add(upload)
    session.flush()
    return upload


def _parsed(row: KpiRow) -> dict[str, Any]:
    assert row.target is not None
    return {
        "row": row.number,
        "account_id": row.target.account_id,
        "account_name": row.account_name,
        "external_account_id": row.external_id,
        "category": row.category,
        "kpi_parameter": row.parameter,
        "data": row.data,
        "value": plain(row.value),
        "impact_level": row.impact_level,
        "weight": None if row.weight is None else plain(row.weight),
        "measurement_frequency": row.frequency,
        "product": row.product_ref.name if row.product_ref else None,
        "year": row.year,
        "month": row.month,
    }


def _key(row: KpiRow) -> tuple[int, int | None, str]:
    assert row.target is not None and row.target.account_id is not None
    product_id = row.product_ref.product_id if row.product_ref else None
    return (row.target.account_id, product_id, row.parameter)


def _write_kpis(
    session: Session,
    customer_id: int,
    rows: list[KpiRow],
    kpis: _KpiIndex,
    upload_id: int,
    now: datetime,
) -> tuple[int, int]:
    """Create or update one KPI per key from its newest row in the file."""
    newest: dict[tuple[int, int | None, str], KpiRow] = {}
    for row in rows:
        key = _key(row)
        held = newest.get(key)
        if held is None or (row.year, row.month) > (held.year, held.month):
            newest[key] = row
    inserts: list[dict[str, Any]] = []
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for key, row in newest.items():
        account_id, product_id, parameter = key
        kpi_id = kpis.exact.get(key)
        if kpi_id is None:
            inserts.append(
                {
                    "customer_id": customer_id,
                    "account_id": account_id,
                    "product_id": product_id,
                    "upload_id": upload_id,
                    "category": row.category,
                    "kpi_parameter": parameter,
                    "data": row.data,
                    "value": row.value,
                    "impact_level": row.impact_level or "Medium",
                    "weight": row.weight if row.weight is not None else Decimal(1),
                    "measurement_frequency": row.frequency,
                    "created_at": now,
                }
            )
            continue
        stored_month = kpis.newest.get(key)
        # A file of past months adds history; it does not turn back the current value.
        if stored_month is not None and row.year * 12 + row.month - 1 < stored_month:
            continue
        change: dict[str, Any] = {
            "kpi_id": kpi_id,
            "upload_id": upload_id,
            "category": row.category,
            "data": row.data,
            "value": row.value,
            "updated_at": now,
        }
        if row.impact_level is not None:
            change["impact_level"] = row.impact_level
        if row.weight is not None:
            change["weight"] = row.weight
        if row.frequency is not None:
            change["measurement_frequency"] = row.frequency
        updates[tuple(change)].append(change)
    for part in chunks(inserts, 20_000):
        session.execute(insert(table_of(KPI)), part)
    for group in updates.values():
        bulk_update(session, KPI, "kpi_id", group)
    return len(inserts), sum(len(group) for group in updates.values())


def _write_series(
    session: Session, customer_id: int, rows: list[KpiRow], ranges: _RangeIndex, now: datetime
) -> tuple[int, int]:
    """One series row per KPI and month: created, or replaced when a month comes again."""
    account_ids = sorted({_key(row)[0] for row in rows})
    years = sorted({row.year for row in rows})
    months = {(row.year, row.month) for row in rows}
    stored: dict[tuple[int, int | None, str, int, int], int] = {}
    for part in chunks(account_ids):
        for series_id, account_id, product_id, parameter, year, month in session.execute(
            select(
                KPITimeSeries.series_id,
                KPITimeSeries.account_id,
                KPITimeSeries.product_id,
                KPITimeSeries.kpi_parameter,
                KPITimeSeries.year,
                KPITimeSeries.month,
            ).where(
                KPITimeSeries.customer_id == customer_id,
                KPITimeSeries.account_id.in_(part),
                KPITimeSeries.year.between(years[0], years[-1]),
            )
        ):
            if (year, month) in months:
                stored[(account_id, product_id, parameter, year, month)] = series_id
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    graded: dict[tuple[str, Decimal], str | None] = {}
    for row in rows:
        account_id, product_id, parameter = _key(row)
        grade_key = (parameter, row.value)
        if grade_key not in graded:
            graded[grade_key] = ranges.status(parameter, row.value)
        status = graded[grade_key]
        score = None if status is None else Decimal(STATUS_POINTS[status])
        known = stored.get((account_id, product_id, parameter, row.year, row.month))
        if known is None:
            inserts.append(
                {
                    "customer_id": customer_id,
                    "account_id": account_id,
                    "product_id": product_id,
                    "kpi_parameter": parameter,
                    "category": row.category,
                    "year": row.year,
                    "month": row.month,
                    "value": row.value,
                    "health_status": status,
                    "health_score": score,
                    "created_at": now,
                }
            )
        else:
            updates.append(
                {
                    "series_id": known,
                    "category": row.category,
                    "value": row.value,
                    "health_status": status,
                    "health_score": score,
                }
            )
    for part in chunks(inserts, 20_000):
        session.execute(insert(table_of(KPITimeSeries)), part)
    bulk_update(session, KPITimeSeries, "series_id", updates)
    return len(inserts), len(updates)
