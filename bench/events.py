"""Event benchmark: how fast workers turn outbox events into snapshots, and how soon.

    python -m bench.events                                  # SQLite, one worker
    python -m bench.events --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        --workers 1 2                                       # PostgreSQL, one then two workers
    python -m bench.events --accounts 500 --events 4000 --latency-seconds 5   # a quick look

Builds tenants of realistic accounts (25 KPIs, products, notes, playbooks,
trends; bench/common.py), then for each worker count:

1. **Throughput.** Starts the workers (``tidemark worker`` processes), waits
   until they are up, commits ``--events`` events on random accounts in one
   transaction, and times until every event is settled. With the debounce
   window at 0 every event's account is captured (the worst case: one snapshot
   per distinct account per batch); with the default 300 s window the first
   event of an account is captured and later ones are deferred to the window's
   end (``settled`` then means captured or deferred).
2. **Latency** (window 0, so no window is pending): a producer commits one
   event per transaction at ``--rate`` per second for ``--latency-seconds``,
   and the delay from each event's commit time to its snapshot
   (``processed_at - created_at``) is read back: median, p99, max.

Figures depend on the machine; compare ratios on one machine.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, delete, func, select, update

from bench.common import (
    T0,
    create_tenant,
    describe_engine,
    fresh_postgres,
    fresh_sqlite,
    generate_accounts,
    machine,
    say,
    table,
)
from tidemark.db import session_factory, unit_of_work
from tidemark.events.models import OutboxEvent, SnapshotWindow
from tidemark.events.outbox import EventType, emit
from tidemark.snapshots.models import AccountSnapshot, SnapshotHead
from tidemark.tenancy.models import CustomerConfig

KINDS = (
    EventType.KPI_DATA_UPLOADED,
    EventType.ACCOUNT_DATA_CHANGED,
    EventType.HEALTH_SCORES_UPDATED,
    EventType.ACCOUNT_STATUS_CHANGED,
)


@contextmanager
def workers(url: str, count: int, *, batch_size: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` worker processes on ``url``, stopped with SIGTERM at the end."""
    env = dict(os.environ)
    env.update(
        {
            "TIDEMARK_DATABASE_URL": url,
            "TIDEMARK_WORKER_BATCH_SIZE": str(batch_size),
            "TIDEMARK_LOG_LEVEL": "WARNING",
        }
    )
    env.pop("TIDEMARK_NOW", None)
    command = [str(Path(sys.executable).with_name("tidemark")), "worker", "--no-schedules"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL) for _ in range(count)
    ]
    try:
        time.sleep(3.0)  # start-up: imports and the first idle poll
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"a worker exited at start with {process.returncode}")
        yield processes
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)


def reset(engine: Engine, window: int) -> None:
    """No events, windows or snapshots; every tenant's window set to ``window`` seconds."""
    with unit_of_work(engine, write=True) as session:
        session.execute(delete(OutboxEvent))
        session.execute(delete(SnapshotWindow))
        session.execute(update(CustomerConfig).values(snapshot_window_seconds=window))


def open_events(engine: Engine, states: tuple[str, ...]) -> int:
    with session_factory(engine)() as session:
        return int(
            session.execute(select(func.count()).where(OutboxEvent.state.in_(states))).scalar_one()
        )


def throughput(
    engine: Engine,
    url: str,
    tenants: dict[int, list[int]],
    *,
    count: int,
    window: int,
    events: int,
    batch_size: int,
    seed: int,
) -> dict[str, float]:
    reset(engine, window)
    rng = random.Random(seed)
    snapshots_before = _count(engine, AccountSnapshot)
    with workers(url, count, batch_size=batch_size):
        now = datetime.now(UTC)
        with unit_of_work(engine, write=True) as session:
            for _ in range(events // 100):
                customer_id = rng.choice(sorted(tenants))
                emit(
                    session,
                    customer_id=customer_id,
                    event_type=rng.choice(KINDS),
                    account_ids=rng.sample(tenants[customer_id], k=100),
                    at=now,
                )
        started = time.perf_counter()
        written = _count(engine, OutboxEvent)
        while open_events(engine, ("pending",)):
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    return {
        "events": written,
        "seconds": elapsed,
        "per_second": written / elapsed,
        "snapshots": _count(engine, AccountSnapshot) - snapshots_before,
        "deferred": open_events(engine, ("deferred",)),
    }


def latency(
    engine: Engine,
    url: str,
    tenants: dict[int, list[int]],
    *,
    count: int,
    rate: float,
    seconds: float,
    seed: int,
) -> dict[str, float]:
    reset(engine, 0)
    rng = random.Random(seed)
    with workers(url, count, batch_size=500):
        interval = 1.0 / rate
        deadline = time.perf_counter() + seconds
        next_at = time.perf_counter()
        while time.perf_counter() < deadline:
            customer_id = rng.choice(sorted(tenants))
            with unit_of_work(engine, write=True) as session:
                emit(
                    session,
                    customer_id=customer_id,
                    event_type=rng.choice(KINDS),
                    account_ids=[rng.choice(tenants[customer_id])],
                    at=datetime.now(UTC),
                )
            next_at += interval
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        while open_events(engine, ("pending",)):
            time.sleep(0.05)
    with session_factory(engine)() as session:
        rows = session.execute(select(OutboxEvent.created_at, OutboxEvent.processed_at)).all()
    delays = sorted((done - made).total_seconds() for made, done in rows if done is not None)
    p99 = delays[max(0, -(-99 * len(delays) // 100) - 1)]
    return {
        "events": len(delays),
        "median": statistics.median(delays),
        "p99": p99,
        "max": delays[-1],
    }


def _count(engine: Engine, model: type[OutboxEvent] | type[AccountSnapshot]) -> int:
    with session_factory(engine)() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def build(engine: Engine, *, tenants: int, accounts: int) -> dict[int, list[int]]:
    built: dict[int, list[int]] = {}
    for index in range(tenants):
        customer_id, user_id = create_tenant(engine, f"Bench Tenant {index}")
        built[customer_id] = generate_accounts(
            engine,
            customer_id=customer_id,
            user_id=user_id,
            count=accounts,
            at=T0,
            seed=7 + index,
        )
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="PostgreSQL server URL (a bench database is made)")
    parser.add_argument("--db", type=Path, default=Path("data/bench-events.db"))
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--accounts", type=int, default=2000, help="accounts per tenant")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--rate", type=float, default=100.0, help="latency: events per second")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    args = parser.parse_args()

    if args.postgres:
        engine = fresh_postgres(args.postgres, "tidemark_bench_events")
    else:
        args.db.parent.mkdir(parents=True, exist_ok=True)
        engine = fresh_sqlite(args.db)
    url = engine.url.render_as_string(hide_password=False)
    say(f"Machine: {machine()}; database: {describe_engine(engine)}")
    started = time.perf_counter()
    tenants = build(engine, tenants=args.tenants, accounts=args.accounts)
    say(
        f"Built {args.tenants} tenants x {args.accounts} accounts "
        f"in {time.perf_counter() - started:.1f} s"
    )
    # Every account gets its first snapshot, so the runs below measure steady state.
    with unit_of_work(engine, write=True) as session:
        from tidemark.snapshots.capture import capture_accounts

        for customer_id in tenants:
            capture_accounts(
                session, customer_id=customer_id, at=datetime.now(UTC), snapshot_type="manual"
            )
    assert _count(engine, SnapshotHead) == args.tenants * args.accounts  # type: ignore[arg-type]

    rows = []
    base: float | None = None
    for count in args.workers:
        for window in (0, 300):
            figures = throughput(
                engine,
                url,
                tenants,
                count=count,
                window=window,
                events=args.events,
                batch_size=args.batch_size,
                seed=11,
            )
            if window == 0 and base is None:
                base = figures["per_second"]
            rows.append(
                [
                    f"{count} worker(s), window {window} s",
                    f"{figures['events']:,.0f}",
                    f"{figures['seconds']:.2f}",
                    f"{figures['per_second']:,.0f}",
                    f"{figures['snapshots']:,.0f}",
                    f"{figures['deferred']:,.0f}",
                    f"{figures['per_second'] / base:.2f}x" if window == 0 and base else "",
                ]
            )
    say(
        table(
            rows,
            ["Throughput", "Events", "Seconds", "Events/s", "Snapshots", "Deferred", "vs first"],
        )
    )
    rows = []
    for count in args.workers:
        figures = latency(
            engine,
            url,
            tenants,
            count=count,
            rate=args.rate,
            seconds=args.latency_seconds,
            seed=13,
        )
        rows.append(
            [
                f"{count} worker(s), {args.rate:.0f} events/s, no window pending",
                f"{figures['events']:,.0f}",
                f"{figures['median'] * 1000:.0f}",
                f"{figures['p99'] * 1000:.0f}",
                f"{figures['max'] * 1000:.0f}",
            ]
        )
    say(table(rows, ["Event to snapshot", "Events", "Median ms", "p99 ms", "Max ms"]))


if __name__ == "__main__":
    main()
