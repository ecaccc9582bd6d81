"""HTTP endpoints of the event outbox and of snapshot coverage."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from tidemark.events import service
from tidemark.events.schemas import (
    CoverageRead,
    EventPagination,
    EventRead,
    EventState,
    RetryRead,
)
from tidemark.rest.deps import MAX_ID, Admin, DbSession, Now, Viewer
from tidemark.rest.pagination import page_body

router = APIRouter(tags=["events"])

EventId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The event's id.")]


@router.get("/api/events", response_model=EventPagination)
def list_events(
    principal: Viewer,
    session: DbSession,
    state: Annotated[EventState | None, Query(description="Only events in this state.")] = None,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """List the tenant's data-change events, newest first (dead ones keep their error)."""
    page = service.list_events(
        session,
        customer_id=principal.customer_id,
        state=state,
        account_id=account_id,
        limit=limit,
        offset=offset,
    )
    return page_body(page)


@router.get("/api/events/{event_id}", response_model=EventRead)
def get_event(event_id: EventId, principal: Viewer, session: DbSession) -> Any:
    """One event and the snapshot that captured it."""
    return service.get(session, customer_id=principal.customer_id, event_id=event_id)


@router.post("/api/events/{event_id}/retry", response_model=RetryRead)
def retry_event(event_id: EventId, principal: Admin, session: DbSession, now: Now) -> Any:
    """Put a dead event back in the queue with a fresh count of attempts."""
    queued = service.retry(
        session, customer_id=principal.customer_id, event_ids=[event_id], now=now
    )
    return {"queued": queued}


@router.post("/api/events/retry-dead", response_model=RetryRead)
def retry_dead(principal: Admin, session: DbSession, now: Now) -> Any:
    """Put every dead event of the tenant back in the queue."""
    return {"queued": service.retry_dead(session, customer_id=principal.customer_id, now=now)}


@router.get("/api/snapshot-coverage", response_model=CoverageRead, tags=["snapshots"])
def coverage(principal: Viewer, session: DbSession, now: Now) -> Any:
    """Coverage (accounts with a snapshot in the last 31 days), event-to-snapshot delay, backlog."""
    return service.coverage(session, customer_id=principal.customer_id, now=now).as_dict()
