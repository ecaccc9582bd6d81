"""Column types that keep values exact and compact on both SQLite and PostgreSQL.

SQLite has no fixed-point decimal and stores SQLAlchemy's ``DateTime`` as a
26-character string. Snapshots are the bulk of the data, so on SQLite we store
timestamps as integer microseconds since the epoch and decimals as scaled
integers: exact, and a fraction of the size. PostgreSQL gets its native
``timestamptz`` and ``numeric``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: JSON on SQLite (text), JSONB on PostgreSQL.
JsonType = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime; integer microseconds on SQLite, timestamptz on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def __repr__(self) -> str:
        return "UtcDateTime()"

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "sqlite":
            return to_epoch_micros(aware)
        return aware

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return from_epoch_micros(int(value))
        assert isinstance(value, datetime)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (column defaults)."""
    return datetime.now(UTC)


def to_epoch_micros(moment: datetime) -> int:
    """Microseconds since 1970-01-01 UTC, exactly."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_micros(micros: int) -> datetime:
    """The aware UTC datetime for a count of microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=micros)


class Fixed(TypeDecorator[Decimal]):
    """An exact decimal with a fixed scale; a scaled integer on SQLite, numeric on PostgreSQL."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale
        self._factor = Decimal(10) ** scale
        self._quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def __repr__(self) -> str:
        return f"Fixed({self.precision}, {self.scale})"

    def process_bind_param(
        self, value: Decimal | float | int | str | None, dialect: Dialect
    ) -> Any:
        if value is None:
            return None
        exact = self.quantize(value)
        if dialect.name == "sqlite":
            return int(exact * self._factor)
        return exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / self._factor).quantize(self._quantum)
        return Decimal(value).quantize(self._quantum)

    def quantize(self, value: Decimal | float | int | str) -> Decimal:
        """Round ``value`` to this column's scale and check it fits its precision."""
        exact = Decimal(str(value)) if not isinstance(value, Decimal) else value
        if not exact.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        exact = exact.quantize(self._quantum, rounding=ROUND_HALF_EVEN)
        if abs(exact) >= Decimal(10) ** (self.precision - self.scale):
            raise ValueError(
                f"{value} does not fit {self.precision - self.scale} digits before the point"
            )
        return exact
