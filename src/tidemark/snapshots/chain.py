"""Verify the integrity chain: every snapshot's hash links to its account's previous one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tidemark.snapshots.derive import CHAINED_FIELDS, GENESIS, chain_hash
from tidemark.snapshots.fields import STORED_SECTIONS, Section
from tidemark.snapshots.models import AccountSnapshot, SnapshotSection
from tidemark.snapshots.sections import section_digest


@dataclass(slots=True)
class ChainReport:
    """How many snapshots were checked and which ones do not match their chain."""

    checked: int = 0
    broken: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every snapshot and section matches its hash."""
        return not self.broken


def verify_chain(session: Session, *, customer_id: int) -> ChainReport:
    """Recompute every section digest and chain hash of the tenant and report mismatches."""
    report = ChainReport()
    digests: dict[int, bytes] = {}
    for section_id, kind, digest, body in session.execute(
        select(
            SnapshotSection.section_id,
            SnapshotSection.kind,
            SnapshotSection.digest,
            SnapshotSection.body,
        ).where(SnapshotSection.customer_id == customer_id)
    ):
        if section_digest(Section(kind), body) != bytes(digest):
            report.broken.append((-section_id, f"section {section_id} does not match its digest"))
        digests[section_id] = bytes(digest)

    names = ["snapshot_id", "snapshot_timestamp", "chain_hash", *CHAINED_FIELDS]
    section_columns = [f"{s.value}_section_id" for s in STORED_SECTIONS]
    columns: list[Any] = [getattr(AccountSnapshot, n) for n in names + section_columns]
    previous_account: int | None = None
    previous_hash = GENESIS
    rows = session.execute(
        select(*columns)
        .where(AccountSnapshot.customer_id == customer_id)
        .order_by(
            AccountSnapshot.account_id,
            AccountSnapshot.snapshot_timestamp,
            AccountSnapshot.snapshot_id,
        )
    )
    for row in rows:
        header = dict(zip(names, row[: len(names)], strict=True))
        if header["account_id"] != previous_account:
            previous_account, previous_hash = header["account_id"], GENESIS
        section_digests = [digests.get(sid, b"") for sid in row[len(names) :]]
        expected = chain_hash(previous_hash, header, section_digests)
        stored = bytes(header["chain_hash"])
        if expected != stored:
            report.broken.append(
                (header["snapshot_id"], f"snapshot {header['snapshot_id']} breaks the chain")
            )
        previous_hash = stored
        report.checked += 1
    return report
