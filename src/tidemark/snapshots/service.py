"""Read snapshots back whole: get, latest, list, history, as-of and compare.

Records are plain dicts with every field of seed 000 §1, in the order of
``fields.FIELDS``. Reads never write; every read is scoped by tenant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from tidemark.db.types import UtcDateTime, from_epoch_micros
from tidemark.errors import NotFound
from tidemark.snapshots.fields import FIELDS, STORED_SECTIONS, Kind, Section
from tidemark.snapshots.models import SNAPSHOT_TYPE_CODES, AccountSnapshot, Code, SnapshotHead
from tidemark.snapshots.sections import SECTION_CACHE
from tidemark.snapshots.source import ids_in, plain_rows, stored

SnapshotRecord = dict[str, Any]

_HEADER_SPECS = [f for f in FIELDS if f.section is Section.HEADER]
_HEADER_FIELDS = [f.name for f in _HEADER_SPECS]
_SECTION_COLUMNS = [f"{section.value}_section_id" for section in STORED_SECTIONS]
_COLUMNS = [getattr(AccountSnapshot, name) for name in _HEADER_FIELDS + _SECTION_COLUMNS]
#: Every field, None, in the order of FIELDS: records start as a copy of it, so
#: filling them in keeps that order without sorting.
_TEMPLATE: SnapshotRecord = dict.fromkeys(f.name for f in FIELDS)


# Stored values repeat (every snapshot of a daily capture has the same timestamp,
# scores and revenues recur), and these are immutable: convert each one once.
@lru_cache(maxsize=1 << 16)
def _sqlite_datetime(value: int | None) -> datetime | None:
    return None if value is None else from_epoch_micros(value)


@lru_cache(maxsize=1 << 16)
def _postgres_datetime(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _sqlite_decimal(scale: int) -> Callable[[Any], Any]:
    @lru_cache(maxsize=1 << 16)
    def convert(value: int | None) -> Decimal | None:
        return None if value is None else Decimal(value).scaleb(-scale)

    return convert


def _postgres_decimal(scale: int) -> Callable[[Any], Any]:
    quantum = Decimal(1).scaleb(-scale)

    @lru_cache(maxsize=1 << 16)
    def convert(value: Decimal | None) -> Decimal | None:
        return None if value is None else Decimal(value).quantize(quantum)

    return convert


def _code_reader(values: tuple[str, ...]) -> Callable[[Any], Any]:
    def convert(value: int | None) -> str | None:
        return None if value is None else values[value]

    return convert


def _as_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _converters(dialect: str) -> list[tuple[int, Callable[[Any], Any]]]:
    """How to turn each stored header value into what its column type would return.

    The header is read in its stored form and converted here: the same values
    the column types produce (on SQLite a Fixed column is a scaled integer and a
    timestamp integer microseconds) without a TypeDecorator call per value, of
    which reading the latest snapshot of a thousand accounts makes ten thousand.
    """
    sqlite = dialect == "sqlite"
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    for i, spec in enumerate(_HEADER_SPECS):
        column_type = _COLUMNS[i].type
        if isinstance(column_type, Code):
            converters.append((i, _code_reader(column_type.values)))
        elif spec.kind is Kind.DECIMAL:
            make = _sqlite_decimal if sqlite else _postgres_decimal
            converters.append((i, make(spec.scale)))
        elif spec.kind is Kind.DATETIME:
            converters.append((i, _sqlite_datetime if sqlite else _postgres_datetime))
        elif spec.kind is Kind.BOOL:
            converters.append((i, _as_bool))
    return converters


_CONVERTERS = {"sqlite": _converters("sqlite"), "postgresql": _converters("postgresql")}
_STORED_COLUMNS = [stored(column) for column in _COLUMNS]
_SNAPSHOT, _TIME = AccountSnapshot, AccountSnapshot.snapshot_timestamp


def _statements() -> dict[str, Select[Any]]:
    """The fixed reads, built once with named parameters (no statement building per call)."""
    base = select(*_STORED_COLUMNS).where(_SNAPSHOT.customer_id == bindparam("customer_id"))
    of_account = base.where(_SNAPSHOT.account_id == bindparam("account_id"))
    return {
        "get": base.where(_SNAPSHOT.snapshot_id == bindparam("snapshot_id")),
        "latest": base.join(SnapshotHead, SnapshotHead.snapshot_id == _SNAPSHOT.snapshot_id)
        .where(SnapshotHead.customer_id == bindparam("customer_id"))
        .order_by(_SNAPSHOT.account_id),
        "history": of_account.where(bindparam("since", type_=UtcDateTime()) <= _TIME).order_by(
            _TIME, _SNAPSHOT.snapshot_id
        ),
        "as_of": of_account.where(bindparam("at", type_=UtcDateTime()) >= _TIME)
        .order_by(_TIME.desc(), _SNAPSHOT.snapshot_id.desc())
        .limit(1),
    }


_STATEMENTS = _statements()


def _records(
    session: Session,
    customer_id: int,
    query: Select[Any],
    parameters: dict[str, Any] | None = None,
) -> list[SnapshotRecord]:
    connection = session.connection()
    rows = plain_rows(connection, query, parameters)
    if not rows:
        return []
    width = len(_HEADER_FIELDS)
    columns: list[Any] = list(zip(*rows, strict=True))
    for i, convert in _CONVERTERS[connection.dialect.name]:
        columns[i] = list(map(convert, columns[i]))
    combinations = list(zip(*columns[width:], strict=True))
    merged = SECTION_CACHE.combined(session, combinations, customer_id=customer_id)
    records: list[SnapshotRecord] = []
    names = _HEADER_FIELDS
    for header, ids in zip(zip(*columns[:width], strict=True), combinations, strict=True):
        record = _TEMPLATE.copy()
        record.update(merged[ids])
        record.update(zip(names, header, strict=True))
        if record["created_at"] is None:
            record["created_at"] = record["snapshot_timestamp"]
        records.append(record)
    return records


def get(session: Session, *, customer_id: int, snapshot_id: int) -> SnapshotRecord:
    """One snapshot of the tenant, or NotFound."""
    found = _records(
        session,
        customer_id,
        _STATEMENTS["get"],
        {"customer_id": customer_id, "snapshot_id": snapshot_id},
    )
    if not found:
        raise NotFound("snapshot", snapshot_id)
    return found[0]


def latest(
    session: Session, *, customer_id: int, account_ids: Sequence[int] | None = None
) -> list[SnapshotRecord]:
    """The newest snapshot of each account (or of the given ones), by account id."""
    query = _STATEMENTS["latest"]
    if account_ids is not None:
        query = query.where(ids_in(session.connection(), SnapshotHead.account_id, account_ids))
    return _records(session, customer_id, query, {"customer_id": customer_id})


@dataclass(frozen=True, slots=True)
class SnapshotPage:
    """One page of a filtered list, with the total number of matches."""

    items: list[SnapshotRecord]
    total: int
    limit: int
    offset: int


def list_snapshots(
    session: Session,
    *,
    customer_id: int,
    account_id: int | None = None,
    snapshot_type: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> SnapshotPage:
    """Snapshots matching the filters, newest first, one page at a time."""
    if snapshot_type is not None and snapshot_type not in SNAPSHOT_TYPE_CODES:
        return SnapshotPage([], 0, limit, offset)
    conditions = [AccountSnapshot.customer_id == customer_id]
    if account_id is not None:
        conditions.append(AccountSnapshot.account_id == account_id)
    if snapshot_type is not None:
        conditions.append(AccountSnapshot.snapshot_type == snapshot_type)
    if start is not None:
        conditions.append(AccountSnapshot.snapshot_timestamp >= start)
    if end is not None:
        conditions.append(AccountSnapshot.snapshot_timestamp <= end)
    total = session.execute(
        select(func.count()).select_from(AccountSnapshot).where(*conditions)
    ).scalar_one()
    query = (
        select(*_STORED_COLUMNS)
        .where(*conditions)
        .order_by(AccountSnapshot.snapshot_timestamp.desc(), AccountSnapshot.snapshot_id.desc())
        .limit(limit)
        .offset(offset)
    )
    return SnapshotPage(_records(session, customer_id, query), total, limit, offset)


def history(
    session: Session, *, customer_id: int, account_id: int, since: datetime
) -> list[SnapshotRecord]:
    """An account's snapshots from ``since`` on, oldest first."""
    return _records(
        session,
        customer_id,
        _STATEMENTS["history"],
        {"customer_id": customer_id, "account_id": account_id, "since": since},
    )


def as_of(
    session: Session, *, customer_id: int, account_id: int, at: datetime
) -> SnapshotRecord | None:
    """The account's last snapshot at or before ``at``; None when it had none yet."""
    found = _records(
        session,
        customer_id,
        _STATEMENTS["as_of"],
        {"customer_id": customer_id, "account_id": account_id, "at": at},
    )
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of a comparison: old and new values, and the delta for numbers."""

    field: str
    old: Any
    new: Any
    delta: Decimal | int | None
    changed: bool


def compare(
    session: Session, *, customer_id: int, first_id: int, second_id: int
) -> tuple[SnapshotRecord, SnapshotRecord, list[FieldChange]]:
    """Both snapshots and every compared field, old (first) against new (second)."""
    first = get(session, customer_id=customer_id, snapshot_id=first_id)
    second = get(session, customer_id=customer_id, snapshot_id=second_id)
    return first, second, diff_records(first, second)


def diff_records(old: SnapshotRecord, new: SnapshotRecord) -> list[FieldChange]:
    """Field-by-field differences between two snapshot records."""
    changes: list[FieldChange] = []
    for spec in FIELDS:
        if not spec.compared:
            continue
        before, after = old.get(spec.name), new.get(spec.name)
        delta: Decimal | int | None = None
        numeric = spec.kind in (Kind.DECIMAL, Kind.INT)
        if numeric and before is not None and after is not None:
            delta = after - before
        changes.append(FieldChange(spec.name, before, after, delta, before != after))
    return changes
