"""Helpers of the event tests: source-derived fields, fresh captures, snapshot counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tidemark.db.engine import session_factory
from tidemark.snapshots import service as snapshots
from tidemark.snapshots.capture import capture_accounts
from tidemark.snapshots.fields import FIELDS, Section
from tidemark.snapshots.models import AccountSnapshot

#: Header fields that come from the source data (the rest are identity, provenance or derived).
_SOURCE_HEADER = {"revenue", "overall_health_score", "playbooks_completed_last_30_days"}
#: Every field a capture reads from the source data: two captures of one state agree on these.
SOURCE_FIELDS = tuple(
    f.name for f in FIELDS if f.section is not Section.HEADER or f.name in _SOURCE_HEADER
)


def source_values(record: dict[str, Any]) -> dict[str, Any]:
    return {name: record[name] for name in SOURCE_FIELDS}


def fresh_capture(
    engine: Engine, *, customer_id: int, account_id: int, at: datetime
) -> dict[str, Any]:
    """What a capture of the account's current state at ``at`` holds (rolled back after)."""
    session: Session = session_factory(engine)()
    try:
        written = capture_accounts(
            session,
            customer_id=customer_id,
            at=at,
            snapshot_type="manual",
            account_ids=[account_id],
        )
        record = snapshots.get(
            session, customer_id=customer_id, snapshot_id=written.snapshot_ids[0]
        )
        return source_values(record)
    finally:
        session.rollback()
        session.close()


def snapshot_counts(engine: Engine, customer_id: int) -> dict[str, int]:
    with session_factory(engine)() as session:
        rows = session.execute(
            select(AccountSnapshot.snapshot_type, func.count())
            .where(AccountSnapshot.customer_id == customer_id)
            .group_by(AccountSnapshot.snapshot_type)
        ).all()
    return dict(rows)
