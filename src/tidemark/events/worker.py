"""The worker: turns outbox events into snapshots, debounced, under a lease, with retries.

One cycle (:meth:`Worker.run_once`):

1. **Claim** up to ``batch_size`` pending events in a short transaction: set
   ``lease_owner``/``lease_until`` and count the claim (``FOR UPDATE SKIP LOCKED``
   on PostgreSQL, so several workers take different events). An event whose
   worker died keeps its claim until the lease runs out, then another worker
   takes it; an event claimed ``max_claims`` times without finishing is parked
   as dead (it may be what kills the worker).
2. **Process** the claimed events in one transaction. Per account the debounce
   window (``snapshot_windows``, locked in account order) decides: a closed
   window captures the account now, reopens the window and settles the
   account's events; an open window defers them (``deferred``) and owes one
   trailing capture when it closes. The snapshot and the ``done`` marks commit
   together, so a crash either loses both (the events are claimed again) or
   keeps both: an event never makes a second snapshot.
3. **Trailing captures**: windows that closed with deferred events are captured
   now, the final state of the burst.
4. **Schedules**: due runs are claimed and worked on (:mod:`tidemark.events.schedules`).

A processing transaction that fails is retried one account at a time, so one
bad account does not hold up the others; its events get ``attempts + 1`` and
wait ``backoff * 2**(attempts - 1)`` before the next try, and are parked as
``dead`` with the error after ``max_attempts``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tidemark.clock import Clock
from tidemark.db.engine import unit_of_work
from tidemark.events.models import OutboxEvent, SnapshotWindow
from tidemark.events.outbox import REASON_FOR, SNAPSHOT_TYPE_FOR, WAKE, EventType
from tidemark.snapshots.capture import collector_paused, load_context, tenant_account_ids
from tidemark.snapshots.source import read_account_states
from tidemark.snapshots.writer import PendingSnapshot, write_snapshots
from tidemark.success.models import Account
from tidemark.tenancy.models import CustomerConfig

log = logging.getLogger(__name__)

_EVENTS = cast(Table, OutboxEvent.__table__)
_WINDOWS = cast(Table, SnapshotWindow.__table__)

#: The seed's five minutes, when a tenant has no configuration row.
DEFAULT_WINDOW_SECONDS = 300
#: Longest error text kept on an event.
ERROR_LIMIT = 2000


def worker_name() -> str:
    """A name unique to this worker: host, process and a random suffix."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """How a worker claims, retries and paces itself."""

    owner: str = field(default_factory=worker_name)
    batch_size: int = 1000
    lease_seconds: float = 60.0
    max_attempts: int = 5
    max_claims: int = 10
    backoff_seconds: float = 2.0
    max_backoff_seconds: float = 300.0
    poll_seconds: float = 0.2
    capture_batch_size: int = 2000
    #: Work on schedules too (``tidemark worker --no-schedules`` leaves them to others).
    schedules: bool = True
    #: Capture batches of scheduled runs per cycle, so events are not held up by a big run.
    schedule_batches: int = 2


@dataclass(slots=True)
class CycleResult:
    """What one cycle did."""

    claimed: int = 0
    snapshots: int = 0
    deferred: int = 0
    failed: int = 0
    dead: int = 0
    trailing: int = 0
    scheduled: int = 0

    @property
    def busy(self) -> bool:
        """Whether the cycle found work (the loop sleeps only after an idle cycle)."""
        return bool(self.claimed or self.trailing or self.scheduled or self.dead)

    def add(self, other: CycleResult) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True, slots=True)
class _Event:
    event_id: int
    customer_id: int
    account_id: int
    event_type: str
    attempts: int


class Worker:
    """Processes the outbox of every tenant; safe to run several at once."""

    def __init__(self, engine: Engine, *, clock: Clock, config: WorkerConfig | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.config = config or WorkerConfig()
        self._postgres = engine.dialect.name == "postgresql"
        #: Events the last claim parked as dead.
        self._parked = 0

    # -- the loop ---------------------------------------------------------------------

    def run(
        self, stop: threading.Event, *, on_cycle: Callable[[CycleResult], Any] | None = None
    ) -> None:
        """Run cycles until ``stop`` is set; sleep after an idle cycle until woken or polled."""
        log.info("Worker %s started", self.config.owner)
        while not stop.is_set():
            try:
                result = self.run_once()
            except Exception:
                # The database may be away for a moment; the loop outlives it.
                log.exception("Worker cycle failed; retrying in %.1f s", self.config.poll_seconds)
                stop.wait(self.config.poll_seconds)
                continue
            if on_cycle is not None:
                on_cycle(result)
            if not result.busy:
                WAKE.wait(self.config.poll_seconds)
                WAKE.clear()
        log.info("Worker %s stopped", self.config.owner)

    def drain(self, *, max_cycles: int = 1_000_000) -> CycleResult:
        """Run cycles until one finds nothing to do; what they did in all."""
        total = CycleResult()
        for _ in range(max_cycles):
            result = self.run_once()
            total.add(result)
            if not result.busy:
                break
        return total

    def run_once(self) -> CycleResult:
        """One cycle: claim and process a batch, capture closed windows, tick schedules."""
        result = CycleResult()
        claimed = self._claim()
        result.claimed = len(claimed)
        result.dead = self._parked
        if claimed:
            result.add(self._process(claimed))
        result.trailing = self._capture_closed_windows()
        result.snapshots += result.trailing
        if self.config.schedules:
            from tidemark.events import schedules

            result.scheduled = schedules.tick(
                self.engine,
                clock=self.clock,
                owner=self.config.owner,
                batch_size=self.config.capture_batch_size,
                lease_seconds=self.config.lease_seconds,
                max_batches=self.config.schedule_batches,
            )
        return result

    # -- 1. claim ---------------------------------------------------------------------

    def _claim(self) -> list[int]:
        now = self.clock.now()
        config = self.config
        with unit_of_work(self.engine, write=True) as session:
            self._parked = self._park_abandoned(session, now)
            candidates = (
                select(_EVENTS.c.event_id)
                .where(
                    _EVENTS.c.state == "pending",
                    _EVENTS.c.available_at <= now,
                    or_(_EVENTS.c.lease_until.is_(None), _EVENTS.c.lease_until < now),
                )
                .order_by(_EVENTS.c.available_at, _EVENTS.c.event_id)
                .limit(config.batch_size)
            )
            if self._postgres:
                candidates = candidates.with_for_update(skip_locked=True)
            claimed = session.execute(
                update(_EVENTS)
                .where(_EVENTS.c.event_id.in_(candidates.scalar_subquery()))
                .values(
                    lease_owner=config.owner,
                    lease_until=now + timedelta(seconds=config.lease_seconds),
                    claims=_EVENTS.c.claims + 1,
                )
                .returning(_EVENTS.c.event_id, _EVENTS.c.customer_id, _EVENTS.c.account_id)
            ).all()
            if claimed:
                # Every claimed account gets its window row now, committed with the claim,
                # so processing only ever locks existing rows (and can skip locked ones).
                dialect = postgresql if self._postgres else sqlite
                accounts = {account_id: customer_id for _, customer_id, account_id in claimed}
                session.execute(
                    dialect.insert(_WINDOWS).on_conflict_do_nothing(),
                    [
                        {
                            "account_id": account_id,
                            "customer_id": customer_id,
                            "opened_at": now,
                            "closes_at": now,
                            "trailing_due": False,
                        }
                        for account_id, customer_id in sorted(accounts.items())
                    ],
                )
            return sorted(event_id for event_id, _, _ in claimed)

    def _park_abandoned(self, session: Session, now: datetime) -> int:
        """Events claimed ``max_claims`` times whose last lease ran out: park them as dead."""
        parked = session.execute(
            update(_EVENTS)
            .where(
                _EVENTS.c.state == "pending",
                _EVENTS.c.available_at <= now,
                _EVENTS.c.claims >= self.config.max_claims,
                _EVENTS.c.lease_until < now,
            )
            .values(
                state="dead",
                processed_at=now,
                lease_owner=None,
                lease_until=None,
                last_error=f"claimed {self.config.max_claims} times and never finished: "
                "the worker stopped while processing it",
            )
            .returning(_EVENTS.c.event_id, _EVENTS.c.account_id)
        ).all()
        for event_id, account_id in parked:
            log.error("Event %d for account %d is dead: never finished", event_id, account_id)
        return len(parked)

    # -- 2. process -------------------------------------------------------------------

    def _process(self, event_ids: list[int]) -> CycleResult:
        try:
            with unit_of_work(self.engine, write=True) as session:
                return self._process_in(session, event_ids)
        except Exception as error:
            if len(event_ids) == 1:
                return self._record_failure(event_ids, error)
            log.warning(
                "Batch of %d events failed (%s); retrying one account at a time",
                len(event_ids),
                _describe(error),
            )
        return self._process_each_account(event_ids)

    def _process_each_account(self, event_ids: list[int]) -> CycleResult:
        with unit_of_work(self.engine) as session:
            rows = session.execute(
                select(_EVENTS.c.event_id, _EVENTS.c.account_id).where(
                    _EVENTS.c.event_id.in_(event_ids)
                )
            ).all()
        by_account: dict[int, list[int]] = defaultdict(list)
        for event_id, account_id in rows:
            by_account[account_id].append(event_id)
        total = CycleResult()
        for account_id in sorted(by_account):
            ids = by_account[account_id]
            try:
                with unit_of_work(self.engine, write=True) as session:
                    total.add(self._process_in(session, ids))
            except Exception as error:
                total.add(self._record_failure(ids, error))
        return total

    def _process_in(self, session: Session, event_ids: Sequence[int]) -> CycleResult:
        now = self.clock.now()
        owner = self.config.owner
        query = (
            select(
                _EVENTS.c.event_id,
                _EVENTS.c.customer_id,
                _EVENTS.c.account_id,
                _EVENTS.c.event_type,
                _EVENTS.c.attempts,
            )
            .where(
                _EVENTS.c.event_id.in_(event_ids),
                _EVENTS.c.state == "pending",
                _EVENTS.c.lease_owner == owner,
            )
            .order_by(_EVENTS.c.event_id)
        )
        if self._postgres:
            # Our lease may have run out and another worker taken the events over:
            # wait for it, then see them as it left them (filtered out).
            query = query.with_for_update()
        events = [_Event(*row) for row in session.execute(query).all()]
        result = CycleResult()
        if not events:
            return result
        by_account: dict[int, list[_Event]] = defaultdict(list)
        for item in events:
            by_account[item.account_id].append(item)
        windows = self._lock_windows(session, by_account)
        if not by_account:
            return result
        lengths = self._window_lengths(session, {e.customer_id for e in events})

        capture_now: dict[int, list[_Event]] = {}
        deferrals: list[dict[str, Any]] = []
        for account_id, account_events in by_account.items():
            closes_at, _owed = windows[account_id]
            if now < closes_at:
                newest = account_events[-1].event_id
                deferrals.append({"aid": account_id, "newest": newest})
                left = (closes_at - now).total_seconds()
                log.info(
                    "Deferred snapshot for account %d: %d s left in window", account_id, round(left)
                )
            else:
                capture_now[account_id] = account_events
        if deferrals:
            deferred_ids = [e.event_id for d in deferrals for e in by_account[d["aid"]]]
            session.execute(
                update(_EVENTS)
                .where(_EVENTS.c.event_id.in_(deferred_ids))
                .values(state="deferred", lease_owner=None, lease_until=None)
            )
            session.execute(
                update(_WINDOWS)
                .where(_WINDOWS.c.account_id == bindparam("aid"))
                .values(trailing_due=True, trailing_event_id=bindparam("newest")),
                deferrals,
            )
            result.deferred = len(deferred_ids)
        if capture_now:
            first = {aid: evs[0] for aid, evs in capture_now.items()}
            result.snapshots = self._capture(
                session,
                first,
                now,
                lengths,
                claimed={aid: [e.event_id for e in evs] for aid, evs in capture_now.items()},
                owed={aid for aid in capture_now if windows[aid][1]},
            )
        return result

    def _lock_windows(
        self, session: Session, accounts: dict[int, list[_Event]]
    ) -> dict[int, tuple[datetime, bool]]:
        """Each account's window end and whether it owes a trailing capture, rows locked.

        On PostgreSQL a window another worker holds is skipped, not waited for: that
        worker is capturing the account right now. The events of a skipped account
        are handed back (their claim not counted) for a later cycle.
        """
        ids = sorted(accounts)
        query = (
            select(_WINDOWS.c.account_id, _WINDOWS.c.closes_at, _WINDOWS.c.trailing_due)
            .where(_WINDOWS.c.account_id.in_(ids))
            .order_by(_WINDOWS.c.account_id)
        )
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        windows = {
            account_id: (closes_at, bool(trailing))
            for account_id, closes_at, trailing in session.execute(query).all()
        }
        skipped = [e.event_id for aid in ids if aid not in windows for e in accounts[aid]]
        if skipped:
            session.execute(
                update(_EVENTS)
                .where(_EVENTS.c.event_id.in_(skipped))
                .values(lease_owner=None, lease_until=None, claims=_EVENTS.c.claims - 1)
            )
            for aid in [aid for aid in ids if aid not in windows]:
                del accounts[aid]
        return windows

    def _window_lengths(self, session: Session, customer_ids: Iterable[int]) -> dict[int, int]:
        rows = session.execute(
            select(CustomerConfig.customer_id, CustomerConfig.snapshot_window_seconds).where(
                CustomerConfig.customer_id.in_(sorted(customer_ids))
            )
        ).all()
        lengths = dict.fromkeys(customer_ids, DEFAULT_WINDOW_SECONDS)
        lengths.update(dict(rows))
        return lengths

    def _capture(
        self,
        session: Session,
        first: dict[int, _Event],
        now: datetime,
        lengths: dict[int, int],
        *,
        claimed: dict[int, list[int]],
        owed: set[int],
        trailing: bool = False,
    ) -> int:
        """Capture each account now under its first event's rule; settle its events.

        ``claimed`` are the events of this batch per account; ``owed`` the accounts
        whose window holds deferred events, which this capture covers too.
        """
        tenants: dict[int, list[int]] = defaultdict(list)
        for account_id, item in first.items():
            tenants[item.customer_id].append(account_id)
        names = dict(
            session.execute(
                select(Account.account_id, Account.account_name).where(
                    Account.account_id.in_(sorted(first))
                )
            ).all()
        )
        settled: list[dict[str, Any]] = []
        for customer_id, account_ids in sorted(tenants.items()):
            account_ids.sort()
            pending = []
            for account_id in account_ids:
                kind = EventType(first[account_id].event_type)
                pending.append(
                    (
                        account_id,
                        SNAPSHOT_TYPE_FOR[kind],
                        REASON_FOR[kind] + (" (end of window)" if trailing else ""),
                        kind.value,
                    )
                )
            snapshot_ids = self._write(session, customer_id, now, pending)
            closes_at = now + timedelta(seconds=lengths.get(customer_id, DEFAULT_WINDOW_SECONDS))
            for (account_id, _type, _reason, trigger), snapshot_id in zip(
                pending, snapshot_ids, strict=True
            ):
                settled.append({"aid": account_id, "sid": snapshot_id, "closes": closes_at})
                log.info(
                    "Auto-created snapshot %d for account %s (trigger: %s)",
                    snapshot_id,
                    names.get(account_id, account_id),
                    trigger,
                )
        if not settled:
            return 0
        # The account's claimed events and those deferred in its window are all in this state.
        done = {"state": "done", "snapshot_id": bindparam("sid"), "processed_at": now}
        snapshot_of = {row["aid"]: row["sid"] for row in settled}
        by_event = [
            {"eid": event_id, "sid": snapshot_of[account_id]}
            for account_id, event_ids in claimed.items()
            for event_id in event_ids
        ]
        if by_event:
            session.execute(
                update(_EVENTS)
                .where(_EVENTS.c.event_id == bindparam("eid"))
                .values(lease_owner=None, lease_until=None, **done),
                by_event,
            )
        owing = [row for row in settled if row["aid"] in owed]
        if owing:
            session.execute(
                update(_EVENTS)
                .where(_EVENTS.c.account_id == bindparam("aid"), _EVENTS.c.state == "deferred")
                .values(**done),
                owing,
            )
        session.execute(
            update(_WINDOWS)
            .where(_WINDOWS.c.account_id == bindparam("aid"))
            .values(
                opened_at=now,
                closes_at=bindparam("closes"),
                trailing_due=False,
                trailing_event_id=None,
            ),
            settled,
        )
        return len(settled)

    def _write(
        self,
        session: Session,
        customer_id: int,
        at: datetime,
        pending: list[tuple[int, str, str, str]],
    ) -> list[int]:
        """Snapshot the accounts of ``pending`` (id, type, reason, trigger) as of ``at``.

        The capture path of :func:`capture_accounts` (one read of the source data per
        batch, one write), with each account's own type and trigger, so a batch of
        mixed events costs one capture per tenant rather than one per kind of event.
        """
        ids = tenant_account_ids(session, customer_id, [item[0] for item in pending])
        # As capture_accounts does: a batch's many small objects are not cyclic garbage.
        with collector_paused():
            return self._write_batches(
                session, customer_id, at, pending, ids, self.config.capture_batch_size
            )

    def _write_batches(
        self,
        session: Session,
        customer_id: int,
        at: datetime,
        pending: list[tuple[int, str, str, str]],
        ids: list[int],
        size: int,
    ) -> list[int]:
        context = load_context(session, customer_id)
        snapshot_ids: list[int] = []
        for start in range(0, len(ids), size):
            chunk = pending[start : start + size]
            states = read_account_states(
                session,
                customer_id=customer_id,
                account_ids=[item[0] for item in chunk],
                at=at,
                category_weights=context.category_weights,
                triggers=context.triggers,
                lock=True,
            )
            written = write_snapshots(
                session,
                customer_id=customer_id,
                pending=[
                    PendingSnapshot(
                        account_id=account_id,
                        at=at,
                        snapshot_type=snapshot_type,
                        values=states[account_id],
                        reason=reason,
                        trigger_event=trigger,
                    )
                    for account_id, snapshot_type, reason, trigger in chunk
                ],
            )
            snapshot_ids.extend(written.snapshot_ids)
        return snapshot_ids

    def _record_failure(self, event_ids: Sequence[int], error: BaseException) -> CycleResult:
        now = self.clock.now()
        message = _describe(error)[:ERROR_LIMIT]
        result = CycleResult(failed=len(event_ids))
        with unit_of_work(self.engine, write=True) as session:
            rows = session.execute(
                select(_EVENTS.c.event_id, _EVENTS.c.account_id, _EVENTS.c.attempts).where(
                    _EVENTS.c.event_id.in_(event_ids),
                    _EVENTS.c.state == "pending",
                    _EVENTS.c.lease_owner == self.config.owner,
                )
            ).all()
            for event_id, account_id, attempts in rows:
                attempts += 1
                if attempts >= self.config.max_attempts:
                    values: dict[str, Any] = {"state": "dead", "processed_at": now}
                    result.dead += 1
                    log.error(
                        "Event %d for account %d is dead after %d attempts: %s",
                        event_id,
                        account_id,
                        attempts,
                        message,
                    )
                else:
                    delay = min(
                        self.config.backoff_seconds * 2 ** (attempts - 1),
                        self.config.max_backoff_seconds,
                    )
                    values = {"available_at": now + timedelta(seconds=delay)}
                    log.warning(
                        "Event %d for account %d failed (attempt %d of %d), retrying in %.0f s: %s",
                        event_id,
                        account_id,
                        attempts,
                        self.config.max_attempts,
                        delay,
                        message,
                    )
                session.execute(
                    update(_EVENTS)
                    .where(_EVENTS.c.event_id == event_id)
                    .values(
                        attempts=attempts,
                        last_error=message,
                        lease_owner=None,
                        lease_until=None,
                        **values,
                    )
                )
        return result

    # -- 3. trailing captures ---------------------------------------------------------

    def _capture_closed_windows(self) -> int:
        try:
            return self._capture_windows(None)
        except Exception as error:
            log.warning(
                "Trailing captures failed (%s); retrying one account at a time", _describe(error)
            )
        with unit_of_work(self.engine) as session:
            due = (
                session.execute(
                    select(_WINDOWS.c.account_id)
                    .where(
                        _WINDOWS.c.trailing_due.is_(True), _WINDOWS.c.closes_at <= self.clock.now()
                    )
                    .order_by(_WINDOWS.c.account_id)
                    .limit(self.config.batch_size)
                )
                .scalars()
                .all()
            )
        total = 0
        for account_id in due:
            try:
                total += self._capture_windows(account_id)
            except Exception as error:
                self._record_window_failure(account_id, error)
        return total

    def _capture_windows(self, account_id: int | None) -> int:
        """Capture closed windows that owe a trailing snapshot (all, or one account's)."""
        now = self.clock.now()
        with unit_of_work(self.engine, write=True) as session:
            query = (
                select(
                    _WINDOWS.c.account_id,
                    _WINDOWS.c.customer_id,
                    _WINDOWS.c.trailing_event_id,
                    _EVENTS.c.event_type,
                )
                .join(_EVENTS, _EVENTS.c.event_id == _WINDOWS.c.trailing_event_id, isouter=True)
                .where(_WINDOWS.c.trailing_due.is_(True), _WINDOWS.c.closes_at <= now)
                .order_by(_WINDOWS.c.account_id)
                .limit(self.config.batch_size)
            )
            if account_id is not None:
                query = query.where(_WINDOWS.c.account_id == account_id)
            if self._postgres:
                query = query.with_for_update(of=_WINDOWS, skip_locked=True)
            rows = session.execute(query).all()
            if not rows:
                return 0
            first = {
                account_id: _Event(
                    event_id or 0,
                    customer_id,
                    account_id,
                    event_type or EventType.ACCOUNT_DATA_CHANGED.value,
                    0,
                )
                for account_id, customer_id, event_id, event_type in rows
            }
            lengths = self._window_lengths(session, {r.customer_id for r in rows})
            return self._capture(
                session, first, now, lengths, claimed={}, owed=set(first), trailing=True
            )

    def _record_window_failure(self, account_id: int, error: BaseException) -> None:
        """A trailing capture failed: count it on the deferred events, back off or give up."""
        now = self.clock.now()
        message = _describe(error)[:ERROR_LIMIT]
        with unit_of_work(self.engine, write=True) as session:
            attempts = 1 + max(
                session.execute(
                    select(_EVENTS.c.attempts).where(
                        _EVENTS.c.account_id == account_id, _EVENTS.c.state == "deferred"
                    )
                ).scalars(),
                default=0,
            )
            deferred = (_EVENTS.c.account_id == account_id, _EVENTS.c.state == "deferred")
            if attempts >= self.config.max_attempts:
                session.execute(
                    update(_EVENTS)
                    .where(*deferred)
                    .values(state="dead", attempts=attempts, last_error=message, processed_at=now)
                )
                session.execute(
                    update(_WINDOWS)
                    .where(_WINDOWS.c.account_id == account_id)
                    .values(trailing_due=False, trailing_event_id=None)
                )
                log.error(
                    "Trailing snapshot of account %d failed %d times; its events are dead: %s",
                    account_id,
                    attempts,
                    message,
                )
                return
            delay = min(
                self.config.backoff_seconds * 2 ** (attempts - 1), self.config.max_backoff_seconds
            )
            session.execute(
                update(_EVENTS).where(*deferred).values(attempts=attempts, last_error=message)
            )
            session.execute(
                update(_WINDOWS)
                .where(_WINDOWS.c.account_id == account_id)
                .values(closes_at=now + timedelta(seconds=delay))
            )
            log.warning(
                "Trailing snapshot of account %d failed (attempt %d of %d), retrying in %.0f s: %s",
                account_id,
                attempts,
                self.config.max_attempts,
                delay,
                message,
            )


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".strip()
