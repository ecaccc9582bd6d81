"""The worker: rules, debounce windows, leases, retries and dead events, on both databases."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from tests import factories
from tests.events.helpers import fresh_capture, snapshot_counts, source_values
from tidemark.clock import FakeClock
from tidemark.db.engine import session_factory, unit_of_work
from tidemark.events import service as events
from tidemark.events import worker as worker_module
from tidemark.events.models import OutboxEvent, SnapshotWindow
from tidemark.events.outbox import EventType, emit
from tidemark.events.worker import Worker, WorkerConfig
from tidemark.snapshots import service as snapshots
from tidemark.success.models import Account
from tidemark.tenancy.models import CustomerConfig

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def tenant(engine: Engine) -> dict[str, Any]:
    with unit_of_work(engine) as session:
        customer, _user = factories.customer(session, name="Outbox Co")
        ids = [
            factories.account(session, customer, name, revenue="200000").account_id
            for name in ("TechCorp Solutions", "Acme Corp", "บริษัท ไทยเทค จำกัด")
        ]
        return {"customer_id": customer.customer_id, "account_ids": ids}


def make_worker(engine: Engine, clock: FakeClock, **config: Any) -> Worker:
    options: dict[str, Any] = {"schedules": False, "lease_seconds": 30.0}
    options.update(config)
    return Worker(engine, clock=clock, config=WorkerConfig(**options))


def send(
    engine: Engine,
    clock: FakeClock,
    customer_id: int,
    account_ids: list[int],
    event_type: EventType = EventType.ACCOUNT_DATA_CHANGED,
    *,
    revenue: str | None = None,
) -> None:
    """A data change and its events, committed together (as a write path does)."""
    with unit_of_work(engine, write=True) as session:
        if revenue is not None:
            session.execute(
                update(Account)
                .where(Account.account_id.in_(account_ids))
                .values(revenue=Decimal(revenue))
            )
        emit(
            session,
            customer_id=customer_id,
            event_type=event_type,
            account_ids=account_ids,
            at=clock.now(),
        )


def event_rows(engine: Engine, customer_id: int) -> list[OutboxEvent]:
    with session_factory(engine)() as session:
        return list(
            session.execute(
                select(OutboxEvent)
                .where(OutboxEvent.customer_id == customer_id)
                .order_by(OutboxEvent.event_id)
            ).scalars()
        )


def set_window(engine: Engine, customer_id: int, seconds: int) -> None:
    with unit_of_work(engine) as session:
        config = session.execute(
            select(CustomerConfig).where(CustomerConfig.customer_id == customer_id)
        ).scalar_one_or_none()
        if config is None:
            config = CustomerConfig(customer_id=customer_id)
            session.add(config)
        config.snapshot_window_seconds = seconds


@pytest.mark.parametrize(
    ("event_type", "snapshot_type"),
    [
        (EventType.KPI_DATA_UPLOADED, "post_upload"),
        (EventType.HEALTH_ROLLUP_COMPLETED, "post_health_calc"),
        (EventType.PLAYBOOK_EXECUTION_COMPLETED, "event_driven"),
    ],
)
def test_an_event_becomes_a_snapshot_of_its_rule(
    engine: Engine,
    clock: FakeClock,
    tenant: dict[str, Any],
    event_type: EventType,
    snapshot_type: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    customer_id, (first, *_rest) = tenant["customer_id"], tenant["account_ids"]
    send(engine, clock, customer_id, [first], event_type)
    with caplog.at_level(logging.INFO, logger="tidemark.events.worker"):
        result = make_worker(engine, clock).drain()
    assert result.snapshots == 1
    [event] = event_rows(engine, customer_id)
    assert event.state == "done" and event.processed_at == T0 and event.lease_owner is None
    with session_factory(engine)() as session:
        record = snapshots.get(session, customer_id=customer_id, snapshot_id=event.snapshot_id or 0)
    assert record["snapshot_type"] == snapshot_type
    assert record["trigger_event"] == event_type.value
    assert record["account_id"] == first
    assert (
        f"Auto-created snapshot {event.snapshot_id} for account TechCorp Solutions "
        f"(trigger: {event_type.value})" in caplog.text
    )


def test_a_burst_gives_one_immediate_and_one_trailing_snapshot_of_the_final_state(
    engine: Engine, clock: FakeClock, tenant: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    customer_id, (first, second, _third) = tenant["customer_id"], tenant["account_ids"]
    worker = make_worker(engine, clock)
    revenues = [str(250_000 + 1_000 * k) for k in range(8)]
    caplog.set_level(logging.INFO, logger="tidemark.events.worker")
    for k, revenue in enumerate(revenues):
        send(engine, clock, customer_id, [first], revenue=revenue)
        worker.drain()
        if k == 0:
            assert snapshot_counts(engine, customer_id) == {"event_driven": 1}
        clock.advance(timedelta(seconds=20))
    # Inside the window: the burst's later events wait for its end.
    assert snapshot_counts(engine, customer_id) == {"event_driven": 1}
    assert f"Deferred snapshot for account {first}: 280 s left in window" in caplog.text
    states = {e.state for e in event_rows(engine, customer_id)[1:]}
    assert states == {"deferred"}
    # Another account is not held up by this one's window.
    send(engine, clock, customer_id, [second])
    worker.drain()
    assert snapshot_counts(engine, customer_id) == {"event_driven": 2}

    clock.set(T0 + timedelta(seconds=300))
    result = worker.drain()
    assert result.trailing == 1
    assert snapshot_counts(engine, customer_id) == {"event_driven": 3}
    with session_factory(engine)() as session:
        newest = snapshots.latest(session, customer_id=customer_id, account_ids=[first])[0]
    assert newest["revenue"] == Decimal(revenues[-1])
    assert newest["snapshot_reason"].endswith("(end of window)")
    assert source_values(newest) == fresh_capture(
        engine, customer_id=customer_id, account_id=first, at=clock.now()
    )
    settled = event_rows(engine, customer_id)
    burst = [e for e in settled if e.account_id == first]
    assert burst[0].snapshot_id != burst[1].snapshot_id
    assert {e.snapshot_id for e in burst[1:]} == {newest["snapshot_id"]}
    assert all(e.state == "done" for e in settled)
    # Nothing more is owed: later cycles capture nothing.
    clock.advance(timedelta(hours=1))
    assert worker.drain().snapshots == 0


def test_no_burst_no_trailing_snapshot(
    engine: Engine, clock: FakeClock, tenant: dict[str, Any]
) -> None:
    customer_id, (first, *_rest) = tenant["customer_id"], tenant["account_ids"]
    worker = make_worker(engine, clock)
    send(engine, clock, customer_id, [first])
    worker.drain()
    clock.advance(timedelta(seconds=301))
    assert worker.drain().snapshots == 0
    # After the window, the next event captures at once again.
    send(engine, clock, customer_id, [first])
    assert worker.drain().snapshots == 1
    assert snapshot_counts(engine, customer_id) == {"event_driven": 2}


def test_the_window_is_the_tenants_setting(
    engine: Engine, clock: FakeClock, tenant: dict[str, Any]
) -> None:
    customer_id, (first, *_rest) = tenant["customer_id"], tenant["account_ids"]
    set_window(engine, customer_id, 0)
    worker = make_worker(engine, clock)
    for _ in range(3):
        send(engine, clock, customer_id, [first])
        worker.drain()
        clock.advance(timedelta(seconds=1))
    assert snapshot_counts(engine, customer_id) == {"event_driven": 3}
    set_window(engine, customer_id, 60)
    send(engine, clock, customer_id, [first])
    worker.drain()
    with session_factory(engine)() as session:
        window = session.get(SnapshotWindow, first)
        assert window is not None
        assert window.closes_at == clock.now() + timedelta(seconds=60)


def test_events_of_one_batch_share_one_snapshot_per_account(
    engine: Engine, clock: FakeClock, tenant: dict[str, Any]
) -> None:
    customer_id, ids = tenant["customer_id"], tenant["account_ids"]
    send(engine, clock, customer_id, ids, EventType.KPI_DATA_UPLOADED)
    send(engine, clock, customer_id, ids[:1], EventType.ACCOUNT_STATUS_CHANGED)
    result = make_worker(engine, clock).drain()
    assert result.snapshots == 3
    # The first event of the account names the snapshot; the second is in it already.
    assert snapshot_counts(engine, customer_id) == {"post_upload": 3}
    rows = event_rows(engine, customer_id)
    assert rows[0].snapshot_id == rows[3].snapshot_id


def test_a_replayed_claim_makes_no_second_snapshot(
    engine: Engine, clock: FakeClock, tenant: dict[str, Any]
) -> None:
    customer_id, (first, *_rest) = tenant["customer_id"], tenant["account_ids"]
    send(engine, clock, customer_id, [first])
    stalled = make_worker(engine, clock, owner="stalled")
    claimed = stalled._claim()
    assert len(claimed) == 1
    # The stalled worker's lease runs out; another takes the event over and finishes it.
    clock.advance(timedelta(seconds=31))
    rescuer = make_worker(engine, clock, owner="rescuer")
    assert rescuer.drain().snapshots == 1
    # The stalled worker wakes up and processes what it had claimed: nothing is left to do.
    assert stalled._process(claimed).snapshots == 0
    assert stalled.drain().snapshots == 0
    assert snapshot_counts(engine, customer_id) == {"event_driven": 1}
    [event] = event_rows(engine, customer_id)
    assert event.claims == 2 and event.state == "done"


def test_a_lease_keeps_other_workers_away(
    engine: Engine, clock: FakeClock, tenant: dict[str, Any]
) -> None:
    customer_id, (first, *_rest) = tenant["customer_id"], tenant["account_ids"]
    send(engine, clock, customer_id, [first])
    holder = make_worker(engine, clock, owner="holder")
    assert holder._claim()
    assert make_worker(engine, clock, owner="other")._claim() == []


def test_a_failing_account_is_retried_with_backoff_then_dead(
    engine: Engine,
    clock: FakeClock,
    tenant: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customer_id, (bad, good, _third) = tenant["customer_id"], tenant["account_ids"]
    real_capture = worker_module.read_account_states

    def failing_capture(session: Any, **kwargs: Any) -> Any:
        if bad in kwargs["account_ids"]:
            raise RuntimeError("source row unreadable")
        return real_capture(session, **kwargs)

    monkeypatch.setattr(worker_module, "read_account_states", failing_capture)
    send(engine, clock, customer_id, [bad, good])
    worker = make_worker(engine, clock, max_attempts=3, backoff_seconds=2.0)
    first = worker.run_once()
    # The batch failed as a whole; one account at a time, the good one goes through.
    assert first.snapshots == 1 and first.failed == 1
    [bad_event] = [e for e in event_rows(engine, customer_id) if e.account_id == bad]
    assert bad_event.state == "pending" and bad_event.attempts == 1
    assert bad_event.available_at == T0 + timedelta(seconds=2)
    assert bad_event.last_error == "RuntimeError: source row unreadable"
    # Not before its time.
    assert worker.run_once().claimed == 0
    clock.advance(timedelta(seconds=2))
    assert worker.run_once().failed == 1
    clock.advance(timedelta(seconds=3))
    assert worker.run_once().claimed == 0
    clock.advance(timedelta(seconds=1))
    assert worker.run_once().dead == 1
    [bad_event] = [e for e in event_rows(engine, customer_id) if e.account_id == bad]
    assert bad_event.state == "dead" and bad_event.attempts == 3
    with session_factory(engine)() as session:
        figures = events.coverage(session, customer_id=customer_id, now=clock.now())
    assert figures.dead == 1

    # Once the cause is fixed, an operator puts it back and it is captured once.
    monkeypatch.setattr(worker_module, "read_account_states", real_capture)
    with unit_of_work(engine) as session:
        assert (
            events.retry(
                session, customer_id=customer_id, event_ids=[bad_event.event_id], now=clock.now()
            )
            == 1
        )
    assert worker.drain().snapshots == 1
    assert {e.state for e in event_rows(engine, customer_id)} == {"done"}


def test_an_event_claimed_too_often_is_parked_as_dead(
    engine: Engine, clock: FakeClock, tenant: dict[str, Any]
) -> None:
    customer_id, (first, *_rest) = tenant["customer_id"], tenant["account_ids"]
    send(engine, clock, customer_id, [first])
    for k in range(3):
        assert make_worker(engine, clock, owner=f"dies-{k}", max_claims=3)._claim()
        clock.advance(timedelta(seconds=31))
    result = make_worker(engine, clock, max_claims=3).run_once()
    assert result.dead == 1 and result.snapshots == 0
    [event] = event_rows(engine, customer_id)
    assert event.state == "dead"
    assert event.last_error is not None and "never finished" in event.last_error


def test_a_rolled_back_change_leaves_no_event(
    engine: Engine, clock: FakeClock, tenant: dict[str, Any]
) -> None:
    customer_id, (first, *_rest) = tenant["customer_id"], tenant["account_ids"]
    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        emit(
            session,
            customer_id=customer_id,
            event_type=EventType.ACCOUNT_DATA_CHANGED,
            account_ids=[first],
            at=clock.now(),
        )
        raise RuntimeError("the change failed")
    assert event_rows(engine, customer_id) == []


def test_coverage_reports_share_delays_and_backlog(
    engine: Engine, clock: FakeClock, tenant: dict[str, Any]
) -> None:
    customer_id, ids = tenant["customer_id"], tenant["account_ids"]
    worker = make_worker(engine, clock)
    with session_factory(engine)() as session:
        empty = events.coverage(session, customer_id=customer_id, now=clock.now())
    assert empty.coverage_percent == 0.0 and empty.delay_median_seconds is None
    for delay in (1, 2, 9):
        send(engine, clock, customer_id, [ids[0]] if delay != 9 else [ids[1]])
        clock.advance(timedelta(seconds=delay))
        worker.drain()
        clock.advance(timedelta(seconds=400))
    send(engine, clock, customer_id, [ids[2]])
    clock.advance(timedelta(seconds=5))
    with session_factory(engine)() as session:
        figures = events.coverage(session, customer_id=customer_id, now=clock.now())
    assert figures.accounts == 3 and figures.covered == 2
    assert figures.coverage_percent == pytest.approx(66.67)
    assert figures.processed_last_day == 3
    assert figures.delay_median_seconds == pytest.approx(2.0)
    assert figures.delay_p99_seconds == pytest.approx(9.0)
    assert figures.pending == 1 and figures.oldest_pending_seconds == pytest.approx(5.0)
    # A day and more later, the delays have left the window and old snapshots the coverage.
    clock.advance(timedelta(days=32))
    with session_factory(engine)() as session:
        later = events.coverage(session, customer_id=customer_id, now=clock.now())
    assert later.processed_last_day == 0 and later.covered == 0


def test_ensure_snapshot_captures_rag_auto_only_when_none_exists(
    engine: Engine, clock: FakeClock, tenant: dict[str, Any]
) -> None:
    customer_id, (first, *_rest) = tenant["customer_id"], tenant["account_ids"]
    with unit_of_work(engine) as session:
        snapshot_id, created = events.ensure_snapshot(
            session, customer_id=customer_id, account_id=first, now=clock.now()
        )
    assert created
    with unit_of_work(engine) as session:
        again, created_again = events.ensure_snapshot(
            session, customer_id=customer_id, account_id=first, now=clock.now()
        )
        record = snapshots.get(session, customer_id=customer_id, snapshot_id=snapshot_id)
    assert (again, created_again) == (snapshot_id, False)
    assert record["snapshot_type"] == "rag_auto"
    assert record["trigger_event"] == "rag_query_missing_snapshot"
    assert snapshot_counts(engine, customer_id) == {"rag_auto": 1}


def test_ensure_snapshot_refuses_another_tenants_account(
    engine: Engine, clock: FakeClock, tenant: dict[str, Any]
) -> None:
    from tidemark.errors import NotFound

    with unit_of_work(engine) as session:
        other, _ = factories.customer(session, name="Other Co")
        other_id = other.customer_id
    with pytest.raises(NotFound), unit_of_work(engine) as session:
        events.ensure_snapshot(
            session, customer_id=other_id, account_id=tenant["account_ids"][0], now=clock.now()
        )
    assert snapshot_counts(engine, other_id) == {}


def test_a_failing_trailing_capture_backs_off_then_parks_its_events(
    engine: Engine,
    clock: FakeClock,
    tenant: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customer_id, (first, *_rest) = tenant["customer_id"], tenant["account_ids"]
    worker = make_worker(engine, clock, max_attempts=2, backoff_seconds=10.0)
    send(engine, clock, customer_id, [first])
    worker.drain()
    clock.advance(timedelta(seconds=30))
    send(engine, clock, customer_id, [first])
    assert worker.drain().deferred == 1

    def broken(session: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(worker_module, "read_account_states", broken)
    clock.set(T0 + timedelta(seconds=300))
    assert worker.run_once().trailing == 0
    with session_factory(engine)() as session:
        window = session.get(SnapshotWindow, first)
        assert window is not None and window.trailing_due
        assert window.closes_at == clock.now() + timedelta(seconds=10)
    clock.advance(timedelta(seconds=10))
    worker.run_once()
    deferred = [e for e in event_rows(engine, customer_id) if e.event_id != 1]
    assert [(e.state, e.attempts, e.last_error) for e in deferred] == [
        ("dead", 2, "RuntimeError: disk full")
    ]
    with session_factory(engine)() as session:
        window = session.get(SnapshotWindow, first)
        assert window is not None and not window.trailing_due
    assert snapshot_counts(engine, customer_id) == {"event_driven": 1}


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_a_window_held_by_another_worker_is_skipped_not_waited_for(
    engine: Engine, clock: FakeClock, tenant: dict[str, Any]
) -> None:
    customer_id, (first, second, _third) = tenant["customer_id"], tenant["account_ids"]
    send(engine, clock, customer_id, [first])
    worker = make_worker(engine, clock)
    worker.drain()
    clock.advance(timedelta(seconds=301))
    send(engine, clock, customer_id, [first, second])
    # Another worker is capturing the first account: it holds the account's window.
    holder = session_factory(engine)()
    try:
        holder.execute(
            select(SnapshotWindow).where(SnapshotWindow.account_id == first).with_for_update()
        ).all()
        result = worker.run_once()
        assert result.snapshots == 1  # the second account only
        waiting = [e for e in event_rows(engine, customer_id) if e.state == "pending"]
        assert [(e.account_id, e.lease_owner, e.claims) for e in waiting] == [(first, None, 0)]
    finally:
        holder.rollback()
        holder.close()
    assert worker.drain().snapshots == 1
    assert {e.state for e in event_rows(engine, customer_id)} == {"done"}
