"""Read snapshots back whole: get, latest, list, history, as-of and compare.

Records are plain dicts with every field of seed 000 §1, in the order of
``fields.FIELDS``. Reads never write; every read is scoped by tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from tidemark.errors import NotFound
from tidemark.snapshots.fields import FIELDS, STORED_SECTIONS, Kind, Section
from tidemark.snapshots.models import AccountSnapshot, SnapshotHead
from tidemark.snapshots.sections import SECTION_CACHE

SnapshotRecord = dict[str, Any]

_HEADER_FIELDS = [f.name for f in FIELDS if f.section is Section.HEADER]
_SECTION_COLUMNS = [f"{section.value}_section_id" for section in STORED_SECTIONS]
_COLUMNS = [getattr(AccountSnapshot, name) for name in _HEADER_FIELDS + _SECTION_COLUMNS]
_ORDER = [f.name for f in FIELDS]


def _records(session: Session, query: Select[Any]) -> list[SnapshotRecord]:
    rows = session.execute(query).all()
    section_ids = {row[i] for row in rows for i in range(len(_HEADER_FIELDS), len(_COLUMNS))}
    sections = SECTION_CACHE.load(session, section_ids)
    records: list[SnapshotRecord] = []
    width = len(_HEADER_FIELDS)
    for row in rows:
        merged: dict[str, Any] = dict(zip(_HEADER_FIELDS, row[:width], strict=True))
        for section_id in row[width:]:
            merged.update(sections[section_id])
        records.append({name: merged.get(name) for name in _ORDER})
    return records


def _base(customer_id: int) -> Select[Any]:
    return select(*_COLUMNS).where(AccountSnapshot.customer_id == customer_id)


def get(session: Session, *, customer_id: int, snapshot_id: int) -> SnapshotRecord:
    """One snapshot of the tenant, or NotFound."""
    found = _records(session, _base(customer_id).where(AccountSnapshot.snapshot_id == snapshot_id))
    if not found:
        raise NotFound("snapshot", snapshot_id)
    return found[0]


def latest(
    session: Session, *, customer_id: int, account_ids: Sequence[int] | None = None
) -> list[SnapshotRecord]:
    """The newest snapshot of each account (or of the given ones), by account id."""
    query = (
        _base(customer_id)
        .join(SnapshotHead, SnapshotHead.snapshot_id == AccountSnapshot.snapshot_id)
        .where(SnapshotHead.customer_id == customer_id)
        .order_by(AccountSnapshot.account_id)
    )
    if account_ids is not None:
        query = query.where(SnapshotHead.account_id.in_(list(account_ids)))
    return _records(session, query)


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
        select(*_COLUMNS)
        .where(*conditions)
        .order_by(AccountSnapshot.snapshot_timestamp.desc(), AccountSnapshot.snapshot_id.desc())
        .limit(limit)
        .offset(offset)
    )
    return SnapshotPage(_records(session, query), total, limit, offset)


def history(
    session: Session, *, customer_id: int, account_id: int, since: datetime
) -> list[SnapshotRecord]:
    """An account's snapshots from ``since`` on, oldest first."""
    query = (
        _base(customer_id)
        .where(
            AccountSnapshot.account_id == account_id,
            AccountSnapshot.snapshot_timestamp >= since,
        )
        .order_by(AccountSnapshot.snapshot_timestamp, AccountSnapshot.snapshot_id)
    )
    return _records(session, query)


def as_of(
    session: Session, *, customer_id: int, account_id: int, at: datetime
) -> SnapshotRecord | None:
    """The account's last snapshot at or before ``at``; None when it had none yet."""
    query = (
        _base(customer_id)
        .where(
            AccountSnapshot.account_id == account_id,
            AccountSnapshot.snapshot_timestamp <= at,
        )
        .order_by(AccountSnapshot.snapshot_timestamp.desc(), AccountSnapshot.snapshot_id.desc())
        .limit(1)
    )
    found = _records(session, query)
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
