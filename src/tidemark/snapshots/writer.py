"""Write snapshots: derive, de-duplicate sections, chain, insert, move the heads.

``write_snapshots`` is the one write path of the engine. Live capture, the
history import and (later) the worker all hand it ``PendingSnapshot`` values;
it runs a fixed number of statements per batch whatever the batch holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tidemark.clock import ensure_utc
from tidemark.errors import Conflict
from tidemark.snapshots.derive import GENESIS, Head, chain_hash, derived_fields
from tidemark.snapshots.fields import (
    FIELD_BY_NAME,
    SNAPSHOT_VERSION,
    STORED_SECTIONS,
    Kind,
    Section,
)
from tidemark.snapshots.models import AccountSnapshot, SnapshotHead, SnapshotSection
from tidemark.snapshots.sections import encode_section, mark_sections_written, section_digest

_CHUNK = 5000


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
    spec = FIELD_BY_NAME[name]
    if value is None or spec.kind is not Kind.DECIMAL:
        return value
    return Decimal(value).quantize(Decimal(1).scaleb(-spec.scale), rounding=ROUND_HALF_EVEN)


def load_heads(session: Session, customer_id: int, account_ids: Sequence[int]) -> dict[int, Head]:
    """The newest snapshot of each account that has one."""
    heads: dict[int, Head] = {}
    ids = sorted(set(account_ids))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for row in session.execute(
            select(SnapshotHead).where(
                SnapshotHead.customer_id == customer_id, SnapshotHead.account_id.in_(chunk)
            )
        ).scalars():
            heads[row.account_id] = Head(
                snapshot_id=row.snapshot_id,
                snapshot_timestamp=row.snapshot_timestamp,
                sequence_number=row.sequence_number,
                overall_health_score=row.overall_health_score,
                previous_health_score=row.previous_health_score,
                revenue=row.revenue,
                chain_hash=row.chain_hash,
            )
    return heads


def _dialect_insert(session: Session, table: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def resolve_sections(
    session: Session, customer_id: int, wanted: dict[bytes, tuple[Section, str]]
) -> dict[bytes, int]:
    """Section ids for each digest, inserting the values not stored yet."""
    ids: dict[bytes, int] = {}
    digests = list(wanted)
    for start in range(0, len(digests), _CHUNK):
        chunk = digests[start : start + _CHUNK]
        ids.update(_find_sections(session, customer_id, chunk))
    missing = [d for d in digests if d not in ids]
    if missing:
        mark_sections_written(session)
        statement = _dialect_insert(session, SnapshotSection.__table__).on_conflict_do_nothing(
            index_elements=["customer_id", "digest"]
        )
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            session.execute(
                statement,
                [
                    {
                        "customer_id": customer_id,
                        "kind": wanted[d][0].value,
                        "digest": d,
                        "body": wanted[d][1],
                    }
                    for d in chunk
                ],
            )
            ids.update(_find_sections(session, customer_id, chunk))
    return ids


def _find_sections(session: Session, customer_id: int, digests: list[bytes]) -> dict[bytes, int]:
    rows = session.execute(
        select(SnapshotSection.digest, SnapshotSection.section_id).where(
            SnapshotSection.customer_id == customer_id, SnapshotSection.digest.in_(digests)
        )
    )
    return {bytes(digest): section_id for digest, section_id in rows}


def write_snapshots(
    session: Session, *, customer_id: int, pending: Sequence[PendingSnapshot]
) -> WriteResult:
    """Store ``pending`` snapshots (in order per account) and return their new ids."""
    result = WriteResult()
    if not pending:
        return result
    heads = load_heads(session, customer_id, [p.account_id for p in pending])
    headers: list[dict[str, Any]] = []
    section_refs: list[list[bytes]] = []
    wanted: dict[bytes, tuple[Section, str]] = {}
    last_index: dict[int, int] = {}
    new_heads: dict[int, Head] = {}

    for index, item in enumerate(pending):
        at = ensure_utc(item.at)
        previous = new_heads.get(item.account_id) or heads.get(item.account_id)
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
            "created_at": ensure_utc(item.recorded_at) if item.recorded_at else at,
        }
        for name, value in derived_fields(previous, at=at, health=health, revenue=revenue).items():
            header[name] = quantized(name, value)
        digests: list[bytes] = []
        for section in STORED_SECTIONS:
            body = encode_section(section, values)
            digest = section_digest(section, body)
            wanted.setdefault(digest, (section, body))
            digests.append(digest)
        header["chain_hash"] = chain_hash(
            previous.chain_hash if previous else GENESIS, header, digests
        )
        if header["is_significant_change"]:
            result.significant += 1
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

    section_ids = resolve_sections(session, customer_id, wanted)
    for header, digests in zip(headers, section_refs, strict=True):
        for section, digest in zip(STORED_SECTIONS, digests, strict=True):
            header[f"{section.value}_section_id"] = section_ids[digest]

    # RETURNING order is not guaranteed (and asking SQLAlchemy to sort it makes
    # SQLite insert row by row), so match ids back by (account, sequence number),
    # which is unique within one write.
    table = cast(Table, AccountSnapshot.__table__)
    statement = insert(table).returning(
        table.c.snapshot_id, table.c.account_id, table.c.snapshot_sequence_number
    )
    ids_by_key: dict[tuple[int, int], int] = {}
    for start in range(0, len(headers), _CHUNK):
        for snapshot_id, account_id, sequence in session.execute(
            statement, headers[start : start + _CHUNK]
        ):
            ids_by_key[(account_id, sequence)] = snapshot_id
    result.snapshot_ids.extend(
        ids_by_key[(h["account_id"], h["snapshot_sequence_number"])] for h in headers
    )

    head_rows = []
    for account_id, index in last_index.items():
        head = new_heads[account_id]
        head_rows.append(
            {
                "account_id": account_id,
                "customer_id": customer_id,
                "snapshot_id": result.snapshot_ids[index],
                "snapshot_timestamp": head.snapshot_timestamp,
                "sequence_number": head.sequence_number,
                "overall_health_score": head.overall_health_score,
                "previous_health_score": head.previous_health_score,
                "revenue": head.revenue,
                "chain_hash": head.chain_hash,
            }
        )
    upsert = _dialect_insert(session, SnapshotHead.__table__)
    upsert = upsert.on_conflict_do_update(
        index_elements=["account_id"],
        set_={
            name: upsert.excluded[name]
            for name in (
                "snapshot_id",
                "snapshot_timestamp",
                "sequence_number",
                "overall_health_score",
                "previous_health_score",
                "revenue",
                "chain_hash",
            )
        },
    )
    for start in range(0, len(head_rows), _CHUNK):
        session.execute(upsert, head_rows[start : start + _CHUNK])
    return result
