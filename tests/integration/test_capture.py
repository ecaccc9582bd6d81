"""Capture on SQLite and PostgreSQL: every field, derived values, immutability, tenancy."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests import factories
from tests.factories import T0
from tidemark.errors import NotFound
from tidemark.snapshots import service as snapshots
from tidemark.snapshots.capture import capture_accounts
from tidemark.snapshots.fields import FIELDS
from tidemark.success.models import HealthTrend, PlaybookTrigger


def test_capture_fills_every_field_and_derives_changes(session: Session) -> None:
    tenant, user = factories.customer(session)
    acct = factories.account(
        session,
        tenant,
        "TechCorp Solutions",
        revenue="1200000",
        kpi_value="30",
        products=("Analytics", "Platform"),
        external_account_id="EXT-1",
        industry="Technology",
        region="APAC",
        profile_metadata={
            "assigned_csm": "John Smith",
            "csm_manager": "Mary Major",
            "account_owner": "Owen Owner",
            "account_tier": "Enterprise",
            "engagement": {
                "lifecycle_stage": "renewal",
                "onboarding_status": "complete",
                "last_qbr_date": "2024-12-10",
                "next_qbr_date": "2025-03-10",
                "score": 81.5,
            },
            "champions": [{"name": "Ann Lee", "status": "active"}, {"name": "Bo Kim"}],
        },
    )
    notes = [
        factories.note(session, acct, user, f"note {i}", at=T0 + timedelta(days=i))
        for i in range(7)
    ]
    factories.playbook(session, acct, "voc-sprint", started_at=T0)
    factories.playbook(
        session, acct, "renewal-safeguard", started_at=T0, completed_at=T0 + timedelta(days=20)
    )
    session.add(
        PlaybookTrigger(
            customer_id=tenant.customer_id,
            playbook_type="renewal-safeguard",
            trigger_conditions={"all": [{"field": "critical_kpis_count", "op": ">", "value": 3}]},
        )
    )
    session.flush()

    first = capture_accounts(
        session,
        customer_id=tenant.customer_id,
        at=T0 + timedelta(days=30),
        snapshot_type="manual",
        reason="Pre-QBR snapshot",
        created_by=user.user_id,
    )
    record = snapshots.get(
        session, customer_id=tenant.customer_id, snapshot_id=first.snapshot_ids[0]
    )

    assert set(record) == {f.name for f in FIELDS}
    assert record["account_name"] == "TechCorp Solutions"
    assert record["revenue"] == Decimal("1200000.00")
    assert record["snapshot_reason"] == "Pre-QBR snapshot"
    assert record["created_by"] == user.user_id
    assert record["products_used"] == ["Analytics", "Platform"]
    assert record["product_count"] == 2
    assert record["assigned_csm"] == "John Smith"
    assert record["account_tier"] == "Enterprise"
    assert record["engagement_score"] == Decimal("81.50")
    assert record["primary_champion"] == "Ann Lee"
    assert record["champion_status"] == "active"
    assert record["stakeholder_count"] == 2
    assert record["total_kpis"] == 25
    assert (
        record["critical_kpis_count"] + record["at_risk_kpis_count"] + record["healthy_kpis_count"]
        == 25
    )
    assert len(record["top_critical_kpis"]) == 5
    assert all(k["impact_level"] == "High" for k in record["top_critical_kpis"])
    assert record["recent_csm_note_ids"] == [n.note_id for n in reversed(notes)][:5]
    assert record["playbooks_running"] == ["voc-sprint"]
    assert record["playbooks_completed_count"] == 1
    assert record["playbooks_completed_last_30_days"] == 1
    assert record["playbook_recommendations_active"] == ["renewal-safeguard"]
    assert record["snapshot_sequence_number"] == 1
    assert record["days_since_last_snapshot"] is None

    acct.revenue = Decimal("1000000")
    session.add(
        HealthTrend(
            customer_id=tenant.customer_id,
            account_id=acct.account_id,
            year=2025,
            month=2,
            overall_health_score=Decimal("90"),
        )
    )
    session.flush()
    second = capture_accounts(
        session,
        customer_id=tenant.customer_id,
        at=T0 + timedelta(days=40, hours=5),
        snapshot_type="event_driven",
        trigger_event="kpi_data_uploaded",
    )
    later = snapshots.get(
        session, customer_id=tenant.customer_id, snapshot_id=second.snapshot_ids[0]
    )
    assert later["snapshot_sequence_number"] == 2
    assert later["days_since_last_snapshot"] == 10
    assert later["revenue_change_from_last"] == Decimal("-200000.00")
    assert later["revenue_change_percent"] == Decimal("-16.67")
    assert later["overall_health_score"] == Decimal("90.00")
    assert (
        later["health_score_change_from_last"] == Decimal("90.00") - record["overall_health_score"]
    )
    assert later["health_score_trend"] == "improving"
    assert later["is_significant_change"] is True
    assert later["trigger_event"] == "kpi_data_uploaded"


def test_capture_of_all_accounts_uses_a_fixed_number_of_queries(
    engine: Engine, session: Session
) -> None:
    tenant, _ = factories.customer(session)
    for i in range(3):
        factories.account(session, tenant, f"Account {i}")
    session.commit()

    def count_queries(n_accounts: int) -> int:
        statements: list[str] = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            capture_accounts(
                session, customer_id=tenant.customer_id, at=T0, snapshot_type="scheduled"
            )
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        session.rollback()
        del n_accounts
        return len(statements)

    small = count_queries(3)
    for i in range(3, 40):
        factories.account(session, tenant, f"Account {i}")
    session.commit()
    assert count_queries(40) == small


def test_snapshots_cannot_be_updated(engine: Engine, session: Session) -> None:
    tenant, _ = factories.customer(session)
    factories.account(session, tenant, "Acme Corp")
    capture_accounts(session, customer_id=tenant.customer_id, at=T0, snapshot_type="manual")
    session.commit()
    with pytest.raises(DBAPIError, match="immutable"), engine.begin() as conn:
        conn.execute(text("UPDATE account_snapshots SET revenue = 1"))
    with pytest.raises(DBAPIError, match="immutable"), engine.begin() as conn:
        conn.execute(text("UPDATE snapshot_sections SET body = '{}'"))


def test_another_tenants_account_is_not_found(session: Session) -> None:
    mine, _ = factories.customer(session, "Mine")
    theirs, _ = factories.customer(session, "Theirs")
    their_account = factories.account(session, theirs, "Secret Co")
    with pytest.raises(NotFound):
        capture_accounts(
            session,
            customer_id=mine.customer_id,
            at=T0,
            snapshot_type="manual",
            account_ids=[their_account.account_id],
        )
    result = capture_accounts(
        session, customer_id=theirs.customer_id, at=T0, snapshot_type="manual"
    )
    with pytest.raises(NotFound):
        snapshots.get(session, customer_id=mine.customer_id, snapshot_id=result.snapshot_ids[0])
    assert snapshots.latest(session, customer_id=mine.customer_id) == []


def test_unchanged_state_shares_its_sections(session: Session) -> None:
    tenant, _ = factories.customer(session)
    factories.account(session, tenant, "Stable Inc")
    for day in range(10):
        capture_accounts(
            session,
            customer_id=tenant.customer_id,
            at=T0 + timedelta(days=day),
            snapshot_type="scheduled",
        )
    count = session.execute(text("SELECT count(*) FROM snapshot_sections")).scalar_one()
    assert count == 5
