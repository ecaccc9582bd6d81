"""Capture snapshots of one account or every account of a tenant, set-based."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tidemark.errors import InvalidInput, NotFound
from tidemark.snapshots.fields import SNAPSHOT_TYPES
from tidemark.snapshots.source import TriggerRule, read_account_states
from tidemark.snapshots.writer import PendingSnapshot, WriteResult, write_snapshots
from tidemark.success.models import Account, PlaybookTrigger
from tidemark.tenancy.models import DEFAULT_CATEGORY_WEIGHTS, CustomerConfig

log = logging.getLogger(__name__)

DEFAULT_BATCH = 2000


@dataclass(frozen=True, slots=True)
class CaptureContext:
    """Per-tenant inputs that every batch of a capture shares."""

    customer_id: int
    category_weights: dict[str, float]
    triggers: tuple[TriggerRule, ...]


def load_context(session: Session, customer_id: int) -> CaptureContext:
    """The tenant's category weights and enabled playbook triggers."""
    weights = session.execute(
        select(CustomerConfig.category_weights).where(CustomerConfig.customer_id == customer_id)
    ).scalar_one_or_none()
    triggers = session.execute(
        select(PlaybookTrigger.playbook_type, PlaybookTrigger.trigger_conditions)
        .where(
            PlaybookTrigger.customer_id == customer_id,
            PlaybookTrigger.auto_trigger_enabled.is_(True),
        )
        .order_by(PlaybookTrigger.playbook_type)
    ).all()
    return CaptureContext(
        customer_id=customer_id,
        category_weights={k: float(v) for k, v in (weights or DEFAULT_CATEGORY_WEIGHTS).items()},
        triggers=tuple(TriggerRule(t, c or {}) for t, c in triggers),
    )


def tenant_account_ids(
    session: Session, customer_id: int, account_ids: Sequence[int] | None = None
) -> list[int]:
    """The accounts to capture: all of the tenant's, or the given ones after checking them."""
    query = select(Account.account_id).where(Account.customer_id == customer_id)
    if account_ids is None:
        return list(session.execute(query.order_by(Account.account_id)).scalars())
    wanted = sorted(set(account_ids))
    found: set[int] = set()
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        found.update(session.execute(query.where(Account.account_id.in_(chunk))).scalars())
    for account_id in wanted:
        if account_id not in found:
            raise NotFound("account", account_id)
    return wanted


def check_snapshot_type(snapshot_type: str) -> None:
    """Raise InvalidInput unless ``snapshot_type`` is one the product knows."""
    if snapshot_type not in SNAPSHOT_TYPES:
        raise InvalidInput("snapshot_type", f"expected one of {', '.join(SNAPSHOT_TYPES)}")


def capture_accounts(
    session: Session,
    *,
    customer_id: int,
    at: datetime,
    snapshot_type: str,
    account_ids: Sequence[int] | None = None,
    reason: str | None = None,
    created_by: int | None = None,
    trigger_event: str | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], Any] | None = None,
) -> WriteResult:
    """Snapshot the given accounts (all of the tenant's when None) as of ``at``.

    One code path for one account or a hundred thousand: accounts go in batches,
    and each batch costs the same fixed number of queries. Does not commit.
    """
    check_snapshot_type(snapshot_type)
    if reason is not None and len(reason) > 255:
        raise InvalidInput("reason", "at most 255 characters")
    ids = tenant_account_ids(session, customer_id, account_ids)
    context = load_context(session, customer_id)
    total = WriteResult()
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size]
        states = read_account_states(
            session,
            customer_id=customer_id,
            account_ids=batch,
            at=at,
            category_weights=context.category_weights,
            triggers=context.triggers,
            lock=True,
        )
        pending = [
            PendingSnapshot(
                account_id=account_id,
                at=at,
                snapshot_type=snapshot_type,
                values=states[account_id],
                reason=reason,
                created_by=created_by,
                trigger_event=trigger_event,
            )
            for account_id in batch
        ]
        written = write_snapshots(session, customer_id=customer_id, pending=pending)
        total.snapshot_ids.extend(written.snapshot_ids)
        total.significant += written.significant
        if progress is not None:
            progress(len(batch))
    log.info(
        "Captured %d %s snapshot(s) for customer %d (%d significant)",
        len(total.snapshot_ids),
        snapshot_type,
        customer_id,
        total.significant,
    )
    return total
