"""Source tables of the customer-success platform (seed 001, seed 004, seed 000 §2.2)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tidemark.db.base import Base
from tidemark.db.types import Fixed, JsonType, UtcDateTime, utcnow

CUSTOMER_FK = "customers.customer_id"
ACCOUNT_FK = "accounts.account_id"


class Account(Base):
    """A customer's customer: the subject of account snapshots."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("customer_id", "account_name"),
        UniqueConstraint("customer_id", "external_account_id"),
    )

    account_id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey(CUSTOMER_FK, ondelete="CASCADE"))
    account_name: Mapped[str] = mapped_column(String(255))
    revenue: Mapped[Decimal | None] = mapped_column(Fixed(15, 2))
    industry: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    account_status: Mapped[str] = mapped_column(String(50), default="active")
    external_account_id: Mapped[str | None] = mapped_column(String(100))
    #: assigned_csm, csm_manager, account_owner, account_tier, products_used,
    #: engagement {lifecycle_stage, onboarding_status, last_qbr_date,
    #: next_qbr_date, score}, champions [{name, status, ...}].
    profile_metadata: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Product(Base):
    """A product an account uses; product-level KPIs point at it."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("account_id", "product_name"),)

    product_id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey(CUSTOMER_FK, ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey(ACCOUNT_FK, ondelete="CASCADE"))
    product_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class KPIUpload(Base):
    """One uploaded KPI file, kept whole with its parsed rows and a version number."""

    __tablename__ = "kpi_uploads"
    __table_args__ = (UniqueConstraint("customer_id", "version"),)

    upload_id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey(CUSTOMER_FK, ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey(ACCOUNT_FK, ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.user_id", ondelete="SET NULL"))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer)
    original_filename: Mapped[str] = mapped_column(String(255))
    raw_file: Mapped[bytes] = mapped_column(LargeBinary)
    parsed_data: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    row_count: Mapped[int] = mapped_column(Integer, default=0)


class KPI(Base):
    """The current value of one KPI of an account (account-level or for one product)."""

    __tablename__ = "kpis"
    __table_args__ = (Index(None, "account_id", "kpi_parameter"),)

    kpi_id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey(CUSTOMER_FK, ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey(ACCOUNT_FK, ondelete="CASCADE"))
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.product_id", ondelete="CASCADE")
    )
    upload_id: Mapped[int | None] = mapped_column(
        ForeignKey("kpi_uploads.upload_id", ondelete="SET NULL")
    )
    category: Mapped[str] = mapped_column(String(50))
    kpi_parameter: Mapped[str] = mapped_column(String(200))
    #: The value as written in the source file ("85%", "$1,200,000", "4.5/5").
    data: Mapped[str | None] = mapped_column(String(100))
    #: The parsed number that health status is computed from.
    value: Mapped[Decimal | None] = mapped_column(Fixed(18, 4))
    impact_level: Mapped[str] = mapped_column(String(20), default="Medium")
    weight: Mapped[Decimal] = mapped_column(Fixed(10, 4), default=Decimal(1))
    measurement_frequency: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class KPIReferenceRange(Base):
    """Thresholds that turn a KPI value into Healthy, Risk or Critical."""

    __tablename__ = "kpi_reference_ranges"
    __table_args__ = (UniqueConstraint("customer_id", "kpi_parameter"),)

    range_id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey(CUSTOMER_FK, ondelete="CASCADE"))
    kpi_parameter: Mapped[str] = mapped_column(String(200))
    #: "higher" when bigger values are better, "lower" when smaller are.
    direction: Mapped[str] = mapped_column(String(10))
    critical_threshold: Mapped[Decimal] = mapped_column(Fixed(18, 4))
    risk_threshold: Mapped[Decimal] = mapped_column(Fixed(18, 4))
    unit: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(String(255))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class KPITimeSeries(Base):
    """A KPI's value, status and score for one month."""

    __tablename__ = "kpi_time_series"
    __table_args__ = (
        UniqueConstraint("account_id", "kpi_parameter", "product_id", "year", "month"),
    )

    series_id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey(CUSTOMER_FK, ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey(ACCOUNT_FK, ondelete="CASCADE"))
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.product_id", ondelete="CASCADE")
    )
    kpi_parameter: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(50))
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    value: Mapped[Decimal | None] = mapped_column(Fixed(18, 4))
    health_status: Mapped[str | None] = mapped_column(String(20))
    health_score: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class HealthTrend(Base):
    """An account's overall and category health scores for one month."""

    __tablename__ = "health_trends"
    __table_args__ = (UniqueConstraint("account_id", "year", "month"),)

    trend_id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey(CUSTOMER_FK, ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey(ACCOUNT_FK, ondelete="CASCADE"))
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    overall_health_score: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    product_usage_score: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    support_score: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    customer_sentiment_score: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    business_outcomes_score: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    relationship_strength_score: Mapped[Decimal | None] = mapped_column(Fixed(5, 2))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PlaybookExecution(Base):
    """One run of a playbook (VoC Sprint, Renewal Safeguard, ...) for an account."""

    __tablename__ = "playbook_executions"
    __table_args__ = (Index(None, "account_id", "status"),)

    execution_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey(CUSTOMER_FK, ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey(ACCOUNT_FK, ondelete="CASCADE"))
    playbook_id: Mapped[str] = mapped_column(String(50))
    #: "in-progress", "completed" or "cancelled".
    status: Mapped[str] = mapped_column(String(20), default="in-progress")
    current_step: Mapped[int] = mapped_column(Integer, default=1)
    execution_data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.user_id", ondelete="SET NULL"))
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PlaybookReport(Base):
    """The report of a playbook execution: summary, outcomes, RACI, exit criteria."""

    __tablename__ = "playbook_reports"
    __table_args__ = (Index(None, "account_id", "report_generated_at"),)

    report_id: Mapped[int] = mapped_column(primary_key=True)
    execution_id: Mapped[str] = mapped_column(
        ForeignKey("playbook_executions.execution_id", ondelete="CASCADE"), unique=True
    )
    customer_id: Mapped[int] = mapped_column(ForeignKey(CUSTOMER_FK, ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey(ACCOUNT_FK, ondelete="CASCADE"))
    playbook_id: Mapped[str] = mapped_column(String(50))
    playbook_name: Mapped[str] = mapped_column(String(100))
    report_data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    steps_completed: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="in-progress")
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    report_generated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PlaybookTrigger(Base):
    """When a playbook is recommended for an account: a condition and an on/off switch."""

    __tablename__ = "playbook_triggers"
    __table_args__ = (UniqueConstraint("customer_id", "playbook_type"),)

    trigger_id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey(CUSTOMER_FK, ondelete="CASCADE"))
    playbook_type: Mapped[str] = mapped_column(String(50))
    #: {"all": [{"field": "overall_health_score", "op": "<", "value": 70}, ...]}
    #: or {"any": [...]}; fields are snapshot fields.
    trigger_conditions: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    auto_trigger_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_evaluated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_triggered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class AccountNote(Base):
    """A CSM note: meeting, QBR, call, email, general or interaction (seed 000 §2.2)."""

    __tablename__ = "account_notes"
    __table_args__ = (
        Index("idx_account_note_timestamp", "account_id", "created_at"),
        Index("idx_customer_note_timestamp", "customer_id", "created_at"),
        Index("idx_note_type", "note_type"),
    )

    note_id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey(ACCOUNT_FK, ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey(CUSTOMER_FK, ondelete="CASCADE"))
    note_type: Mapped[str] = mapped_column(String(50))
    note_content: Mapped[str] = mapped_column(Text)
    note_title: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.user_id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    meeting_date: Mapped[date | None] = mapped_column(Date)
    participants: Mapped[list[str] | None] = mapped_column(JsonType)
    tags: Mapped[list[str] | None] = mapped_column(JsonType)
    is_important: Mapped[bool] = mapped_column(Boolean, default=False)
    related_playbook_id: Mapped[str | None] = mapped_column(String(50))
