"""Capture in several batches stores exactly what one batch stores, on SQLite and PostgreSQL.

On SQLite the KPIs of each next batch are summed on a second thread
(``source.KpiPrefetch``); these tests hold that path to the one-batch result.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from tests import factories
from tests.factories import T0
from tidemark.db import session_factory
from tidemark.db.migrate import upgrade
from tidemark.errors import Conflict
from tidemark.snapshots import service as snapshots
from tidemark.snapshots.capture import capture_accounts
from tidemark.snapshots.source import KpiPrefetch
from tidemark.success.models import HealthTrend

ACCOUNTS = 11


def varied_tenant(session: Session) -> int:
    """A tenant whose accounts differ in KPIs, products, trends, notes and playbooks."""
    tenant, user = factories.customer(session)
    for i in range(ACCOUNTS):
        acct = factories.account(
            session,
            tenant,
            f"Account {i:02d}",
            revenue=str(100_000 + 7_919 * i),
            kpi_value=str(5 + 9 * i),
            products=("Analytics", "Platform")[: i % 3],
        )
        for day in range(i % 4):
            factories.note(session, acct, user, f"note {day}", at=T0 - timedelta(days=day))
        if i % 3 == 0:
            factories.playbook(session, acct, "voc-sprint", started_at=T0 - timedelta(days=i))
        if i % 4 == 1:
            session.add(
                HealthTrend(
                    customer_id=tenant.customer_id,
                    account_id=acct.account_id,
                    year=T0.year,
                    month=T0.month,
                    overall_health_score=40 + i,
                    product_usage_score=50,
                    support_score=60 + i,
                    customer_sentiment_score=70,
                    business_outcomes_score=None,
                    relationship_strength_score=80,
                )
            )
    session.commit()
    return tenant.customer_id


def stored(session: Session, customer_id: int) -> tuple[list[dict[str, Any]], list[Any]]:
    """Every latest record (without its id) and every header's chain hash and section ids."""
    records = [
        {name: value for name, value in record.items() if name != "snapshot_id"}
        for record in snapshots.latest(session, customer_id=customer_id)
    ]
    chain = session.execute(
        text(
            "SELECT account_id, snapshot_sequence_number, chain_hash, profile_section_id, "
            "health_section_id, kpis_section_id, playbooks_section_id, references_section_id "
            "FROM account_snapshots WHERE customer_id = :c "
            "ORDER BY account_id, snapshot_sequence_number"
        ),
        {"c": customer_id},
    ).all()
    return records, [tuple(row) for row in chain]


def capture_twice(session: Session, customer_id: int, batch_size: int) -> None:
    for day in (0, 1):
        capture_accounts(
            session,
            customer_id=customer_id,
            at=T0 + timedelta(days=day),
            snapshot_type="scheduled",
            batch_size=batch_size,
        )


def test_batches_store_what_one_batch_stores(engine: Engine, session: Session) -> None:
    customer_id = varied_tenant(session)
    capture_twice(session, customer_id, batch_size=100)
    one_batch = stored(session, customer_id)
    session.rollback()

    capture_twice(session, customer_id, batch_size=3)
    in_batches = stored(session, customer_id)
    records, chain = in_batches
    assert len(records) == ACCOUNTS
    assert records == one_batch[0]
    # The same hashes; section ids too on SQLite, where a rollback hands them out again.
    assert [row[:3] for row in chain] == [row[:3] for row in one_batch[1]]
    if engine.dialect.name == "sqlite":
        assert KpiPrefetch.supported(session.connection())
        assert chain == one_batch[1]
        temp = session.execute(
            text("SELECT count(*) FROM sqlite_temp_master WHERE name = :n"),
            {"n": KpiPrefetch.TABLE},
        ).scalar_one()
        assert temp == 0


def test_a_failing_batch_leaves_the_transaction_usable(session: Session) -> None:
    customer_id = varied_tenant(session)
    capture_accounts(
        session, customer_id=customer_id, at=T0 + timedelta(days=2), snapshot_type="manual"
    )
    # Earlier than every account's latest snapshot: the first batch fails while the
    # next batch's KPIs are being summed.
    with pytest.raises(Conflict):
        capture_accounts(
            session, customer_id=customer_id, at=T0, snapshot_type="manual", batch_size=3
        )
    session.rollback()
    result = capture_accounts(
        session, customer_id=customer_id, at=T0, snapshot_type="manual", batch_size=3
    )
    assert len(result.snapshot_ids) == ACCOUNTS


def test_an_in_memory_database_captures_on_one_thread() -> None:
    # Its connection refuses other threads (check_same_thread): no prefetch, same result.
    engine = create_engine("sqlite://")
    upgrade(engine)
    with session_factory(engine)() as session:
        customer_id = varied_tenant(session)
        assert not KpiPrefetch.supported(session.connection())
        capture_twice(session, customer_id, batch_size=3)
        records, chain = stored(session, customer_id)
    assert len(records) == ACCOUNTS
    assert len(chain) == 2 * ACCOUNTS
