"""The outbox: a data change writes its event in its own transaction.

A write path calls :func:`emit` (or :func:`emit_for_tenant`) with the session
that makes the change; the event rows commit or roll back with the change, so a
change is never left without its event and a rolled-back change leaves none.
The worker (:mod:`tidemark.events.worker`) turns the rows into snapshots.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import event, insert, literal, select
from sqlalchemy.orm import Session

from tidemark.events.models import OutboxEvent
from tidemark.snapshots.derive import SIGNIFICANT_HEALTH, SIGNIFICANT_REVENUE_PERCENT
from tidemark.success.models import Account


class EventType(StrEnum):
    """What changed. The value is the snapshot's ``trigger_event``."""

    #: KPI rows arrived for the account (``POST /api/upload``).
    KPI_DATA_UPLOADED = "kpi_data_uploaded"
    #: Profile, notes, reference ranges, triggers or configuration changed.
    ACCOUNT_DATA_CHANGED = "account_data_changed"
    #: A health trend was created, updated or generated.
    HEALTH_SCORES_UPDATED = "health_scores_updated"
    #: ``POST /api/corporate/rollup`` recalculated the account's health.
    HEALTH_ROLLUP_COMPLETED = "health_rollup_completed"
    PLAYBOOK_EXECUTION_STARTED = "playbook_execution_started"
    PLAYBOOK_EXECUTION_COMPLETED = "playbook_execution_completed"
    ACCOUNT_STATUS_CHANGED = "account_status_changed"
    #: The overall health score moved by more than 5 points.
    HEALTH_SCORE_CHANGED = "health_score_changed"
    #: Revenue moved by more than 10 %.
    REVENUE_CHANGED = "revenue_changed"


#: The declared rules: which snapshot type each event makes (seed 000 §4.1.B).
SNAPSHOT_TYPE_FOR: Mapping[EventType, str] = {
    EventType.KPI_DATA_UPLOADED: "post_upload",
    EventType.ACCOUNT_DATA_CHANGED: "event_driven",
    EventType.HEALTH_SCORES_UPDATED: "event_driven",
    EventType.HEALTH_ROLLUP_COMPLETED: "post_health_calc",
    EventType.PLAYBOOK_EXECUTION_STARTED: "event_driven",
    EventType.PLAYBOOK_EXECUTION_COMPLETED: "event_driven",
    EventType.ACCOUNT_STATUS_CHANGED: "event_driven",
    EventType.HEALTH_SCORE_CHANGED: "event_driven",
    EventType.REVENUE_CHANGED: "event_driven",
}

#: The seed's reasons (seed 000 §4.1.B), kept as the snapshot's reason.
REASON_FOR: Mapping[EventType, str] = {
    EventType.KPI_DATA_UPLOADED: "post_upload",
    EventType.ACCOUNT_DATA_CHANGED: "account_data_changed",
    EventType.HEALTH_SCORES_UPDATED: "health_scores_updated",
    EventType.HEALTH_ROLLUP_COMPLETED: "post_health_calc",
    EventType.PLAYBOOK_EXECUTION_STARTED: "playbook_started",
    EventType.PLAYBOOK_EXECUTION_COMPLETED: "playbook_completed",
    EventType.ACCOUNT_STATUS_CHANGED: "status_change",
    EventType.HEALTH_SCORE_CHANGED: "health_score_change",
    EventType.REVENUE_CHANGED: "revenue_change",
}

#: Set while a session holds events not yet committed; cleared after commit.
_EMITTED = "tidemark.events.emitted"

#: Set after a commit that wrote events, so an in-process worker wakes at once.
WAKE = threading.Event()


def emit(
    session: Session,
    *,
    customer_id: int,
    event_type: EventType,
    account_ids: Iterable[int],
    at: datetime,
    payload: Mapping[str, Any] | None = None,
) -> int:
    """Write one ``event_type`` event per account in the session's transaction.

    Does not commit. Returns the number of events written. Account ids must be
    the tenant's (the write path has already checked them).
    """
    body = dict(payload) if payload else None
    return emit_each(
        session,
        customer_id=customer_id,
        event_type=event_type,
        payloads=dict.fromkeys(account_ids, body),
        at=at,
    )


def emit_each(
    session: Session,
    *,
    customer_id: int,
    event_type: EventType,
    payloads: Mapping[int, Mapping[str, Any] | None],
    at: datetime,
) -> int:
    """One ``event_type`` event per account, each with its own payload, in one statement.

    For changes told account by account (which fields, from what to what). Does
    not commit; returns the number of events written.
    """
    rows = [
        {
            "customer_id": customer_id,
            "account_id": account_id,
            "event_type": event_type.value,
            "payload": dict(payload) if payload else None,
            "created_at": at,
            "state": "pending",
            "attempts": 0,
            "claims": 0,
            "available_at": at,
        }
        for account_id, payload in payloads.items()
    ]
    if not rows:
        return 0
    session.execute(insert(OutboxEvent), rows)
    session.info[_EMITTED] = True
    return len(rows)


def emit_for_tenant(
    session: Session,
    *,
    customer_id: int,
    event_type: EventType,
    at: datetime,
    payload: Mapping[str, Any] | None = None,
) -> int:
    """One event per account of the tenant, in one statement (a change that touches all)."""
    accounts = select(
        literal(customer_id),
        Account.account_id,
        literal(event_type.value),
        literal(dict(payload) if payload else None, OutboxEvent.__table__.c.payload.type),
        literal(at, OutboxEvent.__table__.c.created_at.type),
        literal("pending"),
        literal(0),
        literal(0),
        literal(at, OutboxEvent.__table__.c.available_at.type),
    ).where(Account.customer_id == customer_id)
    result = session.execute(
        insert(OutboxEvent).from_select(
            [
                "customer_id",
                "account_id",
                "event_type",
                "payload",
                "created_at",
                "state",
                "attempts",
                "claims",
                "available_at",
            ],
            accounts,
        )
    )
    session.info[_EMITTED] = True
    return int(getattr(result, "rowcount", 0) or 0)


def health_change_significant(before: Decimal | None, after: Decimal | None) -> bool:
    """|after - before| > 5 points (DESIGN.md); False when either is unknown."""
    if before is None or after is None:
        return False
    return abs(Decimal(after) - Decimal(before)) > SIGNIFICANT_HEALTH


def revenue_change_significant(before: Decimal | None, after: Decimal | None) -> bool:
    """|after - before| / before > 10 %; False when before is unknown or 0 (DESIGN.md)."""
    if before is None or after is None or Decimal(before) == 0:
        return False
    change = (Decimal(after) - Decimal(before)) / abs(Decimal(before)) * 100
    return abs(change) > SIGNIFICANT_REVENUE_PERCENT


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.info.pop(_EMITTED, False):
        WAKE.set()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_EMITTED, None)
