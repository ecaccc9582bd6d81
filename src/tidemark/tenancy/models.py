"""Tenants, users and per-tenant configuration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tidemark.db.base import Base
from tidemark.db.types import JsonType, UtcDateTime, utcnow

#: The five health categories of the platform, in display order.
CATEGORIES: tuple[str, ...] = (
    "Product Usage",
    "Support",
    "Customer Sentiment",
    "Business Outcomes",
    "Relationship Strength",
)

#: Equal weights unless a customer sets its own.
DEFAULT_CATEGORY_WEIGHTS: dict[str, float] = dict.fromkeys(CATEGORIES, 0.2)


class Customer(Base):
    """A tenant: every other row belongs to exactly one customer."""

    __tablename__ = "customers"

    customer_id: Mapped[int] = mapped_column(primary_key=True)
    customer_name: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(50))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class User(Base):
    """A person who works in a tenant; notes and manual snapshots name one."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("customer_id", "email"),)

    user_id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.customer_id", ondelete="CASCADE"), index=True
    )
    user_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class CustomerConfig(Base):
    """How a tenant scores health and receives KPI files."""

    __tablename__ = "customer_configs"

    config_id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.customer_id", ondelete="CASCADE"), unique=True
    )
    kpi_upload_mode: Mapped[str] = mapped_column(String(30), default="account_rollup")
    category_weights: Mapped[dict[str, Any]] = mapped_column(
        JsonType, default=lambda: dict(DEFAULT_CATEGORY_WEIGHTS)
    )
    master_file_name: Mapped[str | None] = mapped_column(String(255))
    #: Debounce window of automatic snapshots, in seconds (seed 002's 300 s by default).
    snapshot_window_seconds: Mapped[int] = mapped_column(Integer, default=300)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


#: What each role may do; each role includes the ones before it.
ROLES: tuple[str, ...] = ("viewer", "csm", "admin")


class ApiKey(Base):
    """A tenant's API key; only a hash of its secret is stored."""

    __tablename__ = "api_keys"

    key_id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.customer_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.user_id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(10))
    #: The public part of the key, used to find it without scanning hashes.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    #: SHA-256 of the secret part (keys are 256-bit random, so no slow hash is needed).
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
