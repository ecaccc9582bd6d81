"""Shared pieces of the benchmarks: databases, a fast data generator, counters, statistics.

The generator writes the source tables with Core bulk inserts and explicit
primary keys (one ``executemany`` per table and chunk), so a tenant of 100,000
accounts with 2.5 million KPI rows is built in about a minute on SQLite.
Everything is drawn from a seeded ``random.Random``: two runs build the same
data.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, event, func, select, text
from sqlalchemy.engine import make_url

from tidemark.db import make_engine, unit_of_work
from tidemark.db.migrate import upgrade
from tidemark.snapshots.sections import SECTION_CACHE
from tidemark.success.catalog import STANDARD_KPIS
from tidemark.success.models import (
    KPI,
    Account,
    AccountNote,
    HealthTrend,
    PlaybookExecution,
    PlaybookReport,
    PlaybookTrigger,
    Product,
)
from tidemark.tenancy import service as tenants

INDUSTRIES = (
    "Technology",
    "Healthcare",
    "Financial Services",
    "Retail",
    "Manufacturing",
    "Education",
    "Media",
    "Logistics",
)
REGIONS = ("North America", "EMEA", "APAC", "LATAM")
TIERS = ("Enterprise", "Mid-Market", "SMB")
LIFECYCLE = ("onboarding", "growth", "mature", "renewal")
ONBOARDING = ("not_started", "in_progress", "complete")
CHAMPION_STATUS = ("active", "at_risk", "left")
PRODUCTS = ("Analytics", "Platform", "Mobile")
PLAYBOOKS = (
    "voc-sprint",
    "renewal-safeguard",
    "expansion-timing",
    "executive-alignment",
    "adoption-boost",
)
NOTE_TYPES = ("meeting", "qbr", "call", "email", "general", "interaction")
NOTE_PHRASES = (
    "Reviewed adoption of the reporting module with the admin team.",
    "Customer asked for SSO and a sandbox before renewal.",
    "Escalation on ticket backlog closed; support satisfied with the fix.",
    "QBR: agreed three success goals for next quarter and an exec sponsor check-in.",
    "Usage dipped after the reorganisation; planning enablement sessions.",
    "Champion moved teams; introduced to the new operations lead.",
)
CHUNK = 5000


# ----------------------------------------------------------------------------- databases


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path}"


def fresh_sqlite(path: Path) -> Engine:
    """A migrated, empty SQLite database at ``path`` (any old file is removed)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(sqlite_url(path))
    upgrade(engine)
    return engine


def fresh_postgres(server_url: str, database: str) -> Engine:
    """A migrated, empty PostgreSQL database named ``database`` on the server of ``server_url``.

    The benchmark owns that database: it is dropped and created again.
    """
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    url = make_url(server_url).set(database=database).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    return engine


def reset_sequences(engine: Engine) -> None:
    """Move PostgreSQL id sequences past the explicit ids the generator wrote."""
    if engine.dialect.name != "postgresql":
        return
    tables = {
        "customers": "customer_id",
        "users": "user_id",
        "accounts": "account_id",
        "products": "product_id",
        "kpis": "kpi_id",
        "account_notes": "note_id",
        "playbook_reports": "report_id",
        "health_trends": "trend_id",
        "playbook_triggers": "trigger_id",
    }
    with engine.begin() as conn:
        for table, column in tables.items():
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)"
                )
            )


def analyze(engine: Engine) -> None:
    """Refresh the planner's statistics after a bulk load."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))


# ----------------------------------------------------------------------------- counting


@dataclass
class QueryCounter:
    """Counts the statements sent to the database while it is attached."""

    count: int = 0

    def __call__(self, *_args: Any) -> None:
        self.count += 1


@contextmanager
def counting(engine: Engine) -> Iterator[QueryCounter]:
    """Count every cursor execution on ``engine`` inside the block."""
    counter = QueryCounter()
    event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", counter)


@dataclass(frozen=True)
class Timing:
    """Median and 95th percentile of repeated runs, in milliseconds."""

    runs: int
    median_ms: float
    p95_ms: float
    min_ms: float


def timed(run: Callable[[], Any], *, runs: int, before: Callable[[], Any] | None = None) -> Timing:
    """Run ``run`` ``runs`` times (``before`` untimed ahead of each) and summarise."""
    samples: list[float] = []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return Timing(runs, statistics.median(samples), p95, samples[0])


def say(*parts: Any) -> None:
    """Print and flush, so progress shows while a long run goes on."""
    print(*parts, flush=True)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain text table with right-aligned numbers."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.rjust(w) if n and _numeric(c) else c.ljust(w)
                for c, w in zip(row, widths, strict=True)
            ).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _numeric(cell: str) -> bool:
    return cell.replace(",", "").replace(".", "").replace("-", "").replace("x", "").isdigit()


def clear_section_cache(engine: Engine) -> None:
    """Forget every decoded section (a cold read)."""
    SECTION_CACHE.clear(engine)


def describe_engine(engine: Engine) -> str:
    """``SQLite 3.x (file)`` or ``PostgreSQL 15.x`` for the report header."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            version = conn.execute(text("select sqlite_version()")).scalar_one()
            return f"SQLite {version} ({engine.url.database})"
        version = conn.execute(text("show server_version")).scalar_one()
        return f"PostgreSQL {version} (database {engine.url.database})"


def machine() -> str:
    """One line about the machine and interpreter."""
    import os
    import platform

    return (
        f"{os.cpu_count()} CPU(s), Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}"
    )


def progress_bar(label: str) -> Callable[[int, int], None]:
    """A callback printing ``label done/total`` on one line."""

    def show(done: int, total: int) -> None:
        sys.stdout.write(f"\r  {label} {done:,}/{total:,}")
        if done >= total:
            sys.stdout.write("\n")
        sys.stdout.flush()

    return show


# ----------------------------------------------------------------------------- generator


@dataclass
class TenantData:
    """What the generator made: the tenant, its user, and its accounts in id order."""

    customer_id: int
    user_id: int
    account_ids: list[int]


@dataclass(frozen=True)
class Shape:
    """How much of each kind of source row an account gets."""

    notes: tuple[int, int] = (2, 5)
    executions: tuple[int, int] = (0, 3)
    trend_share: float = 0.3
    trend_months: tuple[int, int] = (1, 3)


def create_tenant(engine: Engine, name: str) -> tuple[int, int]:
    """A tenant (with the default reference ranges), one user and two playbook triggers."""
    with unit_of_work(engine) as session:
        tenant = tenants.create(session, name=name)
        user = tenants.create_user(
            session, customer_id=tenant.customer_id, name="Operations", email="ops@example.com"
        )
        session.add_all(
            [
                PlaybookTrigger(
                    customer_id=tenant.customer_id,
                    playbook_type="renewal-safeguard",
                    trigger_conditions={
                        "any": [{"field": "critical_kpis_count", "op": ">", "value": 5}]
                    },
                ),
                PlaybookTrigger(
                    customer_id=tenant.customer_id,
                    playbook_type="voc-sprint",
                    trigger_conditions={
                        "all": [{"field": "overall_health_score", "op": "<", "value": 60}]
                    },
                ),
            ]
        )
        return tenant.customer_id, user.user_id


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys) in one ``executemany``.

    Values are turned into their stored form with the columns' own bind
    processors and handed to the driver directly: the same SQL and the same
    conversions as ``conn.execute(table.insert(), rows)``, without building a
    parameter set per row in Python.
    """
    if not rows:
        return
    dialect = conn.dialect
    keys = list(rows[0])
    compiled = table.insert().compile(dialect=dialect, column_keys=keys)
    convert = {
        key: _memoised(table.c[key].type.dialect_impl(dialect).bind_processor(dialect))
        for key in keys
    }
    if compiled.positiontup is not None:
        order = [(k, convert[k]) for k in compiled.positiontup]
        params: list[Any] = [tuple(c(row[k]) for k, c in order) for row in rows]
    else:
        params = [{k: convert[k](v) for k, v in row.items()} for row in rows]
    conn.exec_driver_sql(str(compiled), params)


def _memoised(processor: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    # Generated data repeats values (timestamps, weights, KPI values): convert each once.
    if processor is None:
        return lambda value: value
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            seen[value] = stored = processor(value)
            return stored
        except TypeError:  # unhashable (JSON documents)
            return processor(value)

    return convert


def next_ids(conn: Connection) -> dict[str, int]:
    """The next free id of every table the generator fills with explicit ids."""
    columns = {
        "account": Account.account_id,
        "product": Product.product_id,
        "kpi": KPI.kpi_id,
        "note": AccountNote.note_id,
        "report": PlaybookReport.report_id,
        "trend": HealthTrend.trend_id,
    }
    return {
        name: int(conn.execute(select(func.coalesce(func.max(column), 0))).scalar_one()) + 1
        for name, column in columns.items()
    }


def kpi_value(rng: random.Random, index: int, status: int | None = None) -> Decimal:
    """A value of standard KPI ``index`` that grades Critical (0), Risk (1) or Healthy (2)."""
    kpi = STANDARD_KPIS[index]
    if status is None:
        roll = rng.random()
        status = 0 if roll < 0.12 else 1 if roll < 0.35 else 2
    critical, risk = float(kpi.critical), float(kpi.risk)
    span = max(abs(risk - critical), 1.0)
    if kpi.direction == "higher":
        low, high = (
            (critical - span, critical - 0.1)
            if status == 0
            else (critical, risk - 0.1)
            if status == 1
            else (risk, risk + 2 * span)
        )
    else:
        low, high = (
            (critical + 0.1, critical + span)
            if status == 0
            else (risk + 0.1, critical)
            if status == 1
            else (max(0.0, risk - 2 * span), risk)
        )
    return Decimal(f"{rng.uniform(low, high):.1f}")


def kpi_data(index: int, value: Decimal) -> str:
    """The value as a source file shows it."""
    unit = STANDARD_KPIS[index].unit
    return f"{value}%" if unit == "%" else f"{value} {unit}"


def profile(rng: random.Random, number: int) -> dict[str, Any]:
    """An account's profile metadata: team, tier, engagement, champions."""
    last_qbr = date(2025, 1, 1) + timedelta(days=rng.randrange(0, 150))
    champions = [
        {"name": f"Champion {number}-{i + 1}", "status": rng.choice(CHAMPION_STATUS)}
        for i in range(rng.randint(1, 3))
    ]
    return {
        "assigned_csm": f"CSM {rng.randrange(1, 400):03d}",
        "csm_manager": f"CS Manager {rng.randrange(1, 40):02d}",
        "account_owner": f"Account Executive {rng.randrange(1, 150):03d}",
        "account_tier": rng.choice(TIERS),
        "engagement": {
            "lifecycle_stage": rng.choice(LIFECYCLE),
            "onboarding_status": rng.choice(ONBOARDING),
            "last_qbr_date": last_qbr.isoformat(),
            "next_qbr_date": (last_qbr + timedelta(days=90)).isoformat(),
            "score": round(rng.uniform(35, 98), 1),
        },
        "champions": champions,
    }


def generate_accounts(
    engine: Engine,
    *,
    customer_id: int,
    user_id: int,
    count: int,
    at: datetime,
    seed: int = 7,
    shape: Shape = Shape(),
    progress: Callable[[int, int], None] | None = None,
) -> list[int]:
    """Write ``count`` accounts with products, the 25 standard KPIs, notes, playbooks, trends.

    Every time-stamped row is before ``at``. Returns the new account ids in order.
    """
    rng = random.Random(seed)
    created = at - timedelta(days=400)
    tables: dict[str, Table] = {
        "accounts": Account.__table__,
        "products": Product.__table__,
        "kpis": KPI.__table__,
        "notes": AccountNote.__table__,
        "executions": PlaybookExecution.__table__,
        "reports": PlaybookReport.__table__,
        "trends": HealthTrend.__table__,
    }
    account_ids: list[int] = []
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # The generator's ids are consistent by construction; checking every
            # foreign key of 2.5 million KPI rows would double the load time.
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.exec_driver_sql("PRAGMA cache_size=-262144")
        ids = next_ids(conn)
        for start in range(0, count, CHUNK):
            rows: dict[str, list[dict[str, Any]]] = {name: [] for name in tables}
            for number in range(start, min(count, start + CHUNK)):
                account_id = ids["account"]
                ids["account"] += 1
                account_ids.append(account_id)
                _account_rows(
                    rng, rows, ids, customer_id, user_id, account_id, number, created, at, shape
                )
            for name, rows_of_table in rows.items():
                bulk_insert(conn, tables[name], rows_of_table)
            if progress is not None:
                progress(min(count, start + CHUNK), count)
        conn.commit()
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.exec_driver_sql("PRAGMA cache_size=-2000")
    reset_sequences(engine)
    return account_ids


def _account_rows(
    rng: random.Random,
    rows: dict[str, list[dict[str, Any]]],
    ids: dict[str, int],
    customer_id: int,
    user_id: int,
    account_id: int,
    number: int,
    created: datetime,
    at: datetime,
    shape: Shape,
) -> None:
    rows["accounts"].append(
        {
            "account_id": account_id,
            "customer_id": customer_id,
            "account_name": f"Account {number + 1:06d}",
            "revenue": Decimal(rng.randrange(20_000, 5_000_000, 500)),
            "industry": rng.choice(INDUSTRIES),
            "region": rng.choice(REGIONS),
            "account_status": "at_risk" if rng.random() < 0.08 else "active",
            "external_account_id": f"CRM-{number + 1:07d}",
            "profile_metadata": profile(rng, number + 1),
            "created_at": created,
            "updated_at": None,
        }
    )
    product_ids = []
    for name in PRODUCTS:
        product_ids.append(ids["product"])
        rows["products"].append(
            {
                "product_id": ids["product"],
                "customer_id": customer_id,
                "account_id": account_id,
                "product_name": name,
                "created_at": created,
            }
        )
        ids["product"] += 1
    offset = rng.randrange(3)
    for index, kpi in enumerate(STANDARD_KPIS):
        value = kpi_value(rng, index)
        # The five product-usage KPIs are measured per product.
        product_id = product_ids[(index + offset) % 3] if kpi.category == "Product Usage" else None
        rows["kpis"].append(
            {
                "kpi_id": ids["kpi"],
                "customer_id": customer_id,
                "account_id": account_id,
                "product_id": product_id,
                "upload_id": None,
                "category": kpi.category,
                "kpi_parameter": kpi.name,
                "data": kpi_data(index, value),
                "value": value,
                "impact_level": kpi.impact_level,
                "weight": Decimal(1 + (index % 3)),
                "measurement_frequency": "monthly",
                "created_at": created,
                "updated_at": None,
            }
        )
        ids["kpi"] += 1
    for _ in range(rng.randint(*shape.notes)):
        rows["notes"].append(note_row(rng, ids, customer_id, user_id, account_id, at))
    used_days: set[int] = set()
    for _ in range(rng.randint(*shape.executions)):
        day = rng.randrange(5, 300)
        if day in used_days:
            continue
        used_days.add(day)
        execution_rows(rng, rows, ids, customer_id, user_id, account_id, at - timedelta(days=day))
    if rng.random() < shape.trend_share:
        months = rng.randint(*shape.trend_months)
        year, month = at.year, at.month
        for _ in range(months):
            rows["trends"].append(trend_row(rng, ids, customer_id, account_id, year, month, at))
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)


def note_row(
    rng: random.Random,
    ids: dict[str, int],
    customer_id: int,
    user_id: int,
    account_id: int,
    at: datetime,
    *,
    max_age_days: int = 180,
) -> dict[str, Any]:
    """A CSM note written some time before ``at``."""
    created = at - timedelta(seconds=rng.randrange(60, max_age_days * 86_400))
    note_type = rng.choice(NOTE_TYPES)
    row = {
        "note_id": ids["note"],
        "customer_id": customer_id,
        "account_id": account_id,
        "note_type": note_type,
        "note_content": " ".join(rng.sample(NOTE_PHRASES, 2)),
        "note_title": f"{note_type.title()} notes",
        "created_by": user_id,
        "created_at": created,
        "updated_at": None,
        "meeting_date": created.date() if note_type in ("meeting", "qbr") else None,
        "participants": None,
        "tags": None,
        "is_important": rng.random() < 0.1,
        "related_playbook_id": None,
    }
    ids["note"] += 1
    return row


def execution_rows(
    rng: random.Random,
    rows: dict[str, list[dict[str, Any]]],
    ids: dict[str, int],
    customer_id: int,
    user_id: int,
    account_id: int,
    started: datetime,
    *,
    status: str | None = None,
    completed: datetime | None = None,
) -> dict[str, Any]:
    """A playbook execution (and its report when completed); returns the execution row."""
    playbook_id = rng.choice(PLAYBOOKS)
    if status is None:
        roll = rng.random()
        status = "completed" if roll < 0.6 else "cancelled" if roll < 0.65 else "in-progress"
        if status == "completed":
            completed = started + timedelta(days=rng.randrange(10, 45))
    execution = {
        "execution_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "customer_id": customer_id,
        "account_id": account_id,
        "playbook_id": playbook_id,
        "status": status,
        "current_step": 5 if status == "completed" else 2,
        "execution_data": {"steps": 5},
        "started_at": started,
        "completed_at": completed,
        "created_by": user_id,
        "updated_at": None,
    }
    rows["executions"].append(execution)
    if status == "completed" and completed is not None:
        rows["reports"].append(report_row(ids, execution, completed))
    return execution


def report_row(ids: dict[str, int], execution: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The report of a completed execution."""
    row = {
        "report_id": ids["report"],
        "execution_id": execution["execution_id"],
        "customer_id": execution["customer_id"],
        "account_id": execution["account_id"],
        "playbook_id": execution["playbook_id"],
        "playbook_name": execution["playbook_id"].replace("-", " ").title(),
        "report_data": {"executive_summary": "Exit criteria met; outcomes recorded."},
        "steps_completed": 5,
        "status": "completed",
        "started_at": execution["started_at"],
        "completed_at": at,
        "report_generated_at": at,
    }
    ids["report"] += 1
    return row


def trend_row(
    rng: random.Random,
    ids: dict[str, int],
    customer_id: int,
    account_id: int,
    year: int,
    month: int,
    at: datetime,
    *,
    around: float | None = None,
) -> dict[str, Any]:
    """A monthly health trend; scores near ``around`` when given."""
    centre = around if around is not None else rng.uniform(45, 90)

    def score() -> Decimal:
        return Decimal(f"{min(100.0, max(0.0, rng.gauss(centre, 6))):.2f}")

    row = {
        "trend_id": ids["trend"],
        "customer_id": customer_id,
        "account_id": account_id,
        "year": year,
        "month": month,
        "overall_health_score": Decimal(f"{min(100.0, max(0.0, centre)):.2f}"),
        "product_usage_score": score(),
        "support_score": score(),
        "customer_sentiment_score": score(),
        "business_outcomes_score": score(),
        "relationship_strength_score": score(),
        "created_at": at,
        "updated_at": None,
    }
    ids["trend"] += 1
    return row


T0 = datetime(2025, 1, 1, 2, 0, tzinfo=UTC)
