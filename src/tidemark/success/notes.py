"""CSM notes on accounts (seed 000 §2.2): meetings, QBRs, calls, emails and more.

Snapshots keep the ids of an account's five newest notes, so a note written here
shows up in the next snapshot's ``recent_csm_note_ids``; every write emits the
account's ``account_data_changed`` event in its own transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tidemark.errors import InvalidInput, NotFound
from tidemark.events.outbox import EventType, emit
from tidemark.success import accounts
from tidemark.success.models import AccountNote

NOTE_TYPES: tuple[str, ...] = ("meeting", "qbr", "call", "email", "general", "interaction")
MAX_CONTENT = 50_000
MAX_TITLE = 255
MAX_ITEMS = 100
MAX_ITEM_LENGTH = 200
#: Fields a note's author may set or change.
NOTE_FIELDS: tuple[str, ...] = (
    "note_type",
    "note_content",
    "note_title",
    "meeting_date",
    "participants",
    "tags",
    "is_important",
    "related_playbook_id",
)


@dataclass(frozen=True, slots=True)
class NotePage:
    """One page of an account's notes with the number it has."""

    items: list[AccountNote]
    total: int
    limit: int
    offset: int


def get(session: Session, *, customer_id: int, note_id: int) -> AccountNote:
    """The tenant's note with this id; another tenant's id is NotFound."""
    note = session.execute(
        select(AccountNote).where(
            AccountNote.customer_id == customer_id, AccountNote.note_id == note_id
        )
    ).scalar_one_or_none()
    if note is None:
        raise NotFound("note", note_id)
    return note


def list_for_account(
    session: Session,
    *,
    customer_id: int,
    account_id: int,
    note_type: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> NotePage:
    """An account's notes, newest first."""
    accounts.get(session, customer_id=customer_id, account_id=account_id)
    conditions = [AccountNote.customer_id == customer_id, AccountNote.account_id == account_id]
    if note_type is not None:
        conditions.append(AccountNote.note_type == _note_type(note_type))
    total = session.execute(
        select(func.count()).select_from(AccountNote).where(*conditions)
    ).scalar_one()
    items = (
        session.execute(
            select(AccountNote)
            .where(*conditions)
            .order_by(AccountNote.created_at.desc(), AccountNote.note_id.desc())
            .limit(limit)
            .offset(offset)
        )
        .scalars()
        .all()
    )
    return NotePage(list(items), total, limit, offset)


def create(
    session: Session,
    *,
    customer_id: int,
    account_id: int,
    fields: Mapping[str, Any],
    created_by: int,
    now: datetime,
) -> AccountNote:
    """Write a note on the account as ``created_by``; note_type and note_content are required."""
    accounts.get(session, customer_id=customer_id, account_id=account_id)
    for required in ("note_type", "note_content"):
        if fields.get(required) is None:
            raise InvalidInput(required, "is required")
    values = _checked(fields)
    note = AccountNote(
        customer_id=customer_id,
        account_id=account_id,
        created_by=created_by,
        created_at=now,
        is_important=False,
    )
    for name, value in values.items():
        setattr(note, name, value)
    session.add(note)
    session.flush()
    _emit(session, note, "created", now)
    return note


def update(
    session: Session,
    *,
    customer_id: int,
    note_id: int,
    changes: Mapping[str, Any],
    now: datetime,
) -> AccountNote:
    """Change the given fields of a note and stamp updated_at."""
    note = get(session, customer_id=customer_id, note_id=note_id)
    for required in ("note_type", "note_content", "is_important"):
        if required in changes and changes[required] is None:
            raise InvalidInput(required, "must not be null")
    for name, value in _checked(changes).items():
        setattr(note, name, value)
    note.updated_at = now
    session.flush()
    _emit(session, note, "updated", now)
    return note


def delete(session: Session, *, customer_id: int, note_id: int, now: datetime) -> None:
    """Delete the tenant's note (snapshots that cite its id keep the id)."""
    note = get(session, customer_id=customer_id, note_id=note_id)
    session.delete(note)
    session.flush()
    _emit(session, note, "deleted", now)


def _emit(session: Session, note: AccountNote, change: str, at: datetime) -> None:
    """The note's account changed: snapshots list its newest notes."""
    emit(
        session,
        customer_id=note.customer_id,
        event_type=EventType.ACCOUNT_DATA_CHANGED,
        account_ids=[note.account_id],
        at=at,
        payload={"note_id": note.note_id, "change": change},
    )


def _note_type(value: object) -> str:
    if value not in NOTE_TYPES:
        raise InvalidInput("note_type", f"expected one of {', '.join(NOTE_TYPES)}")
    return str(value)


def _checked(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(fields) - set(NOTE_FIELDS))
    if unknown:
        raise InvalidInput(unknown[0], "is not a field of a note")
    values: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "note_type":
            values[name] = _note_type(value)
        elif name == "note_content":
            values[name] = _content(value)
        elif name == "note_title":
            values[name] = _short_text(name, value, MAX_TITLE)
        elif name == "related_playbook_id":
            values[name] = _short_text(name, value, 50)
        elif name == "meeting_date":
            values[name] = _date(value)
        elif name == "is_important":
            if not isinstance(value, bool):
                raise InvalidInput(name, "expected true or false")
            values[name] = value
        else:
            values[name] = _names(name, value)
    return values


def _content(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput("note_content", "expected text")
    if not value.strip():
        raise InvalidInput("note_content", "must not be empty")
    if len(value) > MAX_CONTENT:
        raise InvalidInput("note_content", f"at most {MAX_CONTENT:,} characters")
    if "\x00" in value:
        raise InvalidInput("note_content", "must not contain NUL characters")
    return value


def _short_text(where: str, value: object, max_length: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(where, "expected text")
    text = value.strip()
    if len(text) > max_length:
        raise InvalidInput(where, f"at most {max_length} characters")
    if "\x00" in text:
        raise InvalidInput(where, "must not contain NUL characters")
    return text or None


def _date(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidInput("meeting_date", "expected a date as YYYY-MM-DD")


def _names(where: str, value: object) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInput(where, "expected a list of strings")
    if len(value) > MAX_ITEMS:
        raise InvalidInput(where, f"at most {MAX_ITEMS} entries")
    items: list[str] = []
    for i, item in enumerate(value):
        text = _short_text(f"{where}[{i}]", item, MAX_ITEM_LENGTH)
        if text is None:
            raise InvalidInput(f"{where}[{i}]", "must not be empty")
        items.append(text)
    return items
