"""Typed as-of look-ups over snapshot history: the facts an answer is made of.

Each look-up is scoped to one tenant, reads only, and returns a
:class:`~tidemark.assistant.plan.LookupResult` that names the snapshots its
values came from. "As of" a moment always means the account's last snapshot
taken at or before it.

Only the columns a look-up needs are read: a field stored in the snapshot
header is read from its column, a field stored in a section through the
section's id and the decoded section cache (``snapshots.sections``), so a look-up
over a thousand accounts decodes each distinct section once at most. The
look-ups over every account (``ranked_changes``, ``accounts_matching``) run a
fixed number of queries whatever the number of accounts: the snapshot of each
account at a moment is found with one index seek per account on
``(account_id, snapshot_timestamp)`` inside one statement (a LATERAL join on
PostgreSQL, a correlated subquery on SQLite; ``bench/lookups.py`` measures
these against the alternatives).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache, partial
from typing import Any

from sqlalchemy import (
    BindParameter,
    Boolean,
    ColumnElement,
    Dialect,
    Select,
    and_,
    bindparam,
    func,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased
from sqlalchemy.types import TypeDecorator

from tidemark.assistant.plan import (
    Change,
    Condition,
    Direction,
    LookupResult,
    NoHistory,
    ValueAt,
)
from tidemark.clock import ensure_utc
from tidemark.db.types import UtcDateTime
from tidemark.errors import InvalidInput, NotFound
from tidemark.snapshots.fields import FIELD_BY_NAME, FieldSpec, Kind, Section
from tidemark.snapshots.models import AccountSnapshot, SnapshotHead
from tidemark.snapshots.sections import SECTION_CACHE
from tidemark.snapshots.source import plain_rows, stored
from tidemark.success.models import Account

#: Kinds whose values have a delta.
NUMERIC_KINDS = (Kind.DECIMAL, Kind.INT)
#: Operators a condition may use, and the ones that make sense for text and lists.
OPERATORS = ("<", "<=", ">", ">=", "=", "!=")
EQUALITY = ("=", "!=")
#: What ``assignments`` reports, from one snapshot.
ASSIGNMENT_FIELDS = (
    "assigned_csm",
    "csm_manager",
    "account_owner",
    "products_used",
    "product_count",
    "playbooks_running",
    "playbooks_running_count",
)
_PERCENT = Decimal("0.01")
_S = AccountSnapshot


# -- fields ----------------------------------------------------------------------------------


def field_spec(name: str, *, where: str = "field") -> FieldSpec:
    """The snapshot field called ``name``; InvalidInput naming ``where`` when there is none."""
    spec = FIELD_BY_NAME.get(name)
    if spec is None:
        raise InvalidInput(where, f"{name!r} is not a snapshot field")
    return spec


def is_numeric(spec: FieldSpec) -> bool:
    """True for the fields that have a delta: decimals and integers."""
    return spec.kind in NUMERIC_KINDS


def _stored_column(snapshot: Any, spec: FieldSpec) -> Any:
    """The header column of ``spec``, or the id of the section that holds it."""
    if spec.section is Section.HEADER:
        return getattr(snapshot, spec.name)
    return getattr(snapshot, f"{spec.section.value}_section_id")


@dataclass(frozen=True, slots=True)
class _Found:
    """One snapshot as a look-up read it: id, time, and each field's stored value or section id."""

    account_id: int
    account_name: str
    snapshot_id: int
    timestamp: datetime
    stored: tuple[Any, ...]


def _decode(
    session: Session, customer_id: int, specs: Sequence[FieldSpec], found: Sequence[_Found]
) -> list[dict[str, Any]]:
    """Each snapshot's values of ``specs``, reading only the sections not yet decoded."""
    section_ids = {
        snap.stored[i]
        for snap in found
        for i, spec in enumerate(specs)
        if spec.section is not Section.HEADER and snap.stored[i] is not None
    }
    sections = (
        SECTION_CACHE.load(session, section_ids, customer_id=customer_id) if section_ids else {}
    )
    decoded: list[dict[str, Any]] = []
    for snap in found:
        values: dict[str, Any] = {}
        for spec, raw in zip(specs, snap.stored, strict=True):
            if spec.section is Section.HEADER:
                # A live capture leaves created_at NULL: it is the snapshot time.
                value = snap.timestamp if spec.name == "created_at" and raw is None else raw
            else:
                value = sections[raw][spec.name]
                if isinstance(value, list | dict):
                    # The cache's sections are shared by every read: hand out copies.
                    value = copy.deepcopy(value)
            values[spec.name] = value
        decoded.append(values)
    return decoded


def _value_at(snap: _Found, spec: FieldSpec, values: dict[str, Any]) -> ValueAt:
    return ValueAt(
        account_id=snap.account_id,
        account_name=snap.account_name,
        field=spec.name,
        value=values[spec.name],
        snapshot_id=snap.snapshot_id,
        snapshot_timestamp=snap.timestamp,
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else ensure_utc(moment).isoformat()


# -- one account -----------------------------------------------------------------------------


def _account(session: Session, customer_id: int, account_id: int) -> tuple[int, str]:
    """The tenant's account id and name; another tenant's id is NotFound."""
    row = session.execute(
        select(Account.account_id, Account.account_name).where(
            Account.customer_id == customer_id, Account.account_id == account_id
        )
    ).first()
    if row is None:
        raise NotFound("account", account_id)
    return int(row[0]), str(row[1])


def _first_snapshot_time(session: Session, customer_id: int, account_id: int) -> datetime | None:
    first: datetime | None = session.execute(
        select(func.min(_S.snapshot_timestamp)).where(
            _S.customer_id == customer_id, _S.account_id == account_id
        )
    ).scalar_one()
    return first


def _account_snapshots(
    session: Session,
    customer_id: int,
    account: tuple[int, str],
    specs: Sequence[FieldSpec],
    *conditions: ColumnElement[bool],
    newest_first: bool = False,
    limit: int | None = None,
) -> list[_Found]:
    """One account's snapshots matching ``conditions``, in time order, with ``specs``' columns."""
    order = (
        (_S.snapshot_timestamp.desc(), _S.snapshot_id.desc())
        if newest_first
        else (_S.snapshot_timestamp, _S.snapshot_id)
    )
    query = (
        select(_S.snapshot_id, _S.snapshot_timestamp, *(_stored_column(_S, spec) for spec in specs))
        .where(_S.customer_id == customer_id, _S.account_id == account[0], *conditions)
        .order_by(*order)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        _Found(account[0], account[1], row[0], row[1], tuple(row[2:]))
        for row in session.execute(query)
    ]


def _as_of(
    session: Session,
    customer_id: int,
    account: tuple[int, str],
    specs: Sequence[FieldSpec],
    at: datetime,
) -> _Found | None:
    found = _account_snapshots(
        session,
        customer_id,
        account,
        specs,
        _S.snapshot_timestamp <= at,
        newest_first=True,
        limit=1,
    )
    return found[0] if found else None


def _no_history(
    session: Session, customer_id: int, account: tuple[int, str], at: datetime
) -> NoHistory:
    return NoHistory(account[1], at, _first_snapshot_time(session, customer_id, account[0]))


def value_as_of(
    session: Session, *, customer_id: int, account_id: int, field: str, at: datetime
) -> LookupResult:
    """One field of one account from its last snapshot at or before ``at``.

    Raises NoHistory when the account had no snapshot yet (with the time of its
    first one, if any), NotFound for another tenant's account.
    """
    spec = field_spec(field)
    account = _account(session, customer_id, account_id)
    snap = _as_of(session, customer_id, account, [spec], at)
    if snap is None:
        raise _no_history(session, customer_id, account, at)
    (values,) = _decode(session, customer_id, [spec], [snap])
    return LookupResult(
        lookup="value_as_of",
        arguments={"account_id": account_id, "field": field, "at": _iso(at)},
        value=_value_at(snap, spec, values),
        snapshot_ids=[snap.snapshot_id],
    )


def _difference(spec: FieldSpec, before: Any, after: Any) -> tuple[Decimal | None, Decimal | None]:
    """``after - before`` and the change in percent of ``before``, for numbers; else None."""
    if not is_numeric(spec) or before is None or after is None:
        return None, None
    delta = Decimal(after) - Decimal(before)
    if before == 0:
        return delta, None
    percent = (delta / Decimal(before) * 100).quantize(_PERCENT, rounding=ROUND_HALF_EVEN)
    return delta, percent


def _change(spec: FieldSpec, before: ValueAt, after: ValueAt) -> Change:
    delta, percent = _difference(spec, before.value, after.value)
    return Change(
        account_id=after.account_id,
        account_name=after.account_name,
        field=spec.name,
        before=before,
        after=after,
        delta=delta,
        percent=percent,
    )


def _check_window(start: datetime | None, end: datetime) -> datetime:
    if start is None:
        raise InvalidInput("start", "a change needs the start of a window")
    if ensure_utc(start) >= ensure_utc(end):
        raise InvalidInput("start", "must be before the end of the window")
    return start


def change_over(
    session: Session,
    *,
    customer_id: int,
    account_id: int,
    field: str,
    start: datetime | None,
    end: datetime,
) -> LookupResult:
    """One field of one account as of ``start`` and as of ``end``, and the change between.

    When the account's first snapshot is after ``start``, its first snapshot
    inside the window stands in for the start, and ``arguments["start_used"]``
    says when that was. Numbers get a delta and a percentage.
    """
    spec = field_spec(field)
    start = _check_window(start, end)
    account = _account(session, customer_id, account_id)
    before = _as_of(session, customer_id, account, [spec], start)
    arguments: dict[str, Any] = {
        "account_id": account_id,
        "field": field,
        "start": _iso(start),
        "end": _iso(end),
    }
    if before is None:
        inside = _account_snapshots(
            session,
            customer_id,
            account,
            [spec],
            _S.snapshot_timestamp > start,
            _S.snapshot_timestamp <= end,
            limit=1,
        )
        if not inside:
            raise _no_history(session, customer_id, account, end)
        before = inside[0]
        arguments["start_used"] = _iso(before.timestamp)
    after = _as_of(session, customer_id, account, [spec], end)
    assert after is not None  # ``before`` is at or before ``end``
    old, new = _decode(session, customer_id, [spec], [before, after])
    return LookupResult(
        lookup="change_over",
        arguments=arguments,
        value=_change(spec, _value_at(before, spec, old), _value_at(after, spec, new)),
        snapshot_ids=list(dict.fromkeys((before.snapshot_id, after.snapshot_id))),
    )


def field_history(
    session: Session,
    *,
    customer_id: int,
    account_id: int,
    field: str,
    start: datetime | None,
    end: datetime,
) -> LookupResult:
    """Every value of one field of one account in ``[start, end]``, oldest first.

    ``start`` None means from the first snapshot. When the window holds no
    snapshot, the value is the last one before it (``arguments["before_window"]``).
    """
    spec = field_spec(field)
    if start is not None and ensure_utc(start) > ensure_utc(end):
        raise InvalidInput("start", "must not be after the end of the window")
    account = _account(session, customer_id, account_id)
    window = [_S.snapshot_timestamp <= end]
    if start is not None:
        window.append(_S.snapshot_timestamp >= start)
    found = _account_snapshots(session, customer_id, account, [spec], *window)
    arguments: dict[str, Any] = {
        "account_id": account_id,
        "field": field,
        "start": _iso(start),
        "end": _iso(end),
    }
    if not found:
        earlier = None if start is None else _as_of(session, customer_id, account, [spec], start)
        if earlier is None:
            raise _no_history(session, customer_id, account, end)
        found = [earlier]
        arguments["before_window"] = True
    decoded = _decode(session, customer_id, [spec], found)
    return LookupResult(
        lookup="field_history",
        arguments=arguments,
        value=[_value_at(snap, spec, values) for snap, values in zip(found, decoded, strict=True)],
        snapshot_ids=[snap.snapshot_id for snap in found],
    )


def assignments(
    session: Session, *, customer_id: int, account_id: int, at: datetime | None = None
) -> LookupResult:
    """Who looks after the account, what it uses and which playbooks run, from one snapshot.

    From the newest snapshot, or the last one at or before ``at``. The value is a
    dict of ``ASSIGNMENT_FIELDS`` and ``snapshot_timestamp``. An account without
    any snapshot raises NoHistory (as of ``at``, else as of the account's
    creation).
    """
    specs = [FIELD_BY_NAME[name] for name in ASSIGNMENT_FIELDS]
    account = _account(session, customer_id, account_id)
    snap = (
        _as_of(session, customer_id, account, specs, at)
        if at is not None
        else _newest(session, customer_id, account, specs)
    )
    if snap is None:
        if at is None:
            created = session.execute(
                select(Account.created_at).where(Account.account_id == account_id)
            ).scalar_one()
            raise NoHistory(account[1], created, None)
        raise _no_history(session, customer_id, account, at)
    (values,) = _decode(session, customer_id, specs, [snap])
    values["snapshot_timestamp"] = snap.timestamp
    return LookupResult(
        lookup="assignments",
        arguments={"account_id": account_id, "at": _iso(at)},
        value=values,
        snapshot_ids=[snap.snapshot_id],
    )


def _newest(
    session: Session, customer_id: int, account: tuple[int, str], specs: Sequence[FieldSpec]
) -> _Found | None:
    row = session.execute(
        select(_S.snapshot_id, _S.snapshot_timestamp, *(_stored_column(_S, s) for s in specs))
        .join(SnapshotHead, SnapshotHead.snapshot_id == _S.snapshot_id)
        .where(SnapshotHead.account_id == account[0], _S.customer_id == customer_id)
    ).first()
    if row is None:
        return None
    return _Found(account[0], account[1], row[0], row[1], tuple(row[2:]))


# -- every account ---------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _every_account_statement(
    postgres: bool, fields: tuple[str, ...], newest: tuple[bool, ...]
) -> tuple[Select[Any], tuple[Any, ...]]:
    """Every account's snapshot at each moment: ``newest[n]`` or as of parameter ``t<n>``.

    Built once per shape and reused (building it costs more than running it),
    with the tenant and the moments as parameters. Columns are read in their
    stored form; the second item is each column's type, to convert them.
    """
    specs = [FIELD_BY_NAME[name] for name in fields]
    head = SnapshotHead
    customer: BindParameter[int] = bindparam("customer_id")
    columns: list[Any] = [head.account_id, Account.account_name]
    query: Select[Any] = (
        select().select_from(head).join(Account, Account.account_id == head.account_id)
    )
    for n, is_newest in enumerate(newest):
        snap = aliased(_S, name=f"s{n}")
        if is_newest:
            query = query.join(
                snap, and_(snap.snapshot_id == head.snapshot_id, snap.customer_id == customer)
            )
            columns.extend(_stored_columns(snap, specs))
            continue
        # One index seek per account: its newest row at or before the moment.
        seek = aliased(_S, name=f"seek{n}")
        moment = bindparam(f"t{n}", type_=UtcDateTime())
        if postgres:
            lateral = (
                select(*_stored_columns(seek, specs))
                .where(seek.account_id == head.account_id, seek.snapshot_timestamp <= moment)
                .order_by(seek.snapshot_timestamp.desc(), seek.snapshot_id.desc())
                .limit(1)
                .lateral(f"s{n}")
            )
            query = query.outerjoin(lateral, true())
            columns.extend(lateral.c)
            continue
        last = (
            select(seek.snapshot_id)
            .where(seek.account_id == head.account_id, seek.snapshot_timestamp <= moment)
            .order_by(seek.snapshot_timestamp.desc(), seek.snapshot_id.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = query.outerjoin(snap, and_(snap.snapshot_id == last, snap.customer_id == customer))
        columns.extend(_stored_columns(snap, specs))
    statement = query.add_columns(*(stored(column) for column in columns)).where(
        head.customer_id == customer, Account.customer_id == customer
    )
    return statement, tuple(column.type for column in columns)


@lru_cache(maxsize=256)
def _converters(
    dialect: Dialect, types: tuple[Any, ...]
) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    """The columns whose stored value needs converting, each with its memoised conversion.

    The conversions are the column types' own (``Fixed``, ``UtcDateTime``,
    ``Code``, booleans). A thousand accounts' rows repeat a few timestamps (one
    per capture) and scores, so each distinct stored value is converted once.
    """
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    for i, type_ in enumerate(types):
        convert: Callable[[Any], Any]
        if isinstance(type_, TypeDecorator):
            convert = partial(_decorated, type_, dialect)
        elif isinstance(type_, Boolean):
            convert = _as_bool
        else:
            continue
        converters.append((i, lru_cache(maxsize=1 << 14)(convert)))
    return tuple(converters)


def _decorated(type_: TypeDecorator[Any], dialect: Dialect, value: Any) -> Any:
    return type_.process_result_value(value, dialect)


def _as_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _at_moments(
    session: Session,
    customer_id: int,
    specs: Sequence[FieldSpec],
    moments: Sequence[datetime | None],
) -> list[tuple[int, str, list[_Found | None]]]:
    """For every account of the tenant with a snapshot: its snapshot as of each moment.

    A moment of None means the account's newest snapshot. One statement for all
    accounts and moments; an account without a snapshot at a moment gets None.
    """
    connection = session.connection()
    query, types = _every_account_statement(
        connection.dialect.name == "postgresql",
        tuple(spec.name for spec in specs),
        tuple(moment is None for moment in moments),
    )
    converters = _converters(connection.dialect, types)
    parameters: dict[str, Any] = {"customer_id": customer_id}
    for n, moment in enumerate(moments):
        if moment is not None:
            parameters[f"t{n}"] = moment
    rows = plain_rows(connection, query, parameters)
    if not rows:
        return []
    columns: list[Any] = list(zip(*rows, strict=True))
    for i, convert in converters:
        columns[i] = list(map(convert, columns[i]))
    width = 2 + len(specs)
    results: list[tuple[int, str, list[_Found | None]]] = []
    for row in zip(*columns, strict=True):
        account_id, name = row[0], row[1]
        per_moment: list[_Found | None] = []
        for start in range(2, len(row), width):
            sid = row[start]
            per_moment.append(
                None
                if sid is None
                else _Found(account_id, name, sid, row[start + 1], row[start + 2 : start + width])
            )
        results.append((account_id, name, per_moment))
    return results


def _stored_columns(snapshot: Any, specs: Sequence[FieldSpec]) -> list[Any]:
    return [
        snapshot.snapshot_id,
        snapshot.snapshot_timestamp,
        *(_stored_column(snapshot, spec) for spec in specs),
    ]


def _numbers(
    session: Session, customer_id: int, spec: FieldSpec, found: Sequence[_Found]
) -> list[Any]:
    """One numeric field's value in each snapshot (numbers are immutable: no copies)."""
    if spec.section is Section.HEADER:
        return [snap.stored[0] for snap in found]
    sections = SECTION_CACHE.load(
        session, {snap.stored[0] for snap in found}, customer_id=customer_id
    )
    return [sections[snap.stored[0]][spec.name] for snap in found]


def _direction(direction: Direction | str) -> Direction:
    try:
        return Direction(direction)
    except ValueError:
        choices = ", ".join(d.value for d in Direction)
        raise InvalidInput("direction", f"expected one of {choices}") from None


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise InvalidInput("limit", "must be at least 1")


def ranked_changes(
    session: Session,
    *,
    customer_id: int,
    field: str,
    start: datetime | None,
    end: datetime,
    direction: Direction | str,
    limit: int | None = None,
) -> LookupResult:
    """Accounts ranked by how much a numeric field moved between ``start`` and ``end``.

    Every account with a snapshot at or before both ends takes part: ``improved``
    lists rises, largest first; ``declined`` falls, largest first; ``any`` both,
    by size. Unchanged values and accounts without a value at either end are
    left out; ties go by account name. ``arguments`` counts the accounts
    compared and those whose history starts inside the window.
    """
    spec = field_spec(field)
    if not is_numeric(spec):
        raise InvalidInput("field", f"{field!r} is not a number, so it has no ranked change")
    start = _check_window(start, end)
    way = _direction(direction)
    _check_limit(limit)
    rows = _at_moments(session, customer_id, [spec], [start, end])
    pairs = [
        (pair[0], pair[1]) for _, _, pair in rows if pair[0] is not None and pair[1] is not None
    ]
    late = sum(1 for _, _, pair in rows if pair[0] is None and pair[1] is not None)
    values = _numbers(session, customer_id, spec, [snap for pair in pairs for snap in pair])
    # Rank on the bare numbers; build results only for the accounts listed.
    ranked: list[tuple[Any, str, int, int]] = []
    for n, (before, _after) in enumerate(pairs):
        old, new = values[2 * n], values[2 * n + 1]
        if old is None or new is None or old == new:
            continue
        delta = new - old
        if (way is Direction.IMPROVED and delta < 0) or (way is Direction.DECLINED and delta > 0):
            continue
        size = {Direction.IMPROVED: -delta, Direction.DECLINED: delta}.get(way, -abs(delta))
        ranked.append((size, before.account_name.casefold(), before.account_id, n))
    ranked.sort()
    if limit is not None:
        ranked = ranked[:limit]
    changes = [
        _change(
            spec,
            _value_at(pairs[n][0], spec, {field: values[2 * n]}),
            _value_at(pairs[n][1], spec, {field: values[2 * n + 1]}),
        )
        for *_, n in ranked
    ]
    return LookupResult(
        lookup="ranked_changes",
        arguments={
            "field": field,
            "start": _iso(start),
            "end": _iso(end),
            "direction": way.value,
            "limit": limit,
            "accounts_compared": len(pairs),
            "accounts_starting_later": late,
        },
        value=changes,
        snapshot_ids=[i for c in changes for i in (c.before.snapshot_id, c.after.snapshot_id)],
    )


@dataclass(frozen=True, slots=True)
class _Test:
    """A condition made ready to evaluate against one field's values."""

    spec: FieldSpec
    op: str
    operand: Any

    def holds(self, value: Any) -> bool:
        if value is None:
            return False
        if self.spec.kind in (Kind.TEXT_LIST, Kind.INT_LIST):
            members = {_folded(item) for item in value}
            inside = self.operand in members
            return inside if self.op == "=" else not inside
        if self.spec.kind is Kind.TEXT:
            value = _folded(value)
        return _compare(self.op, value, self.operand)


def _folded(value: Any) -> Any:
    return value.strip().casefold() if isinstance(value, str) else value


def _compare(op: str, value: Any, operand: Any) -> bool:
    if op == "<":
        return bool(value < operand)
    if op == "<=":
        return bool(value <= operand)
    if op == ">":
        return bool(value > operand)
    if op == ">=":
        return bool(value >= operand)
    if op == "=":
        return bool(value == operand)
    return bool(value != operand)


def _prepare(condition: Condition, n: int) -> _Test:
    where = f"conditions[{n}]"
    spec = field_spec(condition.field, where=f"{where}.field")
    if condition.op not in OPERATORS:
        raise InvalidInput(f"{where}.op", f"expected one of {' '.join(OPERATORS)}")
    raw = condition.value
    kind = spec.kind
    operand: Any
    if kind in NUMERIC_KINDS:
        try:
            operand = Decimal(str(raw).strip())
        except InvalidOperation:
            raise InvalidInput(f"{where}.value", f"{raw!r} is not a number") from None
        if not operand.is_finite():
            raise InvalidInput(f"{where}.value", f"{raw!r} is not a number")
    elif kind is Kind.DATE:
        try:
            operand = date.fromisoformat(str(raw).strip())
        except ValueError:
            raise InvalidInput(f"{where}.value", f"{raw!r} is not a date (YYYY-MM-DD)") from None
    elif kind is Kind.BOOL:
        text = str(raw).strip().lower()
        if text not in ("true", "false") or condition.op not in EQUALITY:
            raise InvalidInput(f"{where}.value", "expected = or != true or false")
        operand = text == "true"
    elif kind in (Kind.TEXT, Kind.TEXT_LIST, Kind.INT_LIST):
        if condition.op not in EQUALITY:
            raise InvalidInput(f"{where}.op", f"{spec.name} is text: use = or !=")
        operand = _folded(str(raw))
        if kind is Kind.INT_LIST:
            try:
                operand = int(operand)
            except ValueError:
                raise InvalidInput(f"{where}.value", f"{raw!r} is not an id") from None
    else:
        raise InvalidInput(f"{where}.field", f"{spec.name} cannot be used in a condition")
    return _Test(spec, condition.op, operand)


def accounts_matching(
    session: Session,
    *,
    customer_id: int,
    conditions: Sequence[Condition],
    at: datetime | None = None,
) -> LookupResult:
    """Accounts whose snapshot meets every condition, by account name.

    Each account's newest snapshot, or its last one at or before ``at``. Text
    compares without regard to case; ``=`` on a list field means "contains".
    The value lists the first condition's field of each matching account.
    """
    if not conditions:
        raise InvalidInput("conditions", "at least one condition is needed")
    tests = [_prepare(condition, n) for n, condition in enumerate(conditions)]
    specs = list({test.spec.name: test.spec for test in tests}.values())
    rows = _at_moments(session, customer_id, specs, [at])
    found = [pair[0] for _, _, pair in rows if pair[0] is not None]
    decoded = _decode(session, customer_id, specs, found)
    matches = [
        (snap, values)
        for snap, values in zip(found, decoded, strict=True)
        if all(test.holds(values[test.spec.name]) for test in tests)
    ]
    matches.sort(key=lambda match: (match[0].account_name.casefold(), match[0].account_id))
    first = tests[0].spec
    return LookupResult(
        lookup="accounts_matching",
        arguments={
            "conditions": [
                {"field": c.field, "op": c.op, "value": str(c.value)} for c in conditions
            ],
            "at": _iso(at),
            "accounts_checked": len(found),
        },
        value=[_value_at(snap, first, values) for snap, values in matches],
        snapshot_ids=[snap.snapshot_id for snap, _ in matches],
    )
