"""Shapes of the event and coverage endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventState = Literal["pending", "deferred", "done", "dead"]


class EventRead(BaseModel):
    """One outbox event: a data change and what became of it."""

    model_config = ConfigDict(from_attributes=True)

    event_id: int
    account_id: int
    event_type: str
    payload: dict[str, Any] | None
    state: EventState
    created_at: datetime
    processed_at: datetime | None = Field(description="When its snapshot was taken (or it died).")
    attempts: int = Field(description="Processing attempts that failed.")
    snapshot_id: int | None = Field(description="The snapshot that captured this change.")
    last_error: str | None


class EventPagination(BaseModel):
    """A page of events, newest first."""

    items: list[EventRead]
    total: int
    limit: int
    offset: int


class RetryRead(BaseModel):
    """How many dead events went back in the queue."""

    queued: int


class CoverageRead(BaseModel):
    """Seed 000 §7 figures for the tenant: coverage, timeliness, and what is stuck."""

    accounts: int
    accounts_with_recent_snapshot: int
    coverage_percent: float | None = Field(
        description="Share of accounts with a snapshot in the last `coverage_days` days."
    )
    coverage_days: int
    events_pending: int
    events_deferred: int = Field(description="Waiting for the end of a debounce window.")
    events_dead: int
    oldest_pending_seconds: float | None
    events_processed_last_day: int
    delay_median_seconds: float | None = Field(
        description="Event to snapshot, over the events captured in the last day."
    )
    delay_p99_seconds: float | None
