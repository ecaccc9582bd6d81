"""API schemas of snapshot schedules and their runs (separate from the ORM models)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tidemark.events import schedules
from tidemark.events.models import SnapshotSchedule

Frequency = Literal["daily", "weekly", "monthly", "recommended"]
Scope = Literal["all", "active_only", "health_below"]


class ScheduleSet(BaseModel):
    """A schedule's settings; PUT replaces them all (what is left out takes its default)."""

    model_config = ConfigDict(extra="forbid")

    frequency: Frequency = Field(
        description="daily, weekly, monthly, or recommended (seed 000 §4.2: a daily run "
        "that captures each account as often as the table recommends)."
    )
    time_of_day: Annotated[str, StringConstraints(max_length=10)] = Field(
        default="02:00", description="Local time of day in the tenant's time zone, HH:MM."
    )
    weekday: int | None = Field(
        default=None, ge=0, le=6, description="Weekly runs: 0 = Monday (default) ... 6 = Sunday."
    )
    day_of_month: int | None = Field(
        default=None, ge=1, le=28, description="Monthly runs: day of the month, 1 (default) to 28."
    )
    scope: Scope = Field(
        default="all",
        description="all, active_only (account status active) or health_below "
        "(overall health below health_threshold).",
    )
    health_threshold: Decimal | None = Field(
        default=None, ge=0, le=100, description="Required with scope health_below, 0 to 100."
    )
    enabled: bool = True


class ScheduleRead(BaseModel):
    """A schedule, with its next run in UTC and in the tenant's time zone."""

    schedule_id: int
    name: str
    frequency: str
    description: str = Field(description='How often and when, in words: "daily at 02:00".')
    time_of_day: str
    weekday: int
    day_of_month: int
    scope: str
    health_threshold: Decimal | None
    enabled: bool
    timezone: str = Field(description="The tenant's time zone, which time_of_day is in.")
    next_run_at: datetime
    next_run_local: str | None = Field(description="next_run_at in the tenant's time zone.")
    last_run_at: datetime | None
    created_at: datetime
    updated_at: datetime | None


class SchedulePagination(BaseModel):
    """The tenant's schedules by name."""

    items: list[ScheduleRead]
    total: int
    limit: int
    offset: int


class RunRead(BaseModel):
    """One run of a schedule: when it was due, how far it got, how it ended."""

    model_config = ConfigDict(from_attributes=True)

    run_id: int
    schedule_id: int
    due_at: datetime
    started_at: datetime
    finished_at: datetime | None
    state: str = Field(description="running, done or failed.")
    accounts_total: int = Field(description="Accounts the run covered when it started.")
    snapshots_created: int
    cursor_account_id: int = Field(description="The last account captured (ids ascend).")
    error: str | None
    lease_owner: str | None
    lease_until: datetime | None


class RunPagination(BaseModel):
    """A schedule's runs, newest first."""

    items: list[RunRead]
    total: int
    limit: int
    offset: int


def schedule_body(schedule: SnapshotSchedule, timezone: str) -> dict[str, Any]:
    """The JSON body of a schedule (``ScheduleRead``)."""
    return {
        "schedule_id": schedule.schedule_id,
        "name": schedule.name,
        "frequency": schedule.frequency,
        "description": schedules.timing_of(schedule),
        "time_of_day": schedule.time_of_day,
        "weekday": schedule.weekday,
        "day_of_month": schedule.day_of_month,
        "scope": schedule.scope,
        "health_threshold": schedule.health_threshold,
        "enabled": schedule.enabled,
        "timezone": timezone,
        "next_run_at": schedule.next_run_at,
        "next_run_local": schedules.local_time(schedule.next_run_at, timezone),
        "last_run_at": schedule.last_run_at,
        "created_at": schedule.created_at,
        "updated_at": schedule.updated_at,
    }
