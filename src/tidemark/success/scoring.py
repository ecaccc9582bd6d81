"""Health scoring: a KPI's status from its reference range, and 0–100 scores.

The formula (also in ``docs/HEALTH_SCORING.md``):

* A KPI with a numeric value and a reference range is ``Critical`` when it is
  worse than the critical threshold, ``Risk`` when worse than the risk
  threshold, else ``Healthy``. "Worse" is below for ``higher``-is-better
  ranges and above for ``lower``-is-better ones. A KPI without a range or a
  number has no status and is left out of the counts and scores.
* Status points: Healthy 100, Risk 50, Critical 0.
* A category score is the KPI-weight-weighted mean of the points of its KPIs.
* The overall score is the category-weight-weighted mean of the category
  scores that exist, with the customer's category weights (equal by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from tidemark.tenancy.models import CATEGORIES

CRITICAL: Final = "Critical"
RISK: Final = "Risk"
HEALTHY: Final = "Healthy"

#: Status codes used in SQL (sortable: worst first).
STATUS_CODES: Final[dict[int, str]] = {0: CRITICAL, 1: RISK, 2: HEALTHY}
STATUS_POINTS: Final[dict[str, int]] = {CRITICAL: 0, RISK: 50, HEALTHY: 100}
#: Points by status code, for SQL.
CODE_POINTS: Final[dict[int, int]] = {0: 0, 1: 50, 2: 100}
#: Highest impact first when choosing the top critical KPIs.
IMPACT_RANK: Final[dict[str, int]] = {"High": 0, "Medium": 1, "Low": 2}

#: Snapshot field of each category score.
CATEGORY_FIELDS: Final[dict[str, str]] = {
    "Product Usage": "product_usage_score",
    "Support": "support_score",
    "Customer Sentiment": "customer_sentiment_score",
    "Business Outcomes": "business_outcomes_score",
    "Relationship Strength": "relationship_strength_score",
}

_CENT = Decimal("0.01")


def kpi_status(
    value: Decimal | None,
    *,
    direction: str | None,
    critical: Decimal | None,
    risk: Decimal | None,
) -> str | None:
    """Healthy, Risk or Critical for a value against its range; None when unknown."""
    if value is None or direction is None or critical is None or risk is None:
        return None
    if direction == "higher":
        if value < critical:
            return CRITICAL
        return RISK if value < risk else HEALTHY
    if value > critical:
        return CRITICAL
    return RISK if value > risk else HEALTHY


def round_score(value: Decimal) -> Decimal:
    """A score rounded to hundredths, as stored."""
    return value.quantize(_CENT, rounding=ROUND_HALF_EVEN)


def overall_score(
    category_scores: Mapping[str, Decimal | None], weights: Mapping[str, float | Decimal]
) -> Decimal | None:
    """The weighted mean of the category scores that exist; None when none do."""
    total = Decimal(0)
    weight_sum = Decimal(0)
    for category in CATEGORIES:
        score = category_scores.get(category)
        weight = Decimal(str(weights.get(category, 0)))
        if score is None or weight <= 0:
            continue
        total += score * weight
        weight_sum += weight
    if weight_sum == 0:
        return None
    return round_score(total / weight_sum)
