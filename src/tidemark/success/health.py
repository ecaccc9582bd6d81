"""Health trends: an account's scores per month, entered by hand or generated from KPIs.

A snapshot takes its health scores from the account's newest trend at or before
its month (seed 001 §4), so writing a trend is how a team fixes what the next
snapshot shows; generating one records what the KPIs say right now. Every
write emits its events in the same transaction: ``health_scores_updated`` (or
``health_rollup_completed`` for the corporate rollup), and
``health_score_changed`` where the account's score moved by more than 5 points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy import insert as sa_insert
from sqlalchemy import update as sa_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tidemark.errors import Conflict, InvalidInput, NotFound
from tidemark.events.outbox import EventType, emit, emit_each, health_change_significant
from tidemark.success import accounts
from tidemark.success.health_calc import category_weights, computed_health
from tidemark.success.models import Account, HealthTrend
from tidemark.success.scoring import CATEGORY_FIELDS, overall_score, round_score

#: The score fields of a trend: the overall score and the five category scores.
SCORE_FIELDS: tuple[str, ...] = ("overall_health_score", *CATEGORY_FIELDS.values())
_FIRST_YEAR = 2000
_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class TrendPage:
    """One page of health trends with the number that match."""

    items: list[HealthTrend]
    total: int
    limit: int
    offset: int


@dataclass(slots=True)
class GenerateResult:
    """What a bulk generation wrote for one month."""

    year: int
    month: int
    created: int = 0
    updated: int = 0
    #: Accounts without any graded KPI: nothing to score, no trend written.
    skipped: list[int] = field(default_factory=list)
    #: Overall score of each account a trend was written for.
    overall: dict[int, Decimal | None] = field(default_factory=dict)

    @property
    def recalculated(self) -> int:
        """Accounts whose trend was created or updated."""
        return self.created + self.updated

    @property
    def average_overall(self) -> Decimal | None:
        """The plain mean of the overall scores written; None when none were."""
        scores = [score for score in self.overall.values() if score is not None]
        if not scores:
            return None
        return round_score(sum(scores, Decimal(0)) / len(scores))


def get(session: Session, *, customer_id: int, trend_id: int) -> HealthTrend:
    """The tenant's health trend with this id; another tenant's id is NotFound."""
    trend = session.execute(
        select(HealthTrend).where(
            HealthTrend.customer_id == customer_id, HealthTrend.trend_id == trend_id
        )
    ).scalar_one_or_none()
    if trend is None:
        raise NotFound("health trend", trend_id)
    return trend


def list_trends(
    session: Session,
    *,
    customer_id: int,
    account_id: int | None = None,
    limit: int = 120,
    offset: int = 0,
) -> TrendPage:
    """Trends newest month first, of one account or of the whole tenant."""
    conditions = [HealthTrend.customer_id == customer_id]
    if account_id is not None:
        accounts.get(session, customer_id=customer_id, account_id=account_id)
        conditions.append(HealthTrend.account_id == account_id)
    total = session.execute(
        select(func.count()).select_from(HealthTrend).where(*conditions)
    ).scalar_one()
    items = (
        session.execute(
            select(HealthTrend)
            .where(*conditions)
            .order_by(
                HealthTrend.year.desc(),
                HealthTrend.month.desc(),
                HealthTrend.account_id,
            )
            .limit(limit)
            .offset(offset)
        )
        .scalars()
        .all()
    )
    return TrendPage(list(items), total, limit, offset)


def check_period(year: int, month: int, *, now: datetime) -> None:
    """Raise InvalidInput unless year and month name a month from 2000 up to the current one."""
    if not 1 <= month <= 12:
        raise InvalidInput("month", "expected 1 to 12")
    if year < _FIRST_YEAR:
        raise InvalidInput("year", f"expected {_FIRST_YEAR} or later")
    if (year, month) > (now.year, now.month):
        raise InvalidInput("month", f"{year}-{month:02d} is in the future")


def _scores(
    session: Session, customer_id: int, values: Mapping[str, Any]
) -> dict[str, Decimal | None]:
    """Checked scores; the overall score is computed from the categories when not given."""
    unknown = sorted(set(values) - set(SCORE_FIELDS))
    if unknown:
        raise InvalidInput(unknown[0], "is not a score field")
    scores: dict[str, Decimal | None] = {}
    for name in SCORE_FIELDS:
        scores[name] = _score(name, values.get(name))
    if scores["overall_health_score"] is None:
        by_category = {category: scores[name] for category, name in CATEGORY_FIELDS.items()}
        weights = category_weights(session, customer_id=customer_id)
        scores["overall_health_score"] = overall_score(by_category, weights)
    if scores["overall_health_score"] is None:
        raise InvalidInput(
            "overall_health_score", "give the overall score or at least one category score"
        )
    return scores


def _score(name: str, value: object) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise InvalidInput(name, "expected a number from 0 to 100")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise InvalidInput(name, "expected a number from 0 to 100") from None
    if not number.is_finite() or not 0 <= number <= 100:
        raise InvalidInput(name, "expected a number from 0 to 100")
    return round_score(number)


def create(
    session: Session,
    *,
    customer_id: int,
    account_id: int,
    year: int,
    month: int,
    scores: Mapping[str, Any],
    now: datetime,
) -> HealthTrend:
    """Record an account's scores for one month; a second trend for that month is a Conflict."""
    accounts.get(session, customer_id=customer_id, account_id=account_id)
    check_period(year, month, now=now)
    values = _scores(session, customer_id, scores)
    existing = session.execute(
        select(HealthTrend.trend_id).where(
            HealthTrend.customer_id == customer_id,
            HealthTrend.account_id == account_id,
            HealthTrend.year == year,
            HealthTrend.month == month,
        )
    ).scalar_one_or_none()
    if existing is not None:
        raise Conflict(
            f"account {account_id} already has health trend {existing} for {year}-{month:02d}; "
            "update that one"
        )
    before = _newest_scores(session, customer_id, [account_id])
    trend = HealthTrend(
        customer_id=customer_id,
        account_id=account_id,
        year=year,
        month=month,
        created_at=now,
        **values,
    )
    session.add(trend)
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict(
            f"account {account_id} already has a trend for {year}-{month:02d}"
        ) from error
    _emit(
        session,
        customer_id=customer_id,
        event_type=EventType.HEALTH_SCORES_UPDATED,
        payload={"trend_id": trend.trend_id, "year": year, "month": month, "change": "created"},
        written={account_id: trend.overall_health_score},
        period=_period(year, month),
        before=before,
        at=now,
    )
    return trend


def update(
    session: Session,
    *,
    customer_id: int,
    trend_id: int,
    scores: Mapping[str, Any],
    now: datetime,
) -> HealthTrend:
    """Replace a trend's scores (a category left out becomes unknown)."""
    trend = get(session, customer_id=customer_id, trend_id=trend_id)
    values = _scores(session, customer_id, scores)
    before = _newest_scores(session, customer_id, [trend.account_id])
    for name, value in values.items():
        setattr(trend, name, value)
    trend.updated_at = now
    session.flush()
    _emit(
        session,
        customer_id=customer_id,
        event_type=EventType.HEALTH_SCORES_UPDATED,
        payload={
            "trend_id": trend.trend_id,
            "year": trend.year,
            "month": trend.month,
            "change": "updated",
        },
        written={trend.account_id: trend.overall_health_score},
        period=_period(trend.year, trend.month),
        before=before,
        at=now,
    )
    return trend


def generate(
    session: Session,
    *,
    customer_id: int,
    now: datetime,
    account_ids: Sequence[int] | None = None,
) -> GenerateResult:
    """Write this month's trend of every account (or the given ones) from its current KPIs.

    The scores are the ones a snapshot computes when an account has no trend
    (``health_calc.computed_health``); an existing trend of the month is
    updated. Accounts without a graded KPI are skipped. Set-based: a fixed
    number of statements per two thousand accounts.
    """
    return _generate(
        session,
        customer_id=customer_id,
        now=now,
        account_ids=account_ids,
        event_type=EventType.HEALTH_SCORES_UPDATED,
    )


def rollup(session: Session, *, customer_id: int, now: datetime) -> GenerateResult:
    """Recalculate every account's health for this month (the corporate rollup)."""
    return _generate(
        session,
        customer_id=customer_id,
        now=now,
        account_ids=None,
        event_type=EventType.HEALTH_ROLLUP_COMPLETED,
    )


def _generate(
    session: Session,
    *,
    customer_id: int,
    now: datetime,
    account_ids: Sequence[int] | None,
    event_type: EventType,
) -> GenerateResult:
    """Generate this month's trends and emit ``event_type`` for each account that got one."""
    if account_ids is not None:
        ids = _owned(session, customer_id, account_ids)
    else:
        ids = list(
            session.execute(
                select(Account.account_id)
                .where(Account.customer_id == customer_id)
                .order_by(Account.account_id)
            ).scalars()
        )
    result = GenerateResult(year=now.year, month=now.month)
    # Scoring the whole tenant needs no id list: one aggregate over its KPIs.
    health = computed_health(
        session, customer_id=customer_id, account_ids=None if account_ids is None else ids
    )
    existing = _existing_trends(session, customer_id, ids, now.year, now.month)
    before = _newest_scores(session, customer_id, None if account_ids is None else ids)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for account_id in ids:
        scores = health.get(account_id)
        if scores is None or scores.overall is None:
            result.skipped.append(account_id)
            continue
        values = scores.fields()
        result.overall[account_id] = scores.overall
        trend_id = existing.get(account_id)
        if trend_id is None:
            inserts.append(
                {
                    "customer_id": customer_id,
                    "account_id": account_id,
                    "year": now.year,
                    "month": now.month,
                    "created_at": now,
                    **values,
                }
            )
        else:
            updates.append({"trend_id": trend_id, "updated_at": now, **values})
    try:
        for start in range(0, len(inserts), _CHUNK):
            session.execute(sa_insert(HealthTrend), inserts[start : start + _CHUNK])
        for start in range(0, len(updates), _CHUNK):
            session.execute(sa_update(HealthTrend), updates[start : start + _CHUNK])
    except IntegrityError as error:
        raise Conflict(
            "health trends were generated by another request at the same time"
        ) from error
    result.created = len(inserts)
    result.updated = len(updates)
    _emit(
        session,
        customer_id=customer_id,
        event_type=event_type,
        payload={"year": now.year, "month": now.month, "change": "generated"},
        written=result.overall,
        period=_period(now.year, now.month),
        before=before,
        at=now,
    )
    return result


def _period(year: int, month: int) -> int:
    """A month as one number, for ordering trends."""
    return year * 12 + month - 1


def _newest_scores(
    session: Session, customer_id: int, account_ids: Sequence[int] | None
) -> dict[int, tuple[int, Decimal | None]]:
    """Each account's newest trend (its month as a number, its overall score): its score now.

    Of the given accounts, or of the whole tenant with None; one query per two
    thousand ids.
    """
    period = HealthTrend.year * 12 + HealthTrend.month - 1
    parts: list[Sequence[int] | None] = (
        [None]
        if account_ids is None
        else [account_ids[start : start + _CHUNK] for start in range(0, len(account_ids), _CHUNK)]
    )
    found: dict[int, tuple[int, Decimal | None]] = {}
    for part in parts:
        conditions = [HealthTrend.customer_id == customer_id]
        if part is not None:
            conditions.append(HealthTrend.account_id.in_(list(part)))
        newest = (
            select(HealthTrend.account_id, func.max(period).label("period"))
            .where(*conditions)
            .group_by(HealthTrend.account_id)
            .subquery()
        )
        for account_id, month_number, score in session.execute(
            select(HealthTrend.account_id, newest.c.period, HealthTrend.overall_health_score)
            .join(
                newest,
                and_(HealthTrend.account_id == newest.c.account_id, period == newest.c.period),
            )
            .where(*conditions)
        ):
            found[account_id] = (int(month_number), score)
    return found


def _emit(
    session: Session,
    *,
    customer_id: int,
    event_type: EventType,
    payload: Mapping[str, Any],
    written: Mapping[int, Decimal | None],
    period: int,
    before: Mapping[int, tuple[int, Decimal | None]],
    at: datetime,
) -> None:
    """Emit ``event_type`` for the accounts given trends of ``period``, and their score changes.

    An account's score is its newest trend's: a trend written for an earlier month
    than its newest one changes no score; one for that month or a later one moves
    the score from the newest trend's before the write to the written one.
    """
    emit(
        session,
        customer_id=customer_id,
        event_type=event_type,
        account_ids=list(written),
        at=at,
        payload=payload,
    )
    moved: dict[int, dict[str, Any]] = {}
    for account_id, score in written.items():
        previous = before.get(account_id)
        if previous is None or previous[0] > period:
            continue
        if health_change_significant(previous[1], score):
            moved[account_id] = {"from": str(previous[1]), "to": str(score)}
    emit_each(
        session,
        customer_id=customer_id,
        event_type=EventType.HEALTH_SCORE_CHANGED,
        payloads=moved,
        at=at,
    )


def _owned(session: Session, customer_id: int, account_ids: Sequence[int]) -> list[int]:
    """The given ids, in order and without repeats, after checking each is the tenant's."""
    wanted = list(dict.fromkeys(account_ids))
    found: set[int] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found.update(
            session.execute(
                select(Account.account_id).where(
                    Account.customer_id == customer_id, Account.account_id.in_(chunk)
                )
            ).scalars()
        )
    for account_id in wanted:
        if account_id not in found:
            raise NotFound("account", account_id)
    return wanted


def _existing_trends(
    session: Session, customer_id: int, ids: Sequence[int], year: int, month: int
) -> dict[int, int]:
    existing: dict[int, int] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = list(ids[start : start + _CHUNK])
        for account_id, trend_id in session.execute(
            select(HealthTrend.account_id, HealthTrend.trend_id).where(
                HealthTrend.customer_id == customer_id,
                HealthTrend.year == year,
                HealthTrend.month == month,
                HealthTrend.account_id.in_(chunk),
            )
        ):
            existing[account_id] = trend_id
    return existing
