"""Playbook trigger conditions: a small, checked language over snapshot fields.

A condition is a leaf ``{"field": "overall_health_score", "op": "<", "value": 70}``
or a group ``{"all": [...]}`` / ``{"any": [...]}``. Fields are snapshot field
names; a leaf on a field whose value is unknown (null) is not met.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

OPERATORS = ("<", "<=", ">", ">=", "==", "!=", "in", "contains")


class InvalidCondition(ValueError):
    """A trigger condition that does not follow the condition language."""


def check_condition(condition: Any, *, path: str = "trigger_conditions") -> None:
    """Raise InvalidCondition, naming the place, when ``condition`` is malformed."""
    from tidemark.snapshots.fields import FIELD_BY_NAME

    if not isinstance(condition, Mapping):
        raise InvalidCondition(f"{path}: expected an object")
    groups = [key for key in ("all", "any") if key in condition]
    if groups:
        if len(condition) != 1:
            raise InvalidCondition(f"{path}: a group has exactly one key, 'all' or 'any'")
        members = condition[groups[0]]
        if not isinstance(members, list) or not members:
            raise InvalidCondition(f"{path}.{groups[0]}: expected a non-empty list")
        for i, member in enumerate(members):
            check_condition(member, path=f"{path}.{groups[0]}[{i}]")
        return
    if set(condition) != {"field", "op", "value"}:
        raise InvalidCondition(f"{path}: a leaf has exactly 'field', 'op' and 'value'")
    if condition["field"] not in FIELD_BY_NAME:
        raise InvalidCondition(f"{path}.field: unknown snapshot field {condition['field']!r}")
    if condition["op"] not in OPERATORS:
        raise InvalidCondition(f"{path}.op: expected one of {', '.join(OPERATORS)}")


def condition_met(condition: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """Whether an account's snapshot values meet ``condition``; empty never does."""
    if not condition:
        return False
    if "all" in condition:
        return all(condition_met(c, values) for c in condition["all"])
    if "any" in condition:
        return any(condition_met(c, values) for c in condition["any"])
    actual = values.get(condition["field"])
    if actual is None:
        return False
    return _compare(actual, condition["op"], condition["value"])


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "in":
        return isinstance(expected, list) and actual in expected
    if op == "contains":
        return isinstance(actual, list) and expected in actual
    if isinstance(actual, Decimal | int | float) and not isinstance(actual, bool):
        if not isinstance(expected, int | float | str | Decimal):
            return False
        try:
            left, right = Decimal(str(actual)), Decimal(str(expected))
        except ArithmeticError:
            return False
    else:
        left, right = actual, expected
    try:
        match op:
            case "<":
                return bool(left < right)
            case "<=":
                return bool(left <= right)
            case ">":
                return bool(left > right)
            case ">=":
                return bool(left >= right)
            case "==":
                return bool(left == right)
            case "!=":
                return bool(left != right)
    except TypeError:
        return False
    return False
