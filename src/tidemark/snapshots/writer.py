"""Write snapshots: derive, de-duplicate sections, chain, insert, move the heads.

``write_snapshots`` is the one write path of the engine. Live capture, the
history import and (later) the worker all hand it ``PendingSnapshot`` values;
it runs a fixed number of statements per batch whatever the batch holds.

Finding a section's id is the costly part of de-duplication, so it is avoided
where it can be: the head of each account remembers the section ids and
digests of its newest snapshot (an unchanged section, the common case, reuses
its id without a query), and ids met earlier in the same transaction are
remembered in the session. What is left is inserted with ``ON CONFLICT DO
NOTHING RETURNING``; only a value that already exists without either of us
knowing it (an account going back to an older state) costs a look-up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import chain
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Connection, LargeBinary, Table, select
from sqlalchemy.orm import Session

from tidemark.clock import ensure_utc
from tidemark.errors import Conflict
from tidemark.snapshots.derive import GENESIS, Head, chain_hash, derived_fields
from tidemark.snapshots.fields import (
    FIELD_BY_NAME,
    SNAPSHOT_VERSION,
    STORED_SECTIONS,
    Kind,
)
from tidemark.snapshots.models import AccountSnapshot, SnapshotHead, SnapshotSection
from tidemark.snapshots.sections import (
    DIGEST_SIZE,
    encode_stored_sections,
    known_section_ids,
    mark_sections_written,
)
from tidemark.snapshots.source import ids_in

_CHUNK = 5000
_SECTION_COLUMNS = tuple(f"{section.value}_section_id" for section in STORED_SECTIONS)
_QUANTUM = {
    spec.name: Decimal(1).scaleb(-spec.scale)
    for spec in FIELD_BY_NAME.values()
    if spec.kind is Kind.DECIMAL
}
_SNAPSHOTS = cast(Table, AccountSnapshot.__table__)
_SECTIONS = cast(Table, SnapshotSection.__table__)
_HEADS = cast(Table, SnapshotHead.__table__)
#: Every column of a snapshot row but its id, in table order.
_SNAPSHOT_COLUMNS = tuple(c.name for c in _SNAPSHOTS.columns if c.name != "snapshot_id")
_HEAD_COLUMNS = (
    "snapshot_id",
    "snapshot_timestamp",
    "sequence_number",
    "overall_health_score",
    "previous_health_score",
    "revenue",
    "chain_hash",
    *_SECTION_COLUMNS,
    "section_digests",
)


@dataclass(slots=True)
class PendingSnapshot:
    """One snapshot to write: whose, when, why, and its source-derived field values."""

    account_id: int
    at: datetime
    snapshot_type: str
    values: dict[str, Any]
    reason: str | None = None
    created_by: int | None = None
    trigger_event: str | None = None
    recorded_at: datetime | None = None


@dataclass(slots=True)
class WriteResult:
    """What a write did: the new ids in input order, and how many were significant."""

    snapshot_ids: list[int] = field(default_factory=list)
    significant: int = 0


def quantized(name: str, value: Any) -> Any:
    """A decimal field's value rounded to its stored scale; other values unchanged."""
    quantum = _QUANTUM.get(name)
    if value is None or quantum is None:
        return value
    return Decimal(value).quantize(quantum, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class HeadSections:
    """The section ids and digests of an account's newest snapshot, in STORED_SECTIONS order."""

    ids: tuple[int, ...]
    digests: tuple[bytes, ...]


def _head_query(connection: Connection, customer_id: int, ids: Sequence[int]) -> Any:
    head = SnapshotHead
    return select(
        head.account_id,
        head.snapshot_id,
        head.snapshot_timestamp,
        head.sequence_number,
        head.overall_health_score,
        head.previous_health_score,
        head.revenue,
        head.chain_hash,
        *(getattr(head, name) for name in _SECTION_COLUMNS),
        head.section_digests,
    ).where(head.customer_id == customer_id, ids_in(connection, head.account_id, ids))


def _load_heads(
    connection: Connection, customer_id: int, account_ids: Sequence[int]
) -> tuple[dict[int, Head], dict[int, HeadSections]]:
    heads: dict[int, Head] = {}
    sections: dict[int, HeadSections] = {}
    ids = sorted(set(account_ids))
    width = len(_SECTION_COLUMNS)
    for start in range(0, len(ids), _CHUNK):
        for row in connection.execute(
            _head_query(connection, customer_id, ids[start : start + _CHUNK])
        ):
            heads[row[0]] = Head(
                snapshot_id=row[1],
                snapshot_timestamp=row[2],
                sequence_number=row[3],
                overall_health_score=row[4],
                previous_health_score=row[5],
                revenue=row[6],
                chain_hash=bytes(row[7]),
            )
            packed = bytes(row[8 + width])
            sections[row[0]] = HeadSections(
                ids=tuple(row[8 : 8 + width]),
                digests=tuple(
                    packed[i * DIGEST_SIZE : (i + 1) * DIGEST_SIZE] for i in range(width)
                ),
            )
    return heads, sections


def load_write_heads(
    connection: Connection, customer_id: int, account_ids: Sequence[int]
) -> tuple[dict[int, Head], dict[int, HeadSections]]:
    """The heads of ``account_ids`` as ``prepare_snapshots`` takes them (one query per 5,000)."""
    return _load_heads(connection, customer_id, account_ids)


def load_heads(session: Session, customer_id: int, account_ids: Sequence[int]) -> dict[int, Head]:
    """The newest snapshot of each account that has one."""
    return _load_heads(session.connection(), customer_id, account_ids)[0]


def _memoised(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    # Values repeat across a batch (one capture time, recurring scores): convert
    # each distinct one once. Bind processors are pure, and equal values of these
    # types (Decimals, datetimes, bytes) store the same.
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            seen[value] = result = process(value)
            return result
        except TypeError:  # unhashable
            return process(value)

    return convert


def insert_rows(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    suffix: str = "",
    returning: Sequence[str] = (),
) -> list[Any]:
    """Insert ``rows`` (values in ``columns`` order) in a few large statements.

    SQLite gets multi-row VALUES lists, PostgreSQL one array per column. Values
    go through the columns' own bind processors, exactly as a Core insert would
    convert them, but without building a parameter dictionary per row: on a
    100,000-account capture that bookkeeping cost more than the database.
    ``suffix`` is an ``ON CONFLICT`` clause; with ``returning`` the returned rows
    come back in one list (in no particular order).
    """
    if not rows:
        return []
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    convert: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(columns):
        column_type = table.c[name].type
        if isinstance(column_type, LargeBinary):
            # Digests and hashes are bytes already, which every driver takes as is.
            continue
        processor = column_type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            convert.append((i, _memoised(processor)))
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
    tail = suffix
    if returning:
        tail += " RETURNING " + ", ".join(quote(c) for c in returning)
    returned: list[Any] = []
    if dialect.name == "postgresql":
        # One array per column, unnested into rows: a statement of a few dozen
        # parameters that the driver parses once, where a multi-row VALUES list
        # of tens of thousands of placeholders is parsed again on every execute.
        arrays = ", ".join(
            f"CAST(%s AS {table.c[name].type.compile(dialect=dialect)}[])" for name in columns
        )
        sql = f"{head}SELECT * FROM unnest({arrays}){tail}"
        for start in range(0, len(rows), _CHUNK):
            by_column = [list(values) for values in zip(*rows[start : start + _CHUNK], strict=True)]
            for i, convert_value in convert:
                by_column[i] = list(map(convert_value, by_column[i]))
            result = connection.exec_driver_sql(sql, tuple(by_column))
            if returning:
                returned.extend(result.fetchall())
        return returned
    # SQLite allows 32,766 parameters per statement.
    per_statement = max(1, min(1000, 30_000 // len(columns)))
    one_row = "(" + ", ".join(["?"] * len(columns)) + ")"
    statements: dict[int, str] = {}
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        if convert:
            columns_of_chunk: list[Any] = list(zip(*chunk, strict=True))
            for i, convert_value in convert:
                columns_of_chunk[i] = map(convert_value, columns_of_chunk[i])
            params = list(chain.from_iterable(zip(*columns_of_chunk, strict=True)))
        else:
            params = list(chain.from_iterable(chunk))
        statement = statements.get(len(chunk))
        if statement is None:
            statement = statements[len(chunk)] = (
                head + "VALUES " + ", ".join([one_row] * len(chunk)) + tail
            )
        result = connection.exec_driver_sql(statement, tuple(params))
        if returning:
            returned.extend(result.fetchall())
    return returned


def resolve_sections(
    session: Session, customer_id: int, wanted: dict[bytes, tuple[str, str]]
) -> dict[bytes, int]:
    """Section ids for each digest (values: section kind and body), inserting those not stored."""
    connection = session.connection()
    ids: dict[bytes, int] = {}
    if not wanted:
        return ids
    mark_sections_written(session)
    rows = insert_rows(
        connection,
        _SECTIONS,
        ("customer_id", "kind", "digest", "body"),
        [(customer_id, kind, digest, body) for digest, (kind, body) in wanted.items()],
        suffix=" ON CONFLICT (customer_id, digest) DO NOTHING",
        returning=("digest", "section_id"),
    )
    ids.update((bytes(digest), section_id) for digest, section_id in rows)
    # Values an earlier transaction stored: look them up.
    existing = [d for d in wanted if d not in ids]
    for start in range(0, len(existing), _CHUNK):
        chunk = existing[start : start + _CHUNK]
        found = connection.execute(
            select(SnapshotSection.digest, SnapshotSection.section_id).where(
                SnapshotSection.customer_id == customer_id, SnapshotSection.digest.in_(chunk)
            )
        )
        ids.update((bytes(digest), section_id) for digest, section_id in found)
    return ids


def _recorded(item: PendingSnapshot, at: datetime) -> datetime:
    return ensure_utc(item.recorded_at) if item.recorded_at else at


#: Each stored section's kind as plain text, in STORED_SECTIONS order.
_SECTION_KINDS = tuple(str(section.value) for section in STORED_SECTIONS)
_snapshot_row = itemgetter(*_SNAPSHOT_COLUMNS)


@dataclass(slots=True)
class PreparedSnapshots:
    """Snapshots derived, encoded and chained, ready to be inserted by ``store_snapshots``."""

    customer_id: int
    headers: list[dict[str, Any]]
    #: Each snapshot's five section digests, in STORED_SECTIONS order.
    section_refs: list[list[bytes]]
    #: Section values this transaction has not met yet: kind and body by digest.
    wanted: dict[bytes, tuple[str, str]]
    #: The position in ``headers`` of each account's newest snapshot, and its new head.
    last_index: dict[int, int]
    new_heads: dict[int, Head]
    significant: int


def write_snapshots(
    session: Session, *, customer_id: int, pending: Sequence[PendingSnapshot]
) -> WriteResult:
    """Store ``pending`` snapshots (in order per account) and return their new ids."""
    if not pending:
        return WriteResult()
    heads = load_write_heads(session.connection(), customer_id, [p.account_id for p in pending])
    prepared = prepare_snapshots(session, customer_id=customer_id, pending=pending, heads=heads)
    return store_snapshots(session, prepared)


def prepare_snapshots(
    session: Session,
    *,
    customer_id: int,
    pending: Sequence[PendingSnapshot],
    heads: tuple[dict[int, Head], dict[int, HeadSections]],
) -> PreparedSnapshots:
    """Derive, encode and chain ``pending`` on top of the accounts' heads (``load_write_heads``).

    Python only, no query: capture sums the next batch's KPIs meanwhile.
    """
    previous_heads, head_sections = heads
    known = known_section_ids(session, customer_id)
    prepared = PreparedSnapshots(customer_id, [], [], {}, {}, {}, 0)
    headers, section_refs, wanted = prepared.headers, prepared.section_refs, prepared.wanted
    last_index, new_heads = prepared.last_index, prepared.new_heads
    # A capture hands every snapshot the same time: convert it once.
    given_at: datetime | None = None
    at = datetime.min

    for index, item in enumerate(pending):
        if item.at is not given_at:
            given_at, at = item.at, ensure_utc(item.at)
        previous = new_heads.get(item.account_id) or previous_heads.get(item.account_id)
        if previous is not None and at < previous.snapshot_timestamp:
            raise Conflict(
                f"account {item.account_id}: snapshot time {at.isoformat()} is before its latest "
                f"snapshot at {previous.snapshot_timestamp.isoformat()}"
            )
        values = item.values
        health = quantized("overall_health_score", values.get("overall_health_score"))
        revenue = quantized("revenue", values.get("revenue"))
        header: dict[str, Any] = {
            "account_id": item.account_id,
            "customer_id": customer_id,
            "snapshot_timestamp": at,
            "snapshot_type": item.snapshot_type,
            "snapshot_reason": item.reason,
            "snapshot_version": SNAPSHOT_VERSION,
            "created_by": item.created_by,
            "trigger_event": item.trigger_event,
            "revenue": revenue,
            "overall_health_score": health,
            "playbooks_completed_last_30_days": values.get("playbooks_completed_last_30_days"),
            # NULL when the row is written at its own snapshot time (see the model).
            "created_at": recorded if (recorded := _recorded(item, at)) != at else None,
        }
        # Exact already: differences of values at their stored scale, and a
        # percentage derive_fields rounds itself.
        header.update(derived_fields(previous, at=at, health=health, revenue=revenue))
        bodies, digests = encode_stored_sections(values)
        reuse = head_sections.get(item.account_id)
        for position, digest in enumerate(digests):
            if reuse is not None and reuse.digests[position] == digest:
                known.setdefault(digest, reuse.ids[position])
            elif digest not in known and digest not in wanted:
                wanted[digest] = (_SECTION_KINDS[position], bodies[position])
        header["chain_hash"] = chain_hash(
            previous.chain_hash if previous else GENESIS, header, digests
        )
        if header["is_significant_change"]:
            prepared.significant += 1
        headers.append(header)
        section_refs.append(digests)
        last_index[item.account_id] = index
        new_heads[item.account_id] = Head(
            snapshot_id=None,
            snapshot_timestamp=at,
            sequence_number=header["snapshot_sequence_number"],
            overall_health_score=health,
            previous_health_score=previous.overall_health_score if previous else None,
            revenue=revenue,
            chain_hash=header["chain_hash"],
        )
    return prepared


def store_snapshots(session: Session, prepared: PreparedSnapshots) -> WriteResult:
    """Insert the new sections, the headers and the heads of ``prepared`` snapshots."""
    result = WriteResult(significant=prepared.significant)
    customer_id = prepared.customer_id
    headers, section_refs = prepared.headers, prepared.section_refs
    if not headers:
        return result
    connection = session.connection()
    known = known_section_ids(session, customer_id)
    known.update(resolve_sections(session, customer_id, prepared.wanted))
    for header, digests in zip(headers, section_refs, strict=True):
        for column, digest in zip(_SECTION_COLUMNS, digests, strict=True):
            header[column] = known[digest]

    # RETURNING order is not guaranteed, so match ids back by (account, sequence
    # number), which is unique within one write.
    ids_by_key: dict[tuple[int, int], int] = {
        (account_id, sequence): snapshot_id
        for snapshot_id, account_id, sequence in insert_rows(
            connection,
            _SNAPSHOTS,
            _SNAPSHOT_COLUMNS,
            [_snapshot_row(header) for header in headers],
            returning=("snapshot_id", "account_id", "snapshot_sequence_number"),
        )
    }
    result.snapshot_ids.extend(
        ids_by_key[(h["account_id"], h["snapshot_sequence_number"])] for h in headers
    )

    head_rows: list[list[Any]] = []
    for account_id, index in prepared.last_index.items():
        head = prepared.new_heads[account_id]
        header = headers[index]
        head_rows.append(
            [
                account_id,
                customer_id,
                result.snapshot_ids[index],
                head.snapshot_timestamp,
                head.sequence_number,
                head.overall_health_score,
                head.previous_health_score,
                head.revenue,
                head.chain_hash,
                *(header[column] for column in _SECTION_COLUMNS),
                b"".join(section_refs[index]),
            ]
        )
    insert_rows(
        connection,
        _HEADS,
        ("account_id", "customer_id", *_HEAD_COLUMNS),
        head_rows,
        suffix=" ON CONFLICT (account_id) DO UPDATE SET "
        + ", ".join(f"{name} = excluded.{name}" for name in _HEAD_COLUMNS),
    )
    return result
