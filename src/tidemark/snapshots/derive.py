"""Fields computed from an account's previous snapshots (DESIGN.md, made exact)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tidemark.db.types import to_epoch_micros

TREND_THRESHOLD = Decimal("2.0")
SIGNIFICANT_HEALTH = Decimal(5)
SIGNIFICANT_REVENUE_PERCENT = Decimal(10)
_CENT = Decimal("0.01")
_PERCENT_LIMIT = Decimal("10000000")  # Fixed(9, 2)
GENESIS = bytes(16)


@dataclass(slots=True)
class Head:
    """What capture needs to know of an account's newest snapshot."""

    snapshot_id: int | None
    snapshot_timestamp: datetime
    sequence_number: int
    overall_health_score: Decimal | None
    previous_health_score: Decimal | None
    revenue: Decimal | None
    chain_hash: bytes


def derived_fields(
    previous: Head | None, *, at: datetime, health: Decimal | None, revenue: Decimal | None
) -> dict[str, Any]:
    """Change, trend, significance, sequence and days since the previous snapshot."""
    if previous is None:
        return {
            "snapshot_sequence_number": 1,
            "days_since_last_snapshot": None,
            "health_score_change_from_last": None,
            "revenue_change_from_last": None,
            "revenue_change_percent": None,
            "health_score_trend": None if health is None else "stable",
            "is_significant_change": False,
        }
    health_change = (
        None
        if health is None or previous.overall_health_score is None
        else health - previous.overall_health_score
    )
    revenue_change = (
        None if revenue is None or previous.revenue is None else revenue - previous.revenue
    )
    percent: Decimal | None = None
    if revenue_change is not None and previous.revenue:
        percent = (revenue_change / previous.revenue * 100).quantize(_CENT, ROUND_HALF_EVEN)
        if abs(percent) >= _PERCENT_LIMIT:
            percent = None
    # The oldest of the last three snapshots, this one included.
    oldest = (
        previous.overall_health_score
        if previous.sequence_number == 1
        else previous.previous_health_score
    )
    trend: str | None = None
    if health is not None and oldest is not None:
        delta = health - oldest
        trend = (
            "improving"
            if delta >= TREND_THRESHOLD
            else "declining"
            if delta <= -TREND_THRESHOLD
            else "stable"
        )
    significant = (health_change is not None and abs(health_change) > SIGNIFICANT_HEALTH) or (
        percent is not None and abs(percent) > SIGNIFICANT_REVENUE_PERCENT
    )
    return {
        "snapshot_sequence_number": previous.sequence_number + 1,
        "days_since_last_snapshot": (at - previous.snapshot_timestamp).days,
        "health_score_change_from_last": health_change,
        "revenue_change_from_last": revenue_change,
        "revenue_change_percent": percent,
        "health_score_trend": trend,
        "is_significant_change": significant,
    }


#: Header fields that the chain hash covers, in order.
CHAINED_FIELDS: tuple[str, ...] = (
    "customer_id",
    "account_id",
    "snapshot_type",
    "snapshot_reason",
    "snapshot_version",
    "created_by",
    "trigger_event",
    "revenue",
    "revenue_change_from_last",
    "revenue_change_percent",
    "overall_health_score",
    "health_score_change_from_last",
    "health_score_trend",
    "is_significant_change",
    "days_since_last_snapshot",
    "snapshot_sequence_number",
    "playbooks_completed_last_30_days",
)


def _compact_encoder() -> Callable[[list[Any]], str]:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``, set up once.

    ``json.dumps`` with options builds a new encoder on every call, about a third
    of the cost of a chain hash; the C encoder it would build is built here once,
    with the same settings (the content is a flat list, so key order is moot).
    """
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    c_encode_basestring = getattr(json.encoder, "c_encode_basestring", None)
    if c_make_encoder is None or c_encode_basestring is None:
        return json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    encode = c_make_encoder(
        None, _not_json, c_encode_basestring, None, ":", ",", False, False, True
    )

    def encode_content(content: list[Any]) -> str:
        return "".join(encode(content, 0))

    return encode_content


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_encode_content = _compact_encoder()


def chain_hash(previous: bytes, header: dict[str, Any], section_digests: list[bytes]) -> bytes:
    """BLAKE2b-128 over the previous link, this header's content and its section digests."""
    get = header.get
    content: list[Any] = [to_epoch_micros(header["snapshot_timestamp"])]
    for name in CHAINED_FIELDS:
        value = get(name)
        content.append(str(value) if isinstance(value, Decimal) else value)
    h = hashlib.blake2b(previous, digest_size=16)
    h.update(_encode_content(content).encode())
    # One update of the concatenation hashes the same bytes as one update per digest.
    h.update(b"".join(section_digests))
    return h.digest()
