"""Reading and repairing the outbox, coverage figures, and capture on demand."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Float, Table, extract, func, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from tidemark.errors import InvalidInput, NotFound
from tidemark.events.models import EVENT_STATES, OutboxEvent
from tidemark.snapshots.capture import capture_accounts
from tidemark.snapshots.models import SnapshotHead
from tidemark.success import accounts
from tidemark.success.models import Account

_EVENTS = cast(Table, OutboxEvent.__table__)

#: Coverage counts an account as covered with a snapshot this recent (seed 000 §7: monthly).
COVERAGE_DAYS = 31
#: The window of the event-to-snapshot delay figures.
DELAY_WINDOW = timedelta(days=1)
#: Trigger of the assistant's capture of an account without snapshots (seed 002).
RAG_TRIGGER = "rag_query_missing_snapshot"


@dataclass(frozen=True, slots=True)
class EventPage:
    """A page of events and the total that match."""

    items: list[OutboxEvent]
    total: int
    limit: int
    offset: int


def get(session: Session, *, customer_id: int, event_id: int) -> OutboxEvent:
    """One of the tenant's events; NotFound for another tenant's."""
    found = session.get(OutboxEvent, event_id)
    if found is None or found.customer_id != customer_id:
        raise NotFound("event", event_id)
    return found


def list_events(
    session: Session,
    *,
    customer_id: int,
    state: str | None = None,
    account_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> EventPage:
    """The tenant's events, newest first, with the total that match."""
    if state is not None and state not in EVENT_STATES:
        raise InvalidInput("state", f"expected one of {', '.join(EVENT_STATES)}")
    conditions: list[ColumnElement[bool]] = [OutboxEvent.customer_id == customer_id]
    if state is not None:
        conditions.append(OutboxEvent.state == state)
    if account_id is not None:
        accounts.get(session, customer_id=customer_id, account_id=account_id)
        conditions.append(OutboxEvent.account_id == account_id)
    total = session.execute(select(func.count()).where(*conditions)).scalar_one()
    rows = session.execute(
        select(OutboxEvent)
        .where(*conditions)
        .order_by(OutboxEvent.event_id.desc())
        .limit(limit)
        .offset(offset)
    ).scalars()
    return EventPage(list(rows), int(total), limit, offset)


def retry(session: Session, *, customer_id: int, event_ids: list[int], now: datetime) -> int:
    """Put dead events back in the queue with a fresh count of attempts; how many moved."""
    for event_id in event_ids:
        event = get(session, customer_id=customer_id, event_id=event_id)
        if event.state != "dead":
            raise InvalidInput("event_id", f"event {event_id} is {event.state}, not dead")
    return _requeue(session, [OutboxEvent.event_id.in_(event_ids)], customer_id, now)


def retry_dead(session: Session, *, customer_id: int, now: datetime) -> int:
    """Put every dead event of the tenant back in the queue."""
    return _requeue(session, [OutboxEvent.state == "dead"], customer_id, now)


def _requeue(
    session: Session, conditions: list[ColumnElement[bool]], customer_id: int, now: datetime
) -> int:
    result = session.execute(
        update(_EVENTS)
        .where(_EVENTS.c.customer_id == customer_id, _EVENTS.c.state == "dead", *conditions)
        .values(
            state="pending",
            attempts=0,
            claims=0,
            available_at=now,
            processed_at=None,
            lease_owner=None,
            lease_until=None,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True, slots=True)
class Coverage:
    """Seed 000 §7 for one tenant: coverage, timeliness, and what is stuck."""

    accounts: int
    covered: int
    pending: int
    deferred: int
    dead: int
    oldest_pending_seconds: float | None
    processed_last_day: int
    delay_median_seconds: float | None
    delay_p99_seconds: float | None

    @property
    def coverage_percent(self) -> float | None:
        """Share of accounts with a snapshot in the last 31 days, in percent."""
        if not self.accounts:
            return None
        return round(100.0 * self.covered / self.accounts, 2)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "accounts_with_recent_snapshot": self.covered,
            "coverage_percent": self.coverage_percent,
            "coverage_days": COVERAGE_DAYS,
            "events_pending": self.pending,
            "events_deferred": self.deferred,
            "events_dead": self.dead,
            "oldest_pending_seconds": self.oldest_pending_seconds,
            "events_processed_last_day": self.processed_last_day,
            "delay_median_seconds": self.delay_median_seconds,
            "delay_p99_seconds": self.delay_p99_seconds,
        }


def _seconds_between(session: Session, later: Any, earlier: Any) -> ColumnElement[float]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(ColumnElement[float], extract("epoch", later - earlier))
    # UtcDateTime stores integer microseconds on SQLite.
    return cast(ColumnElement[float], sql_cast(later - earlier, Float) / 1_000_000.0)


def coverage(session: Session, *, customer_id: int, now: datetime) -> Coverage:
    """The tenant's coverage figures as of ``now``."""
    total_accounts = session.execute(
        select(func.count()).where(Account.customer_id == customer_id)
    ).scalar_one()
    covered = session.execute(
        select(func.count()).where(
            SnapshotHead.customer_id == customer_id,
            SnapshotHead.snapshot_timestamp >= now - timedelta(days=COVERAGE_DAYS),
        )
    ).scalar_one()
    states = dict(
        session.execute(
            select(OutboxEvent.state, func.count())
            .where(OutboxEvent.customer_id == customer_id, OutboxEvent.state != "done")
            .group_by(OutboxEvent.state)
        ).all()
    )
    oldest = session.execute(
        select(func.min(OutboxEvent.created_at)).where(
            OutboxEvent.customer_id == customer_id, OutboxEvent.state == "pending"
        )
    ).scalar_one()
    delay = _seconds_between(session, _EVENTS.c.processed_at, _EVENTS.c.created_at)
    recent = (
        _EVENTS.c.customer_id == customer_id,
        _EVENTS.c.state == "done",
        _EVENTS.c.processed_at >= now - DELAY_WINDOW,
    )
    processed = int(session.execute(select(func.count()).where(*recent)).scalar_one())

    def percentile(share: float) -> float | None:
        if not processed:
            return None
        # Nearest rank: the smallest delay with at least ``share`` of the delays at or below it.
        rank = max(1, math.ceil(share * processed))
        value = session.execute(
            select(delay).where(*recent).order_by(delay).limit(1).offset(rank - 1)
        ).scalar_one()
        return round(max(float(value), 0.0), 3)

    return Coverage(
        accounts=int(total_accounts),
        covered=int(covered),
        pending=int(states.get("pending", 0)),
        deferred=int(states.get("deferred", 0)),
        dead=int(states.get("dead", 0)),
        oldest_pending_seconds=None
        if oldest is None
        else round(max((now - oldest).total_seconds(), 0.0), 3),
        processed_last_day=processed,
        delay_median_seconds=percentile(0.5),
        delay_p99_seconds=percentile(0.99),
    )


def ensure_snapshot(
    session: Session, *, customer_id: int, account_id: int, now: datetime
) -> tuple[int, bool]:
    """The account's newest snapshot id, capturing a ``rag_auto`` one first when it has none.

    Returns ``(snapshot_id, created)``. The assistant calls this before it answers
    about an account (seed 002, "RAG Auto"). Does not commit.
    """
    accounts.get(session, customer_id=customer_id, account_id=account_id)
    newest = session.execute(
        select(SnapshotHead.snapshot_id).where(
            SnapshotHead.customer_id == customer_id, SnapshotHead.account_id == account_id
        )
    ).scalar_one_or_none()
    if newest is not None:
        return newest, False
    written = capture_accounts(
        session,
        customer_id=customer_id,
        at=now,
        snapshot_type="rag_auto",
        account_ids=[account_id],
        reason="the assistant needed a snapshot of this account",
        trigger_event=RAG_TRIGGER,
    )
    return written.snapshot_ids[0], True
