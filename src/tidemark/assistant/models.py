"""Tables of the assistant: the log of every question asked, and the full-text indexes.

The full-text indexes over notes and playbook reports are not ORM tables. On
SQLite they are FTS5 virtual tables (and the shadow tables SQLite keeps for
them) filled by triggers; on PostgreSQL they are trigram GIN indexes on
expressions. Migration 0004 creates both, and :func:`include_name` keeps them
out of Alembic's comparison with the metadata, which cannot describe them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tidemark.db.base import Base
from tidemark.db.types import JsonType, UtcDateTime

if TYPE_CHECKING:
    from alembic.runtime.environment import NameFilterParentNames, NameFilterType

#: Who worded an answer: the built-in templates, or a language model.
ANSWERERS: tuple[str, ...] = ("offline", "llm")

#: FTS5 tables on SQLite (each also owns shadow tables named ``<table>_<suffix>``).
SEARCH_TABLES: tuple[str, ...] = ("note_search", "report_search")
#: Trigram indexes on PostgreSQL.
SEARCH_INDEXES: tuple[str, ...] = (
    "ix_account_notes_search_trgm",
    "ix_playbook_reports_search_trgm",
)


def is_search_object(name: str | None) -> bool:
    """True for the full-text tables, their shadow tables and the trigram indexes."""
    if name is None:
        return False
    if name in SEARCH_INDEXES:
        return True
    return any(name == table or name.startswith(f"{table}_") for table in SEARCH_TABLES)


def include_name(
    name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames
) -> bool:
    """Alembic ``include_name`` hook: compare everything but the full-text objects."""
    if type_ in ("table", "index"):
        return not is_search_object(name)
    return True


class RagQueryLog(Base):
    """One question asked of the assistant: its plan, its answer and every source it cited."""

    __tablename__ = "rag_query_log"
    __table_args__ = (Index("ix_rag_query_log_customer_created", "customer_id", "created_at"),)

    query_id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.customer_id", ondelete="CASCADE")
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.user_id", ondelete="SET NULL"))
    question: Mapped[str] = mapped_column(Text)
    #: The plan's intent (``tidemark.assistant.plan.Intent``); NULL when not understood.
    intent: Mapped[str | None] = mapped_column(String(20))
    answer: Mapped[str] = mapped_column(Text)
    #: One of ``ANSWERERS``.
    answerer: Mapped[str] = mapped_column(String(20))
    window_start: Mapped[datetime | None] = mapped_column(UtcDateTime())
    window_end: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: The look-ups that ran: ``[{"lookup": name, "arguments": {...}}, ...]``.
    lookups: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    snapshot_ids: Mapped[list[int]] = mapped_column(JsonType, default=list)
    note_ids: Mapped[list[int]] = mapped_column(JsonType, default=list)
    report_ids: Mapped[list[int]] = mapped_column(JsonType, default=list)
    answerable: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    duration_ms: Mapped[int] = mapped_column(Integer)
