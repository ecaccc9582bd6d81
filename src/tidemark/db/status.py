"""The persistence report: where the data lives, what is in it, what is only in memory.

Read-only: building the report never migrates or writes, so it can be run
against a database that is behind, and it says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, column, func, inspect, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from tidemark.db.migrate import current_revision, head_revision
from tidemark.db.models import metadata
from tidemark.snapshots.fields import STORED_SECTIONS
from tidemark.snapshots.sections import SECTION_CACHE

#: Tables that hold snapshot storage; their bytes make up the per-snapshot figure.
SNAPSHOT_TABLES = ("account_snapshots", "snapshot_sections", "snapshot_heads")


@dataclass(frozen=True, slots=True)
class TableFigures:
    """One table: rows, and bytes on disk including its indexes when the database tells."""

    name: str
    rows: int | None
    bytes: int | None
    known: bool = True


@dataclass(frozen=True, slots=True)
class TenantFigures:
    """One tenant's main counts."""

    customer_id: int
    customer_name: str
    users: int
    accounts: int
    snapshots: int


@dataclass(frozen=True, slots=True)
class SnapshotStorage:
    """How compactly snapshots are stored."""

    snapshots: int
    accounts_with_snapshots: int
    sections: int
    sections_by_kind: dict[str, int]
    #: Section references held by snapshot headers (one per stored section kind).
    section_references: int
    bytes: int | None
    bytes_per_snapshot: float | None
    #: How ``bytes`` was measured.
    method: str


@dataclass(frozen=True, slots=True)
class MemoryOnly:
    """Something kept only in process memory, and what losing it costs."""

    name: str
    description: str


@dataclass(slots=True)
class PersistenceReport:
    """Everything `tidemark status` prints."""

    backend: str
    url: str
    path: str | None = None
    exists: bool = True
    file_bytes: int | None = None
    wal_bytes: int | None = None
    revision: str | None = None
    head: str | None = None
    tables: list[TableFigures] = field(default_factory=list)
    tenants: list[TenantFigures] = field(default_factory=list)
    tenant_count: int = 0
    storage: SnapshotStorage | None = None
    memory_only: list[MemoryOnly] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        """Whether the schema is at the newest revision this code ships."""
        return self.exists and self.revision is not None and self.revision == self.head


def hidden_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).resolve()


def memory_only() -> list[MemoryOnly]:
    """What lives only in memory, for the report."""
    return [
        MemoryOnly(
            "decoded snapshot sections",
            f"A per-process cache of decoded section JSON (up to {SECTION_CACHE.capacity:,} "
            "entries). It is rebuilt on demand from snapshot_sections, so it is safe to lose: "
            "a restart only makes the first reads slower.",
        )
    ]


def _file_size(path: Path) -> int | None:
    return path.stat().st_size if path.exists() else None


def missing_report(url: str) -> PersistenceReport:
    """The report for a SQLite file that has not been created yet."""
    path = sqlite_file(url)
    return PersistenceReport(
        backend="sqlite",
        url=hidden_url(url),
        path=str(path) if path else None,
        exists=False,
        head=head_revision(),
        memory_only=memory_only(),
    )


def _count(conn: Connection, name: str) -> int:
    return int(conn.execute(select(func.count()).select_from(table(name))).scalar_one())


def _sqlite_bytes(conn: Connection) -> dict[str, int] | None:
    """Bytes per table (indexes included) from the dbstat virtual table, when compiled in."""
    try:
        rows = conn.execute(
            text(
                "SELECT m.tbl_name, SUM(s.pgsize) FROM dbstat AS s "
                "JOIN sqlite_master AS m ON m.name = s.name GROUP BY m.tbl_name"
            )
        ).all()
    except DBAPIError:
        return None
    return {str(name): int(size) for name, size in rows}


def _postgres_bytes(conn: Connection, names: list[str]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for name in names:
        size = conn.execute(
            text("SELECT pg_total_relation_size(CAST(:name AS regclass))"), {"name": name}
        ).scalar_one()
        sizes[name] = int(size)
    return sizes


def _grouped(conn: Connection, name: str) -> dict[int, int]:
    customer_id = table(name, column("customer_id")).c.customer_id
    rows = conn.execute(select(customer_id, func.count()).group_by(customer_id)).all()
    return {int(cid): int(n) for cid, n in rows}


def _tenants(conn: Connection, limit: int) -> tuple[list[TenantFigures], int]:
    customers = conn.execute(
        text("SELECT customer_id, customer_name FROM customers ORDER BY customer_id")
    ).all()
    users = _grouped(conn, "users")
    accounts = _grouped(conn, "accounts")
    snapshots = _grouped(conn, "account_snapshots")
    figures = [
        TenantFigures(
            int(cid),
            str(name),
            users.get(cid, 0),
            accounts.get(cid, 0),
            snapshots.get(cid, 0),
        )
        for cid, name in customers[:limit]
    ]
    return figures, len(customers)


def _storage(
    conn: Connection, sizes: dict[str, int] | None, file_bytes: int | None, backend: str
) -> SnapshotStorage:
    snapshots = _count(conn, "account_snapshots")
    heads = _count(conn, "snapshot_heads")
    by_kind = {
        str(kind): int(n)
        for kind, n in conn.execute(
            text("SELECT kind, COUNT(*) FROM snapshot_sections GROUP BY kind ORDER BY kind")
        ).all()
    }
    if sizes is not None:
        total: int | None = sum(sizes.get(name, 0) for name in SNAPSHOT_TABLES)
        method = "dbstat" if backend == "sqlite" else "pg_total_relation_size"
    elif file_bytes is not None:
        # Without dbstat only the whole file is known: an upper bound per snapshot.
        total = file_bytes
        method = "whole file size"
    else:
        total, method = None, "unavailable"
    per_snapshot = round(total / snapshots, 1) if total is not None and snapshots else None
    return SnapshotStorage(
        snapshots=snapshots,
        accounts_with_snapshots=heads,
        sections=sum(by_kind.values()),
        sections_by_kind=by_kind,
        section_references=snapshots * len(STORED_SECTIONS),
        bytes=total,
        bytes_per_snapshot=per_snapshot,
        method=method,
    )


def persistence_report(engine: Engine, *, tenant_limit: int = 20) -> PersistenceReport:
    """Where the database is, its schema revision, every table's rows and the storage figures."""
    url = engine.url.render_as_string(hide_password=False)
    backend = engine.dialect.name
    report = PersistenceReport(
        backend=backend,
        url=hidden_url(url),
        head=head_revision(),
        memory_only=memory_only(),
    )
    path = sqlite_file(url)
    if path is not None:
        report.path = str(path)
        report.file_bytes = _file_size(path)
        report.wal_bytes = _file_size(path.with_name(path.name + "-wal"))
    report.revision = current_revision(engine)
    with engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        known = {t.name for t in metadata.sorted_tables}
        names = sorted((present | known) - {"alembic_version"})
        if backend == "sqlite":
            sizes = _sqlite_bytes(conn)
        elif backend == "postgresql":
            sizes = _postgres_bytes(conn, sorted(present & set(names)))
        else:
            sizes = None
        for name in names:
            if name not in present:
                report.tables.append(TableFigures(name, None, None, known=True))
                continue
            report.tables.append(
                TableFigures(
                    name,
                    _count(conn, name),
                    sizes.get(name) if sizes is not None else None,
                    known=name in known,
                )
            )
        needed = {"customers", "users", "accounts", *SNAPSHOT_TABLES}
        if needed <= present:
            report.tenants, report.tenant_count = _tenants(conn, tenant_limit)
            report.storage = _storage(conn, sizes, report.file_bytes, backend)
    return report


def report_dict(report: PersistenceReport) -> dict[str, Any]:
    """The report as plain data for JSON output."""
    return {
        "database": {
            "backend": report.backend,
            "url": report.url,
            "path": report.path,
            "exists": report.exists,
            "file_bytes": report.file_bytes,
            "wal_bytes": report.wal_bytes,
        },
        "schema": {
            "revision": report.revision,
            "newest": report.head,
            "up_to_date": report.up_to_date,
        },
        "tables": [
            {"name": t.name, "rows": t.rows, "bytes": t.bytes, "known": t.known}
            for t in report.tables
        ],
        "tenants": {
            "count": report.tenant_count,
            "shown": [
                {
                    "customer_id": t.customer_id,
                    "customer_name": t.customer_name,
                    "users": t.users,
                    "accounts": t.accounts,
                    "snapshots": t.snapshots,
                }
                for t in report.tenants
            ],
        },
        "snapshot_storage": None
        if report.storage is None
        else {
            "snapshots": report.storage.snapshots,
            "accounts_with_snapshots": report.storage.accounts_with_snapshots,
            "sections": report.storage.sections,
            "sections_by_kind": report.storage.sections_by_kind,
            "section_references": report.storage.section_references,
            "bytes": report.storage.bytes,
            "bytes_per_snapshot": report.storage.bytes_per_snapshot,
            "method": report.storage.method,
        },
        "memory_only": [{"name": m.name, "description": m.description} for m in report.memory_only],
    }
