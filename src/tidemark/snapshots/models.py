"""Snapshot storage: narrow immutable headers, de-duplicated sections, and heads.

The database refuses an UPDATE of ``account_snapshots`` and of
``snapshot_sections`` (triggers created by the migration).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from tidemark.db.base import Base
from tidemark.db.types import Fixed, UtcDateTime
from tidemark.snapshots.fields import SNAPSHOT_TYPES

#: Stored codes of ``snapshot_type``: a value's position. Append only, never
#: reorder. The most common types take the codes SQLite stores in no bytes at
#: all (0 and 1).
SNAPSHOT_TYPE_CODES: tuple[str, ...] = (
    "manual",
    "scheduled",
    "event_driven",
    "post_upload",
    "post_health_calc",
    "rag_auto",
    "imported",
)
#: Stored codes of ``health_score_trend``, likewise append only.
TREND_CODES: tuple[str, ...] = ("stable", "improving", "declining")

if set(SNAPSHOT_TYPES) - set(SNAPSHOT_TYPE_CODES):
    raise RuntimeError("every snapshot type needs a stored code in SNAPSHOT_TYPE_CODES")


class Code(TypeDecorator[str]):
    """A string from a fixed list, stored as its position (a small integer).

    A snapshot header repeats its type and trend on every row; as text they
    took 15 of its bytes, as codes they take about one.
    """

    impl = SmallInteger
    cache_ok = True

    def __init__(self, values: tuple[str, ...]) -> None:
        super().__init__()
        self.values = values
        self.codes = {value: code for code, value in enumerate(values)}

    def process_bind_param(self, value: str | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        code = self.codes.get(value)
        if code is None:
            raise ValueError(f"{value!r} is not one of {', '.join(self.values)}")
        return code

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.values[value]


class SnapshotSection(Base):
    """One distinct value of a group of snapshot fields, stored once per tenant.

    ``body`` is canonical JSON (sorted keys, no nulls); ``digest`` is a 16-byte
    BLAKE2b of the section kind and body, so equal values share one row.
    """

    __tablename__ = "snapshot_sections"
    __table_args__ = (UniqueConstraint("customer_id", "digest"),)

    section_id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.customer_id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(12))
    digest: Mapped[bytes] = mapped_column(LargeBinary(16))
    body: Mapped[str] = mapped_column(Text)


class AccountSnapshot(Base):
    """The immutable record of one account at one moment (seed 000 §2.1, stored narrow)."""

    __tablename__ = "account_snapshots"
    __table_args__ = (
        Index("idx_account_snapshot_timestamp", "account_id", "snapshot_timestamp"),
        Index("idx_customer_snapshot_timestamp", "customer_id", "snapshot_timestamp"),
    )

    snapshot_id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.account_id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.customer_id", ondelete="CASCADE")
    )
    snapshot_timestamp: Mapped[datetime] = mapped_column(UtcDateTime())
    snapshot_type: Mapped[str] = mapped_column(Code(SNAPSHOT_TYPE_CODES))
    snapshot_reason: Mapped[str | None] = mapped_column(String(255))
    snapshot_version: Mapped[int] = mapped_column(SmallInteger, default=1)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.user_id", ondelete="SET NULL"))
    trigger_event: Mapped[str | None] = mapped_column(String(100))

    revenue: Mapped[Decimal | None] = mapped_column(Fixed(15, 2))
    revenue_change_from_last: Mapped[Decimal | None] = mapped_column(Fixed(15, 2))
    revenue_change_percent: Mapped[Decimal | None] = mapped_column(Fixed(9, 2))
    overall_health_score: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    health_score_change_from_last: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    health_score_trend: Mapped[str | None] = mapped_column(Code(TREND_CODES))
    is_significant_change: Mapped[bool] = mapped_column(Boolean, default=False)
    days_since_last_snapshot: Mapped[int | None] = mapped_column(Integer)
    snapshot_sequence_number: Mapped[int] = mapped_column(Integer)
    playbooks_completed_last_30_days: Mapped[int | None] = mapped_column(Integer)

    # Section references carry no foreign key: checking five of them on every
    # insert costs capture time, and deleting an unreferenced section (retention)
    # would scan the whole history once per section without five extra indexes.
    # The chain hash covers each section's digest, so a dangling or altered
    # reference is caught by chain verification.
    profile_section_id: Mapped[int] = mapped_column(Integer)
    health_section_id: Mapped[int] = mapped_column(Integer)
    kpis_section_id: Mapped[int] = mapped_column(Integer)
    playbooks_section_id: Mapped[int] = mapped_column(Integer)
    references_section_id: Mapped[int] = mapped_column(Integer)

    #: BLAKE2b-128 over the previous snapshot's chain hash and this snapshot's content.
    chain_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
    #: When the row was written, when that differs from ``snapshot_timestamp``
    #: (an imported snapshot); NULL for a live capture, whose row is written at
    #: its own snapshot time. Reads serve the timestamp in that case.
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SnapshotHead(Base):
    """The newest snapshot of each account, kept beside the history for O(1) look-ups.

    Capture reads it for change, trend, sequence and chain; "latest" reads it
    instead of searching the history. It is the one mutable snapshot table.
    """

    __tablename__ = "snapshot_heads"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.account_id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.customer_id", ondelete="CASCADE"), index=True
    )
    # No foreign key: the writer moves a head in the same statement batch as it
    # inserts the snapshot, and PostgreSQL checks such a key with a plan cached
    # when the history was still empty, a scan that grows with every batch of a
    # large first capture (10 s per 1,000 heads at 100,000 accounts).
    snapshot_id: Mapped[int] = mapped_column(Integer)
    snapshot_timestamp: Mapped[datetime] = mapped_column(UtcDateTime())
    sequence_number: Mapped[int] = mapped_column(Integer)
    overall_health_score: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    #: The score of the snapshot before the newest one: the trend needs three.
    previous_health_score: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    revenue: Mapped[Decimal | None] = mapped_column(Fixed(15, 2))
    chain_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
    #: The newest snapshot's sections, so that capture reuses an unchanged one
    #: without looking its digest up.
    profile_section_id: Mapped[int] = mapped_column(Integer)
    health_section_id: Mapped[int] = mapped_column(Integer)
    kpis_section_id: Mapped[int] = mapped_column(Integer)
    playbooks_section_id: Mapped[int] = mapped_column(Integer)
    references_section_id: Mapped[int] = mapped_column(Integer)
    #: Their five 16-byte digests, concatenated in the same order.
    section_digests: Mapped[bytes] = mapped_column(LargeBinary(80))
