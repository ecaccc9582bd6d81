"""The obvious capture, for comparison: one account at a time through the ORM.

This is how the seed's ``create_account_snapshot()`` reads: for each account,
load it with ``session.get``, query its products, KPIs, the tenant's reference
ranges, its latest health trend, playbook executions, newest reports and newest
notes, compute every field in Python, and write one snapshot. It writes through
the same storage as the real capture (``write_snapshots`` with one pending
snapshot per call, which reads the account's previous snapshot for the change
fields), so the two differ only in how they read and batch.

It is written independently of ``snapshots.source`` on purpose: the capture
benchmark compares the records both produce, field by field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tidemark.snapshots.writer import PendingSnapshot, WriteResult, write_snapshots
from tidemark.success.models import (
    KPI,
    Account,
    AccountNote,
    HealthTrend,
    KPIReferenceRange,
    PlaybookExecution,
    PlaybookReport,
    PlaybookTrigger,
    Product,
)
from tidemark.success.scoring import (
    CATEGORY_FIELDS,
    CRITICAL,
    HEALTHY,
    IMPACT_RANK,
    RISK,
    STATUS_POINTS,
    kpi_status,
    overall_score,
    round_score,
)
from tidemark.success.triggers import condition_met
from tidemark.tenancy.models import DEFAULT_CATEGORY_WEIGHTS, CustomerConfig


def naive_capture(
    session: Session,
    *,
    customer_id: int,
    account_ids: Iterable[int],
    at: datetime,
    snapshot_type: str = "scheduled",
) -> WriteResult:
    """Snapshot each account on its own: a handful of ORM queries and one write per account."""
    config = session.execute(
        select(CustomerConfig).where(CustomerConfig.customer_id == customer_id)
    ).scalar_one_or_none()
    weights = {
        k: float(v)
        for k, v in (config.category_weights if config else DEFAULT_CATEGORY_WEIGHTS).items()
    }
    triggers = (
        session.execute(
            select(PlaybookTrigger)
            .where(
                PlaybookTrigger.customer_id == customer_id,
                PlaybookTrigger.auto_trigger_enabled.is_(True),
            )
            .order_by(PlaybookTrigger.playbook_type)
        )
        .scalars()
        .all()
    )
    total = WriteResult()
    for account_id in account_ids:
        values = account_state(session, customer_id, account_id, at, weights)
        values["playbook_recommendations_active"] = sorted(
            t.playbook_type for t in triggers if condition_met(t.trigger_conditions or {}, values)
        )
        written = write_snapshots(
            session,
            customer_id=customer_id,
            pending=[
                PendingSnapshot(
                    account_id=account_id, at=at, snapshot_type=snapshot_type, values=values
                )
            ],
        )
        total.snapshot_ids.extend(written.snapshot_ids)
        total.significant += written.significant
    return total


def account_state(
    session: Session, customer_id: int, account_id: int, at: datetime, weights: Mapping[str, float]
) -> dict[str, Any]:
    """Every source-derived field of one account, read with the ORM."""
    account = session.get(Account, account_id)
    if account is None or account.customer_id != customer_id:
        raise LookupError(f"account {account_id} not found")
    values = _profile(account)

    products = (
        session.execute(
            select(Product)
            .where(Product.customer_id == customer_id, Product.account_id == account_id)
            .order_by(Product.product_id)
        )
        .scalars()
        .all()
    )
    kpis = (
        session.execute(
            select(KPI).where(KPI.customer_id == customer_id, KPI.account_id == account_id)
        )
        .scalars()
        .all()
    )
    ranges = {
        r.kpi_parameter: r
        for r in session.execute(
            select(KPIReferenceRange).where(KPIReferenceRange.customer_id == customer_id)
        ).scalars()
    }
    statuses: list[tuple[KPI, str | None]] = []
    for kpi in kpis:
        found = ranges.get(kpi.kpi_parameter)
        statuses.append(
            (
                kpi,
                kpi_status(
                    kpi.value,
                    direction=found.direction if found else None,
                    critical=found.critical_threshold if found else None,
                    risk=found.risk_threshold if found else None,
                ),
            )
        )

    names = [p.product_name for p in products]
    declared = account.profile_metadata.get("products_used") if account.profile_metadata else None
    if not names and isinstance(declared, list):
        names = [str(n) for n in declared]
    declared_primary = (account.profile_metadata or {}).get("primary_product")
    per_product: dict[int, int] = {}
    for kpi in kpis:
        if kpi.product_id is not None:
            per_product[kpi.product_id] = per_product.get(kpi.product_id, 0) + 1
    if declared_primary in names:
        primary = declared_primary
    elif products and per_product:
        primary = min(products, key=lambda p: (-per_product.get(p.product_id, 0), p.product_id))
        primary = primary.product_name
    else:
        primary = names[0] if names else None
    values.update(products_used=names, product_count=len(names), primary_product=primary)

    account_level = sum(1 for k in kpis if k.product_id is None)
    critical = [k for k, s in statuses if s == CRITICAL]
    critical.sort(
        key=lambda k: (IMPACT_RANK.get(k.impact_level, len(IMPACT_RANK)), -k.weight, k.kpi_id)
    )
    values.update(
        total_kpis=len(kpis),
        account_level_kpis=account_level,
        product_level_kpis=len(kpis) - account_level,
        critical_kpis_count=len(critical),
        at_risk_kpis_count=sum(1 for _, s in statuses if s == RISK),
        healthy_kpis_count=sum(1 for _, s in statuses if s == HEALTHY),
        top_critical_kpis=[
            {
                "kpi_name": k.kpi_parameter,
                "category": k.category,
                "value": k.data,
                "impact_level": k.impact_level,
                "health_status": CRITICAL,
            }
            for k in critical[:5]
        ],
    )

    period = at.year * 100 + at.month
    trend = session.execute(
        select(HealthTrend)
        .where(
            HealthTrend.customer_id == customer_id,
            HealthTrend.account_id == account_id,
            HealthTrend.year * 100 + HealthTrend.month <= period,
        )
        .order_by(HealthTrend.year.desc(), HealthTrend.month.desc())
        .limit(1)
    ).scalar_one_or_none()
    if trend is not None:
        values["overall_health_score"] = trend.overall_health_score
        for field in CATEGORY_FIELDS.values():
            values[field] = getattr(trend, field)
    else:
        scores = _category_scores(statuses)
        for category, field in CATEGORY_FIELDS.items():
            values[field] = scores[category]
        values["overall_health_score"] = overall_score(scores, weights)

    executions = (
        session.execute(
            select(PlaybookExecution)
            .where(
                PlaybookExecution.customer_id == customer_id,
                PlaybookExecution.account_id == account_id,
                PlaybookExecution.started_at <= at,
            )
            .order_by(PlaybookExecution.started_at, PlaybookExecution.execution_id)
        )
        .scalars()
        .all()
    )
    values.update(_playbooks(executions, at))

    reports = session.execute(
        select(PlaybookReport.report_id)
        .where(
            PlaybookReport.customer_id == customer_id,
            PlaybookReport.account_id == account_id,
            PlaybookReport.report_generated_at <= at,
        )
        .order_by(PlaybookReport.report_generated_at.desc(), PlaybookReport.report_id.desc())
        .limit(3)
    ).scalars()
    notes = session.execute(
        select(AccountNote.note_id)
        .where(
            AccountNote.customer_id == customer_id,
            AccountNote.account_id == account_id,
            AccountNote.created_at <= at,
        )
        .order_by(AccountNote.created_at.desc(), AccountNote.note_id.desc())
        .limit(5)
    ).scalars()
    values["recent_playbook_report_ids"] = list(reports)
    values["recent_csm_note_ids"] = list(notes)
    return values


def _category_scores(statuses: Sequence[tuple[KPI, str | None]]) -> dict[str, Decimal | None]:
    sums: dict[str, list[Decimal]] = {}
    for kpi, status in statuses:
        if status is None or kpi.category not in CATEGORY_FIELDS:
            continue
        entry = sums.setdefault(kpi.category, [Decimal(0), Decimal(0)])
        entry[0] += kpi.weight * STATUS_POINTS[status]
        entry[1] += kpi.weight
    return {
        category: round_score(sums[category][0] / sums[category][1])
        if category in sums and sums[category][1]
        else None
        for category in CATEGORY_FIELDS
    }


def _playbooks(executions: Sequence[PlaybookExecution], at: datetime) -> dict[str, Any]:
    running = [
        e.playbook_id
        for e in executions
        if e.status not in ("cancelled",)
        and not (e.status == "completed" and (e.completed_at is None or e.completed_at <= at))
    ]
    done = [
        e
        for e in executions
        if e.status == "completed" and (e.completed_at is None or e.completed_at <= at)
    ]
    recent = [
        e for e in done if e.completed_at is not None and e.completed_at > at - timedelta(days=30)
    ]
    last = max(executions, key=lambda e: e.started_at, default=None)
    # On equal start times the later one in start order wins, as in the set-based read.
    for e in executions:
        if last is not None and e.started_at == last.started_at:
            last = e
    return {
        "playbooks_running": running,
        "playbooks_running_count": len(running),
        "playbooks_completed_count": len(done),
        "playbooks_completed_last_30_days": len(recent),
        "last_playbook_executed": None
        if last is None
        else {"playbook_id": last.playbook_id, "date": last.started_at.date().isoformat()},
    }


def _profile(account: Account) -> dict[str, Any]:
    meta: Mapping[str, Any] = account.profile_metadata or {}
    engagement: Mapping[str, Any] = meta.get("engagement") or {}
    champions = meta.get("champions") or []
    first = champions[0] if champions else None
    if isinstance(first, Mapping):
        champion, champion_status = _text(first.get("name")), _text(first.get("status"))
    else:
        champion, champion_status = _text(first), None
    return {
        "account_name": account.account_name,
        "revenue": account.revenue,
        "account_status": account.account_status,
        "industry": account.industry,
        "region": account.region,
        "account_tier": _text(meta.get("account_tier")),
        "external_account_id": account.external_account_id,
        "assigned_csm": _text(meta.get("assigned_csm")),
        "csm_manager": _text(meta.get("csm_manager")),
        "account_owner": _text(meta.get("account_owner")),
        "lifecycle_stage": _text(engagement.get("lifecycle_stage")),
        "onboarding_status": _text(engagement.get("onboarding_status")),
        "last_qbr_date": _date(engagement.get("last_qbr_date")),
        "next_qbr_date": _date(engagement.get("next_qbr_date")),
        "engagement_score": _score(engagement.get("score")),
        "primary_champion": champion,
        "champion_status": champion_status,
        "stakeholder_count": len(champions) if isinstance(champions, list) else 0,
    }


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _score(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return round_score(number) if number.is_finite() and abs(number) < 1000 else None
