"""Read benchmark: latest, history and compare on the storage benchmark's year of snapshots.

    python -m bench.reads                          # reads /tmp/tidemark-bench-storage.db
    python -m bench.reads --accounts 50 --days 30  # builds a small data set first
    python -m bench.reads --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Times ``service.latest`` (the newest snapshot of every account of the tenant),
``service.history`` (one account's last 90 days, a different account each run)
and ``service.compare`` (two snapshots of one account, a month apart), each many
times, cold (the decoded section cache cleared before every run) and warm (after
one untimed pass over the same targets), and prints the median and 95th
percentile. When the data set is missing it runs the storage simulation
first (``--accounts``/``--days``).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench import storage
from bench.common import (
    clear_section_cache,
    describe_engine,
    fresh_postgres,
    fresh_sqlite,
    machine,
    say,
    sqlite_url,
    table,
    timed,
)
from tidemark.db import make_engine, session_factory
from tidemark.snapshots import service

TARGETS_MS = {"latest": 20.0, "history": 2.0, "compare": 5.0}


def data_set(engine: Engine) -> tuple[int, list[int]] | None:
    """The benchmark tenant and its accounts, or None when it has no snapshots yet."""
    with engine.connect() as conn:
        customer = conn.execute(
            text("SELECT customer_id FROM customers WHERE customer_name = :n"),
            {"n": storage.TENANT},
        ).scalar_one_or_none()
        if customer is None:
            return None
        accounts = [
            row[0]
            for row in conn.execute(
                text(
                    "SELECT account_id FROM snapshot_heads WHERE customer_id = :c "
                    "ORDER BY account_id"
                ),
                {"c": customer},
            )
        ]
    return (customer, accounts) if accounts else None


def snapshot_pairs(
    session: Session, customer_id: int, account_ids: Sequence[int], rng: random.Random, count: int
) -> list[tuple[int, int]]:
    """Pairs of snapshots of one account about 30 days apart."""
    pairs: list[tuple[int, int]] = []
    for account_id in rng.sample(list(account_ids), min(count, len(account_ids))):
        ids = [
            row[0]
            for row in session.execute(
                text(
                    "SELECT snapshot_id FROM account_snapshots WHERE customer_id = :c "
                    "AND account_id = :a ORDER BY snapshot_timestamp"
                ),
                {"c": customer_id, "a": account_id},
            )
        ]
        if len(ids) >= 2:
            later = rng.randrange(1, len(ids))
            pairs.append((ids[max(0, later - 30)], ids[later]))
    return pairs


def bench_backend(engine: Engine, runs: int, seed: int) -> bool:
    """Time the three reads cold and warm; False when a warm median misses its target."""
    found = data_set(engine)
    if found is None:
        raise SystemExit("no snapshots to read: run python -m bench.storage first")
    customer_id, account_ids = found
    rng = random.Random(seed)
    session = session_factory(engine)()
    try:
        with engine.connect() as conn:
            newest = conn.execute(
                text("SELECT max(snapshot_timestamp) FROM snapshot_heads WHERE customer_id = :c"),
                {"c": customer_id},
            ).scalar_one()
            snapshots = conn.execute(
                text("SELECT count(*) FROM account_snapshots WHERE customer_id = :c"),
                {"c": customer_id},
            ).scalar_one()
        if isinstance(newest, int):  # SQLite stores microseconds
            from tidemark.db.types import from_epoch_micros

            newest = from_epoch_micros(newest)
        since = newest - timedelta(days=90)
        say(
            f"\n== {describe_engine(engine)}: {len(account_ids):,} accounts, "
            f"{snapshots:,} snapshots, newest {newest:%Y-%m-%d}"
        )
        pairs = snapshot_pairs(session, customer_id, account_ids, rng, runs)
        session.rollback()

        def latest() -> Any:
            records = service.latest(session, customer_id=customer_id)
            assert len(records) == len(account_ids)
            return records

        history_targets = [rng.choice(account_ids) for _ in range(runs)]
        compare_targets = [pairs[i % len(pairs)] for i in range(runs)]
        cursor = {"history": 0, "compare": 0}

        def history() -> Any:
            account_id = history_targets[cursor["history"] % runs]
            cursor["history"] += 1
            records = service.history(
                session, customer_id=customer_id, account_id=account_id, since=since
            )
            assert records
            return records

        def compare() -> Any:
            first, second = compare_targets[cursor["compare"] % runs]
            cursor["compare"] += 1
            return service.compare(
                session, customer_id=customer_id, first_id=first, second_id=second
            )

        sizes = {
            "latest": f"{len(account_ids):,} records",
            "history": f"{len(history()):,} records",
            "compare": f"{len(compare()[2])} fields",
        }
        operations: dict[str, Callable[[], Any]] = {
            "latest": latest,
            "history": history,
            "compare": compare,
        }
        rows: list[list[Any]] = []
        ok = True
        for name, operation in operations.items():
            count = max(10, runs // 5) if name == "latest" else runs
            cold = timed(operation, runs=count, before=lambda: clear_section_cache(engine))
            # Warm: every target read once before timing, so the sections of all
            # of them are cached (the timed runs go over the same targets again).
            for _ in range(count):
                operation()
            warm = timed(operation, runs=count)
            target = TARGETS_MS[name]
            for mode, timing in (("cold", cold), ("warm", warm)):
                met = timing.median_ms <= target
                if mode == "warm":
                    ok &= met
                rows.append(
                    [
                        name,
                        sizes[name],
                        mode,
                        timing.runs,
                        round(timing.median_ms, 2),
                        round(timing.p95_ms, 2),
                        f"<= {target:g} ms: {'met' if met else 'MISSED'}",
                    ]
                )
        say(table(rows, ("read", "returns", "cache", "runs", "median ms", "p95 ms", "target")))
        return ok
    finally:
        session.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the read benchmark; it reports the targets, it does not fail on them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=storage.DEFAULT_DB)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--accounts", type=int, default=1_000, help="when building the data set")
    parser.add_argument("--days", type=int, default=365, help="when building the data set")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help=f"also read from database {storage.PG_DATABASE} on that server "
        "(built by python -m bench.storage --postgres, or here when missing)",
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args(argv)

    say(f"read benchmark, {machine()}, load average {os.getloadavg()[0]:.2f}")
    if not args.skip_sqlite:
        if args.db.exists():
            engine = make_engine(sqlite_url(args.db))
        else:
            say(f"{args.db} is missing: building it ({args.accounts} accounts x {args.days} days)")
            engine = fresh_sqlite(args.db)
        if data_set(engine) is None:
            storage.simulate(engine, args.accounts, args.days, seed=11)
        bench_backend(engine, args.runs, args.seed)
        engine.dispose()
    if args.postgres:
        url = make_url(args.postgres).set(database=storage.PG_DATABASE)
        engine = make_engine(url.render_as_string(hide_password=False))
        try:
            found = data_set(engine)
        except Exception:
            found = None
        if found is None:
            engine.dispose()
            engine = fresh_postgres(args.postgres, storage.PG_DATABASE)
            storage.simulate(engine, args.accounts, args.days, seed=11)
        bench_backend(engine, args.runs, args.seed)
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
