"""Read the current state of many accounts from the source tables, set-based.

``read_account_states`` runs the same nine queries whatever the number of
accounts in the batch: no query per account. Everything time-dependent is
taken as of ``at`` (notes, reports and playbooks that existed then, the health
trend of that month or before), so a simulation that moves a clock captures
the same thing a live capture would have.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Integer, Numeric, and_, case, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from tidemark.success.models import (
    KPI,
    Account,
    AccountNote,
    HealthTrend,
    KPIReferenceRange,
    PlaybookExecution,
    PlaybookReport,
    Product,
)
from tidemark.success.scoring import (
    CATEGORY_FIELDS,
    CODE_POINTS,
    IMPACT_RANK,
    STATUS_CODES,
    overall_score,
    round_score,
)
from tidemark.success.triggers import condition_met
from tidemark.tenancy.models import CATEGORIES

RECENT_NOTES = 5
RECENT_REPORTS = 3
TOP_CRITICAL = 5


@dataclass(frozen=True, slots=True)
class TriggerRule:
    """An enabled playbook trigger: the playbook it recommends and its condition."""

    playbook_type: str
    conditions: Mapping[str, Any]


def _status_expression() -> Any:
    k, r = KPI, KPIReferenceRange
    higher = r.direction == "higher"
    return case(
        (or_(r.range_id.is_(None), k.value.is_(None)), None),
        (and_(higher, k.value < r.critical_threshold), 0),
        (and_(higher, k.value < r.risk_threshold), 1),
        (higher, 2),
        (k.value > r.critical_threshold, 0),
        (k.value > r.risk_threshold, 1),
        else_=2,
    )


def _kpi_join(customer_id: int, account_ids: Sequence[int]) -> Any:
    """KPIs of the batch joined to the tenant's reference ranges."""
    return (
        select(KPI)
        .outerjoin(
            KPIReferenceRange,
            and_(
                KPIReferenceRange.customer_id == KPI.customer_id,
                KPIReferenceRange.kpi_parameter == KPI.kpi_parameter,
            ),
        )
        .where(KPI.customer_id == customer_id, KPI.account_id.in_(account_ids))
    )


def read_account_states(
    session: Session,
    *,
    customer_id: int,
    account_ids: Sequence[int],
    at: datetime,
    category_weights: Mapping[str, float],
    triggers: Sequence[TriggerRule],
    lock: bool = False,
) -> dict[int, dict[str, Any]]:
    """Every source-derived snapshot field of each account in ``account_ids``, as of ``at``.

    With ``lock`` the account rows are locked (PostgreSQL ``FOR UPDATE``) so that
    two captures of one account are serialised.
    """
    if not account_ids:
        return {}
    ids = list(account_ids)
    states: dict[int, dict[str, Any]] = {}

    # 1. accounts
    account_query = select(
        Account.account_id,
        Account.account_name,
        Account.revenue,
        Account.industry,
        Account.region,
        Account.account_status,
        Account.external_account_id,
        Account.profile_metadata,
    ).where(Account.customer_id == customer_id, Account.account_id.in_(ids))
    if lock and session.get_bind().dialect.name == "postgresql":
        account_query = account_query.order_by(Account.account_id).with_for_update()
    for row in session.execute(account_query):
        states[row.account_id] = _profile_fields(row)

    # 2. products
    products: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for account_id, product_id, name in session.execute(
        select(Product.account_id, Product.product_id, Product.product_name)
        .where(Product.customer_id == customer_id, Product.account_id.in_(ids))
        .order_by(Product.account_id, Product.product_id)
    ):
        products[account_id].append((product_id, name))

    # 3. KPI counts and category sums
    status = _status_expression()
    graded = _kpi_join(customer_id, ids).with_only_columns(
        KPI.account_id,
        KPI.product_id,
        KPI.category,
        type_coerce(KPI.weight, Numeric()).label("weight"),
        status.label("status"),
    )
    s = graded.subquery()
    points = case(
        (s.c.status == 0, CODE_POINTS[0]), (s.c.status == 1, CODE_POINTS[1]), else_=CODE_POINTS[2]
    )
    columns: list[Any] = [
        s.c.account_id,
        func.count().label("total"),
        _count_if(s.c.product_id.is_(None)).label("account_level"),
        _count_if(s.c.status == 0).label("critical"),
        _count_if(s.c.status == 1).label("risk"),
        _count_if(s.c.status == 2).label("healthy"),
    ]
    for i, category in enumerate(CATEGORIES):
        graded_in = and_(s.c.category == category, s.c.status.is_not(None))
        columns.append(
            type_coerce(func.sum(case((graded_in, s.c.weight * points))), Numeric()).label(f"wp{i}")
        )
        columns.append(
            type_coerce(func.sum(case((graded_in, s.c.weight))), Numeric()).label(f"w{i}")
        )
    kpi_summary = {
        row.account_id: row for row in session.execute(select(*columns).group_by(s.c.account_id))
    }

    # 4. KPIs per product, to pick the primary product
    kpis_per_product: dict[int, dict[int, int]] = defaultdict(dict)
    for account_id, product_id, count in session.execute(
        select(KPI.account_id, type_coerce(KPI.product_id, Integer()), func.count())
        .where(KPI.customer_id == customer_id, KPI.account_id.in_(ids), KPI.product_id.is_not(None))
        .group_by(KPI.account_id, KPI.product_id)
    ):
        kpis_per_product[account_id][product_id] = count

    # 5. top critical KPIs
    impact_rank = case(
        *((KPI.impact_level == level, rank) for level, rank in IMPACT_RANK.items()),
        else_=len(IMPACT_RANK),
    )
    critical_query = (
        _kpi_join(customer_id, ids)
        .with_only_columns(
            KPI.account_id,
            KPI.kpi_parameter,
            KPI.category,
            KPI.data,
            KPI.impact_level,
            func.row_number()
            .over(
                partition_by=KPI.account_id, order_by=(impact_rank, KPI.weight.desc(), KPI.kpi_id)
            )
            .label("rn"),
        )
        .where(status == 0)
        .subquery()
    )
    top_critical: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in session.execute(
        select(critical_query)
        .where(critical_query.c.rn <= TOP_CRITICAL)
        .order_by(critical_query.c.account_id, critical_query.c.rn)
    ):
        top_critical[row.account_id].append(
            {
                "kpi_name": row.kpi_parameter,
                "category": row.category,
                "value": row.data,
                "impact_level": row.impact_level,
                "health_status": STATUS_CODES[0],
            }
        )

    # 6. latest health trend at or before the snapshot's month
    period = at.year * 100 + at.month
    trend_query = (
        select(
            HealthTrend,
            func.row_number()
            .over(
                partition_by=HealthTrend.account_id,
                order_by=(HealthTrend.year.desc(), HealthTrend.month.desc()),
            )
            .label("rn"),
        )
        .where(
            HealthTrend.customer_id == customer_id,
            HealthTrend.account_id.in_(ids),
            HealthTrend.year * 100 + HealthTrend.month <= period,
        )
        .subquery()
    )
    trends = {
        row.account_id: row
        for row in session.execute(select(trend_query).where(trend_query.c.rn == 1))
    }

    # 7. playbook executions started by then
    executions: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(
        select(
            PlaybookExecution.account_id,
            PlaybookExecution.playbook_id,
            PlaybookExecution.status,
            PlaybookExecution.started_at,
            PlaybookExecution.completed_at,
        )
        .where(
            PlaybookExecution.customer_id == customer_id,
            PlaybookExecution.account_id.in_(ids),
            PlaybookExecution.started_at <= at,
        )
        .order_by(PlaybookExecution.account_id, PlaybookExecution.started_at)
    ):
        executions[row.account_id].append(row)

    # 8. newest reports and 9. newest notes, by then
    reports = _newest_ids(
        session,
        id_column=PlaybookReport.report_id,
        account_column=PlaybookReport.account_id,
        time_column=PlaybookReport.report_generated_at,
        customer_column=PlaybookReport.customer_id,
        customer_id=customer_id,
        account_ids=ids,
        at=at,
        limit=RECENT_REPORTS,
    )
    notes = _newest_ids(
        session,
        id_column=AccountNote.note_id,
        account_column=AccountNote.account_id,
        time_column=AccountNote.created_at,
        customer_column=AccountNote.customer_id,
        customer_id=customer_id,
        account_ids=ids,
        at=at,
        limit=RECENT_NOTES,
    )

    for account_id, state in states.items():
        _products_fields(state, products.get(account_id, []), kpis_per_product.get(account_id, {}))
        _kpi_fields(state, kpi_summary.get(account_id), top_critical.get(account_id, []))
        _health_fields(state, trends.get(account_id), kpi_summary.get(account_id), category_weights)
        _playbook_fields(state, executions.get(account_id, []), at)
        state["recent_csm_note_ids"] = notes.get(account_id, [])
        state["recent_playbook_report_ids"] = reports.get(account_id, [])
        state["playbook_recommendations_active"] = sorted(
            rule.playbook_type for rule in triggers if condition_met(rule.conditions, state)
        )
    return states


def _count_if(condition: Any) -> Any:
    """SUM of 1 over the rows that meet ``condition``."""
    return func.sum(case((condition, 1), else_=0))


def _newest_ids(
    session: Session,
    *,
    id_column: Any,
    account_column: Any,
    time_column: Any,
    customer_column: Any,
    customer_id: int,
    account_ids: Sequence[int],
    at: datetime,
    limit: int,
) -> dict[int, list[int]]:
    ranked = (
        select(
            account_column.label("account_id"),
            id_column.label("item_id"),
            func.row_number()
            .over(partition_by=account_column, order_by=(time_column.desc(), id_column.desc()))
            .label("rn"),
        )
        .where(customer_column == customer_id, account_column.in_(account_ids), time_column <= at)
        .subquery()
    )
    newest: dict[int, list[int]] = defaultdict(list)
    for account_id, item_id in session.execute(
        select(ranked.c.account_id, ranked.c.item_id)
        .where(ranked.c.rn <= limit)
        .order_by(ranked.c.account_id, ranked.c.rn)
    ):
        newest[account_id].append(item_id)
    return newest


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return round_score(number) if number.is_finite() and abs(number) < 1000 else None


def _profile_fields(row: Any) -> dict[str, Any]:
    meta: Mapping[str, Any] = row.profile_metadata or {}
    engagement: Mapping[str, Any] = meta.get("engagement") or {}
    champions = meta.get("champions") or []
    first = champions[0] if champions else None
    if isinstance(first, Mapping):
        champion, champion_status = _text(first.get("name")), _text(first.get("status"))
    else:
        champion, champion_status = _text(first), None
    return {
        "account_name": row.account_name,
        "revenue": row.revenue,
        "account_status": row.account_status,
        "industry": row.industry,
        "region": row.region,
        "account_tier": _text(meta.get("account_tier")),
        "external_account_id": row.external_account_id,
        "assigned_csm": _text(meta.get("assigned_csm")),
        "csm_manager": _text(meta.get("csm_manager")),
        "account_owner": _text(meta.get("account_owner")),
        "lifecycle_stage": _text(engagement.get("lifecycle_stage")),
        "onboarding_status": _text(engagement.get("onboarding_status")),
        "last_qbr_date": _date(engagement.get("last_qbr_date")),
        "next_qbr_date": _date(engagement.get("next_qbr_date")),
        "engagement_score": _decimal(engagement.get("score")),
        "primary_champion": champion,
        "champion_status": champion_status,
        "stakeholder_count": len(champions) if isinstance(champions, list) else 0,
        "_declared_products": meta.get("products_used"),
        "_declared_primary": meta.get("primary_product"),
    }


def _products_fields(
    state: dict[str, Any], products: list[tuple[int, str]], kpi_counts: Mapping[int, int]
) -> None:
    declared = state.pop("_declared_products")
    declared_primary = state.pop("_declared_primary")
    if products:
        names = [name for _, name in products]
    elif isinstance(declared, list):
        names = [str(name) for name in declared]
    else:
        names = []
    primary: str | None = None
    if declared_primary in names:
        primary = declared_primary
    elif products and kpi_counts:
        # Most KPIs first, the oldest product on a tie.
        best = min(products, key=lambda p: (-kpi_counts.get(p[0], 0), p[0]))
        primary = best[1]
    elif names:
        primary = names[0]
    state["products_used"] = names
    state["product_count"] = len(names)
    state["primary_product"] = primary


def _kpi_fields(state: dict[str, Any], summary: Any, critical: list[dict[str, Any]]) -> None:
    if summary is None:
        counts = dict.fromkeys(("total", "account_level", "critical", "risk", "healthy"), 0)
    else:
        counts = {
            "total": int(summary.total),
            "account_level": int(summary.account_level or 0),
            "critical": int(summary.critical or 0),
            "risk": int(summary.risk or 0),
            "healthy": int(summary.healthy or 0),
        }
    state["total_kpis"] = counts["total"]
    state["account_level_kpis"] = counts["account_level"]
    state["product_level_kpis"] = counts["total"] - counts["account_level"]
    state["critical_kpis_count"] = counts["critical"]
    state["at_risk_kpis_count"] = counts["risk"]
    state["healthy_kpis_count"] = counts["healthy"]
    state["top_critical_kpis"] = critical


def computed_category_scores(summary: Any) -> dict[str, Decimal | None]:
    """Category scores from a KPI summary row (weighted mean of status points)."""
    scores: dict[str, Decimal | None] = {}
    for i, category in enumerate(CATEGORIES):
        weighted = getattr(summary, f"wp{i}", None) if summary is not None else None
        weight = getattr(summary, f"w{i}", None) if summary is not None else None
        if weighted is None or weight is None or Decimal(weight) == 0:
            scores[category] = None
        else:
            scores[category] = round_score(Decimal(weighted) / Decimal(weight))
    return scores


def _health_fields(
    state: dict[str, Any], trend: Any, summary: Any, weights: Mapping[str, float]
) -> None:
    if trend is not None:
        state["overall_health_score"] = trend.overall_health_score
        for field in CATEGORY_FIELDS.values():
            state[field] = getattr(trend, field)
        return
    scores = computed_category_scores(summary)
    for category, field in CATEGORY_FIELDS.items():
        state[field] = scores[category]
    state["overall_health_score"] = overall_score(scores, weights)


def _playbook_fields(state: dict[str, Any], executions: list[Any], at: datetime) -> None:
    window_start = at - timedelta(days=30)
    running: list[str] = []
    completed = 0
    completed_recent = 0
    last: Any = None
    for row in executions:
        done = row.status == "completed" and (row.completed_at is None or row.completed_at <= at)
        if done:
            completed += 1
            if row.completed_at is not None and row.completed_at > window_start:
                completed_recent += 1
        elif row.status != "cancelled":
            running.append(row.playbook_id)
        if last is None or row.started_at >= last.started_at:
            last = row
    state["playbooks_running"] = running
    state["playbooks_running_count"] = len(running)
    state["playbooks_completed_count"] = completed
    state["playbooks_completed_last_30_days"] = completed_recent
    state["last_playbook_executed"] = (
        None
        if last is None
        else {"playbook_id": last.playbook_id, "date": last.started_at.date().isoformat()}
    )
