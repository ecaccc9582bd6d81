"""The set-based KPI scoring agrees with what a snapshot captures, on both databases."""

from __future__ import annotations

import random
from decimal import Decimal

from sqlalchemy.orm import Session

from tests import factories
from tidemark.snapshots import service as snapshots
from tidemark.snapshots.capture import capture_accounts
from tidemark.success.catalog import STANDARD_KPIS
from tidemark.success.health_calc import computed_health
from tidemark.success.models import KPI, Account, Product
from tidemark.tenancy.models import CustomerConfig

AT = factories.T0.replace(month=6, day=15)
SCORE_FIELDS = (
    "overall_health_score",
    "product_usage_score",
    "support_score",
    "customer_sentiment_score",
    "business_outcomes_score",
    "relationship_strength_score",
)


def _random_account(session: Session, customer_id: int, name: str, rng: random.Random) -> int:
    account = Account(customer_id=customer_id, account_name=name)
    session.add(account)
    session.flush()
    product = Product(customer_id=customer_id, account_id=account.account_id, product_name="Core")
    session.add(product)
    session.flush()
    for kpi in STANDARD_KPIS:
        if rng.random() < 0.1:
            continue  # not every account reports every KPI
        value = None if rng.random() < 0.1 else Decimal(rng.randint(0, 12000)) / 100
        session.add(
            KPI(
                customer_id=customer_id,
                account_id=account.account_id,
                product_id=product.product_id if rng.random() < 0.3 else None,
                category=kpi.category,
                kpi_parameter=kpi.name,
                data=None if value is None else str(value),
                value=value,
                impact_level=kpi.impact_level,
                weight=rng.choice((Decimal(0), Decimal("0.5"), Decimal(1), Decimal("2.75"))),
            )
        )
    # A KPI with no reference range and one outside the five categories.
    for parameter, category in (("Custom Metric", "Product Usage"), ("Renewal Rate", "Other")):
        session.add(
            KPI(
                customer_id=customer_id,
                account_id=account.account_id,
                category=category,
                kpi_parameter=parameter,
                data="10",
                value=Decimal(10),
                weight=Decimal(1),
            )
        )
    session.flush()
    return account.account_id


def test_computed_health_equals_the_scores_a_snapshot_computes(session: Session) -> None:
    tenant, _ = factories.customer(session)
    config = session.query(CustomerConfig).filter_by(customer_id=tenant.customer_id).one()
    config.category_weights = {
        "Product Usage": 0.35,
        "Support": 0.15,
        "Customer Sentiment": 0.2,
        "Business Outcomes": 0.3,
        "Relationship Strength": 0,
    }
    rng = random.Random(20250615)
    ids = [_random_account(session, tenant.customer_id, f"Account {i}", rng) for i in range(30)]
    bare = Account(customer_id=tenant.customer_id, account_name="No KPIs")
    session.add(bare)
    session.flush()
    ids.append(bare.account_id)
    other, _ = factories.customer(session, "Other Company")
    factories.account(session, other, "Their Account", kpi_value="5")

    computed = computed_health(session, customer_id=tenant.customer_id)
    result = capture_accounts(
        session, customer_id=tenant.customer_id, at=AT, snapshot_type="manual"
    )
    records = {
        record["account_id"]: record
        for record in (
            snapshots.get(session, customer_id=tenant.customer_id, snapshot_id=snapshot_id)
            for snapshot_id in result.snapshot_ids
        )
    }
    assert set(computed) == set(ids) == set(records)
    for account_id in ids:
        assert computed[account_id].fields() == {
            name: records[account_id][name] for name in SCORE_FIELDS
        }, account_id
    assert computed[bare.account_id].overall is None
    assert sum(1 for scores in computed.values() if scores.overall is not None) == 30
    # The same when asked for a few accounts only.
    some = computed_health(session, customer_id=tenant.customer_id, account_ids=ids[:3])
    assert some == {account_id: computed[account_id] for account_id in ids[:3]}
