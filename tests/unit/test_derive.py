"""Change, trend, significance and sequence, exactly as DESIGN.md defines them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tidemark.snapshots.derive import GENESIS, Head, chain_hash, derived_fields

T = datetime(2025, 1, 1, tzinfo=UTC)


def head(
    score: str | None, previous: str | None = None, *, seq: int = 2, revenue: str | None = "100"
) -> Head:
    return Head(
        snapshot_id=1,
        snapshot_timestamp=T,
        sequence_number=seq,
        overall_health_score=Decimal(score) if score else None,
        previous_health_score=Decimal(previous) if previous else None,
        revenue=Decimal(revenue) if revenue else None,
        chain_hash=GENESIS,
    )


def test_first_snapshot() -> None:
    fields = derived_fields(None, at=T, health=Decimal(70), revenue=Decimal(5))
    assert fields["snapshot_sequence_number"] == 1
    assert fields["days_since_last_snapshot"] is None
    assert fields["health_score_change_from_last"] is None
    assert fields["health_score_trend"] == "stable"
    assert fields["is_significant_change"] is False


def test_trend_uses_the_oldest_of_the_last_three() -> None:
    # Two back 60, previous 70, now 61.9: +1.9 over three is stable, though -8.1 from last.
    fields = derived_fields(head("70", "60"), at=T, health=Decimal("61.9"), revenue=Decimal(100))
    assert fields["health_score_trend"] == "stable"
    assert fields["health_score_change_from_last"] == Decimal("-8.1")
    assert fields["is_significant_change"] is True
    assert (
        derived_fields(head("70", "60"), at=T, health=Decimal(62), revenue=None)[
            "health_score_trend"
        ]
        == "improving"
    )
    assert (
        derived_fields(head("70", "64"), at=T, health=Decimal(62), revenue=None)[
            "health_score_trend"
        ]
        == "declining"
    )


def test_with_two_snapshots_the_trend_compares_with_the_previous() -> None:
    fields = derived_fields(head("70", seq=1), at=T, health=Decimal(72), revenue=None)
    assert fields["health_score_trend"] == "improving"


def test_revenue_percent_and_significance() -> None:
    fields = derived_fields(
        head("70"),
        at=T + timedelta(days=3, hours=23),
        health=Decimal(70),
        revenue=Decimal("110.01"),
    )
    assert fields["revenue_change_from_last"] == Decimal("10.01")
    assert fields["revenue_change_percent"] == Decimal("10.01")
    assert fields["is_significant_change"] is True
    assert fields["days_since_last_snapshot"] == 3
    exactly_ten = derived_fields(head("70"), at=T, health=Decimal(70), revenue=Decimal(110))
    assert exactly_ten["is_significant_change"] is False


def test_percent_is_null_when_previous_revenue_is_zero_or_null() -> None:
    assert (
        derived_fields(head("70", revenue="0"), at=T, health=None, revenue=Decimal(5))[
            "revenue_change_percent"
        ]
        is None
    )
    assert (
        derived_fields(head("70", revenue=None), at=T, health=None, revenue=Decimal(5))[
            "revenue_change_from_last"
        ]
        is None
    )


def test_chain_hash_depends_on_the_previous_link_and_content() -> None:
    header = {"snapshot_timestamp": T, "account_id": 1, "revenue": Decimal("1.00")}
    first = chain_hash(GENESIS, header, [b"a" * 16])
    assert first != chain_hash(b"\x01" * 16, header, [b"a" * 16])
    assert first != chain_hash(GENESIS, {**header, "revenue": Decimal("2.00")}, [b"a" * 16])
    assert first != chain_hash(GENESIS, header, [b"b" * 16])
    assert first == chain_hash(GENESIS, dict(header), [b"a" * 16])
