"""The offline answerer: deterministic wording over the structured results of the look-ups.

Every number in an answer is printed from a look-up's value (Decimal, exactly);
nothing is estimated. An unanswerable question gets a plain sentence saying why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from tidemark.assistant.plan import Change, Direction, Intent, LookupResult, Plan, TextHit, ValueAt

#: How fields are named in answers.
FIELD_LABELS: dict[str, str] = {
    "overall_health_score": "health score",
    "revenue": "revenue",
    "account_status": "status",
    "assigned_csm": "CSM",
    "csm_manager": "CS manager",
    "account_owner": "account owner",
    "account_tier": "tier",
    "critical_kpis_count": "number of critical KPIs",
    "engagement_score": "engagement score",
    "products_used": "products",
    "playbooks_running": "playbooks running",
}
_MONEY = {"revenue", "revenue_change_from_last"}
_SCORES_SUFFIX = "_score"


def label(field: str) -> str:
    """A field's name in prose."""
    return FIELD_LABELS.get(field, field.replace("_", " "))


def show_number(field: str, value: Decimal | int | float) -> str:
    """A number as answers print it: money with $ and thousands, scores as given."""
    number = Decimal(str(value))
    if field in _MONEY:
        if number == number.to_integral_value():
            return f"${number:,.0f}"
        return f"${number:,.2f}"
    if field.endswith(_SCORES_SUFFIX) and field != "engagement_score":
        return f"{_trimmed(number)}/100"
    return _trimmed(number)


def _is_whole(number: Decimal) -> bool:
    """An integer written without a fractional part (12, not 12.00)."""
    exponent = number.as_tuple().exponent
    return isinstance(exponent, int) and exponent >= 0


def _trimmed(number: Decimal) -> str:
    """68.50 -> 68.5, 70.00 -> 70.0, 12 -> 12: exact, without trailing zeros past one place."""
    if _is_whole(number):
        return f"{number:,}"
    text = f"{number.normalize():f}"
    if "." not in text:
        text += ".0"
    return text


def show_value(field: str, value: Any) -> str:
    """Any field value in prose."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal | int | float):
        return show_number(field, value)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else "none"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).replace("_", " ") if field == "account_status" else str(value)


def show_delta(field: str, delta: Decimal) -> str:
    """A signed change: +3.8 points, -$120,000."""
    sign = "+" if delta > 0 else "-" if delta < 0 else "±"
    magnitude = abs(delta)
    if field in _MONEY:
        return f"{sign}{show_number(field, magnitude)}"
    unit = " points" if field.endswith(_SCORES_SUFFIX) else ""
    return f"{sign}{_trimmed(magnitude)}{unit}"


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def possessive(name: str) -> str:
    """TechCorp's, Atlas Freight's, TechCorp Solutions'."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _runs(items: Sequence[ValueAt]) -> list[str]:
    """A history as runs of equal values: "2026-01-05 to 2026-02-02: 71.06/100"."""
    runs: list[tuple[datetime, datetime, Any, str]] = []
    for item in items:
        if runs and runs[-1][2] == item.value:
            first, _last, value, field = runs[-1]
            runs[-1] = (first, item.snapshot_timestamp, value, field)
        else:
            runs.append((item.snapshot_timestamp, item.snapshot_timestamp, item.value, item.field))
    return [
        f"{_day(first)}{'' if _day(first) == _day(last) else ' to ' + _day(last)}: "
        f"{show_value(field, value)}"
        for first, last, value, field in runs
    ]


def _sentence_value(item: ValueAt) -> str:
    return (
        f"{possessive(item.account_name)} {label(item.field)} was "
        f"{show_value(item.field, item.value)} "
        f"(snapshot {item.snapshot_id} of {_day(item.snapshot_timestamp)})"
    )


def _sentence_change(item: Change) -> str:
    before = show_value(item.field, item.before.value)
    after = show_value(item.field, item.after.value)
    text = (
        f"{possessive(item.account_name)} {label(item.field)} went from {before} on "
        f"{_day(item.before.snapshot_timestamp)} to {after} "
        f"on {_day(item.after.snapshot_timestamp)}"
    )
    if item.delta is not None:
        text += f", {show_delta(item.field, item.delta)}"
        if item.percent is not None:
            text += f" ({'+' if item.percent > 0 else ''}{_trimmed(item.percent)} %)"
    return text + f" (snapshots {item.before.snapshot_id} and {item.after.snapshot_id})"


def word(plan: Plan, results: Sequence[LookupResult]) -> str:
    """The answer text of a plan whose look-ups ran."""
    values = [r.value for r in results]
    if plan.intent is Intent.VALUE_AS_OF:
        return ". ".join(_sentence_value(v) for v in values) + "."
    if plan.intent is Intent.CHANGE:
        return ". ".join(_sentence_change(v) for v in values) + "."
    if plan.intent is Intent.HISTORY:
        parts = []
        for items in values:
            if not items:
                continue
            first: ValueAt = items[0]
            rows = "; ".join(_runs(items))
            parts.append(
                f"{possessive(first.account_name)} {label(first.field)}, "
                f"{len(items)} snapshot(s): {rows}"
            )
        return ". ".join(parts) + "." if parts else "No snapshots fall in that window."
    if plan.intent is Intent.RANKED_CHANGE:
        changes: list[Change] = values[0] if values else []
        verb = {
            Direction.IMPROVED: "improved",
            Direction.DECLINED: "declined",
            Direction.ANY: "changed",
        }[plan.direction]
        if not changes:
            return f"No account's {label(plan.field or '')} {verb} in that window."
        lines = [
            f"{c.account_name}: {show_value(c.field, c.before.value)} -> "
            f"{show_value(c.field, c.after.value)} ({show_delta(c.field, c.delta or Decimal(0))})"
            for c in changes
        ]
        return (
            f"{len(changes)} account(s) {verb} their {label(changes[0].field)}: "
            + "; ".join(lines)
            + "."
        )
    if plan.intent is Intent.MATCHING:
        matched: list[ValueAt] = values[0] if values else []
        if not matched:
            return "No account matches."
        names = "; ".join(
            f"{m.account_name} ({label(m.field)} {show_value(m.field, m.value)})" for m in matched
        )
        return f"{len(matched)} account(s) match: {names}."
    if plan.intent is Intent.ASSIGNMENTS:
        parts = []
        for ref, result in zip(plan.accounts, results, strict=False):
            found: dict[str, Any] = result.value
            name = ref.account_name
            wanted = (
                [plan.field]
                if plan.field and plan.field in found
                else [
                    k
                    for k in (
                        "assigned_csm",
                        "csm_manager",
                        "account_owner",
                        "products_used",
                        "playbooks_running",
                    )
                    if k in found
                ]
            )
            facts = ", ".join(f"{label(k)}: {show_value(k, found[k])}" for k in wanted)
            parts.append(f"{name}: {facts}")
        return ". ".join(parts) + "."
    if plan.intent is Intent.NOTES:
        hits: list[TextHit] = [h for value in values for h in value]
        if not hits:
            return "No notes or playbook reports match."
        lines = [
            f"{h.kind} {h.id} ({h.account_name}, {_day(h.created_at)}): {h.snippet}" for h in hits
        ]
        return f"{len(hits)} match(es): " + " | ".join(lines)
    return "I cannot answer that question."


def refusal(plan: Plan) -> str:
    """Why a question cannot be answered, plainly, without any number."""
    if plan.problems:
        return "I cannot answer that: " + "; ".join(p.rstrip(".") for p in plan.problems) + "."
    return (
        "I cannot map that question to the account history. Ask about a field "
        "(health, revenue, status, CSM, ...) of an account at a time, a change over a "
        "window, which accounts improved or match a condition, or notes on a topic."
    )


def jsonable(value: Any) -> Any:
    """Results as JSON-ready data: dataclasses to dicts, Decimals to numbers, times to ISO."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return value
