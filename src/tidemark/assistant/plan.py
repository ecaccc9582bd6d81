"""The shared vocabulary of the assistant: what a question asks, and what a look-up returns.

Question understanding (:mod:`tidemark.assistant.parsing`) turns plain English
into a :class:`Plan`; the look-ups (:mod:`tidemark.assistant.lookups`,
:mod:`tidemark.assistant.search`) run it in the database and return results
that carry the snapshot, note and report ids they came from; the answerers word
them. Nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Intent(StrEnum):
    """The kinds of question the assistant answers."""

    #: "What was TechCorp's health score last month?" -- one field, one account, one moment.
    VALUE_AS_OF = "value_as_of"
    #: "How much did Acme's revenue change over the past 90 days?" -- from, to, delta.
    CHANGE = "change"
    #: "Show TechCorp's health history since January." -- every value in a window.
    HISTORY = "history"
    #: "Which accounts improved their health score this quarter?" -- ranked deltas.
    RANKED_CHANGE = "ranked_change"
    #: "Which accounts are at risk?", "... had health below 60 in March?" -- a filter.
    MATCHING = "matching"
    #: "Who is TechCorp's CSM?", "What products does Acme use?" -- current assignments.
    ASSIGNMENTS = "assignments"
    #: "What did we discuss with TechCorp in March?", "notes about renewal" -- full text.
    NOTES = "notes"


class Direction(StrEnum):
    """Which way a ranked change goes."""

    IMPROVED = "improved"
    DECLINED = "declined"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class Window:
    """A resolved time window (UTC). ``start`` is None for a single moment (``end``)."""

    start: datetime | None
    end: datetime
    #: The phrase it came from, as written ("last month", "on 2025-01-15").
    phrase: str = ""


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op value`` on snapshot fields, e.g. ``overall_health_score < 60``."""

    field: str
    op: str  # one of "<", "<=", ">", ">=", "=", "!="
    value: Decimal | str


@dataclass(frozen=True, slots=True)
class AccountRef:
    """An account the question names, as resolved (fuzzy) against the tenant's accounts."""

    account_id: int
    account_name: str
    #: The words of the question that named it ("TechCorp").
    mention: str
    #: 0-1: how sure the match is (1 = exact name).
    score: float = 1.0


@dataclass(frozen=True, slots=True)
class Plan:
    """What a question asks, ready to run. ``problems`` says why it cannot be answered."""

    intent: Intent | None
    question: str
    accounts: tuple[AccountRef, ...] = ()
    #: A snapshot field name of ``tidemark.snapshots.fields.FIELDS`` (after synonyms).
    field: str | None = None
    window: Window | None = None
    direction: Direction = Direction.ANY
    conditions: tuple[Condition, ...] = ()
    #: Full-text words for NOTES ("renewal", "ต่ออายุ").
    topic: str | None = None
    limit: int | None = None
    #: Plain reasons the question cannot be mapped (unknown account, unknown field, ...).
    problems: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        return self.intent is not None and not self.problems


@dataclass(frozen=True, slots=True)
class ValueAt:
    """One field of one account as of a moment, from one snapshot."""

    account_id: int
    account_name: str
    field: str
    value: Any
    snapshot_id: int
    snapshot_timestamp: datetime


@dataclass(frozen=True, slots=True)
class Change:
    """One field of one account between two snapshots."""

    account_id: int
    account_name: str
    field: str
    before: ValueAt
    after: ValueAt
    #: after - before, for numbers; None for text fields.
    delta: Decimal | None
    #: delta / before * 100, None when before is 0 or not a number.
    percent: Decimal | None


@dataclass(frozen=True, slots=True)
class TextHit:
    """A note or playbook report that matched a full-text search."""

    kind: str  # "note" or "report"
    id: int
    account_id: int
    account_name: str
    created_at: datetime
    title: str
    snippet: str


@dataclass(slots=True)
class LookupResult:
    """What one look-up returned and where it came from."""

    #: The look-up that ran (a function name of ``tidemark.assistant.lookups``).
    lookup: str
    #: Its arguments, JSON-ready (ids, field, ISO dates).
    arguments: dict[str, Any]
    #: ValueAt, Change, a list of them, TextHits, or a dict of assignments.
    value: Any
    snapshot_ids: list[int] = field(default_factory=list)
    note_ids: list[int] = field(default_factory=list)
    report_ids: list[int] = field(default_factory=list)


class NoHistory(Exception):
    """The account has no snapshot at or before the moment asked about."""

    def __init__(self, account_name: str, moment: datetime, first: datetime | None) -> None:
        self.account_name = account_name
        self.moment = moment
        self.first = first
        when = moment.date().isoformat()
        since = f"; its first is from {first.date().isoformat()}" if first else ""
        super().__init__(f"{account_name} has no snapshot on or before {when}{since}")
