"""Health scores computed from accounts' current KPIs, set-based (docs/HEALTH_SCORING.md).

This is the formula a snapshot falls back on when an account has no health trend,
written as one SQL aggregate: each graded KPI's status points are weighted and
summed per account and category in the database, so scoring a hundred thousand
accounts moves five sums per account instead of 2.5 million KPI rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from tidemark.success.models import KPI, Account, KPIReferenceRange
from tidemark.success.scoring import CATEGORY_FIELDS, overall_score, round_score
from tidemark.tenancy.models import CATEGORIES, DEFAULT_CATEGORY_WEIGHTS, CustomerConfig

#: Accounts per statement, so an IN list never grows with the tenant.
CHUNK = 2000


@dataclass(frozen=True, slots=True)
class HealthScores:
    """An account's overall score and its five category scores (None when unknown)."""

    overall: Decimal | None
    #: By category name ("Product Usage", ...), every category present.
    categories: dict[str, Decimal | None] = field(default_factory=dict)

    def fields(self) -> dict[str, Decimal | None]:
        """The scores under their snapshot and health-trend field names."""
        values: dict[str, Decimal | None] = {"overall_health_score": self.overall}
        for category, name in CATEGORY_FIELDS.items():
            values[name] = self.categories.get(category)
        return values


def _raw(column: Any) -> Any:
    # Fixed columns are scaled integers on SQLite and numerics on PostgreSQL; the
    # ratio of two sums of the same column does not depend on the scale, so the
    # sums are read as stored and never pass through the type's conversion.
    return type_coerce(column, NullType())


def _points() -> Any:
    """A graded KPI's status points: Critical 0, Risk 50, Healthy 100."""
    value, critical, risk = (
        _raw(KPI.value),
        _raw(KPIReferenceRange.critical_threshold),
        _raw(KPIReferenceRange.risk_threshold),
    )
    higher = KPIReferenceRange.direction == "higher"
    return case(
        (and_(higher, value < critical), 0),
        (and_(higher, value < risk), 50),
        (higher, 100),
        (value > critical, 0),
        (value > risk, 50),
        else_=100,
    )


def category_weights(session: Session, *, customer_id: int) -> dict[str, float]:
    """The tenant's category weights (equal weights when it has set none)."""
    weights = session.execute(
        select(CustomerConfig.category_weights).where(CustomerConfig.customer_id == customer_id)
    ).scalar_one_or_none()
    return {name: float(value) for name, value in (weights or DEFAULT_CATEGORY_WEIGHTS).items()}


def _category_sums(
    session: Session, customer_id: int, account_ids: Sequence[int] | None
) -> Iterable[tuple[int, str, Any, Any]]:
    """(account, category, Σ weight × points, Σ weight) over graded KPIs."""
    weight = _raw(KPI.weight)
    base = (
        select(
            KPI.account_id,
            KPI.category,
            func.sum(weight * _points()),
            func.sum(weight),
        )
        .join(
            KPIReferenceRange,
            and_(
                KPIReferenceRange.customer_id == KPI.customer_id,
                KPIReferenceRange.kpi_parameter == KPI.kpi_parameter,
            ),
        )
        .where(
            KPI.customer_id == customer_id,
            KPI.value.is_not(None),
            KPI.category.in_(CATEGORIES),
        )
        .group_by(KPI.account_id, KPI.category)
    )
    if account_ids is None:
        for row in session.execute(base):
            yield row[0], row[1], row[2], row[3]
        return
    for start in range(0, len(account_ids), CHUNK):
        chunk = list(account_ids[start : start + CHUNK])
        for row in session.execute(base.where(KPI.account_id.in_(chunk))):
            yield row[0], row[1], row[2], row[3]


def computed_health(
    session: Session, *, customer_id: int, account_ids: Sequence[int] | None = None
) -> dict[int, HealthScores]:
    """Category and overall scores of each account from its current KPIs only.

    Every given account (every account of the tenant when None) gets an entry;
    an account without graded KPIs scores None throughout. Ids of other tenants
    simply match no KPI: callers check ownership first.
    """
    if account_ids is None:
        ids = list(
            session.execute(
                select(Account.account_id).where(Account.customer_id == customer_id)
            ).scalars()
        )
    else:
        ids = list(dict.fromkeys(account_ids))
    sums: dict[int, dict[str, Decimal | None]] = {
        account_id: dict.fromkeys(CATEGORIES) for account_id in ids
    }
    for account_id, category, weighted, weight in _category_sums(session, customer_id, account_ids):
        scores = sums.get(account_id)
        if scores is None or weighted is None or not weight:
            continue
        scores[category] = round_score(Decimal(weighted) / Decimal(weight))
    weights = category_weights(session, customer_id=customer_id)
    return {
        account_id: HealthScores(overall=overall_score(scores, weights), categories=scores)
        for account_id, scores in sums.items()
    }


def scores_from_fields(values: Mapping[str, Any]) -> dict[str, Decimal | None]:
    """The category scores by category name, from values keyed by field name."""
    return {category: values.get(name) for category, name in CATEGORY_FIELDS.items()}
