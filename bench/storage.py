"""Storage benchmark: a year of daily snapshots of 1,000 accounts, and what it costs on disk.

    python -m bench.storage                        # 1,000 accounts x 365 days
    python -m bench.storage --accounts 50 --days 20
    python -m bench.storage --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Simulates a tenant day by day. Each day the source data changes the way a
customer-success platform's does (a monthly health trend and KPI upload that
moves some KPI values, revenue changes a few times a year for some accounts, a
note every week or so, playbooks starting and completing a few times a year,
an occasional status or lifecycle change), then every account is captured as
of that day with ``capture_accounts`` (a scheduled snapshot).

At the end it reports the database size after VACUUM, bytes per snapshot,
the breakdown per table and index, how many distinct sections each kind has,
and the same records stored as the seed's flat wide rows, for the ratio.
The database is kept for ``python -m bench.reads``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, bindparam, text, update
from sqlalchemy.engine import make_url

from bench import seed_table
from bench.common import (
    T0,
    Shape,
    analyze,
    bulk_insert,
    create_tenant,
    describe_engine,
    execution_rows,
    fresh_postgres,
    fresh_sqlite,
    generate_accounts,
    kpi_data,
    kpi_value,
    machine,
    next_ids,
    note_row,
    report_row,
    say,
    sqlite_url,
    table,
    trend_row,
)
from tidemark.db import make_engine, unit_of_work
from tidemark.snapshots import service
from tidemark.snapshots.capture import capture_accounts
from tidemark.success.catalog import STANDARD_KPIS
from tidemark.success.models import (
    KPI,
    Account,
    AccountNote,
    HealthTrend,
    PlaybookExecution,
    PlaybookReport,
)

TENANT = "Storage Bench"
SNAPSHOT_TABLES = ("account_snapshots", "snapshot_sections", "snapshot_heads")
BUDGET_BYTES = 100 * 1024 * 1024
#: The seed's budget: 100 MB for 1,000 accounts x 365 daily snapshots.
BUDGET_PER_SNAPSHOT = 100_000_000 / 365_000
PG_DATABASE = "tidemark_bench_storage"
DEFAULT_DB = Path("/tmp/tidemark-bench-storage.db")


@dataclass
class SimAccount:
    """What the simulation remembers of an account between days."""

    account_id: int
    centre: float
    status: str
    revenue: Decimal
    changes_revenue: bool
    profile: dict[str, Any]
    kpis: list[tuple[int, int]] = field(default_factory=list)  # (kpi_id, catalog index)
    running: list[tuple[dict[str, Any], datetime]] = field(default_factory=list)


class Simulation:
    """Moves the tenant's source data one day at a time."""

    def __init__(self, engine: Engine, customer_id: int, user_id: int, seed: int) -> None:
        self.engine = engine
        self.customer_id = customer_id
        self.user_id = user_id
        # Not the generator's seed: its execution ids come from the same stream.
        self.rng = random.Random(seed * 7919 + 1)
        self.accounts: list[SimAccount] = []

    def load(self) -> None:
        """Read back the generated accounts and their KPIs."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                Account.__table__.select()
                .where(Account.customer_id == self.customer_id)
                .order_by(Account.account_id)
            ).mappings()
            for row in rows:
                self.accounts.append(
                    SimAccount(
                        account_id=row["account_id"],
                        centre=self.rng.uniform(50, 90),
                        status=row["account_status"],
                        revenue=row["revenue"],
                        changes_revenue=self.rng.random() < 0.3,
                        profile=dict(row["profile_metadata"]),
                    )
                )
            by_id = {a.account_id: a for a in self.accounts}
            names = {kpi.name: i for i, kpi in enumerate(STANDARD_KPIS)}
            for kpi_id, account_id, parameter in conn.execute(
                text(
                    "SELECT kpi_id, account_id, kpi_parameter FROM kpis "
                    "WHERE customer_id = :c ORDER BY kpi_id"
                ),
                {"c": self.customer_id},
            ):
                by_id[account_id].kpis.append((kpi_id, names[parameter]))

    def advance(self, at: datetime) -> dict[str, int]:
        """Apply one day of changes (everything dated before ``at``); returns what changed."""
        rng = self.rng
        counts = dict.fromkeys(
            ("trends", "kpis", "revenue", "status", "profile", "notes", "started", "done"), 0
        )
        rows: dict[str, list[dict[str, Any]]] = {
            "notes": [],
            "executions": [],
            "reports": [],
            "trends": [],
        }
        kpi_updates: list[dict[str, Any]] = []
        account_updates: list[dict[str, Any]] = []
        completions: list[dict[str, Any]] = []
        with self.engine.begin() as conn:
            ids = next_ids(conn)
            month_start = at.day == 1
            for account in self.accounts:
                changed = False
                if month_start:
                    # The monthly health calculation and KPI upload.
                    account.centre = min(98.0, max(20.0, account.centre + rng.gauss(0, 4)))
                    rows["trends"].append(
                        trend_row(
                            rng,
                            ids,
                            self.customer_id,
                            account.account_id,
                            at.year,
                            at.month,
                            at - timedelta(hours=1),
                            around=account.centre,
                        )
                    )
                    for kpi_id, index in rng.sample(account.kpis, 6):
                        value = kpi_value(rng, index)
                        kpi_updates.append(
                            {"kid": kpi_id, "value": value, "data": kpi_data(index, value)}
                        )
                    counts["trends"] += 1
                    counts["kpis"] += 6
                if account.changes_revenue and rng.random() < 4 / 365:
                    factor = Decimal(str(round(rng.uniform(0.8, 1.3), 3)))
                    account.revenue = (account.revenue * factor).quantize(Decimal("0.01"))
                    counts["revenue"] += 1
                    changed = True
                if rng.random() < 2 / 365:
                    account.status = "at_risk" if account.status == "active" else "active"
                    counts["status"] += 1
                    changed = True
                if rng.random() < 1 / 365:
                    engagement = dict(account.profile.get("engagement") or {})
                    engagement["lifecycle_stage"] = rng.choice(
                        ("onboarding", "growth", "mature", "renewal")
                    )
                    account.profile["engagement"] = engagement
                    counts["profile"] += 1
                    changed = True
                if changed:
                    account_updates.append(
                        {
                            "aid": account.account_id,
                            "revenue": account.revenue,
                            "account_status": account.status,
                            "profile_metadata": account.profile,
                            "updated_at": at - timedelta(hours=3),
                        }
                    )
                if rng.random() < 1 / 7:
                    rows["notes"].append(
                        note_row(
                            rng,
                            ids,
                            self.customer_id,
                            self.user_id,
                            account.account_id,
                            at,
                            max_age_days=1,
                        )
                    )
                    counts["notes"] += 1
                if rng.random() < 3 / 365:
                    started = at - timedelta(hours=rng.randrange(2, 20))
                    execution = execution_rows(
                        rng,
                        rows,
                        ids,
                        self.customer_id,
                        self.user_id,
                        account.account_id,
                        started,
                        status="in-progress",
                    )
                    account.running.append((execution, started + timedelta(rng.randrange(14, 45))))
                    counts["started"] += 1
                still_running = []
                for execution, due in account.running:
                    if due <= at:
                        done_at = due - timedelta(hours=4)
                        completions.append(
                            {"eid": execution["execution_id"], "completed_at": done_at}
                        )
                        rows["reports"].append(report_row(ids, execution, done_at))
                        counts["done"] += 1
                    else:
                        still_running.append((execution, due))
                account.running = still_running
            bulk_insert(conn, AccountNote.__table__, rows["notes"])
            bulk_insert(conn, PlaybookExecution.__table__, rows["executions"])
            bulk_insert(conn, HealthTrend.__table__, rows["trends"])
            if kpi_updates:
                conn.execute(
                    update(KPI.__table__)
                    .where(KPI.kpi_id == bindparam("kid"))
                    .values(value=bindparam("value"), data=bindparam("data"), updated_at=at),
                    kpi_updates,
                )
            if account_updates:
                conn.execute(
                    update(Account.__table__)
                    .where(Account.account_id == bindparam("aid"))
                    .values(
                        revenue=bindparam("revenue"),
                        account_status=bindparam("account_status"),
                        profile_metadata=bindparam("profile_metadata"),
                        updated_at=bindparam("updated_at"),
                    ),
                    account_updates,
                )
            if completions:
                conn.execute(
                    update(PlaybookExecution.__table__)
                    .where(PlaybookExecution.execution_id == bindparam("eid"))
                    .values(
                        status="completed", completed_at=bindparam("completed_at"), current_step=5
                    ),
                    completions,
                )
            bulk_insert(conn, PlaybookReport.__table__, rows["reports"])
        return counts


def simulate(engine: Engine, accounts: int, days: int, seed: int) -> tuple[int, float]:
    """Build the tenant and run the year; returns (customer id, seconds spent capturing)."""
    customer_id, user_id = create_tenant(engine, TENANT)
    start = time.perf_counter()
    generate_accounts(
        engine,
        customer_id=customer_id,
        user_id=user_id,
        count=accounts,
        at=T0,
        seed=seed,
        shape=Shape(notes=(3, 6), executions=(0, 2), trend_share=0.0),
    )
    say(f"generated {accounts:,} accounts in {time.perf_counter() - start:.1f} s")
    sim = Simulation(engine, customer_id, user_id, seed)
    sim.load()
    capture_seconds = 0.0
    totals: dict[str, int] = {}
    started = time.perf_counter()
    for day in range(days):
        at = T0 + timedelta(days=day)
        for key, value in sim.advance(at).items():
            totals[key] = totals.get(key, 0) + value
        begin = time.perf_counter()
        with unit_of_work(engine) as session:
            capture_accounts(session, customer_id=customer_id, at=at, snapshot_type="scheduled")
        capture_seconds += time.perf_counter() - begin
        if day == 0 or (day + 1) % 30 == 0 or day + 1 == days:
            say(
                f"  day {day + 1:4d} ({at:%Y-%m-%d}): {(day + 1) * accounts:,} snapshots, "
                f"{time.perf_counter() - started:.0f} s elapsed, "
                f"{capture_seconds / (day + 1) * 1000:.0f} ms per daily capture"
            )
    say(
        "source changes over the run: "
        + ", ".join(f"{key} {value:,}" for key, value in totals.items())
    )
    analyze(engine)
    return customer_id, capture_seconds


# ----------------------------------------------------------------------------- measuring


@dataclass
class Sizes:
    """Bytes on disk per table (indexes counted with their table) and per index."""

    tables: dict[str, int]
    indexes: dict[str, tuple[str, int]]  # index -> (table, bytes)
    total: int
    method: str

    def snapshot_bytes(self) -> int:
        """Bytes of the snapshot storage tables with their indexes."""
        return sum(self.tables.get(name, 0) for name in SNAPSHOT_TABLES)


def sqlite_sizes(engine: Engine) -> Sizes:
    """Per-table and per-index bytes from the dbstat virtual table (or page counts)."""
    with engine.connect() as conn:
        owners = {
            name: (kind, table_name)
            for name, kind, table_name in conn.execute(
                text(
                    "SELECT name, type, tbl_name FROM sqlite_master WHERE type IN ('table','index')"
                )
            )
        }
        page_size = conn.execute(text("PRAGMA page_size")).scalar_one()
        total = conn.execute(text("PRAGMA page_count")).scalar_one() * page_size
        try:
            rows = conn.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")).all()
            method = "SQLite dbstat"
        except Exception:  # dbstat not compiled in: whole file only
            rows = []
            method = "page count (dbstat not available)"
    tables: dict[str, int] = {}
    indexes: dict[str, tuple[str, int]] = {}
    for name, size in rows:
        kind, table_name = owners.get(name, ("table", name))
        tables[table_name] = tables.get(table_name, 0) + int(size)
        if kind == "index":
            indexes[name] = (table_name, int(size))
    return Sizes(tables, indexes, total, method)


def postgres_sizes(engine: Engine) -> Sizes:
    """pg_total_relation_size per table and pg_relation_size per index."""
    with engine.connect() as conn:
        tables = {
            name: int(size)
            for name, size in conn.execute(
                text(
                    "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind = 'r' AND n.nspname = 'public'"
                )
            )
        }
        indexes = {
            name: (table_name, int(size))
            for name, table_name, size in conn.execute(
                text(
                    "SELECT i.relname, t.relname, pg_relation_size(i.oid) FROM pg_index x "
                    "JOIN pg_class i ON i.oid = x.indexrelid "
                    "JOIN pg_class t ON t.oid = x.indrelid "
                    "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public'"
                )
            )
        }
        total = int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
    return Sizes(tables, indexes, total, "pg_total_relation_size / pg_relation_size")


def vacuum(engine: Engine) -> None:
    """Compact the database so sizes measure data, not free pages."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            conn.execute(text("VACUUM"))
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        else:
            conn.execute(text("VACUUM FULL ANALYZE"))


def _sqlite_value_bytes(value: Any) -> int:
    """Bytes a value takes in a SQLite record, besides its one-byte type code."""
    if value is None or (value in (0, 1) and isinstance(value, int)):
        return 0  # NULL and the integers 0 and 1 are stored in the type code alone
    if isinstance(value, int):
        for size, limit in ((1, 1 << 7), (2, 1 << 15), (3, 1 << 23), (4, 1 << 31), (6, 1 << 47)):
            if -limit <= value < limit:
                return size
        return 8
    if isinstance(value, float):
        return 8
    if isinstance(value, str):
        return len(value.encode())
    return len(value)


def header_column_bytes(engine: Engine, customer_id: int, sample: int = 20_000) -> list[list[Any]]:
    """Average stored bytes of each snapshot header column (SQLite), from a sample of rows."""
    with engine.connect() as conn:
        result = conn.execute(
            text(
                "SELECT * FROM account_snapshots WHERE customer_id = :c ORDER BY random() LIMIT :n"
            ),
            {"c": customer_id, "n": sample},
        )
        names = list(result.keys())
        rows = result.all()
    if not rows:
        return []
    totals = dict.fromkeys(names, 0)
    for row in rows:
        for name, value in zip(names, row, strict=True):
            totals[name] += _sqlite_value_bytes(value)
    # The id is the rowid, kept in the b-tree cell rather than the record.
    totals.pop("snapshot_id")
    out = [[name, round(total / len(rows), 2)] for name, total in totals.items()]
    out.append(["(record header: one type code per column)", len(names) + 1])
    return out


def section_counts(engine: Engine, customer_id: int) -> list[list[Any]]:
    """Distinct sections per kind, with their average body size."""
    with engine.connect() as conn:
        return [
            [kind, int(count), round(float(avg), 1)]
            for kind, count, avg in conn.execute(
                text(
                    "SELECT kind, count(*), avg(length(body)) FROM snapshot_sections "
                    "WHERE customer_id = :c GROUP BY kind ORDER BY kind"
                ),
                {"c": customer_id},
            )
        ]


def fill_seed_table(engine: Engine, target: Engine, customer_id: int) -> int:
    """Copy every snapshot record, as the engine serves it, into the seed's flat table."""
    with engine.connect() as conn:
        account_ids = [
            row[0]
            for row in conn.execute(
                text("SELECT account_id FROM accounts WHERE customer_id = :c ORDER BY account_id"),
                {"c": customer_id},
            )
        ]
    count = 0
    with target.begin() as out:
        seed_table.create(out)
    for start in range(0, len(account_ids), 50):
        with unit_of_work(engine) as session, target.begin() as out:
            for account_id in account_ids[start : start + 50]:
                records = service.history(
                    session, customer_id=customer_id, account_id=account_id, since=T0
                )
                count += seed_table.insert_records(out, records)
    return count


def report_sizes(label: str, sizes: Sizes, snapshots: int) -> None:
    """Print one database's breakdown."""
    say(f"\n{label} ({sizes.method})")
    rows = [
        [name, size, round(size / snapshots, 1) if name in SNAPSHOT_TABLES else ""]
        for name, size in sorted(sizes.tables.items(), key=lambda item: -item[1])
        if size
    ]
    say(table(rows, ("table (with its indexes)", "bytes", "bytes/snapshot")))
    index_rows = [
        [name, owner, size, round(size / snapshots, 1)]
        for name, (owner, size) in sorted(sizes.indexes.items(), key=lambda item: item[1][0])
        if owner in SNAPSHOT_TABLES
    ]
    if index_rows:
        say("")
        say(table(index_rows, ("index", "table", "bytes", "bytes/snapshot")))


def bench_backend(engine: Engine, seed_engine: Engine, args: argparse.Namespace) -> bool:
    """Simulate, measure and compare; False when the budget is missed."""
    say(f"\n== {describe_engine(engine)}")
    customer_id, capture_seconds = simulate(engine, args.accounts, args.days, args.seed)
    with engine.connect() as conn:
        snapshots = conn.execute(
            text("SELECT count(*) FROM account_snapshots WHERE customer_id = :c"),
            {"c": customer_id},
        ).scalar_one()
    say(
        f"captured {snapshots:,} snapshots in {capture_seconds:.1f} s "
        f"({capture_seconds / args.days * 1000:.0f} ms per daily capture of "
        f"{args.accounts:,} accounts)"
    )
    vacuum(engine)
    sizes = sqlite_sizes(engine) if engine.dialect.name == "sqlite" else postgres_sizes(engine)
    report_sizes("engine storage", sizes, snapshots)
    if engine.dialect.name == "sqlite":
        columns = header_column_bytes(engine, customer_id)
        say("")
        say(table(columns, ("header column", "avg stored bytes")))
        say(f"header record: {sum(float(c[1]) for c in columns):.1f} bytes on average")
    say("")
    say(
        table(section_counts(engine, customer_id), ("section kind", "distinct values", "avg bytes"))
    )

    say("\ncopying the same records into the seed's flat table ...")
    copied = fill_seed_table(engine, seed_engine, customer_id)
    vacuum(seed_engine)
    if seed_engine.dialect.name == "sqlite":
        seed_sizes = sqlite_sizes(seed_engine)
        flat = seed_sizes.tables.get(seed_table.SEED_SNAPSHOTS.name, seed_sizes.total)
    else:
        seed_sizes = postgres_sizes(seed_engine)
        flat = seed_sizes.tables[seed_table.SEED_SNAPSHOTS.name]
    flat_indexes = [
        [name, size, round(size / copied, 1)]
        for name, (owner, size) in sorted(seed_sizes.indexes.items())
        if owner == seed_table.SEED_SNAPSHOTS.name
    ]

    stored = sizes.snapshot_bytes()
    per_snapshot = stored / snapshots
    say("")
    say(
        table(
            [
                ["engine: headers + sections + heads", snapshots, stored, round(per_snapshot, 1)],
                ["seed: one flat row per snapshot", copied, flat, round(flat / copied, 1)],
            ],
            ("layout (indexes included)", "snapshots", "bytes", "bytes/snapshot"),
        )
    )
    if flat_indexes:
        say("")
        say(table(flat_indexes, ("flat table index", "bytes", "bytes/snapshot")))
    say("")
    say(f"flat / engine: {flat / stored:.1f}x")
    whole = sizes.total
    measured = "file after VACUUM" if engine.dialect.name == "sqlite" else "pg_database_size"
    say(
        f"whole database ({measured}, "
        f"source data included): {whole:,} bytes = {whole / 1024 / 1024:.1f} MiB; "
        f"{whole / snapshots:.1f} bytes per snapshot"
    )
    met = per_snapshot <= BUDGET_PER_SNAPSHOT and stored <= BUDGET_BYTES
    say(
        f"snapshot storage {per_snapshot:.1f} bytes/snapshot "
        f"(budget {BUDGET_PER_SNAPSHOT:.0f}: {'met' if met else 'MISSED'}); "
        f"365,000 snapshots would take {per_snapshot * 365_000 / 1e6:.1f} MB"
    )
    return met


def main(argv: Sequence[str] | None = None) -> int:
    """Run the storage benchmark; it reports the budget, it does not fail on it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="SQLite file (kept)")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help=f"also run on PostgreSQL; creates (and drops) database {PG_DATABASE} on that server",
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args(argv)

    say(f"storage benchmark, {machine()}, load average {os.getloadavg()[0]:.2f}")
    say(f"{args.accounts:,} accounts x {args.days} daily snapshots from {T0:%Y-%m-%d}")
    if not args.skip_sqlite:
        engine = fresh_sqlite(args.db)
        seed_path = args.db.with_name(args.db.stem + "-seed-flat.db")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{seed_path}{suffix}").unlink(missing_ok=True)
        seed_engine = make_engine(sqlite_url(seed_path))
        bench_backend(engine, seed_engine, args)
        engine.dispose()
        seed_engine.dispose()
        # The flat copy was only there to be measured (it is several times the size).
        for suffix in ("", "-wal", "-shm"):
            Path(f"{seed_path}{suffix}").unlink(missing_ok=True)
        say(f"\nSQLite database kept at {args.db} (for python -m bench.reads)")
    if args.postgres:
        engine = fresh_postgres(args.postgres, PG_DATABASE)
        bench_backend(engine, engine, args)
        engine.dispose()
        url = make_url(args.postgres).set(database=PG_DATABASE)
        say(f"PostgreSQL database kept: {url.render_as_string(hide_password=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
