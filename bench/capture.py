"""Capture benchmark: set-based capture of a large tenant against the obvious per-account way.

    python -m bench.capture                       # 100,000 accounts, 5,000 compared
    python -m bench.capture --accounts 2000 --compare-accounts 200
    python -m bench.capture --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Builds a tenant (25 standard KPIs, 3 products, notes, playbook executions and
reports, health trends for some accounts) with Core bulk inserts, then:

1. captures the same subset of accounts twice, once one account at a time
   through the ORM (``bench/naive_capture.py``) and once with
   ``capture_accounts``, reads back what each stored, and checks that the
   records are equal field by field for every account of the subset; both
   runs are rolled back, so they start from the same state, and neither
   timing includes a commit;
2. captures every account with ``capture_accounts`` (the first snapshot of
   each), then once more a day later with nothing changed; these two are
   timed through their commit. With ``--repeat N`` they are run N times, each
   time from the generated database again (SQLite: a copy of the file taken
   before the first run; PostgreSQL: the snapshot tables emptied), and the
   verdict takes the median.

"cpu s" is the process time of the benchmark's process, every thread included:
on SQLite the KPIs of the next batch are summed on a second thread
(``--no-prefetch`` keeps capture on one thread, to compare).

Every statement sent to the database is counted (``before_cursor_execute``).
The exit status is 1 when the two paths stored different records.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bench.common import (
    T0,
    analyze,
    clear_section_cache,
    counting,
    create_tenant,
    describe_engine,
    fresh_postgres,
    fresh_sqlite,
    generate_accounts,
    machine,
    progress_bar,
    say,
    table,
)
from bench.naive_capture import naive_capture
from tidemark.db import session_factory, unit_of_work
from tidemark.snapshots import capture, service
from tidemark.snapshots.capture import DEFAULT_BATCH, capture_accounts

AT = T0 + timedelta(days=180)
#: Fields that differ between two captures of the same state by construction.
IDENTITY_FIELDS = {"snapshot_id"}
TARGET_SECONDS = 20.0
TARGET_RATIO = 10.0


@dataclass
class Run:
    """One timed capture."""

    label: str
    accounts: int
    seconds: float
    cpu_seconds: float
    queries: int

    @property
    def per_second(self) -> float:
        """Accounts captured per second."""
        return self.accounts / self.seconds if self.seconds else 0.0

    def row(self) -> list[Any]:
        """The run as a table row."""
        return [
            self.label,
            self.accounts,
            round(self.seconds, 2),
            round(self.cpu_seconds, 2),
            round(self.per_second),
            self.queries,
            round(self.queries / self.accounts, 2) if self.accounts else 0,
        ]


HEADERS = ("run", "accounts", "seconds", "cpu s", "accounts/s", "queries", "queries/account")


def timed_capture(engine: Engine, label: str, accounts: int, work: Callable[[Session], Any]) -> Run:
    """Run ``work(session)`` in one unit of work; time it through the commit, count queries."""
    with counting(engine) as counter:
        start, cpu = time.perf_counter(), time.process_time()
        with unit_of_work(engine) as session:
            work(session)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    return Run(label, accounts, seconds, cpu_seconds, counter.count)


def trial_capture(
    engine: Engine,
    label: str,
    customer_id: int,
    account_ids: Sequence[int],
    work: Callable[[Session], Any],
) -> tuple[Run, dict[int, dict[str, Any]]]:
    """Time ``work(session)``, read back what it stored, and roll it all back.

    Rolling back leaves the database as it was, so both paths start from the
    same state; neither timing includes a commit.
    """
    session = session_factory(engine)()
    try:
        with counting(engine) as counter:
            start, cpu = time.perf_counter(), time.process_time()
            work(session)
            session.flush()
            seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        records = service.latest(session, customer_id=customer_id, account_ids=account_ids)
    finally:
        session.rollback()
        session.close()
    run = Run(label, len(account_ids), seconds, cpu_seconds, counter.count)
    return run, {record["account_id"]: record for record in records}


def compare_records(
    naive: dict[int, dict[str, Any]], fast: dict[int, dict[str, Any]], account_ids: Sequence[int]
) -> list[str]:
    """Every difference between the two captures, as readable lines."""
    problems: list[str] = []
    for account_id in account_ids:
        a, b = naive.get(account_id), fast.get(account_id)
        if a is None or b is None:
            missing = "naive" if a is None else "set-based"
            problems.append(f"account {account_id}: missing from the {missing} run")
            continue
        for name in a:
            if name not in IDENTITY_FIELDS and a[name] != b[name]:
                problems.append(
                    f"account {account_id}: {name} naive={a[name]!r} set-based={b[name]!r}"
                )
    return problems


def sample(ids: Sequence[int], count: int) -> list[int]:
    """``count`` ids spread evenly over ``ids``."""
    if count >= len(ids):
        return list(ids)
    step = len(ids) / count
    return [ids[int(i * step)] for i in range(count)]


def keep_generated(engine: Engine) -> Callable[[], None]:
    """Remember the generated database; the returned function brings it back.

    SQLite: a copy of the file (after a checkpoint, so the file holds everything).
    PostgreSQL: the source tables stay, the snapshot tables are emptied.
    """
    clear_section_cache(engine)
    if engine.dialect.name == "sqlite":
        path = Path(str(engine.url.database))
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        saved = path.with_name(path.name + ".generated")
        shutil.copyfile(path, saved)

        def restore_file() -> None:
            engine.dispose()
            for suffix in ("-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(saved, path)
            clear_section_cache(engine)

        return restore_file

    def empty_snapshots() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "TRUNCATE snapshot_heads, account_snapshots, snapshot_sections RESTART IDENTITY"
            )
        analyze(engine)
        clear_section_cache(engine)

    return empty_snapshots


def bench_backend(engine: Engine, args: argparse.Namespace) -> bool:
    """Build, compare, capture everything; print the figures. False when a check failed."""
    say(f"\n== {describe_engine(engine)}")
    customer_id, user_id = create_tenant(engine, "Capture Bench")
    start = time.perf_counter()
    ids = generate_accounts(
        engine,
        customer_id=customer_id,
        user_id=user_id,
        count=args.accounts,
        at=AT,
        seed=args.seed,
        progress=progress_bar("generating accounts") if sys.stdout.isatty() else None,
    )
    analyze(engine)
    with engine.connect() as conn:
        kpis = conn.execute(
            text("SELECT count(*) FROM kpis WHERE customer_id = :c"), {"c": customer_id}
        ).scalar_one()
    say(
        f"generated {len(ids):,} accounts ({kpis:,} KPI rows) "
        f"in {time.perf_counter() - start:.1f} s with Core bulk inserts"
    )

    subset = sample(ids, min(args.compare_accounts, len(ids)))
    say(f"comparing on {len(subset):,} accounts ...")
    naive_run, naive_records = trial_capture(
        engine,
        "naive: ORM, one account at a time",
        customer_id,
        subset,
        lambda s: naive_capture(s, customer_id=customer_id, account_ids=subset, at=AT),
    )
    fast_subset, fast_records = trial_capture(
        engine,
        "set-based: capture_accounts",
        customer_id,
        subset,
        lambda s: capture_accounts(
            s,
            customer_id=customer_id,
            at=AT,
            snapshot_type="scheduled",
            account_ids=subset,
            batch_size=args.batch_size,
        ),
    )
    problems = compare_records(naive_records, fast_records, subset)

    restore = keep_generated(engine) if args.repeat > 1 else None
    full_runs: list[Run] = []
    rows: list[list[Any]] = [naive_run.row(), fast_subset.row()]
    for repeat in range(args.repeat):
        suffix = f" #{repeat + 1}" if args.repeat > 1 else ""
        if repeat and restore is not None:
            restore()
        say(f"capturing all {len(ids):,} accounts{suffix} ...")
        full = timed_capture(
            engine,
            f"set-based: all accounts, first snapshot{suffix}",
            len(ids),
            lambda s: capture_accounts(
                s,
                customer_id=customer_id,
                at=AT,
                snapshot_type="scheduled",
                batch_size=args.batch_size,
            ),
        )
        again = timed_capture(
            engine,
            f"set-based: all accounts, next day{suffix}",
            len(ids),
            lambda s: capture_accounts(
                s,
                customer_id=customer_id,
                at=AT + timedelta(days=1),
                snapshot_type="scheduled",
                batch_size=args.batch_size,
            ),
        )
        full_runs.append(full)
        rows.extend([full.row(), again.row()])
    if restore is not None and engine.dialect.name == "sqlite":
        Path(f"{engine.url.database}.generated").unlink(missing_ok=True)

    say("")
    say(table(rows, HEADERS))
    ratio = naive_run.seconds / fast_subset.seconds if fast_subset.seconds else float("inf")
    say("")
    say(
        f"speed-up on the same {len(subset):,} accounts: {ratio:.1f}x "
        f"(target >= {TARGET_RATIO:.0f}x: {'met' if ratio >= TARGET_RATIO else 'MISSED'})"
    )
    if engine.dialect.name == "sqlite":
        seconds = statistics.median(run.seconds for run in full_runs)
        verdict = "met" if seconds <= TARGET_SECONDS else "MISSED"
        runs = f"median of {len(full_runs)} runs" if len(full_runs) > 1 else "one run"
        say(
            f"all {len(ids):,} accounts: {seconds:.1f} s, {runs} "
            f"(target <= {TARGET_SECONDS:.0f} s: {verdict})"
        )
    compared = len(subset) * (len(next(iter(naive_records.values()))) - len(IDENTITY_FIELDS))
    if problems:
        say(f"records differ ({len(problems)} field(s)); first ones:")
        for line in problems[:20]:
            say(f"  {line}")
    else:
        say(f"records equal: {len(subset):,} accounts, {compared:,} field values compared")
    return not problems


def main(argv: Sequence[str] | None = None) -> int:
    """Run the capture benchmark; exit status 1 when the records of the two paths differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--compare-accounts", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the two captures of every account this many times, each from the "
        "generated database",
    )
    parser.add_argument(
        "--no-prefetch",
        action="store_true",
        help="do not sum the next batch's KPIs on a second thread (SQLite)",
    )
    parser.add_argument(
        "--db", type=Path, default=Path("/tmp/tidemark-bench-capture.db"), help="SQLite file"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also run on PostgreSQL; the benchmark creates (and drops) its own database "
        "tidemark_bench_capture on that server",
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    capture.PREFETCH_KPIS = not args.no_prefetch

    say(f"capture benchmark, {machine()}, load average {os.getloadavg()[0]:.2f}")
    say(
        f"snapshot time {AT.isoformat()}, batch size {args.batch_size:,}, "
        f"next batch's KPIs {'on one thread' if args.no_prefetch else 'summed beside (SQLite)'}"
    )
    ok = True
    if not args.skip_sqlite:
        engine = fresh_sqlite(args.db)
        ok &= bench_backend(engine, args)
        engine.dispose()
    if args.postgres:
        engine = fresh_postgres(args.postgres, "tidemark_bench_capture")
        ok &= bench_backend(engine, args)
        engine.dispose()
    say(f"load average at the end {os.getloadavg()[0]:.2f}; {datetime.now():%Y-%m-%d %H:%M}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
