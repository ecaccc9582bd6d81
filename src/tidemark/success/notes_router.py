"""HTTP endpoints of CSM notes on accounts (seed 000 §2.2)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from tidemark.rest.deps import Csm, DbSession, Now, Viewer
from tidemark.rest.pagination import page_body
from tidemark.success import notes
from tidemark.success.schemas import (
    MAX_ID,
    NoteCreate,
    NotePagination,
    NoteRead,
    NoteType,
    NoteUpdate,
)

router = APIRouter(tags=["notes"])

AccountId = Annotated[int, Path(ge=1, le=MAX_ID, description="The account's id.")]
NoteId = Annotated[int, Path(ge=1, le=MAX_ID, description="The note's id.")]


@router.post("/api/accounts/{account_id}/notes", response_model=NoteRead, status_code=201)
def create_note(
    account_id: AccountId, body: NoteCreate, principal: Csm, session: DbSession, now: Now
) -> Any:
    """Write a note on an account as the key's user."""
    return notes.create(
        session,
        customer_id=principal.customer_id,
        account_id=account_id,
        fields=body.model_dump(),
        created_by=principal.user_id,
        now=now,
    )


@router.get("/api/accounts/{account_id}/notes", response_model=NotePagination)
def list_notes(
    account_id: AccountId,
    principal: Viewer,
    session: DbSession,
    note_type: Annotated[NoteType | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Any:
    """List an account's notes, newest first."""
    page = notes.list_for_account(
        session,
        customer_id=principal.customer_id,
        account_id=account_id,
        note_type=note_type,
        limit=limit,
        offset=offset,
    )
    return page_body(page)


@router.get("/api/notes/{note_id}", response_model=NoteRead)
def get_note(note_id: NoteId, principal: Viewer, session: DbSession) -> Any:
    """One note."""
    return notes.get(session, customer_id=principal.customer_id, note_id=note_id)


@router.patch("/api/notes/{note_id}", response_model=NoteRead)
def update_note(
    note_id: NoteId, body: NoteUpdate, principal: Csm, session: DbSession, now: Now
) -> Any:
    """Change the fields of a note that are sent."""
    return notes.update(
        session,
        customer_id=principal.customer_id,
        note_id=note_id,
        changes=body.model_dump(exclude_unset=True),
        now=now,
    )


@router.delete("/api/notes/{note_id}", status_code=204)
def delete_note(note_id: NoteId, principal: Csm, session: DbSession, now: Now) -> None:
    """Delete a note."""
    notes.delete(session, customer_id=principal.customer_id, note_id=note_id, now=now)
