"""Crash safety: workers killed with SIGKILL at random points lose and duplicate nothing.

Events are fed through real data changes (each change and its event commit
together) across three tenants with different debounce windows, while worker
processes are killed and restarted. After the last change the survivors run
until the outbox is settled, and then:

- every event fed is ``done`` (none lost, none dead);
- every automatic snapshot is the one some event points to, of that event's
  account (none made twice for one event);
- the newest snapshot of every account equals a fresh capture of its final state;
- each account's hash chain verifies, and SQLite's ``integrity_check`` is ``ok``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import Engine, Table, bindparam, func, insert, select, text, update

from tests import factories
from tests.events.helpers import fresh_capture, source_values
from tidemark.db.engine import session_factory, unit_of_work
from tidemark.events.models import OutboxEvent, SnapshotWindow
from tidemark.events.outbox import EventType, emit
from tidemark.snapshots import service as snapshots
from tidemark.snapshots.chain import verify_chain
from tidemark.snapshots.models import AccountSnapshot
from tidemark.success.models import Account, AccountNote
from tidemark.tenancy.models import CustomerConfig, User

pytestmark = pytest.mark.slow

EVENTS = 10_000
ACCOUNTS_PER_TENANT = 40
#: Debounce windows of the three tenants, in seconds: none, short, a little longer.
WINDOWS = (0, 1, 2)
TIMEOUT = 240.0
CHANGES = (
    EventType.ACCOUNT_DATA_CHANGED,
    EventType.KPI_DATA_UPLOADED,
    EventType.ACCOUNT_STATUS_CHANGED,
    EventType.REVENUE_CHANGED,
)


@dataclass
class Fleet:
    """Worker processes that are killed and restarted at random."""

    url: str
    count: int
    rng: random.Random
    env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kills: int = 0

    def command(self) -> list[str]:
        return [str(Path(sys.executable).with_name("tidemark")), "worker", "--no-schedules"]

    def start(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env.update(
            {
                "TIDEMARK_DATABASE_URL": self.url,
                "TIDEMARK_WORKER_LEASE_SECONDS": "1",
                "TIDEMARK_WORKER_BATCH_SIZE": str(self.rng.choice((50, 120, 300))),
                "TIDEMARK_WORKER_POLL_SECONDS": "0.05",
                "TIDEMARK_LOG_LEVEL": "WARNING",
            }
        )
        env.pop("TIDEMARK_NOW", None)
        return subprocess.Popen(
            self.command(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def __enter__(self) -> Fleet:
        self.processes = [self.start() for _ in range(self.count)]
        return self

    def kill_one(self) -> None:
        index = self.rng.randrange(len(self.processes))
        self.processes[index].send_signal(signal.SIGKILL)
        self.processes[index].wait()
        self.kills += 1
        self.processes[index] = self.start()

    def check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                error = process.stderr.read().decode() if process.stderr else ""
                raise AssertionError(f"a worker exited with {process.returncode}: {error}")

    def __exit__(self, *_exc: object) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr:
                process.stderr.close()


def seed(engine: Engine) -> dict[int, list[int]]:
    """Three tenants with their accounts and debounce windows."""
    tenants: dict[int, list[int]] = {}
    with unit_of_work(engine) as session:
        for index, window in enumerate(WINDOWS):
            customer, _ = factories.customer(session, name=f"Crash Tenant {index}")
            session.execute(
                update(CustomerConfig)
                .where(CustomerConfig.customer_id == customer.customer_id)
                .values(snapshot_window_seconds=window)
            )
            tenants[customer.customer_id] = [
                factories.account(
                    session, customer, f"Account {index}-{k}", revenue=str(100_000 + k)
                ).account_id
                for k in range(ACCOUNTS_PER_TENANT)
            ]
    return tenants


def produce(engine: Engine, tenants: dict[int, list[int]], rng: random.Random) -> int:
    """Real changes, each committed with its events; the number of events written."""
    with session_factory(engine)() as session:
        users = dict(
            session.execute(
                select(User.customer_id, func.min(User.user_id)).group_by(User.customer_id)
            ).all()
        )
    accounts = cast(Table, Account.__table__)
    notes = cast(Table, AccountNote.__table__)
    statuses = ("active", "at_risk", "active", "inactive", "churn")
    written = 0
    while written < EVENTS:
        customer_id = rng.choice(sorted(tenants))
        chosen = rng.sample(tenants[customer_id], rng.randint(5, 30))
        kind = rng.choice(CHANGES)
        now = datetime.now(UTC)
        if kind is EventType.ACCOUNT_STATUS_CHANGED:
            column, values = "account_status", [rng.choice(statuses) for _ in chosen]
        else:
            column, values = "revenue", [Decimal(rng.randint(50_000, 5_000_000)) for _ in chosen]
        with unit_of_work(engine, write=True) as session:
            session.execute(
                update(accounts)
                .where(accounts.c.account_id == bindparam("aid"))
                .values({column: bindparam("value")}),
                [{"aid": aid, "value": value} for aid, value in zip(chosen, values, strict=True)],
            )
            noted = [aid for aid in chosen if rng.random() < 0.3]
            if noted:
                session.execute(
                    insert(notes),
                    [
                        {
                            "customer_id": customer_id,
                            "account_id": aid,
                            "note_title": f"Call {written}",
                            "note_content": "ลูกค้าพอใจกับบริการ",
                            "note_type": "meeting",
                            "created_by": users[customer_id],
                            "created_at": now,
                            "is_important": False,
                        }
                        for aid in noted
                    ],
                )
            written += emit(
                session, customer_id=customer_id, event_type=kind, account_ids=chosen, at=now
            )
        if rng.random() < 0.02:
            time.sleep(rng.uniform(0.0, 0.05))
    return written


def settled(engine: Engine) -> bool:
    with session_factory(engine)() as session:
        open_events = session.execute(
            select(func.count()).where(OutboxEvent.state.in_(("pending", "deferred")))
        ).scalar_one()
        owed = session.execute(
            select(func.count()).where(SnapshotWindow.trailing_due.is_(True))
        ).scalar_one()
    return open_events == 0 and owed == 0


def run_crash_test(engine: Engine, url: str, *, seed_value: int, workers: int) -> dict[str, int]:
    rng = random.Random(seed_value)
    tenants = seed(engine)
    produced: list[int] = []
    failures: list[BaseException] = []

    def feed() -> None:
        try:
            produced.append(produce(engine, tenants, random.Random(seed_value + 1)))
        except BaseException as error:
            failures.append(error)
            raise

    producer = threading.Thread(target=feed)
    started = time.monotonic()
    with Fleet(url, workers, rng) as fleet:
        producer.start()
        # Kill workers at random moments while events arrive, and for a while after.
        while producer.is_alive() or fleet.kills < 12:
            time.sleep(rng.uniform(0.1, 1.2))
            fleet.check_alive()
            fleet.kill_one()
            assert time.monotonic() - started < TIMEOUT, "feeding and killing took too long"
        producer.join()
        assert not failures, f"feeding events failed: {failures[0]!r}"
        while not settled(engine):
            fleet.check_alive()
            assert time.monotonic() - started < TIMEOUT, "the workers did not settle the outbox"
            time.sleep(0.2)
        kills = fleet.kills
    check_outcome(engine, tenants, produced[0])
    return {"events": produced[0], "kills": kills}


def check_outcome(engine: Engine, tenants: dict[int, list[int]], produced: int) -> None:
    with session_factory(engine)() as session:
        states = dict(
            session.execute(
                select(OutboxEvent.state, func.count()).group_by(OutboxEvent.state)
            ).all()
        )
        assert states == {"done": produced}, states
        pointers = session.execute(
            select(OutboxEvent.snapshot_id, OutboxEvent.account_id).distinct()
        ).all()
        automatic = dict(
            session.execute(
                select(AccountSnapshot.snapshot_id, AccountSnapshot.account_id).where(
                    AccountSnapshot.snapshot_type.in_(("event_driven", "post_upload"))
                )
            ).all()
        )
        # Every automatic snapshot is some event's, of that event's account; none extra.
        assert {sid for sid, _ in pointers} == set(automatic)
        assert all(automatic[sid] == aid for sid, aid in pointers)
        for customer_id in tenants:
            assert verify_chain(session, customer_id=customer_id).ok
        if engine.dialect.name == "sqlite":
            assert session.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    now = datetime.now(UTC)
    for customer_id, account_ids in tenants.items():
        with session_factory(engine)() as session:
            newest = {
                r["account_id"]: r
                for r in snapshots.latest(session, customer_id=customer_id, account_ids=account_ids)
            }
        for account_id in account_ids:
            assert source_values(newest[account_id]) == fresh_capture(
                engine, customer_id=customer_id, account_id=account_id, at=now
            ), f"account {account_id}: the newest snapshot is not the final state"


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
@pytest.mark.parametrize("seed_value", [11, 23, 37])
def test_sqlite_worker_killed_at_random_loses_and_duplicates_nothing(
    engine: Engine, database_url: str, seed_value: int
) -> None:
    figures = run_crash_test(engine, database_url, seed_value=seed_value, workers=1)
    assert figures["events"] >= EVENTS and figures["kills"] >= 12


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
@pytest.mark.parametrize("seed_value", [71])
def test_two_postgres_workers_killed_at_random_lose_and_duplicate_nothing(
    engine: Engine, database_url: str, seed_value: int
) -> None:
    figures = run_crash_test(engine, database_url, seed_value=seed_value, workers=2)
    assert figures["events"] >= EVENTS and figures["kills"] >= 12
