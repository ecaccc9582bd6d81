"""Exact column types: timestamps and fixed-point decimals round-trip on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from tidemark.db.types import Fixed, UtcDateTime, from_epoch_micros, to_epoch_micros

SQLITE = sqlite.dialect()
POSTGRES = postgresql.dialect()


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)))
def test_epoch_micros_round_trip(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    assert from_epoch_micros(to_epoch_micros(aware)) == aware


def test_utc_datetime_normalises_offsets_and_naive_values() -> None:
    column = UtcDateTime()
    bangkok = datetime(2025, 1, 15, 17, 30, tzinfo=timezone(timedelta(hours=7)))
    stored = column.process_bind_param(bangkok, SQLITE)
    assert column.process_result_value(stored, SQLITE) == datetime(2025, 1, 15, 10, 30, tzinfo=UTC)
    naive = datetime(2025, 1, 15, 10, 30)
    assert column.process_bind_param(naive, POSTGRES) == naive.replace(tzinfo=UTC)


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False))
def test_fixed_is_exact_on_sqlite(value: Decimal) -> None:
    column = Fixed(15, 2)
    stored = column.process_bind_param(value, SQLITE)
    assert isinstance(stored, int)
    assert column.process_result_value(stored, SQLITE) == value


def test_fixed_rejects_values_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="digits"):
        Fixed(5, 2).process_bind_param(Decimal("1000"), SQLITE)
    with pytest.raises(ValueError, match="finite"):
        Fixed(5, 2).process_bind_param(Decimal("NaN"), SQLITE)


def test_fixed_rounds_half_even_to_its_scale() -> None:
    column = Fixed(5, 2)
    assert column.process_result_value(column.process_bind_param("68.505", SQLITE), SQLITE) == (
        Decimal("68.50")
    )
