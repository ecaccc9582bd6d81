"""Scheduled snapshots (seed 000 §4.1.A and §4.2), kept in the database.

A schedule runs daily, weekly or monthly at a time of day in the tenant's time
zone, over all accounts, the active ones, or those whose health is below a
threshold; a ``recommended`` schedule runs daily and follows the table of
§4.2 (:func:`accounts_for_run`).

A due schedule is **claimed** by moving its ``next_run_at`` forward with a
conditional UPDATE (``... WHERE next_run_at = <the value read>``): of two
schedulers only the one whose UPDATE changes the row makes the run, and the
unique ``(schedule_id, due_at)`` of the runs is a second guard. After downtime
that spans several periods one run catches up (due at the most recent missed
time) and ``next_run_at`` jumps to the first time after now.

A run captures its accounts in id order, one batch per transaction, and keeps
the last id it captured (``cursor_account_id``) in the same transaction as the
batch's snapshots: a crashed run resumes after its cursor and never captures
an account twice. A run is worked on under a lease; a run whose lease ran out
is taken over by another scheduler.

Entry points: :func:`tick` (the worker loop) and :func:`run_now` (the command
line) each use one unit of work per step; the API's run-now uses
:func:`run_now_in` inside the request's transaction. All of them go through
:func:`start_run` and :func:`run_batch`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Engine,
    and_,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from tidemark.clock import Clock, ensure_utc, months_before
from tidemark.db.engine import unit_of_work
from tidemark.db.types import Fixed
from tidemark.errors import Conflict, InvalidInput, NotFound
from tidemark.events.models import (
    SCHEDULE_FREQUENCIES,
    SCHEDULE_SCOPES,
    ScheduleRun,
    SnapshotSchedule,
)
from tidemark.snapshots.capture import capture_accounts
from tidemark.snapshots.models import SnapshotHead
from tidemark.success.models import Account, HealthTrend, PlaybookExecution
from tidemark.tenancy.config import zone
from tidemark.tenancy.models import Customer

log = logging.getLogger(__name__)

#: seed 000 §4.2: the recommended frequency of each kind of account.
HIGH_VALUE_REVENUE = Decimal(1_000_000)
AT_RISK_HEALTH = Decimal(70)
#: An account whose newest snapshot is older than this gets its weekly one. An hour short
#: of a week, so that a daily run at a fixed time finds last week's snapshot old enough.
STANDARD_INTERVAL = timedelta(days=7) - timedelta(hours=1)
#: The same slack for the monthly capture of inactive accounts.
INACTIVE_SLACK = timedelta(hours=1)
#: Account statuses that make an account "inactive" in §4.2 (captured monthly).
INACTIVE_STATUSES: tuple[str, ...] = ("inactive", "churn")
#: Status of an account its CSMs have flagged at risk: captured daily like a low score.
AT_RISK_STATUS = "at_risk"
#: Status of a playbook execution that is still going on.
RUNNING_PLAYBOOK = "in-progress"

WEEKDAY_NAMES: tuple[str, ...] = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)
#: The longest schedule name: ``schedule:<name>`` is the snapshots' trigger_event (100 chars).
MAX_NAME = 90
TRIGGER_PREFIX = "schedule:"
#: Longest error text kept on a run.
ERROR_LIMIT = 2000
DEFAULT_TIME = "02:00"

_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_SCORE = Fixed(5, 2)


class Timing(Protocol):
    """What decides when a schedule is due (a SnapshotSchedule, or any object like it)."""

    @property
    def frequency(self) -> str: ...
    @property
    def time_of_day(self) -> str: ...
    @property
    def weekday(self) -> int: ...
    @property
    def day_of_month(self) -> int: ...


# -- when ------------------------------------------------------------------------------


def parse_time_of_day(text: object, *, where: str = "time_of_day") -> time:
    """A local time of day from "HH:MM" (00:00 to 23:59)."""
    match = _TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise InvalidInput(where, f"{text!r} is not a time of day; expected HH:MM, 00:00 to 23:59")
    return time(int(match[1]), int(match[2]))


def _matches(timing: Timing, day: date) -> bool:
    if timing.frequency == "weekly":
        return day.weekday() == timing.weekday
    if timing.frequency == "monthly":
        return day.day == timing.day_of_month
    return True  # daily, and recommended (which runs daily)


def next_due(timing: Timing, after: datetime, *, timezone: str) -> datetime:
    """The first run time strictly after ``after`` (UTC), at the local time of day in ``timezone``.

    Local times are resolved as Python resolves ``fold=0`` (PEP 495), so the
    result is the same on every machine: a time that a change to summer time
    skips runs as far past the change as it was past the start of the gap
    (02:30 on a day that jumps from 02:00 to 03:00 runs at 03:30), and a time
    that the change back repeats runs once, at its first occurrence.
    """
    tz = zone(timezone)
    at = parse_time_of_day(timing.time_of_day)
    moment = ensure_utc(after)
    # Start a day early: the local date of ``after`` may be past a candidate still to come.
    day = moment.astimezone(tz).date() - timedelta(days=1)
    for _ in range(400):
        if _matches(timing, day):
            candidate = datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
            if candidate > moment:
                return candidate
        day += timedelta(days=1)
    raise InvalidInput("frequency", f"no run time found for {timing.frequency!r}")


def due_and_next(
    timing: Timing, next_run_at: datetime, now: datetime, *, timezone: str
) -> tuple[datetime, datetime]:
    """For a schedule due at ``next_run_at`` <= ``now``: the run to make and the next one.

    However many periods were missed, the run to make is the most recent one
    due (one catch-up run, not one per period) and the next is the first after
    ``now``.
    """
    due = next_run_at
    following = next_due(timing, due, timezone=timezone)
    while following <= now:
        due = following
        following = next_due(timing, due, timezone=timezone)
    return due, following


# -- schedules -------------------------------------------------------------------------


def _timezone(session: Session, customer_id: int) -> str:
    found = session.execute(
        select(Customer.timezone).where(Customer.customer_id == customer_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound("customer", customer_id)
    return found


def list_schedules(session: Session, *, customer_id: int) -> list[SnapshotSchedule]:
    """The tenant's schedules by name."""
    return list(
        session.execute(
            select(SnapshotSchedule)
            .where(SnapshotSchedule.customer_id == customer_id)
            .order_by(SnapshotSchedule.name, SnapshotSchedule.schedule_id)
        ).scalars()
    )


def get(session: Session, *, customer_id: int, schedule_id: int) -> SnapshotSchedule:
    """One of the tenant's schedules; NotFound for another tenant's."""
    found = session.get(SnapshotSchedule, schedule_id)
    if found is None or found.customer_id != customer_id:
        raise NotFound("snapshot schedule", schedule_id)
    return found


def find_by_name(session: Session, *, customer_id: int, name: str) -> SnapshotSchedule | None:
    """The tenant's schedule called ``name``, or None."""
    return session.execute(
        select(SnapshotSchedule).where(
            SnapshotSchedule.customer_id == customer_id, SnapshotSchedule.name == name.strip()
        )
    ).scalar_one_or_none()


def get_by_name(session: Session, *, customer_id: int, name: str) -> SnapshotSchedule:
    """The tenant's schedule called ``name``; NotFound when it has none."""
    found = find_by_name(session, customer_id=customer_id, name=name)
    if found is None:
        raise NotFound("snapshot schedule", name)
    return found


def tenant_timezone(session: Session, *, customer_id: int) -> str:
    """The IANA time zone the tenant's schedules run in."""
    return _timezone(session, customer_id)


def _check_name(name: object) -> str:
    clean = name.strip() if isinstance(name, str) else ""
    if not clean:
        raise InvalidInput("name", "must not be empty")
    if len(clean) > MAX_NAME:
        raise InvalidInput("name", f"at most {MAX_NAME} characters")
    if any(ord(char) < 32 for char in clean):
        raise InvalidInput("name", "must not contain control characters")
    return clean


def _check_threshold(value: object) -> Decimal:
    try:
        number = Decimal(str(value)) if not isinstance(value, bool) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or not 0 <= number <= 100:
        raise InvalidInput("health_threshold", f"{value!r} is not a score from 0 to 100")
    return _SCORE.quantize(number)


def parse_weekday(value: object, *, where: str = "weekday") -> int:
    """A weekday as 0 (Monday) to 6 (Sunday), from a number or a name (mon, Tuesday, ...)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit() and 0 <= int(text) <= 6:
            return int(text)
        for number, day in enumerate(WEEKDAY_NAMES):
            if text in (day.lower(), day[:3].lower()):
                return number
    raise InvalidInput(where, f"{value!r} is not a weekday; expected 0 (Monday) to 6 or mon..sun")


def set_schedule(
    session: Session,
    *,
    customer_id: int,
    name: str,
    frequency: str,
    now: datetime,
    time_of_day: str = DEFAULT_TIME,
    weekday: int | str | None = None,
    day_of_month: int | None = None,
    scope: str = "all",
    health_threshold: Decimal | float | int | str | None = None,
    enabled: bool = True,
) -> SnapshotSchedule:
    """Create the tenant's schedule called ``name``, or replace its settings.

    ``weekday`` (0 = Monday, the default) is for weekly schedules and
    ``day_of_month`` (1-28, default 1) for monthly ones; ``health_threshold``
    (0-100) is required by, and only allowed with, the ``health_below`` scope.
    The next run is worked out again when the timing changes or the schedule is
    enabled; otherwise a run already due stays due. Does not commit.
    """
    clean = _check_name(name)
    if frequency not in SCHEDULE_FREQUENCIES:
        raise InvalidInput(
            "frequency", f"{frequency!r}: expected one of {', '.join(SCHEDULE_FREQUENCIES)}"
        )
    local_time = parse_time_of_day(time_of_day).strftime("%H:%M")
    day = 0 if weekday is None else parse_weekday(weekday)
    if day_of_month is None:
        day_of_month = 1
    if (
        isinstance(day_of_month, bool)
        or not isinstance(day_of_month, int)
        or not 1 <= day_of_month <= 28
    ):
        raise InvalidInput(
            "day_of_month", f"{day_of_month!r}: expected 1 to 28 (every month has those days)"
        )
    if scope not in SCHEDULE_SCOPES:
        raise InvalidInput("scope", f"{scope!r}: expected one of {', '.join(SCHEDULE_SCOPES)}")
    threshold: Decimal | None = None
    if scope == "health_below":
        if health_threshold is None:
            raise InvalidInput("health_threshold", "required with scope health_below (0 to 100)")
        threshold = _check_threshold(health_threshold)
    elif health_threshold is not None:
        raise InvalidInput("health_threshold", "only used with scope health_below")
    if frequency == "recommended" and scope != "all":
        raise InvalidInput(
            "scope", "a recommended schedule chooses its accounts by the §4.2 table; use all"
        )
    timezone = _timezone(session, customer_id)

    schedule = find_by_name(session, customer_id=customer_id, name=clean)
    if schedule is None:
        schedule = SnapshotSchedule(customer_id=customer_id, name=clean, created_at=now)
        session.add(schedule)
        retime = True
    else:
        retime = (
            (schedule.frequency, schedule.time_of_day, schedule.weekday, schedule.day_of_month)
            != (frequency, local_time, day, day_of_month)
        ) or (enabled and not schedule.enabled)
        schedule.updated_at = now
    schedule.frequency = frequency
    schedule.time_of_day = local_time
    schedule.weekday = day
    schedule.day_of_month = day_of_month
    schedule.scope = scope
    schedule.health_threshold = threshold
    schedule.enabled = enabled
    if retime:
        schedule.next_run_at = next_due(schedule, now, timezone=timezone)
    session.flush()
    return schedule


def delete(session: Session, *, customer_id: int, schedule_id: int) -> None:
    """Remove one of the tenant's schedules and its runs (the snapshots stay)."""
    schedule = get(session, customer_id=customer_id, schedule_id=schedule_id)
    session.delete(schedule)
    session.flush()


def reschedule_tenant(session: Session, *, customer_id: int, now: datetime) -> int:
    """Work out the next run of each of the tenant's schedules again (its time zone changed)."""
    timezone = _timezone(session, customer_id)
    schedules = list_schedules(session, customer_id=customer_id)
    for schedule in schedules:
        schedule.next_run_at = next_due(schedule, now, timezone=timezone)
        schedule.updated_at = now
    session.flush()
    return len(schedules)


# -- which accounts --------------------------------------------------------------------


def health_expression(*, customer_id: int, at: datetime) -> ColumnElement[Any]:
    """Each account's overall health as capture sees it, as one SQL expression.

    Capture takes the score of the newest health trend of the month of ``at``
    or before (``tidemark.snapshots.source``); an account without one is scored
    from its KPIs at capture time, so here its newest snapshot's score stands
    in. NULL when neither exists. Compared in stored form (``Fixed(5, 2)``).
    """
    period = at.year * 100 + at.month
    trend = (
        select(HealthTrend.overall_health_score)
        .where(
            HealthTrend.account_id == Account.account_id,
            HealthTrend.customer_id == customer_id,
            HealthTrend.year * 100 + HealthTrend.month <= period,
        )
        .order_by(HealthTrend.year.desc(), HealthTrend.month.desc())
        .limit(1)
        .scalar_subquery()
    )
    head = (
        select(SnapshotHead.overall_health_score)
        .where(SnapshotHead.account_id == Account.account_id)
        .scalar_subquery()
    )
    return func.coalesce(trend, head)


def _newest_snapshot_before(moment: datetime) -> ColumnElement[bool]:
    """The account has no snapshot, or its newest is older than ``moment``."""
    return not_(
        exists().where(
            SnapshotHead.account_id == Account.account_id,
            SnapshotHead.snapshot_timestamp >= moment,
        )
    )


def selection(
    schedule: SnapshotSchedule, *, at: datetime, by_id: bool = False
) -> list[ColumnElement[bool]]:
    """The conditions on ``accounts`` that pick the accounts a run of ``schedule`` covers at ``at``.

    ``recommended`` (seed 000 §4.2), evaluated at each run of the daily
    schedule: every day the high-value accounts (revenue over $1M), the at-risk
    ones (health below 70, or flagged ``at_risk``) and those with a playbook in
    progress; inactive accounts (``inactive``, ``churn``) when their newest
    snapshot of any kind is a calendar month old or they have none; every other
    account when its newest snapshot is a week old or it has none (each less an
    hour, so a run at the same time of day finds last period's snapshot old
    enough).
    """
    customer_id = schedule.customer_id
    # ``by_id``: the rows are walked in id order from a cursor, so keep the planner on the
    # primary key ("+ 0" hides the tenant's index): through the tenant's index it would read
    # and test all of the tenant's accounts past the cursor for every batch of 500.
    tenant = Account.customer_id + 0 if by_id else Account.customer_id
    conditions: list[ColumnElement[bool]] = [tenant == customer_id]
    if schedule.frequency == "recommended":
        health = health_expression(customer_id=customer_id, at=at)
        playbook_running = exists().where(
            PlaybookExecution.account_id == Account.account_id,
            PlaybookExecution.customer_id == customer_id,
            PlaybookExecution.status == RUNNING_PLAYBOOK,
        )
        daily = or_(
            Account.revenue > HIGH_VALUE_REVENUE,
            health < literal(AT_RISK_HEALTH, _SCORE),
            Account.account_status == AT_RISK_STATUS,
            playbook_running,
        )
        inactive = Account.account_status.in_(INACTIVE_STATUSES)
        monthly = and_(inactive, _newest_snapshot_before(months_before(at, 1) + INACTIVE_SLACK))
        weekly = and_(not_(inactive), _newest_snapshot_before(at - STANDARD_INTERVAL))
        conditions.append(or_(daily, monthly, weekly))
    elif schedule.scope == "active_only":
        conditions.append(Account.account_status == "active")
    elif schedule.scope == "health_below":
        threshold = schedule.health_threshold
        if threshold is None:
            raise InvalidInput("health_threshold", "required with scope health_below (0 to 100)")
        health = health_expression(customer_id=customer_id, at=at)
        conditions.append(health < literal(threshold, _SCORE))
    return conditions


def accounts_for_run(
    session: Session,
    *,
    schedule: SnapshotSchedule,
    at: datetime,
    after_account_id: int = 0,
    limit: int | None = None,
) -> list[int]:
    """The ids of the accounts a run covers at ``at``, ascending, past ``after_account_id``."""
    query = (
        select(Account.account_id)
        .where(*selection(schedule, at=at, by_id=True), Account.account_id > after_account_id)
        .order_by(Account.account_id)
    )
    if limit is not None:
        query = query.limit(limit)
    if session.connection().dialect.name != "postgresql":
        return list(session.execute(query).scalars())
    # PostgreSQL cannot tell how soon the walk finds its batch, so it prices the query as a
    # scan of the whole table and compiles it (JIT) first: half a second per batch at 100,000
    # accounts, for a query that runs in 15 ms. Off for this statement only (a statement that
    # fails ends the transaction, and the setting with it).
    previous = session.execute(select(func.current_setting("jit"))).scalar_one()
    session.execute(select(func.set_config("jit", "off", True)))
    ids = list(session.execute(query).scalars())
    session.execute(select(func.set_config("jit", previous, True)))
    return ids


def count_accounts_for_run(session: Session, *, schedule: SnapshotSchedule, at: datetime) -> int:
    """How many accounts a run of ``schedule`` at ``at`` covers."""
    return int(
        session.execute(
            select(func.count()).select_from(Account).where(*selection(schedule, at=at))
        ).scalar_one()
    )


# -- runs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of a schedule's runs, newest first, with the number it has."""

    items: list[ScheduleRun]
    total: int
    limit: int
    offset: int


def list_runs(
    session: Session, *, customer_id: int, schedule_id: int, limit: int = 50, offset: int = 0
) -> RunPage:
    """A schedule's runs, newest first."""
    get(session, customer_id=customer_id, schedule_id=schedule_id)
    conditions = [
        ScheduleRun.customer_id == customer_id,
        ScheduleRun.schedule_id == schedule_id,
    ]
    total = session.execute(select(func.count()).where(*conditions)).scalar_one()
    items = session.execute(
        select(ScheduleRun)
        .where(*conditions)
        .order_by(ScheduleRun.due_at.desc(), ScheduleRun.run_id.desc())
        .limit(limit)
        .offset(offset)
    ).scalars()
    return RunPage(list(items), int(total), limit, offset)


def get_run(session: Session, *, customer_id: int, run_id: int) -> ScheduleRun:
    """One of the tenant's runs (read afresh from the database); NotFound for another's."""
    found = session.execute(
        select(ScheduleRun)
        .where(ScheduleRun.run_id == run_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if found is None or found.customer_id != customer_id:
        raise NotFound("schedule run", run_id)
    return found


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount or 0)


def _lease_end(now: datetime, lease_seconds: float) -> datetime:
    return now + timedelta(seconds=lease_seconds)


def _run_exists(session: Session, schedule_id: int, due_at: datetime) -> bool:
    return (
        session.execute(
            select(ScheduleRun.run_id).where(
                ScheduleRun.schedule_id == schedule_id, ScheduleRun.due_at == due_at
            )
        ).first()
        is not None
    )


def start_run(
    session: Session,
    *,
    schedule: SnapshotSchedule,
    due_at: datetime,
    now: datetime,
    owner: str,
    lease_seconds: float,
) -> ScheduleRun:
    """A new run of ``schedule``, due at ``due_at`` and leased to ``owner``. Does not commit."""
    if _run_exists(session, schedule.schedule_id, due_at):
        raise Conflict(f"schedule {schedule.name!r} already has a run due at {due_at.isoformat()}")
    run = ScheduleRun(
        schedule_id=schedule.schedule_id,
        customer_id=schedule.customer_id,
        due_at=due_at,
        started_at=now,
        state="running",
        lease_owner=owner[:64],
        lease_until=_lease_end(now, lease_seconds),
        cursor_account_id=0,
        accounts_total=count_accounts_for_run(session, schedule=schedule, at=now),
        snapshots_created=0,
    )
    session.add(run)
    schedule.last_run_at = now
    session.flush()
    return run


def due_schedules(session: Session, *, now: datetime) -> list[tuple[int, datetime]]:
    """Every enabled schedule (of any tenant) due by ``now``: its id and ``next_run_at``."""
    rows = session.execute(
        select(SnapshotSchedule.schedule_id, SnapshotSchedule.next_run_at)
        .where(SnapshotSchedule.enabled.is_(True), SnapshotSchedule.next_run_at <= now)
        .order_by(SnapshotSchedule.next_run_at, SnapshotSchedule.schedule_id)
    ).all()
    return [(schedule_id, next_run_at) for schedule_id, next_run_at in rows]


def claim_due(
    session: Session,
    *,
    schedule_id: int,
    seen_next_run_at: datetime,
    now: datetime,
    owner: str,
    lease_seconds: float,
) -> ScheduleRun | None:
    """Claim the run of a schedule that was seen due at ``seen_next_run_at``; None if taken.

    The claim is a conditional UPDATE of ``next_run_at`` from the value seen:
    when another scheduler claimed the run first, the row no longer has that
    value and nothing changes. Older runs of the schedule still going are
    closed as failed: the new run covers the same accounts. Does not commit.
    """
    schedule = session.get(SnapshotSchedule, schedule_id)
    if schedule is None or not schedule.enabled:
        return None
    timezone = _timezone(session, schedule.customer_id)
    due, following = due_and_next(schedule, seen_next_run_at, now, timezone=timezone)
    moved = session.execute(
        update(SnapshotSchedule)
        .where(
            SnapshotSchedule.schedule_id == schedule_id,
            SnapshotSchedule.next_run_at == seen_next_run_at,
            SnapshotSchedule.enabled.is_(True),
        )
        .values(next_run_at=following)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(moved) != 1:
        return None
    session.refresh(schedule)
    if _run_exists(session, schedule_id, due):
        # A run-now at exactly this moment has covered the period already.
        return None
    session.execute(
        update(ScheduleRun)
        .where(ScheduleRun.schedule_id == schedule_id, ScheduleRun.state == "running")
        .values(
            state="failed",
            finished_at=now,
            lease_owner=None,
            lease_until=None,
            error=f"superseded by the run due at {due.isoformat()}",
        )
        .execution_options(synchronize_session=False)
    )
    return start_run(
        session, schedule=schedule, due_at=due, now=now, owner=owner, lease_seconds=lease_seconds
    )


def workable_runs(session: Session, *, now: datetime, owner: str) -> list[int]:
    """Runs (of any tenant) ``owner`` may work on: its own, and those whose lease ran out."""
    return list(
        session.execute(
            select(ScheduleRun.run_id)
            .where(ScheduleRun.state == "running", _leasable(now, owner))
            .order_by(ScheduleRun.run_id)
        ).scalars()
    )


def _leasable(now: datetime, owner: str) -> ColumnElement[bool]:
    return or_(
        ScheduleRun.lease_owner == owner[:64],
        ScheduleRun.lease_until.is_(None),
        ScheduleRun.lease_until <= now,
    )


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch of a run did, and where the run stands after it."""

    run_id: int
    customer_id: int
    accounts: int
    snapshots: int
    finished: bool
    #: The run's totals so far: snapshots created, and accounts counted at its start.
    snapshots_created: int
    accounts_total: int


def describe_due(schedule: SnapshotSchedule, due_at: datetime, timezone: str) -> str:
    """The snapshots' reason: "scheduled daily run 2026-11-22 02:00 Asia/Bangkok"."""
    local = due_at.astimezone(zone(timezone)).strftime("%Y-%m-%d %H:%M")
    return f"scheduled {schedule.frequency} run {local} {timezone}"


def run_batch(
    session: Session,
    *,
    run_id: int,
    now: datetime,
    owner: str,
    batch_size: int = 500,
    lease_seconds: float = 60.0,
) -> BatchResult | None:
    """Capture the run's next ``batch_size`` accounts and move its cursor past them.

    Takes or renews the run's lease first (a conditional UPDATE, so two
    schedulers never work on one run at once); None when another holds it or the
    run is over. The snapshots and the cursor commit together. Does not commit.
    """
    if batch_size < 1:
        raise InvalidInput("batch_size", "must be at least 1")
    owner = owner[:64]
    leased = session.execute(
        update(ScheduleRun)
        .where(
            ScheduleRun.run_id == run_id,
            ScheduleRun.state == "running",
            _leasable(now, owner),
        )
        .values(lease_owner=owner, lease_until=_lease_end(now, lease_seconds))
        .execution_options(synchronize_session=False)
    )
    if _rowcount(leased) != 1:
        return None
    run = session.execute(
        select(ScheduleRun)
        .where(ScheduleRun.run_id == run_id)
        .execution_options(populate_existing=True)
    ).scalar_one()
    schedule = session.get_one(SnapshotSchedule, run.schedule_id)
    timezone = _timezone(session, run.customer_id)
    ids = accounts_for_run(
        session, schedule=schedule, at=now, after_account_id=run.cursor_account_id, limit=batch_size
    )
    created = 0
    if ids:
        written = capture_accounts(
            session,
            customer_id=run.customer_id,
            at=now,
            snapshot_type="scheduled",
            account_ids=ids,
            reason=describe_due(schedule, run.due_at, timezone),
            trigger_event=f"{TRIGGER_PREFIX}{schedule.name}",
            batch_size=batch_size,
        )
        created = len(written.snapshot_ids)
        run.cursor_account_id = ids[-1]
        run.snapshots_created += created
    run.error = None
    finished = len(ids) < batch_size
    if finished:
        run.state = "done"
        run.finished_at = now
        run.lease_owner = None
        run.lease_until = None
    session.flush()
    return BatchResult(
        run_id=run_id,
        customer_id=run.customer_id,
        accounts=len(ids),
        snapshots=created,
        finished=finished,
        snapshots_created=run.snapshots_created,
        accounts_total=run.accounts_total,
    )


def record_failure(
    session: Session, *, run_id: int, owner: str, now: datetime, error: str, retry_after: float
) -> bool:
    """Keep a batch's error on the run and let any scheduler retry it after ``retry_after`` s.

    The run stays ``running`` at its cursor. Does not commit.
    """
    result = session.execute(
        update(ScheduleRun)
        .where(
            ScheduleRun.run_id == run_id,
            ScheduleRun.state == "running",
            ScheduleRun.lease_owner == owner[:64],
        )
        .values(
            error=error[:ERROR_LIMIT],
            lease_owner=None,
            lease_until=_lease_end(now, retry_after),
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


# -- entry points ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RunInfo:
    run_id: int
    customer_id: int
    schedule: str
    reason: str
    accounts_total: int


def _info(session: Session, run: ScheduleRun) -> _RunInfo:
    schedule = session.get_one(SnapshotSchedule, run.schedule_id)
    timezone = _timezone(session, run.customer_id)
    return _RunInfo(
        run_id=run.run_id,
        customer_id=run.customer_id,
        schedule=schedule.name,
        reason=describe_due(schedule, run.due_at, timezone),
        accounts_total=run.accounts_total,
    )


def _log_started(info: _RunInfo) -> None:
    log.info(
        "Run %d of schedule %r (customer %d) started: %s, %d account(s)",
        info.run_id,
        info.schedule,
        info.customer_id,
        info.reason,
        info.accounts_total,
    )


def _log_finished(step: BatchResult) -> None:
    log.info(
        "Run %d (customer %d) finished: %d snapshot(s); %d account(s) counted at its start",
        step.run_id,
        step.customer_id,
        step.snapshots_created,
        step.accounts_total,
    )


@dataclass(frozen=True, slots=True)
class WorkDone:
    """What working on one run did: snapshots, batches, and whether the run is over."""

    snapshots: int = 0
    batches: int = 0
    finished: bool = False


def work_on_run(
    engine: Engine,
    *,
    run_id: int,
    clock: Clock,
    owner: str,
    batch_size: int = 500,
    lease_seconds: float = 60.0,
    max_batches: int | None = None,
    progress: Callable[[int], Any] | None = None,
    reraise: bool = False,
) -> WorkDone:
    """Work on one run batch by batch, one transaction each, until it ends or the lease is lost.

    A batch that fails rolls back, leaves its error on the run and lets any
    scheduler retry it after ``lease_seconds``; with ``reraise`` the error is
    raised too. ``progress`` is given the number of accounts of each batch.
    """
    snapshots = batches = 0
    while max_batches is None or batches < max_batches:
        try:
            with unit_of_work(engine, write=True) as session:
                step = run_batch(
                    session,
                    run_id=run_id,
                    now=clock.now(),
                    owner=owner,
                    batch_size=batch_size,
                    lease_seconds=lease_seconds,
                )
        except Exception as error:
            log.exception("Run %d failed in a batch; it resumes from its cursor", run_id)
            with unit_of_work(engine, write=True) as session:
                record_failure(
                    session,
                    run_id=run_id,
                    owner=owner,
                    now=clock.now(),
                    error=f"{type(error).__name__}: {error}",
                    retry_after=lease_seconds,
                )
            if reraise:
                raise
            break
        if step is None:
            break
        batches += 1
        snapshots += step.snapshots
        if progress is not None and step.accounts:
            progress(step.accounts)
        if step.finished:
            _log_finished(step)
            return WorkDone(snapshots, batches, finished=True)
    return WorkDone(snapshots, batches, finished=False)


def tick(
    engine: Engine,
    *,
    clock: Clock,
    owner: str,
    batch_size: int = 500,
    lease_seconds: float = 60.0,
    max_batches: int | None = None,
) -> int:
    """Claim the runs that are due and work on running ones; the snapshots created.

    Each claim and each batch is a transaction of its own; a claim that fails
    is logged and tried again at the next tick. ``max_batches``
    bounds the batches of this call (the run carries on at the next call, still
    leased to ``owner``); None works until no run is left. A batch that fails
    leaves its error on the run, which any scheduler retries after
    ``lease_seconds``.
    """
    with unit_of_work(engine) as session:
        due = due_schedules(session, now=clock.now())
    for schedule_id, seen in due:
        try:
            with unit_of_work(engine, write=True) as session:
                run = claim_due(
                    session,
                    schedule_id=schedule_id,
                    seen_next_run_at=seen,
                    now=clock.now(),
                    owner=owner,
                    lease_seconds=lease_seconds,
                )
                info = _info(session, run) if run is not None else None
        except Exception:
            # One tenant's broken schedule (a time zone that no longer exists) must not
            # hold up the others; it stays due and is tried again at the next tick.
            log.exception("Claiming the run of schedule %d failed", schedule_id)
            continue
        if info is not None:
            _log_started(info)
    with unit_of_work(engine) as session:
        runs = workable_runs(session, now=clock.now(), owner=owner)
    created = 0
    batches = 0
    for run_id in runs:
        left = None if max_batches is None else max_batches - batches
        if left is not None and left <= 0:
            break
        done = work_on_run(
            engine,
            run_id=run_id,
            clock=clock,
            owner=owner,
            batch_size=batch_size,
            lease_seconds=lease_seconds,
            max_batches=left,
        )
        created += done.snapshots
        batches += done.batches
    return created


def run_now(
    engine: Engine,
    *,
    customer_id: int,
    name: str,
    clock: Clock,
    owner: str,
    batch_size: int = 500,
    lease_seconds: float = 60.0,
    progress: Callable[[int], Any] | None = None,
    on_start: Callable[[ScheduleRun], Any] | None = None,
) -> ScheduleRun:
    """Run the tenant's schedule called ``name`` now, to the end, one batch per transaction.

    ``on_start`` is given the new run (its ``accounts_total`` sizes a progress
    bar) and ``progress`` the number of accounts of each batch. A batch that
    fails is recorded on the run and raised; the worker resumes the run later.
    """
    with unit_of_work(engine, write=True) as session:
        schedule = get_by_name(session, customer_id=customer_id, name=name)
        now = clock.now()
        run = start_run(
            session,
            schedule=schedule,
            due_at=now,
            now=now,
            owner=owner,
            lease_seconds=lease_seconds,
        )
        info = _info(session, run)
    _log_started(info)
    if on_start is not None:
        on_start(run)
    work_on_run(
        engine,
        run_id=info.run_id,
        clock=clock,
        owner=owner,
        batch_size=batch_size,
        lease_seconds=lease_seconds,
        progress=progress,
        reraise=True,
    )
    with unit_of_work(engine) as session:
        return get_run(session, customer_id=customer_id, run_id=info.run_id)


def run_now_in(
    session: Session,
    *,
    customer_id: int,
    schedule_id: int,
    now: datetime,
    owner: str,
    batch_size: int = 500,
) -> ScheduleRun:
    """Run one of the tenant's schedules now, to the end, inside the caller's transaction.

    The same steps as the worker's (:func:`start_run`, :func:`run_batch`), for
    an HTTP request that owns its transaction. Does not commit.
    """
    schedule = get(session, customer_id=customer_id, schedule_id=schedule_id)
    run = start_run(
        session, schedule=schedule, due_at=now, now=now, owner=owner, lease_seconds=3600.0
    )
    _log_started(_info(session, run))
    while True:
        step = run_batch(
            session,
            run_id=run.run_id,
            now=now,
            owner=owner,
            batch_size=batch_size,
            lease_seconds=3600.0,
        )
        if step is None:
            raise Conflict(f"run {run.run_id} was taken over while it ran")
        if step.finished:
            _log_finished(step)
            break
    return get_run(session, customer_id=customer_id, run_id=run.run_id)


def timing_of(schedule: SnapshotSchedule) -> str:
    """How often and when, in words: "daily at 02:00", "weekly on Monday at 02:00"."""
    at = schedule.time_of_day
    if schedule.frequency == "weekly":
        return f"weekly on {WEEKDAY_NAMES[schedule.weekday]} at {at}"
    if schedule.frequency == "monthly":
        return f"monthly on day {schedule.day_of_month} at {at}"
    if schedule.frequency == "recommended":
        return f"recommended (§4.2), daily at {at}"
    return f"daily at {at}"


def scope_of(schedule: SnapshotSchedule) -> str:
    """Which accounts, in words."""
    if schedule.frequency == "recommended":
        return "by the §4.2 table"
    if schedule.scope == "health_below":
        return f"health below {schedule.health_threshold}"
    if schedule.scope == "active_only":
        return "active accounts"
    return "all accounts"


def local_time(moment: datetime | None, timezone: str) -> str | None:
    """``moment`` in the tenant's zone, "2026-11-22 02:00"."""
    if moment is None:
        return None
    return moment.astimezone(zone(timezone)).strftime("%Y-%m-%d %H:%M")
