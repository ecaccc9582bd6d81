"""Every question asked is logged with its answer and the sources it cited (seed 000 §3)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from tidemark.assistant.models import ANSWERERS, RagQueryLog
from tidemark.assistant.plan import LookupResult
from tidemark.errors import InvalidInput


def _unique(ids: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(int(i) for i in ids))


def log_query(
    session: Session,
    *,
    customer_id: int,
    question: str,
    answer: str,
    answerer: str,
    answerable: bool,
    created_at: datetime,
    duration_ms: int,
    results: Sequence[LookupResult] = (),
    intent: str | None = None,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    user_id: int | None = None,
) -> RagQueryLog:
    """Record one question and its answer; the look-ups and cited ids come from ``results``.

    Ids keep the order in which the look-ups cited them, each once. Does not commit.
    """
    if answerer not in ANSWERERS:
        raise InvalidInput("answerer", f"expected one of {', '.join(ANSWERERS)}")
    if duration_ms < 0:
        raise InvalidInput("duration_ms", "must not be negative")
    row = RagQueryLog(
        customer_id=customer_id,
        user_id=user_id,
        question=question,
        intent=intent,
        answer=answer,
        answerer=answerer,
        window_start=window_start,
        window_end=window_end,
        lookups=[{"lookup": r.lookup, "arguments": r.arguments} for r in results],
        snapshot_ids=_unique(i for r in results for i in r.snapshot_ids),
        note_ids=_unique(i for r in results for i in r.note_ids),
        report_ids=_unique(i for r in results for i in r.report_ids),
        answerable=answerable,
        created_at=created_at,
        duration_ms=duration_ms,
    )
    session.add(row)
    session.flush()
    return row
