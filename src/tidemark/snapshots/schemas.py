"""API schemas of snapshots, built from the one list of fields in ``fields.py``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from tidemark.rest.deps import MAX_ID
from tidemark.snapshots.fields import FIELDS, Kind

_TYPES: dict[Kind, Any] = {
    Kind.INT: int | None,
    Kind.DECIMAL: Decimal | None,
    Kind.TEXT: str | None,
    Kind.BOOL: bool | None,
    Kind.DATE: date | None,
    Kind.DATETIME: datetime | None,
    Kind.TEXT_LIST: list[str] | None,
    Kind.INT_LIST: list[int] | None,
    Kind.JSON: Any,
}

#: Every field of seed 000 §1; decimals are strings in JSON so they stay exact.
AccountSnapshotRead: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "AccountSnapshotRead",
    __config__=ConfigDict(title="AccountSnapshotRead"),
    **{spec.name: (_TYPES[spec.kind], None) for spec in FIELDS},
)


class SnapshotCreate(BaseModel):
    """Capture one account, or every account of the tenant when ``account_id`` is left out."""

    model_config = ConfigDict(extra="forbid")

    account_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    snapshot_type: Literal["manual", "scheduled", "event_driven"] = "manual"
    reason: str | None = Field(default=None, max_length=255)


class SnapshotCreated(BaseModel):
    """The ids of the snapshots a capture made."""

    snapshot_ids: list[int]
    count: int
    significant: int


class SnapshotPagination(BaseModel):
    """One page of snapshots with the total that match."""

    items: list[AccountSnapshotRead]
    total: int
    limit: int
    offset: int


class FieldChangeRead(BaseModel):
    """One field of a comparison."""

    field: str
    old: Any = None
    new: Any = None
    delta: Decimal | int | None = None
    changed: bool


class SnapshotComparison(BaseModel):
    """Two snapshots compared field by field (old is the first, new the second)."""

    snapshot_id_1: int
    snapshot_id_2: int
    account_id_1: int
    account_id_2: int
    timestamp_1: datetime
    timestamp_2: datetime
    changes: list[FieldChangeRead]


class ImportRead(BaseModel):
    """What a history import wrote."""

    snapshot_ids: list[int]
    accounts_created: int
    accounts_matched: int
    lines: int
