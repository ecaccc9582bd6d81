"""A tenant's configuration: health category weights, upload mode, debounce window, time zone."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from tidemark.errors import InvalidInput
from tidemark.events.outbox import EventType, emit_for_tenant
from tidemark.tenancy import service as tenants
from tidemark.tenancy.models import CATEGORIES, DEFAULT_CATEGORY_WEIGHTS, CustomerConfig

#: How KPI files arrive (seed 004): one corporate file, or per-account files rolled up.
KPI_UPLOAD_MODES: tuple[str, ...] = ("account_rollup", "corporate")
#: The weights must add up to 1 within this.
WEIGHT_TOLERANCE = 0.001
#: The longest debounce window a tenant may set: one day.
MAX_WINDOW_SECONDS = 86_400
#: The debounce window when a tenant has no configuration row (seed 002's five minutes).
DEFAULT_WINDOW_SECONDS = 300
DEFAULT_UPLOAD_MODE = "account_rollup"

#: The fields an update may change.
UPDATABLE: tuple[str, ...] = (
    "category_weights",
    "kpi_upload_mode",
    "snapshot_window_seconds",
    "timezone",
)


@dataclass(frozen=True, slots=True)
class TenantConfig:
    """What a tenant has configured, with the defaults filled in where it has not."""

    customer_id: int
    timezone: str
    category_weights: dict[str, float]
    kpi_upload_mode: str
    snapshot_window_seconds: int
    master_file_name: str | None
    updated_at: datetime | None


def zone(name: str, *, where: str = "timezone") -> ZoneInfo:
    """The IANA time zone called ``name``; InvalidInput naming ``where`` when there is none."""
    text = name.strip() if isinstance(name, str) else ""
    # ZoneInfo reads a file named after the key: refuse anything that is not a zone name.
    if not text or len(text) > 64 or text.startswith(("/", ".")) or ".." in text:
        raise InvalidInput(where, f"{name!r} is not an IANA time zone (e.g. Asia/Bangkok)")
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(
            where, f"{name!r} is not an IANA time zone (e.g. Asia/Bangkok)"
        ) from None


def _find(session: Session, customer_id: int) -> CustomerConfig | None:
    return session.execute(
        select(CustomerConfig).where(CustomerConfig.customer_id == customer_id)
    ).scalar_one_or_none()


def get(session: Session, *, customer_id: int) -> TenantConfig:
    """The tenant's configuration (defaults when it has no row yet); NotFound for no tenant."""
    customer = tenants.get(session, customer_id=customer_id)
    row = _find(session, customer_id)
    if row is None:
        return TenantConfig(
            customer_id=customer_id,
            timezone=customer.timezone,
            category_weights=dict(DEFAULT_CATEGORY_WEIGHTS),
            kpi_upload_mode=DEFAULT_UPLOAD_MODE,
            snapshot_window_seconds=DEFAULT_WINDOW_SECONDS,
            master_file_name=None,
            updated_at=None,
        )
    return TenantConfig(
        customer_id=customer_id,
        timezone=customer.timezone,
        category_weights={name: float(value) for name, value in row.category_weights.items()},
        kpi_upload_mode=row.kpi_upload_mode,
        snapshot_window_seconds=row.snapshot_window_seconds,
        master_file_name=row.master_file_name,
        updated_at=row.updated_at,
    )


def check_weights(weights: object) -> dict[str, float]:
    """The five category weights, each non-negative, adding up to 1 (within 0.001)."""
    where = "category_weights"
    if not isinstance(weights, Mapping):
        raise InvalidInput(where, f"expected an object with the categories {', '.join(CATEGORIES)}")
    for name in weights:
        if name not in CATEGORIES:
            raise InvalidInput(
                f"{where}.{name}", f"unknown category; expected one of {', '.join(CATEGORIES)}"
            )
    clean: dict[str, float] = {}
    for name in CATEGORIES:
        if name not in weights:
            raise InvalidInput(f"{where}.{name}", "missing; give a weight for every category")
        value = weights[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"{where}.{name}", "must be a number")
        number = float(value)
        if not math.isfinite(number) or number < 0:
            raise InvalidInput(f"{where}.{name}", "must be a number of at least 0")
        clean[name] = number
    total = sum(clean.values())
    if abs(total - 1) > WEIGHT_TOLERANCE:
        raise InvalidInput(where, f"the weights add up to {total:g}; they must add up to 1")
    return clean


def check_upload_mode(mode: object) -> str:
    """Raise InvalidInput unless ``mode`` is a KPI upload mode."""
    if mode not in KPI_UPLOAD_MODES:
        raise InvalidInput("kpi_upload_mode", f"expected one of {', '.join(KPI_UPLOAD_MODES)}")
    return str(mode)


def check_window(seconds: object) -> int:
    """Raise InvalidInput unless ``seconds`` is a whole number of seconds from 0 to a day."""
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise InvalidInput("snapshot_window_seconds", "must be a whole number of seconds")
    if not 0 <= seconds <= MAX_WINDOW_SECONDS:
        raise InvalidInput(
            "snapshot_window_seconds", f"must be from 0 to {MAX_WINDOW_SECONDS} (one day)"
        )
    return seconds


def update(
    session: Session, *, customer_id: int, changes: Mapping[str, Any], now: datetime
) -> TenantConfig:
    """Change the fields given in ``changes``; creates the configuration row when missing.

    New category weights change every computed health score, so they emit an
    ``account_data_changed`` event for each of the tenant's accounts. A new time
    zone moves the next run of each of the tenant's schedules. Does not commit.
    """
    for name in changes:
        if name not in UPDATABLE:
            raise InvalidInput(name, f"not a configuration field; expected {', '.join(UPDATABLE)}")
    customer = tenants.get(session, customer_id=customer_id)
    # Every value is checked before anything changes.
    weights = check_weights(changes["category_weights"]) if "category_weights" in changes else None
    mode = check_upload_mode(changes["kpi_upload_mode"]) if "kpi_upload_mode" in changes else None
    window = (
        check_window(changes["snapshot_window_seconds"])
        if "snapshot_window_seconds" in changes
        else None
    )
    timezone: str | None = None
    if "timezone" in changes:
        timezone = zone(changes["timezone"]).key

    row = _find(session, customer_id)
    if row is None:
        row = CustomerConfig(
            customer_id=customer_id,
            kpi_upload_mode=DEFAULT_UPLOAD_MODE,
            category_weights=dict(DEFAULT_CATEGORY_WEIGHTS),
            snapshot_window_seconds=DEFAULT_WINDOW_SECONDS,
            created_at=now,
        )
        session.add(row)
    weights_changed = weights is not None and weights != {
        name: float(value) for name, value in row.category_weights.items()
    }
    if weights is not None:
        row.category_weights = weights
    if mode is not None:
        row.kpi_upload_mode = mode
    if window is not None:
        row.snapshot_window_seconds = window
    row.updated_at = now
    timezone_changed = timezone is not None and timezone != customer.timezone
    if timezone is not None:
        customer.timezone = timezone
    session.flush()
    if weights_changed:
        emit_for_tenant(
            session,
            customer_id=customer_id,
            event_type=EventType.ACCOUNT_DATA_CHANGED,
            at=now,
            payload={"change": "category_weights"},
        )
    if timezone_changed:
        # Imported here: schedules build on tenancy, not the other way round.
        from tidemark.events.schedules import reschedule_tenant

        reschedule_tenant(session, customer_id=customer_id, now=now)
    return get(session, customer_id=customer_id)
