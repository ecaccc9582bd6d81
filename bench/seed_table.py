"""The seed's flat ``account_snapshots`` table (seed 000 §2.1), as a scratch table for comparison.

Every field in one wide row, with the seed's column types and its three
indexes. The storage benchmark fills it with the same records the engine
serves and measures it beside the engine's narrow layout. One deviation:
``revenue_change_percent`` is ``Numeric(9, 2)`` instead of ``(5, 2)``, because
a change above 999.99 % (a first revenue booked after a tiny one) does not fit
the seed's type on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
)

from bench.common import bulk_insert

SEED_METADATA = MetaData()

SEED_SNAPSHOTS = Table(
    "seed_account_snapshots",
    SEED_METADATA,
    Column("snapshot_id", Integer, primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("customer_id", Integer, nullable=False),
    Column("snapshot_timestamp", DateTime, nullable=False),
    Column("snapshot_type", String(50), nullable=False),
    Column("snapshot_reason", String(255)),
    Column("snapshot_version", Integer),
    Column("created_by", Integer),
    Column("trigger_event", String(100)),
    Column("revenue", Numeric(15, 2)),
    Column("revenue_change_from_last", Numeric(15, 2)),
    Column("revenue_change_percent", Numeric(9, 2)),
    Column("overall_health_score", Numeric(5, 2)),
    Column("product_usage_score", Numeric(5, 2)),
    Column("support_score", Numeric(5, 2)),
    Column("customer_sentiment_score", Numeric(5, 2)),
    Column("business_outcomes_score", Numeric(5, 2)),
    Column("relationship_strength_score", Numeric(5, 2)),
    Column("health_score_change_from_last", Numeric(5, 2)),
    Column("health_score_trend", String(20)),
    Column("account_status", String(50)),
    Column("industry", String(100)),
    Column("region", String(100)),
    Column("account_tier", String(50)),
    Column("external_account_id", String(100)),
    Column("assigned_csm", String(100)),
    Column("csm_manager", String(100)),
    Column("account_owner", String(100)),
    Column("products_used", JSON),
    Column("product_count", Integer),
    Column("primary_product", String(100)),
    Column("playbooks_running", JSON),
    Column("playbooks_running_count", Integer),
    Column("playbooks_completed_count", Integer),
    Column("playbooks_completed_last_30_days", Integer),
    Column("last_playbook_executed", JSON),
    Column("playbook_recommendations_active", JSON),
    Column("recent_playbook_report_ids", JSON),
    Column("total_kpis", Integer),
    Column("account_level_kpis", Integer),
    Column("product_level_kpis", Integer),
    Column("critical_kpis_count", Integer),
    Column("at_risk_kpis_count", Integer),
    Column("healthy_kpis_count", Integer),
    Column("top_critical_kpis", JSON),
    Column("lifecycle_stage", String(50)),
    Column("onboarding_status", String(50)),
    Column("last_qbr_date", Date),
    Column("next_qbr_date", Date),
    Column("engagement_score", Numeric(5, 2)),
    Column("primary_champion", String(100)),
    Column("champion_status", String(50)),
    Column("stakeholder_count", Integer),
    Column("recent_csm_note_ids", JSON),
    Column("days_since_last_snapshot", Integer),
    Column("snapshot_sequence_number", Integer),
    Column("is_significant_change", Boolean),
    Column("created_at", DateTime),
    Index("idx_seed_account_snapshot_timestamp", "account_id", "snapshot_timestamp"),
    Index("idx_seed_customer_snapshot_timestamp", "customer_id", "snapshot_timestamp"),
    Index("idx_seed_snapshot_type", "snapshot_type"),
)

SEED_COLUMNS = [c.name for c in SEED_SNAPSHOTS.columns]


def create(connection: Connection) -> None:
    """Create the scratch table (dropping an old one)."""
    SEED_SNAPSHOTS.drop(connection, checkfirst=True)
    SEED_SNAPSHOTS.create(connection)


def insert_records(connection: Connection, records: Iterable[dict[str, Any]]) -> int:
    """Insert snapshot records as wide rows; returns how many."""
    rows = [{name: record.get(name) for name in SEED_COLUMNS} for record in records]
    # Naive timestamps, as the seed's DateTime columns hold them.
    for row in rows:
        for name in ("snapshot_timestamp", "created_at"):
            if row[name] is not None:
                row[name] = row[name].replace(tzinfo=None)
    bulk_insert(connection, SEED_SNAPSHOTS, rows)
    return len(rows)
