"""The writer's fast paths produce the bytes the straightforward code would have produced.

Sections are content-addressed and snapshots hash-chained, so a faster encoder
must give the same bodies, digests and chain hashes for the same values.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_sections import section_values
from tidemark.db.types import to_epoch_micros
from tidemark.snapshots.derive import CHAINED_FIELDS, GENESIS, chain_hash
from tidemark.snapshots.fields import STORED_SECTIONS
from tidemark.snapshots.sections import encode_section, encode_stored_sections, section_digest


def reference_chain_hash(previous: bytes, header: dict[str, Any], digests: list[bytes]) -> bytes:
    """The chain hash as first written: ``json.dumps`` of the content, one update per digest."""
    content = [to_epoch_micros(header["snapshot_timestamp"])]
    content.extend(
        str(value) if isinstance(value, Decimal) else value
        for value in (header.get(name) for name in CHAINED_FIELDS)
    )
    h = hashlib.blake2b(previous, digest_size=16)
    h.update(json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode())
    for digest in digests:
        h.update(digest)
    return h.digest()


SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.text(max_size=20),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, max_value=10**9),
)
HEADERS = st.fixed_dictionaries(
    dict.fromkeys(CHAINED_FIELDS, SCALAR),
).flatmap(
    lambda header: st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ).map(lambda moment: {**header, "snapshot_timestamp": moment})
)


@given(
    HEADERS,
    st.binary(min_size=16, max_size=16),
    st.lists(st.binary(min_size=16, max_size=16), max_size=5),
)
def test_chain_hash_is_the_reference_hash(
    header: dict[str, Any], previous: bytes, digests: list[bytes]
) -> None:
    assert chain_hash(previous, header, digests) == reference_chain_hash(previous, header, digests)


def test_chain_hash_of_a_typical_header_is_pinned() -> None:
    header = {
        "snapshot_timestamp": datetime(2025, 6, 30, 2, tzinfo=UTC) + timedelta(microseconds=7),
        "customer_id": 1,
        "account_id": 42,
        "snapshot_type": "scheduled",
        "snapshot_reason": "Q2 review — Ünïcode",
        "snapshot_version": 1,
        "revenue": Decimal("1205500.00"),
        "overall_health_score": Decimal("67.21"),
        "health_score_trend": "stable",
        "is_significant_change": False,
        "snapshot_sequence_number": 1,
        "playbooks_completed_last_30_days": 1,
    }
    digests = [bytes([i]) * 16 for i in range(5)]
    assert chain_hash(GENESIS, header, digests) == reference_chain_hash(GENESIS, header, digests)


@given(
    st.fixed_dictionaries({}).flatmap(
        lambda _: st.tuples(*(section_values(section) for section in STORED_SECTIONS))
    )
)
def test_stored_sections_encode_as_each_section_does(parts: tuple[dict[str, Any], ...]) -> None:
    values: dict[str, Any] = {}
    for part in parts:
        values.update(part)
    bodies, digests = encode_stored_sections(values)
    for section, body, digest in zip(STORED_SECTIONS, bodies, digests, strict=True):
        assert body == encode_section(section, values)
        assert digest == section_digest(section, body)
