"""Full-text search over CSM notes and playbook reports, Thai included.

Thai is written without spaces between words, so a word index would see a
whole sentence as one word. Both databases index *trigrams* instead (every run
of three characters), which finds any substring of three characters or more in
any script:

- SQLite: the FTS5 tables ``note_search`` (over note title and content) and
  ``report_search`` (over the playbook name and every text value of the
  report's JSON), kept in step by triggers on insert, update and delete.
- PostgreSQL: ``pg_trgm`` GIN indexes on the same text expressions, searched
  with ``ILIKE``.

A query is split on white space into words; every word must occur, in any
order. A word shorter than three characters has no trigram: it is checked with
``LIKE`` on the rows the longer words found (or on the tenant's rows, when all
words are short). Migration 0004 creates the indexes and triggers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, literal_column, or_, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from tidemark.assistant.plan import LookupResult, TextHit
from tidemark.clock import ensure_utc
from tidemark.errors import InvalidInput, NotFound
from tidemark.success.models import Account, AccountNote, PlaybookReport

#: The shortest word a trigram index can find.
TRIGRAM = 3
SNIPPET_LENGTH = 150
MAX_LIMIT = 200
MAX_WORDS = 12

#: The indexed text, written exactly as in the expression indexes of migration 0004.
NOTE_TEXT_SQL = "(coalesce(account_notes.note_title, '') || ' ' || account_notes.note_content)"
REPORT_TEXT_SQL = (
    "(playbook_reports.playbook_name || ' ' || "
    "jsonb_path_query_array(playbook_reports.report_data, "
    "'strict $.** ? (@.type() == \"string\")')::text)"
)
#: The same text of a report on SQLite, as the triggers of migration 0004 index it.
REPORT_TEXT_SQLITE = (
    "(playbook_reports.playbook_name || ' ' || coalesce((SELECT group_concat(value, ' ') "
    "FROM json_tree(playbook_reports.report_data) WHERE type = 'text'), ''))"
)


def words(query: str) -> list[str]:
    """The words of a query: split on white space, punctuation trimmed, duplicates dropped.

    Thai words stay whole: only white space separates words, and only
    punctuation and symbols at either end of a word are trimmed (never the
    vowel and tone marks inside it).
    """
    found: dict[str, str] = {}
    for raw in query.split():
        word = _trim(raw)
        if word and word.casefold() not in found:
            found[word.casefold()] = word
    return list(found.values())[:MAX_WORDS]


def _trim(word: str) -> str:
    start, end = 0, len(word)
    while start < end and unicodedata.category(word[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(word[end - 1])[0] in "PS":
        end -= 1
    return word[start:end]


def _like_pattern(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _regex_literal(word: str) -> str:
    """``word`` as a regular expression that matches it literally."""
    return re.sub(r"([\\.^$*+?()\[\]{}|])", r"\\\1", word)


def _fts_query(long_words: Sequence[str]) -> str:
    """An FTS5 query that needs every word, each as a quoted string."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in long_words)


def snippet(body: str, terms: Sequence[str], length: int = SNIPPET_LENGTH) -> str:
    """At most ``length`` characters of ``body`` around the first match of any term.

    White space is collapsed; a cut is marked with an ellipsis and made at a
    space when there is one near (Thai, without spaces, is cut where it must).
    """
    flat = " ".join(body.split())
    if len(flat) <= length:
        return flat
    match: re.Match[str] | None = None
    for term in terms:
        found = re.search(re.escape(term), flat, re.IGNORECASE)
        if found is not None and (match is None or found.start() < match.start()):
            match = found
    if match is None or match.end() - match.start() > length - 2:
        at = 0 if match is None else match.start()
        return ("…" if at else "") + flat[at : at + length - 1 - bool(at)].rstrip() + "…"
    begin, finish = match.span()
    # About a third of the room before the match, the rest after it; shifted
    # right when the match would not fit before the closing ellipsis.
    start = max(0, begin - (length - (finish - begin)) // 3)
    end = len(flat)
    for _ in range(2):
        end = start + length - (1 if start else 0)
        end = end - 1 if end < len(flat) else len(flat)
        if finish <= end:
            break
        start += finish - end
    if start:
        space = flat.find(" ", start, begin)
        if space != -1 and space - start <= 15:
            start = space + 1
    if end < len(flat):
        space = flat.rfind(" ", finish, end)
        if space != -1 and end - space <= 20:
            end = space
    lead = "…" if start else ""
    tail = "…" if end < len(flat) else ""
    return lead + flat[start:end].strip() + tail


def _check(
    session: Session,
    customer_id: int,
    query: str,
    account_id: int | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[str]:
    terms = words(query)
    if not terms and account_id is None and start is None and end is None:
        # Without words, an account or a window: "what did we discuss with X last month?"
        raise InvalidInput("text", "needs at least one word, an account or a window")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("limit", f"must be between 1 and {MAX_LIMIT}")
    if start is not None and end is not None and ensure_utc(start) > ensure_utc(end):
        raise InvalidInput("start", "must not be after the end of the window")
    if account_id is not None:
        found = session.execute(
            select(Account.account_id).where(
                Account.customer_id == customer_id, Account.account_id == account_id
            )
        ).first()
        if found is None:
            raise NotFound("account", account_id)
    return terms


def _matches(
    session: Session,
    *,
    terms: Sequence[str],
    key: Any,
    fts_table: str,
    like_columns: Sequence[Any],
    postgres_text: str,
) -> list[ColumnElement[bool]]:
    """Conditions that every word occurs in the indexed text of a row."""
    if session.get_bind().dialect.name == "postgresql":
        indexed: ColumnElement[Any] = literal_column(postgres_text)
        return [
            indexed.ilike(_like_pattern(term), escape="\\")
            if len(term) >= TRIGRAM
            # No trigram to look up: each row is tested, and PostgreSQL tests a
            # case-insensitive regular expression on UTF-8 text faster than ILIKE.
            else indexed.regexp_match(_regex_literal(term), flags="i")
            for term in terms
        ]
    long_words = [term for term in terms if len(term) >= TRIGRAM]
    conditions: list[ColumnElement[bool]] = []
    if long_words:
        found: Select[Any] = (
            select(literal_column("rowid"))
            .select_from(sql_text(fts_table))
            .where(
                sql_text(f"{fts_table} MATCH :fts_query").bindparams(
                    fts_query=_fts_query(long_words)
                )
            )
        )
        conditions.append(key.in_(found.scalar_subquery()))
    for term in terms:
        if len(term) < TRIGRAM:
            pattern = _like_pattern(term)
            conditions.append(or_(*(column.like(pattern, escape="\\") for column in like_columns)))
    return conditions


def _window(
    column: Any, start: datetime | None, end: datetime | None
) -> Iterator[ColumnElement[bool]]:
    if start is not None:
        yield column >= start
    if end is not None:
        yield column <= end


def _arguments(
    terms: Sequence[str],
    query: str,
    account_id: int | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> dict[str, Any]:
    return {
        "text": query,
        "words": list(terms),
        "account_id": account_id,
        "start": None if start is None else ensure_utc(start).isoformat(),
        "end": None if end is None else ensure_utc(end).isoformat(),
        "limit": limit,
    }


def search_notes(
    session: Session,
    *,
    customer_id: int,
    text: str,
    account_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 20,
) -> LookupResult:
    """The tenant's notes that contain every word of ``text``, newest first.

    Optionally only one account's, and only those written in ``[start, end]``.
    """
    terms = _check(session, customer_id, text, account_id, start, end, limit)
    note = AccountNote
    conditions = [
        note.customer_id == customer_id,
        Account.customer_id == customer_id,
        *_window(note.created_at, start, end),
        *_matches(
            session,
            terms=terms,
            key=note.note_id,
            fts_table="note_search",
            like_columns=(note.note_title, note.note_content),
            postgres_text=NOTE_TEXT_SQL,
        ),
    ]
    if account_id is not None:
        conditions.append(note.account_id == account_id)
    query = (
        select(
            note.note_id,
            note.account_id,
            Account.account_name,
            note.created_at,
            note.note_type,
            note.note_title,
            note.note_content,
        )
        .join(Account, Account.account_id == note.account_id)
        .where(*conditions)
        .order_by(note.created_at.desc(), note.note_id.desc())
        .limit(limit)
    )
    hits = [
        TextHit(
            kind="note",
            id=row.note_id,
            account_id=row.account_id,
            account_name=row.account_name,
            created_at=row.created_at,
            title=row.note_title or f"{row.note_type.title()} note",
            snippet=snippet(
                row.note_content
                if _contains_any(row.note_content, terms)
                else f"{row.note_title or ''} {row.note_content}",
                terms,
            ),
        )
        for row in session.execute(query)
    ]
    return LookupResult(
        lookup="search_notes",
        arguments=_arguments(terms, text, account_id, start, end, limit),
        value=hits,
        note_ids=[hit.id for hit in hits],
    )


def _contains_any(body: str, terms: Sequence[str]) -> bool:
    folded = body.casefold()
    return any(term.casefold() in folded for term in terms)


def report_text(report_data: Any) -> list[str]:
    """Every text value of a report's JSON, in document order (what the index holds)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(report_data)
    return out


def search_reports(
    session: Session,
    *,
    customer_id: int,
    text: str,
    account_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 20,
) -> LookupResult:
    """The tenant's playbook reports whose name or text holds every word of ``text``, newest first.

    The text is the executive summary and every other text value of the
    report; ``[start, end]`` filters on when the report was generated.
    """
    terms = _check(session, customer_id, text, account_id, start, end, limit)
    report = PlaybookReport
    conditions = [
        report.customer_id == customer_id,
        Account.customer_id == customer_id,
        *_window(report.report_generated_at, start, end),
        *_matches(
            session,
            terms=terms,
            key=report.report_id,
            fts_table="report_search",
            like_columns=(literal_column(REPORT_TEXT_SQLITE),),
            postgres_text=REPORT_TEXT_SQL,
        ),
    ]
    if account_id is not None:
        conditions.append(report.account_id == account_id)
    query = (
        select(
            report.report_id,
            report.account_id,
            Account.account_name,
            report.report_generated_at,
            report.playbook_name,
            report.report_data,
        )
        .join(Account, Account.account_id == report.account_id)
        .where(*conditions)
        .order_by(report.report_generated_at.desc(), report.report_id.desc())
        .limit(limit)
    )
    hits: list[TextHit] = []
    for row in session.execute(query):
        data = row.report_data if isinstance(row.report_data, dict) else {}
        summary = data.get("executive_summary")
        parts = report_text(data)
        body = (
            summary
            if isinstance(summary, str) and _contains_any(summary, terms)
            else next((part for part in parts if _contains_any(part, terms)), " ".join(parts))
        )
        hits.append(
            TextHit(
                kind="report",
                id=row.report_id,
                account_id=row.account_id,
                account_name=row.account_name,
                created_at=row.report_generated_at,
                title=row.playbook_name,
                snippet=snippet(body or row.playbook_name, terms),
            )
        )
    return LookupResult(
        lookup="search_reports",
        arguments=_arguments(terms, text, account_id, start, end, limit),
        value=hits,
        report_ids=[hit.id for hit in hits],
    )
