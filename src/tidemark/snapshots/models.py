"""Snapshot storage: narrow immutable headers, de-duplicated sections, and heads.

The database refuses an UPDATE of ``account_snapshots`` and of
``snapshot_sections`` (triggers created by the migration).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
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

from tidemark.db.base import Base
from tidemark.db.types import Fixed, UtcDateTime

SECTION_FK = "snapshot_sections.section_id"


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
    snapshot_type: Mapped[str] = mapped_column(String(20))
    snapshot_reason: Mapped[str | None] = mapped_column(String(255))
    snapshot_version: Mapped[int] = mapped_column(SmallInteger, default=1)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.user_id", ondelete="SET NULL"))
    trigger_event: Mapped[str | None] = mapped_column(String(100))

    revenue: Mapped[Decimal | None] = mapped_column(Fixed(15, 2))
    revenue_change_from_last: Mapped[Decimal | None] = mapped_column(Fixed(15, 2))
    revenue_change_percent: Mapped[Decimal | None] = mapped_column(Fixed(9, 2))
    overall_health_score: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    health_score_change_from_last: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    health_score_trend: Mapped[str | None] = mapped_column(String(10))
    is_significant_change: Mapped[bool] = mapped_column(Boolean, default=False)
    days_since_last_snapshot: Mapped[int | None] = mapped_column(Integer)
    snapshot_sequence_number: Mapped[int] = mapped_column(Integer)
    playbooks_completed_last_30_days: Mapped[int | None] = mapped_column(Integer)

    profile_section_id: Mapped[int] = mapped_column(ForeignKey(SECTION_FK))
    health_section_id: Mapped[int] = mapped_column(ForeignKey(SECTION_FK))
    kpis_section_id: Mapped[int] = mapped_column(ForeignKey(SECTION_FK))
    playbooks_section_id: Mapped[int] = mapped_column(ForeignKey(SECTION_FK))
    references_section_id: Mapped[int] = mapped_column(ForeignKey(SECTION_FK))

    #: BLAKE2b-128 over the previous snapshot's chain hash and this snapshot's content.
    chain_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


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
    snapshot_id: Mapped[int] = mapped_column(
        ForeignKey("account_snapshots.snapshot_id", ondelete="CASCADE")
    )
    snapshot_timestamp: Mapped[datetime] = mapped_column(UtcDateTime())
    sequence_number: Mapped[int] = mapped_column(Integer)
    overall_health_score: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    #: The score of the snapshot before the newest one: the trend needs three.
    previous_health_score: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    revenue: Mapped[Decimal | None] = mapped_column(Fixed(15, 2))
    chain_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
