"""KPI status and health scores (docs/HEALTH_SCORING.md)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tidemark.success.scoring import CRITICAL, HEALTHY, RISK, kpi_status, overall_score
from tidemark.success.triggers import InvalidCondition, check_condition, condition_met


@pytest.mark.parametrize(
    ("value", "expected"),
    [("39.99", CRITICAL), ("40", RISK), ("59.9", RISK), ("60", HEALTHY), (None, None)],
)
def test_higher_is_better(value: str | None, expected: str | None) -> None:
    number = Decimal(value) if value is not None else None
    assert (
        kpi_status(number, direction="higher", critical=Decimal(40), risk=Decimal(60)) == expected
    )


@pytest.mark.parametrize(("value", "expected"), [("25", CRITICAL), ("24", RISK), ("8", HEALTHY)])
def test_lower_is_better(value: str, expected: str) -> None:
    assert kpi_status(Decimal(value), direction="lower", critical=Decimal(24), risk=Decimal(8)) == (
        expected
    )


def test_overall_score_weights_only_the_categories_that_exist() -> None:
    scores = {"Product Usage": Decimal(100), "Support": Decimal(50), "Customer Sentiment": None}
    weights = {"Product Usage": 0.3, "Support": 0.1, "Customer Sentiment": 0.6}
    assert overall_score(scores, weights) == Decimal("87.50")
    assert overall_score({}, weights) is None


def test_conditions() -> None:
    condition = {
        "any": [
            {"field": "overall_health_score", "op": "<", "value": 70},
            {"field": "products_used", "op": "contains", "value": "Analytics"},
        ]
    }
    check_condition(condition)
    assert condition_met(condition, {"overall_health_score": Decimal("69.99")})
    assert condition_met(condition, {"products_used": ["Analytics"]})
    assert not condition_met(condition, {"overall_health_score": None, "products_used": []})
    assert not condition_met({}, {"overall_health_score": 1})


@pytest.mark.parametrize(
    ("condition", "where"),
    [
        ({"field": "nope", "op": "<", "value": 1}, "field"),
        ({"field": "revenue", "op": "~", "value": 1}, "op"),
        ({"all": []}, "all"),
        ([], "expected an object"),
    ],
)
def test_bad_conditions_name_the_place(condition: object, where: str) -> None:
    with pytest.raises(InvalidCondition, match=where):
        check_condition(condition)
