"""HTTP endpoints of account snapshots (seed 000 §5, plus as-of and import)."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile
from fastapi import Path as PathParam

from tidemark.clock import ensure_utc, months_before
from tidemark.errors import InvalidInput
from tidemark.rest.deps import MAX_ID, Admin, Csm, DbSession, Now, Viewer
from tidemark.rest.pagination import page_body
from tidemark.snapshots import service
from tidemark.snapshots.capture import capture_accounts
from tidemark.snapshots.importer import import_snapshots, read_lines
from tidemark.snapshots.schemas import (
    AccountSnapshotRead,
    FieldChangeRead,
    ImportRead,
    SnapshotComparison,
    SnapshotCreate,
    SnapshotCreated,
    SnapshotPagination,
)
from tidemark.success import accounts

router = APIRouter(prefix="/api/account-snapshots", tags=["snapshots"])

AccountId = Annotated[int, Query(ge=1, le=MAX_ID, description="The account's id.")]
OptionalAccountId = Annotated[int | None, Query(ge=1, le=MAX_ID, description="The account's id.")]
SnapshotId = Annotated[int, Query(ge=1, le=MAX_ID)]


def _moment(value: datetime | date | None, *, end_of_day: bool = False) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return ensure_utc(value)
    return ensure_utc(datetime.combine(value, time.max if end_of_day else time.min))


@router.post("/create", response_model=SnapshotCreated, status_code=201)
def create_snapshots(body: SnapshotCreate, principal: Csm, session: DbSession, now: Now) -> Any:
    """Capture a snapshot of one account, or of every account when no account is given."""
    ids = None if body.account_id is None else [body.account_id]
    result = capture_accounts(
        session,
        customer_id=principal.customer_id,
        at=now,
        snapshot_type=body.snapshot_type,
        account_ids=ids,
        reason=body.reason,
        created_by=principal.user_id,
    )
    return SnapshotCreated(
        snapshot_ids=result.snapshot_ids,
        count=len(result.snapshot_ids),
        significant=result.significant,
    )


@router.get("", response_model=SnapshotPagination)
def list_snapshots(
    principal: Viewer,
    session: DbSession,
    account_id: OptionalAccountId = None,
    snapshot_type: Annotated[str | None, Query(max_length=20)] = None,
    start_date: Annotated[datetime | date | None, Query()] = None,
    end_date: Annotated[datetime | date | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """List snapshots, newest first, filtered by account, type and date range."""
    if account_id is not None:
        accounts.get(session, customer_id=principal.customer_id, account_id=account_id)
    page = service.list_snapshots(
        session,
        customer_id=principal.customer_id,
        account_id=account_id,
        snapshot_type=snapshot_type,
        start=_moment(start_date),
        end=_moment(end_date, end_of_day=True),
        limit=limit,
        offset=offset,
    )
    return page_body(page)


@router.get("/latest", response_model=list[AccountSnapshotRead])
def latest_snapshots(
    principal: Viewer,
    session: DbSession,
    account_id: OptionalAccountId = None,
) -> Any:
    """The newest snapshot of one account, or of every account of the tenant."""
    ids = None if account_id is None else [account_id]
    records = service.latest(session, customer_id=principal.customer_id, account_ids=ids)
    if account_id is not None and not records:
        # Only an empty answer needs the account looked up (unknown or another
        # tenant's: 404); the hot path of a known account costs one query less.
        accounts.get(session, customer_id=principal.customer_id, account_id=account_id)
    return records


@router.get("/compare", response_model=SnapshotComparison)
def compare_snapshots(
    principal: Viewer,
    session: DbSession,
    snapshot_id_1: SnapshotId,
    snapshot_id_2: SnapshotId,
    account_id: OptionalAccountId = None,
) -> Any:
    """Compare two snapshots field by field: old value, new value and delta."""
    if account_id is not None:
        accounts.get(session, customer_id=principal.customer_id, account_id=account_id)
    first, second, changes = service.compare(
        session, customer_id=principal.customer_id, first_id=snapshot_id_1, second_id=snapshot_id_2
    )
    if account_id is not None and account_id not in (first["account_id"], second["account_id"]):
        raise InvalidInput("account_id", "the snapshots are not of this account")
    return SnapshotComparison(
        snapshot_id_1=snapshot_id_1,
        snapshot_id_2=snapshot_id_2,
        account_id_1=first["account_id"],
        account_id_2=second["account_id"],
        timestamp_1=first["snapshot_timestamp"],
        timestamp_2=second["snapshot_timestamp"],
        changes=[
            FieldChangeRead(field=c.field, old=c.old, new=c.new, delta=c.delta, changed=c.changed)
            for c in changes
        ],
    )


@router.get("/history", response_model=list[AccountSnapshotRead])
def snapshot_history(
    principal: Viewer,
    session: DbSession,
    now: Now,
    account_id: AccountId,
    months: Annotated[int, Query(ge=1, le=120)] = 3,
) -> Any:
    """An account's snapshots over the last N months, oldest first."""
    accounts.get(session, customer_id=principal.customer_id, account_id=account_id)
    return service.history(
        session,
        customer_id=principal.customer_id,
        account_id=account_id,
        since=months_before(now, months),
    )


@router.get("/as-of", response_model=AccountSnapshotRead)
def snapshot_as_of(
    principal: Viewer,
    session: DbSession,
    account_id: AccountId,
    at: Annotated[datetime | date, Query(description="A date (end of that day) or a moment.")],
) -> Any:
    """The account's last snapshot at or before a moment."""
    accounts.get(session, customer_id=principal.customer_id, account_id=account_id)
    moment = _moment(at, end_of_day=True)
    assert moment is not None
    record = service.as_of(
        session, customer_id=principal.customer_id, account_id=account_id, at=moment
    )
    if record is None:
        raise InvalidInput("at", f"account {account_id} has no snapshot at or before {moment}")
    return record


@router.post("/import", response_model=ImportRead, status_code=201)
def import_history(
    principal: Admin,
    session: DbSession,
    now: Now,
    file: Annotated[UploadFile, File(description="JSON Lines, one snapshot per line.")],
) -> Any:
    """Import snapshot history from a JSONL file (docs/IMPORT.md); all lines or none."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history.jsonl"
        with path.open("wb") as target:
            shutil.copyfileobj(file.file, target)
        result = import_snapshots(
            session, customer_id=principal.customer_id, lines=read_lines(path), now=now
        )
    return ImportRead(
        snapshot_ids=result.snapshot_ids,
        accounts_created=result.accounts_created,
        accounts_matched=result.accounts_matched,
        lines=result.lines,
    )


@router.get("/{snapshot_id}", response_model=AccountSnapshotRead)
def get_snapshot(
    snapshot_id: Annotated[int, PathParam(ge=1, le=MAX_ID)], principal: Viewer, session: DbSession
) -> Any:
    """One snapshot with every field."""
    return service.get(session, customer_id=principal.customer_id, snapshot_id=snapshot_id)
