"""Capture snapshots of one account or every account of a tenant, set-based."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tidemark.errors import InvalidInput, NotFound
from tidemark.snapshots.fields import SNAPSHOT_TYPES
from tidemark.snapshots.source import (
    KpiPrefetch,
    TriggerRule,
    assemble_states,
    read_source_rows,
)
from tidemark.snapshots.writer import (
    PendingSnapshot,
    WriteResult,
    load_write_heads,
    prepare_snapshots,
    store_snapshots,
)
from tidemark.success.models import Account, PlaybookTrigger
from tidemark.tenancy.models import DEFAULT_CATEGORY_WEIGHTS, CustomerConfig

log = logging.getLogger(__name__)

DEFAULT_BATCH = 2000
#: Sum the next batch's KPIs on a second thread where the database runs in-process.
PREFETCH_KPIS = True


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


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration of the block.

    A batch allocates several hundred thousand small containers (rows, field
    dicts, lists) that stay alive until it is written. Reference counting frees
    all of them, since nothing capture builds refers back to itself, but the
    cyclic collector counts them as survivors and keeps running full
    collections over every object of the process: 15 to 20 % of a large
    capture's time, more the bigger the process. The collector is switched back on
    afterwards (only if it was on: a caller that had switched it off keeps it
    off); cyclic garbage other threads left meanwhile waits for its next run.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


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
    and each batch costs the same fixed number of queries. On SQLite the KPIs of
    the next batch are summed on a second thread while this batch is prepared
    (``source.KpiPrefetch``). Does not commit.
    """
    check_snapshot_type(snapshot_type)
    if reason is not None and len(reason) > 255:
        raise InvalidInput("reason", "at most 255 characters")
    ids = tenant_account_ids(session, customer_id, account_ids)
    context = load_context(session, customer_id)
    connection = session.connection()
    batches = [ids[start : start + batch_size] for start in range(0, len(ids), batch_size)]
    prefetch = (
        KpiPrefetch(connection, customer_id)
        if len(batches) > 1 and PREFETCH_KPIS and KpiPrefetch.supported(connection)
        else None
    )
    total = WriteResult()
    with collector_paused():
        try:
            kpis = None
            for number, batch in enumerate(batches):
                rows = read_source_rows(
                    connection,
                    customer_id=customer_id,
                    account_ids=batch,
                    at=at,
                    lock=True,
                    kpis=kpis,
                )
                heads = load_write_heads(connection, customer_id, batch)
                if prefetch is not None and number + 1 < len(batches):
                    prefetch.start(batches[number + 1])
                # From here until prefetch.wait() the connection belongs to the prefetch:
                # assembling and preparing the batch is Python only.
                states = assemble_states(
                    rows,
                    at=at,
                    category_weights=context.category_weights,
                    triggers=context.triggers,
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
                prepared = prepare_snapshots(
                    session, customer_id=customer_id, pending=pending, heads=heads
                )
                if prefetch is not None:
                    prefetch.wait()
                written = store_snapshots(session, prepared)
                kpis = prefetch.summaries() if prefetch is not None else None
                total.snapshot_ids.extend(written.snapshot_ids)
                total.significant += written.significant
                if progress is not None:
                    progress(len(batch))
        except BaseException:
            # Let a running statement finish before the caller rolls back (which
            # also drops the temporary table); its own error, if any, is secondary.
            if prefetch is not None:
                prefetch.abandon()
            raise
    if prefetch is not None:
        prefetch.close()
    log.info(
        "Captured %d %s snapshot(s) for customer %d (%d significant)",
        len(total.snapshot_ids),
        snapshot_type,
        customer_id,
        total.significant,
    )
    return total
