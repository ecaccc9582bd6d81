"""A tenant's KPI reference ranges: list, set one, and upload many from a file.

A range turns a KPI value into Healthy, Risk or Critical (``scoring.kpi_status``).
Its thresholds must agree with its direction: when higher is better, the
critical threshold is at or below the risk threshold; when lower is better, at
or above it. Changing a range grades KPIs from then on (snapshots read ranges
when they are taken); series rows keep the status they were uploaded with.
Since every account's KPI statuses may change, a write emits
``account_data_changed`` for every account of the tenant, in its transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tidemark.errors import Conflict, InvalidInput, NotFound
from tidemark.events.outbox import EventType, emit_for_tenant
from tidemark.success.files import (
    MAX_ROWS,
    CellError,
    Columns,
    number_cell,
    raise_if_errors,
    read_table,
    text_cell,
)
from tidemark.success.models import KPIReferenceRange
from tidemark.success.uploads import bulk_update, fold, table_of
from tidemark.success.values import MAX_ABS

DIRECTIONS: Final = ("higher", "lower")
RANGE_COLUMNS: Final = Columns(
    known=(
        "kpi_parameter",
        "direction",
        "critical_threshold",
        "risk_threshold",
        "unit",
        "description",
    ),
    aliases={
        "kpi": "kpi_parameter",
        "kpi_name": "kpi_parameter",
        "critical": "critical_threshold",
        "risk": "risk_threshold",
    },
)
REQUIRED: Final = ("kpi_parameter", "direction", "critical_threshold", "risk_threshold")


@dataclass(frozen=True, slots=True)
class RangeValues:
    """A checked range, ready to store."""

    kpi_parameter: str
    direction: str
    critical_threshold: Decimal
    risk_threshold: Decimal
    unit: str | None
    description: str | None


@dataclass(frozen=True, slots=True)
class RangeUploadResult:
    """What a range upload wrote."""

    rows: int
    created: int
    updated: int


def list_ranges(session: Session, *, customer_id: int) -> list[KPIReferenceRange]:
    """The tenant's ranges, by KPI parameter."""
    return list(
        session.execute(
            select(KPIReferenceRange)
            .where(KPIReferenceRange.customer_id == customer_id)
            .order_by(KPIReferenceRange.kpi_parameter)
        )
        .scalars()
        .all()
    )


def find(session: Session, *, customer_id: int, kpi_parameter: str) -> KPIReferenceRange | None:
    """The tenant's range for a parameter: the exact spelling, else the only one in another case."""
    ranges = session.execute(
        select(KPIReferenceRange).where(KPIReferenceRange.customer_id == customer_id)
    ).scalars()
    folded: list[KPIReferenceRange] = []
    wanted = fold(kpi_parameter)
    for found in ranges:
        if found.kpi_parameter == kpi_parameter:
            return found
        if fold(found.kpi_parameter) == wanted:
            folded.append(found)
    return folded[0] if len(folded) == 1 else None


def get(session: Session, *, customer_id: int, kpi_parameter: str) -> KPIReferenceRange:
    """The tenant's range for a parameter, or NotFound."""
    found = find(session, customer_id=customer_id, kpi_parameter=kpi_parameter)
    if found is None:
        raise NotFound("reference range", kpi_parameter)
    return found


def check(
    kpi_parameter: str,
    direction: str,
    critical: Decimal,
    risk: Decimal,
    unit: str | None = None,
    description: str | None = None,
) -> RangeValues:
    """A range whose values and thresholds agree; InvalidInput naming the field otherwise."""
    name = kpi_parameter.strip()
    if not name:
        raise InvalidInput("kpi_parameter", "must not be empty")
    if len(name) > 200 or "\x00" in name:
        raise InvalidInput("kpi_parameter", "at most 200 characters, without NUL characters")
    clean_direction = direction.strip().casefold()
    if clean_direction not in DIRECTIONS:
        raise InvalidInput("direction", f"{direction!r} is not 'higher' or 'lower'")
    for where, number in (("critical_threshold", critical), ("risk_threshold", risk)):
        if not number.is_finite() or abs(number) >= MAX_ABS:
            raise InvalidInput(
                where, "must be a finite number with at most 14 digits before the point"
            )
    problem = direction_problem(clean_direction, critical, risk)
    if problem:
        raise InvalidInput("critical_threshold", problem)
    return RangeValues(
        name,
        clean_direction,
        critical,
        risk,
        _optional(unit, "unit", 20),
        _optional(description, "description", 255),
    )


def direction_problem(direction: str, critical: Decimal, risk: Decimal) -> str | None:
    """Why the thresholds disagree with the direction, or None when they agree."""
    if direction == "higher" and critical > risk:
        return (
            f"when higher is better the critical threshold ({critical.normalize():f}) must be "
            f"at or below the risk threshold ({risk.normalize():f})"
        )
    if direction == "lower" and critical < risk:
        return (
            f"when lower is better the critical threshold ({critical.normalize():f}) must be "
            f"at or above the risk threshold ({risk.normalize():f})"
        )
    return None


def _optional(value: str | None, where: str, limit: int) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if len(text) > limit or "\x00" in text:
        raise InvalidInput(where, f"at most {limit} characters, without NUL characters")
    return text or None


def put(
    session: Session, *, customer_id: int, values: RangeValues, now: datetime
) -> tuple[KPIReferenceRange, bool]:
    """Set the tenant's range for a parameter, creating it when missing; True when created."""
    stored = find(session, customer_id=customer_id, kpi_parameter=values.kpi_parameter)
    created = stored is None
    if stored is None:
        stored = KPIReferenceRange(customer_id=customer_id, kpi_parameter=values.kpi_parameter)
        session.add(stored)
    stored.direction = values.direction
    stored.critical_threshold = values.critical_threshold
    stored.risk_threshold = values.risk_threshold
    stored.unit = values.unit
    stored.description = values.description
    stored.is_default = False
    stored.updated_at = now
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            f"the range of {values.kpi_parameter!r} was created by another request; try again"
        ) from None
    _emit(session, customer_id, {"kpi_parameters": [stored.kpi_parameter]}, now)
    return stored, created


def upload(
    session: Session,
    *,
    customer_id: int,
    filename: str,
    content: bytes,
    now: datetime,
    max_rows: int = MAX_ROWS,
) -> RangeUploadResult:
    """Set the ranges a CSV or XLSX file lists; every row is checked before any is written."""
    sheet = read_table(content, filename, RANGE_COLUMNS, max_rows=max_rows)
    missing = [c for c in REQUIRED if not sheet.has(c)]
    if missing:
        raise InvalidInput("header", f"missing required column(s): {', '.join(missing)}")
    at = {name: sheet.index(name) for name in RANGE_COLUMNS.known}
    errors: list[dict[str, Any]] = []
    checked: list[tuple[int, RangeValues]] = []
    first: dict[str, int] = {}
    for number, cells in zip(sheet.numbers, sheet.rows, strict=True):
        values: dict[str, Any] = {}
        bad = False
        for column, convert, args in (
            ("kpi_parameter", text_cell, (200,)),
            ("direction", text_cell, (10,)),
            ("critical_threshold", number_cell, ()),
            ("risk_threshold", number_cell, ()),
            ("unit", text_cell, (20,)),
            ("description", text_cell, (255,)),
        ):
            position = at[column]
            if position is None:
                values[column] = None
                continue
            try:
                values[column] = convert(cells[position], *args)
            except CellError as exc:
                errors.append(sheet.error(number, column, str(exc)))
                bad = True
                continue
            if values[column] is None and column in REQUIRED:
                errors.append(sheet.error(number, column, "is empty"))
                bad = True
        if bad:
            continue
        direction = str(values["direction"]).casefold()
        if direction not in DIRECTIONS:
            errors.append(
                sheet.error(number, "direction", f"{values['direction']!r} is not higher or lower")
            )
            continue
        problem = direction_problem(
            direction, values["critical_threshold"], values["risk_threshold"]
        )
        if problem:
            errors.append(sheet.error(number, "critical_threshold", problem))
            continue
        seen = first.setdefault(fold(values["kpi_parameter"]), number)
        if seen != number:
            errors.append(sheet.error(number, "kpi_parameter", f"repeats row {seen}"))
            continue
        checked.append(
            (
                number,
                RangeValues(
                    values["kpi_parameter"],
                    direction,
                    values["critical_threshold"],
                    values["risk_threshold"],
                    values["unit"],
                    values["description"],
                ),
            )
        )
    raise_if_errors(errors)
    return _write(session, customer_id, [v for _, v in checked], now)


def _write(
    session: Session, customer_id: int, ranges: Sequence[RangeValues], now: datetime
) -> RangeUploadResult:
    exact: dict[str, int] = {}
    folded: dict[str, list[tuple[int, str]]] = {}
    for stored_id, parameter in session.execute(
        select(KPIReferenceRange.range_id, KPIReferenceRange.kpi_parameter).where(
            KPIReferenceRange.customer_id == customer_id
        )
    ):
        exact[parameter] = stored_id
        folded.setdefault(fold(parameter), []).append((stored_id, parameter))
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for values in ranges:
        range_id: int | None = exact.get(values.kpi_parameter)
        if range_id is None:
            candidates = folded.get(fold(values.kpi_parameter), [])
            range_id = candidates[0][0] if len(candidates) == 1 else None
        fields = {
            "direction": values.direction,
            "critical_threshold": values.critical_threshold,
            "risk_threshold": values.risk_threshold,
            "unit": values.unit,
            "description": values.description,
            "is_default": False,
            "updated_at": now,
        }
        if range_id is None:
            inserts.append(
                {"customer_id": customer_id, "kpi_parameter": values.kpi_parameter, **fields}
            )
        else:
            updates.append({"range_id": range_id, **fields})
    try:
        if inserts:
            session.execute(insert(table_of(KPIReferenceRange)), inserts)
        bulk_update(session, KPIReferenceRange, "range_id", updates)
    except IntegrityError:
        raise Conflict("ranges of this file were created by another request; try again") from None
    session.expire_all()
    _emit(session, customer_id, {"rows": len(ranges)}, now)
    return RangeUploadResult(len(ranges), len(inserts), len(updates))


def _emit(session: Session, customer_id: int, detail: dict[str, Any], at: datetime) -> None:
    """Ranges grade every account's KPIs: each account of the tenant changed."""
    emit_for_tenant(
        session,
        customer_id=customer_id,
        event_type=EventType.ACCOUNT_DATA_CHANGED,
        at=at,
        payload={"change": "reference_ranges", **detail},
    )
