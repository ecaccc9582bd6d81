"""HTTP endpoints of snapshot schedules (seed 000 §4.1.A, §4.2) and their runs."""

from __future__ import annotations

import os
import socket
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy.orm import Session

from tidemark.events import schedules
from tidemark.events.schedule_schemas import (
    RunPagination,
    RunRead,
    SchedulePagination,
    ScheduleRead,
    ScheduleSet,
    schedule_body,
)
from tidemark.rest.deps import MAX_ID, Admin, DbSession, Now, Viewer
from tidemark.rest.pagination import page_body
from tidemark.settings import get_settings

router = APIRouter(prefix="/api/snapshot-schedules", tags=["schedules"])

ScheduleId = Annotated[int, Path(ge=1, le=MAX_ID, description="The schedule's id.")]
ScheduleName = Annotated[
    str,
    Path(min_length=1, max_length=schedules.MAX_NAME, description="The schedule's name."),
]


def _owner() -> str:
    """The lease owner of a run started over HTTP: this host and process."""
    return f"api:{socket.gethostname()[:40]}:{os.getpid()}"


def _timezone(session: Session, customer_id: int) -> str:
    return schedules.tenant_timezone(session, customer_id=customer_id)


@router.get("", response_model=SchedulePagination)
def list_schedules(
    principal: Viewer,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """List the tenant's snapshot schedules by name."""
    timezone = _timezone(session, principal.customer_id)
    found = schedules.list_schedules(session, customer_id=principal.customer_id)
    return {
        "items": [schedule_body(s, timezone) for s in found[offset : offset + limit]],
        "total": len(found),
        "limit": limit,
        "offset": offset,
    }


@router.get("/{schedule_id}", response_model=ScheduleRead)
def get_schedule(schedule_id: ScheduleId, principal: Viewer, session: DbSession) -> Any:
    """One snapshot schedule, with its next run."""
    schedule = schedules.get(session, customer_id=principal.customer_id, schedule_id=schedule_id)
    return schedule_body(schedule, _timezone(session, principal.customer_id))


@router.put(
    "/{name}",
    response_model=ScheduleRead,
    responses={201: {"model": ScheduleRead, "description": "The schedule was created."}},
)
def set_schedule(
    name: ScheduleName,
    body: ScheduleSet,
    principal: Admin,
    session: DbSession,
    now: Now,
    response: Response,
) -> Any:
    """Create the schedule called `name`, or replace its settings (201 when created)."""
    existed = schedules.find_by_name(session, customer_id=principal.customer_id, name=name)
    schedule = schedules.set_schedule(
        session, customer_id=principal.customer_id, name=name, now=now, **body.model_dump()
    )
    if existed is None:
        response.status_code = 201
    return schedule_body(schedule, _timezone(session, principal.customer_id))


@router.delete("/{schedule_id}", status_code=204)
def delete_schedule(schedule_id: ScheduleId, principal: Admin, session: DbSession) -> None:
    """Delete a schedule and its runs; the snapshots it took stay."""
    schedules.delete(session, customer_id=principal.customer_id, schedule_id=schedule_id)


@router.post("/{schedule_id}/run-now", response_model=RunRead, status_code=201)
def run_now(schedule_id: ScheduleId, principal: Admin, session: DbSession, now: Now) -> Any:
    """Run a schedule now, to the end, and answer the finished run."""
    return schedules.run_now_in(
        session,
        customer_id=principal.customer_id,
        schedule_id=schedule_id,
        now=now,
        owner=_owner(),
        batch_size=get_settings().capture_batch_size,
    )


@router.get("/{schedule_id}/runs", response_model=RunPagination)
def list_runs(
    schedule_id: ScheduleId,
    principal: Viewer,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """List a schedule's runs, newest first."""
    page = schedules.list_runs(
        session,
        customer_id=principal.customer_id,
        schedule_id=schedule_id,
        limit=limit,
        offset=offset,
    )
    return page_body(page)
