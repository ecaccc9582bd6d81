"""Tables of automatic capture: the outbox, debounce windows, schedules and their runs."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tidemark.db.base import Base
from tidemark.db.types import Fixed, JsonType, UtcDateTime, utcnow

CUSTOMER_FK = "customers.customer_id"
ACCOUNT_FK = "accounts.account_id"

#: 64-bit ids on PostgreSQL; SQLite's INTEGER PRIMARY KEY is the 64-bit rowid already.
EventId = BigInteger().with_variant(Integer(), "sqlite")

#: Event states: ``pending`` waits for a worker; ``deferred`` is inside an open debounce
#: window and will be captured by the window's trailing snapshot; ``done`` has its
#: snapshot; ``dead`` failed too often and keeps its last error.
EVENT_STATES: tuple[str, ...] = ("pending", "deferred", "done", "dead")


class OutboxEvent(Base):
    """A data change that should be captured, written in the transaction of the change."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index(
            "ix_outbox_events_claimable",
            "available_at",
            "event_id",
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
        Index(
            "ix_outbox_events_deferred",
            "account_id",
            sqlite_where=text("state = 'deferred'"),
            postgresql_where=text("state = 'deferred'"),
        ),
        Index("ix_outbox_events_customer_processed", "customer_id", "processed_at"),
        Index("ix_outbox_events_customer_state", "customer_id", "state"),
    )

    event_id: Mapped[int] = mapped_column(EventId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey(CUSTOMER_FK, ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey(ACCOUNT_FK, ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    state: Mapped[str] = mapped_column(String(8), default="pending")
    #: Processing attempts that failed with an error.
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    #: Times a worker claimed the event; a worker that dies mid-batch leaves a claim behind.
    claims: Mapped[int] = mapped_column(SmallInteger, default=0)
    available_at: Mapped[datetime] = mapped_column(UtcDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The snapshot that captured this change (the immediate or the trailing one).
    snapshot_id: Mapped[int | None] = mapped_column(Integer)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class SnapshotWindow(Base):
    """An account's debounce window: opened by a capture, closed by its trailing capture."""

    __tablename__ = "snapshot_windows"
    __table_args__ = (
        Index(
            "ix_snapshot_windows_trailing",
            "closes_at",
            sqlite_where=text("trailing_due"),
            postgresql_where=text("trailing_due"),
        ),
    )

    account_id: Mapped[int] = mapped_column(
        ForeignKey(ACCOUNT_FK, ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), index=True
    )
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closes_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: Events arrived inside the window: one more capture is owed at ``closes_at``.
    trailing_due: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The newest deferred event; its type names the trailing snapshot's trigger.
    trailing_event_id: Mapped[int | None] = mapped_column(EventId)


SCHEDULE_FREQUENCIES: tuple[str, ...] = ("daily", "weekly", "monthly", "recommended")
SCHEDULE_SCOPES: tuple[str, ...] = ("all", "active_only", "health_below")
RUN_STATES: tuple[str, ...] = ("running", "done", "failed")


class SnapshotSchedule(Base):
    """A tenant's scheduled capture (seed 000 §4.1.A, §4.2), kept in the database."""

    __tablename__ = "snapshot_schedules"
    __table_args__ = (UniqueConstraint("customer_id", "name"),)

    schedule_id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    frequency: Mapped[str] = mapped_column(String(12))
    #: Local time of day in the tenant's time zone, "HH:MM".
    time_of_day: Mapped[str] = mapped_column(String(5), default="02:00")
    #: Weekly runs: 0 = Monday ... 6 = Sunday.
    weekday: Mapped[int] = mapped_column(SmallInteger, default=0)
    #: Monthly runs: day of the month, 1-28.
    day_of_month: Mapped[int] = mapped_column(SmallInteger, default=1)
    scope: Mapped[str] = mapped_column(String(20), default="all")
    health_threshold: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The next moment a run is due (UTC); claimed by moving it forward.
    next_run_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ScheduleRun(Base):
    """One run of a schedule: claimed once, captured in batches, resumable after a crash."""

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "due_at"),)

    run_id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("snapshot_schedules.schedule_id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey(CUSTOMER_FK, ondelete="CASCADE"), index=True
    )
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    state: Mapped[str] = mapped_column(String(8), default="running")
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: Accounts are captured in id order; the last id done, so a crashed run resumes.
    cursor_account_id: Mapped[int] = mapped_column(Integer, default=0)
    accounts_total: Mapped[int] = mapped_column(Integer, default=0)
    snapshots_created: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
