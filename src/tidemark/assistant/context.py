"""Context assembly (seed 000 §3.1): the text the answerer reads about each account.

For every account a question is about, the context holds

1. the **snapshot block** of §3.1.A: the latest snapshot's figures in a few lines
   (:func:`snapshot_block`);
2. the account's **referenced content**: the CSM notes and playbook reports whose ids
   the snapshot keeps (§1.13), fetched for the tenant only -- the security check of
   §3.1.B.1 (:func:`fetch_referenced`). By default it is the separate block of B.1
   (:func:`referenced_block`: every referenced note, 300 characters each, and the
   reports with two outcomes); with ``full_references=False`` it is the compact tail
   of A under the snapshot block instead (3 newest notes, 150 characters each;
   report summaries cut at 200). Never both, so no note is read twice;
3. the **history block** of §3.1.B when the question is about history (§3.1.D,
   :func:`is_historical`): every snapshot of the last six months, newest first
   (:func:`history_block`).

:func:`assemble` builds all of it in a fixed number of queries plus one history
read per account, and says which snapshots, notes and reports it used. The text
format is described, with an example, in ``docs/ASSISTANT.md``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tidemark.assistant.plan import Change
from tidemark.errors import NotFound
from tidemark.events.service import ensure_snapshot
from tidemark.snapshots import service as snapshots
from tidemark.snapshots.models import AccountSnapshot
from tidemark.snapshots.service import SnapshotRecord
from tidemark.snapshots.source import ids_in
from tidemark.success.models import Account, AccountNote, PlaybookReport

#: The instructions of seed 000 §3.1.C, word for word.
SYSTEM_PROMPT = """\
You have access to account snapshot data that captures complete account state at specific points in time.

Account snapshots include:
- Health scores (overall and by category) with trend indicators
- Revenue with change tracking
- CSM assignments and team information
- Active and completed playbooks
- KPI summaries (total, critical, at-risk counts)
- Engagement metrics (lifecycle stage, QBR dates)
- Product usage information
- Recent CSM notes (meeting notes, QBR notes, interaction logs)
- Recent playbook reports (executive summaries, outcomes, recommendations)

When answering questions about account history or trends:
- Reference specific snapshot dates when discussing changes
- Use trend indicators (improving, declining, stable) to describe health score changes
- Cite playbook execution history when relevant
- Reference CSM notes when discussing customer interactions or meetings
- Include playbook report outcomes when discussing playbook results
- Compare current state to historical snapshots when appropriate"""  # noqa: E501

#: Snapshot block (§3.1.A): how many notes it lists and how much of each.
BLOCK_NOTES = 3
BLOCK_NOTE_CHARS = 150
BLOCK_SUMMARY_CHARS = 200
#: Referenced-content block (§3.1.B.1): how much of each note and report summary.
REFERENCED_NOTE_CHARS = 300
REFERENCED_SUMMARY_CHARS = 250
REFERENCED_OUTCOMES = 2
#: History window for historical questions (§3.1.D asks for six months).
HISTORY_MONTHS = 6

#: The seed's keywords (§3.1.D), matched as the seed does: anywhere in the lower-cased question.
SEED_KEYWORDS: tuple[str, ...] = (
    "history",
    "trend",
    "change",
    "improve",
    "decline",
    "last month",
    "quarter",
)

_MONTHS = (
    "january|february|march|april|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
#: What the seed's list misses, as whole words. Each entry says why.
_MORE_HISTORICAL = re.compile(
    "|".join(
        (
            # Other forms of the seed's words: "decline" is not in "declining",
            # "improve" not in "improving", "history" not in "historical".
            r"\b(?:histor|declin|improv|chang|trend)\w*",
            # Time phrases: "since March", "three weeks ago", "last year", "over time".
            r"\b(?:since|ago|earlier|previous|previously|formerly|yesterday|timeline)\b",
            r"\b(?:last|past|previous|prior)\s+(?:\d+\s+)?(?:day|week|month|quarter|year|time)s?\b",
            r"\b(?:over|at)\s+(?:time|the\s+time)\b|\bas\s+of\b|\bback\s+in\b|\bused\s+to\b",
            r"\b(?:year|quarter|month|week)\s+over\s+(?:year|quarter|month|week)\b|\bytd\b",
            # The past tense of "to be": "what was the score", "who were the champions".
            r"\b(?:was|were)\b",
            # Movement between two moments: "grew", "dropped", "went down", "compared".
            r"\b(?:grew|grown|growth|dropp?(?:ed|s)?|fell|fallen|rose|risen|went\s+(?:up|down))\b",
            r"\b(?:increas|decreas|compar|worsen)\w*|\bvs\.?(?=\s)|\bversus\b",
            # Dates: ISO dates and months, years, quarters, month names ("in March 2025").
            # "May" only with a year or day, or after "in"/"since"/"of": alone it is a verb.
            r"\b\d{4}-\d{2}(?:-\d{2})?\b|\b(?:19|20)\d{2}\b|\bq[1-4]\b",
            rf"\b(?:{_MONTHS})\b",
            r"\bmay\s+\d|\b(?:in|since|of|during|until|before|after)\s+may\b",
            r"\b\d+\s+(?:day|week|month|quarter|year)s?\b",
        )
    )
)
#: Thai phrases (no spaces between Thai words, so matched anywhere): history, trend,
#: change, improved, got worse, fell, rose, "last ..." (as in last month), looking
#: back, quarter, since, previous.
THAI_KEYWORDS: tuple[str, ...] = (
    "ประวัติ",
    "แนวโน้ม",
    "เปลี่ยน",
    "ดีขึ้น",
    "แย่ลง",
    "ลดลง",
    "เพิ่มขึ้น",
    "ที่แล้ว",
    "ย้อนหลัง",
    "ไตรมาส",
    "ตั้งแต่",
    "ก่อนหน้า",
)

_NOTE_TYPE_LABELS = {"qbr": "QBR"}
# Characters that extend the grapheme cluster before them (UAX #29 Extend and
# SpacingMark, in the part that matters for text we store): combining marks
# (Thai vowels above and below, tone marks), the Thai and Lao SARA AM, the
# zero-width joiner and the emoji skin-tone modifiers.
_CLUSTER_MARKS = frozenset({"Mn", "Mc", "Me"})
_JOINS_PREVIOUS = frozenset({"\u0e33", "\u0eb3", "\u200d"})
_ZWJ = "\u200d"
#: Ids beyond this cannot name a note or report (their keys are 32-bit integers);
#: an imported snapshot may still list such an id.
_MAX_ROW_ID = 2**31 - 1


# ----------------------------------------------------------------------------- text pieces


def _continues_cluster(text: str, index: int) -> bool:
    """Whether ``text[index]`` belongs to the grapheme cluster of the character before it."""
    char = text[index]
    if unicodedata.category(char) in _CLUSTER_MARKS or char in _JOINS_PREVIOUS:
        return True
    if "\U0001f3fb" <= char <= "\U0001f3ff":
        return True
    # The character after a zero-width joiner joins its sequence (emoji ZWJ sequences).
    return index > 0 and text[index - 1] == _ZWJ


def preview(text: str, limit: int) -> str:
    """``text`` on one line, cut to at most ``limit`` characters with "..." when longer.

    As the seed does, the cut keeps the first ``limit`` characters. Python strings
    count code points, so a cut never splits a UTF-8 sequence; it must not split a
    grapheme cluster either: in Thai a tone mark or vowel sign sits on the
    consonant before it, and "ก่" cut after "ก" is another syllable. So when the
    character at the cut continues the cluster before it, the cut moves back to
    that cluster's start. Line breaks and runs of spaces become one space, so a
    note cannot break the block's layout (or pose as another account's lines).
    """
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = limit
    while cut > 0 and _continues_cluster(flat, cut):
        cut -= 1
    if cut == 0:  # one cluster longer than the limit: cut it rather than say nothing
        cut = limit
    return flat[:cut] + "..."


def _number(value: Decimal | None, spec: str) -> str:
    return "unknown" if value is None else format(value, spec)


def _count(value: int | None) -> str:
    return "unknown" if value is None else str(value)


def _names(values: Sequence[str] | None) -> str:
    # The seed joins the list and prints "Products: " for none; "none" reads better.
    return ", ".join(values) if values else "none"


def _date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _note_type(note: AccountNote) -> str:
    # The seed's ``note_type.title()`` makes "Qbr" of "qbr".
    return _NOTE_TYPE_LABELS.get(note.note_type, note.note_type.title())


def _revenue(record: Mapping[str, Any]) -> str:
    revenue: Decimal | None = record["revenue"]
    if revenue is None:
        return "Revenue: unknown"
    text = f"Revenue: ${revenue:,.0f}"
    percent: Decimal | None = record["revenue_change_percent"]
    # The seed's code formats the percent unconditionally and would fail on the
    # first snapshot (no previous revenue) or after a revenue of 0, where the
    # percent is null: then the line has no arrow part. It also shows "↓" for no
    # change; a change of exactly 0 shows "→".
    if percent is not None:
        arrow = "↑" if percent > 0 else "↓" if percent < 0 else "→"
        text += f" ({arrow} {abs(percent):.1f}%)"
    return text


def _health(score: Decimal | None, trend: str | None, *, out_of: str = "/100") -> str:
    if score is None:
        return "unknown"
    text = f"{score:.1f}{out_of}"
    return f"{text} ({trend})" if trend else text


def _newest_notes(notes: Iterable[AccountNote]) -> list[AccountNote]:
    return sorted(notes, key=lambda n: (n.created_at, n.note_id), reverse=True)


def _newest_reports(reports: Iterable[PlaybookReport]) -> list[PlaybookReport]:
    return sorted(reports, key=lambda r: (r.report_generated_at, r.report_id), reverse=True)


def _summary_of(report: PlaybookReport) -> str:
    summary = (report.report_data or {}).get("executive_summary")
    return "" if summary is None else str(summary).strip()


def _outcomes_of(report: PlaybookReport) -> list[str]:
    """The seed's "Top 2 outcomes": of the first two entries, those with an improvement."""
    outcomes = (report.report_data or {}).get("outcomes_achieved")
    if not isinstance(outcomes, Mapping):
        return []
    return [
        f"{metric}: {data.get('improvement', 'N/A')}"
        for metric, data in list(outcomes.items())[:REFERENCED_OUTCOMES]
        if isinstance(data, Mapping) and "improvement" in data
    ]


# ----------------------------------------------------------------------------- blocks


def block_notes(notes: Iterable[AccountNote]) -> list[AccountNote]:
    """The notes the snapshot block lists: the 3 newest."""
    return _newest_notes(notes)[:BLOCK_NOTES]


def block_reports(reports: Iterable[PlaybookReport]) -> list[PlaybookReport]:
    """The reports the snapshot block lists: those with an executive summary, newest first."""
    return [r for r in _newest_reports(reports) if _summary_of(r)]


def snapshot_block(
    record: Mapping[str, Any],
    *,
    notes: Iterable[AccountNote] = (),
    reports: Iterable[PlaybookReport] = (),
) -> str:
    """The latest-snapshot block of seed 000 §3.1.A, with its notes and reports tail.

    ``notes`` and ``reports`` are the ones the snapshot references (already checked
    to be the tenant's, see :func:`fetch_referenced`); without them the block ends
    at "Critical KPIs". The seed's code prints Revenue before Health Score, its
    rendered example (§3.2) Health Score first; the block follows the example.
    """
    lines = [
        f"Account: {record['account_name']} (Snapshot: {_date(record['snapshot_timestamp'])})",
        f"  Health Score: {_health(record['overall_health_score'], record['health_score_trend'])}",
        f"  {_revenue(record)}",
        f"  CSM: {record['assigned_csm'] or 'Unassigned'}",
        f"  Products: {_names(record['products_used'])}",
        f"  Playbooks Running: {_names(record['playbooks_running'])}",
        f"  Playbooks Completed: {_count(record['playbooks_completed_count'])}",
    ]
    critical, total = record["critical_kpis_count"], record["total_kpis"]
    kpis = "unknown" if critical is None or total is None else f"{critical}/{total}"
    lines.append(f"  Critical KPIs: {kpis}")
    shown_notes = block_notes(notes)
    if shown_notes:
        lines.append("  Recent CSM Notes:")
        lines.extend(
            f"    - {_note_type(note)} ({_date(note.created_at)}): "
            f"{preview(note.note_content, BLOCK_NOTE_CHARS)}"
            for note in shown_notes
        )
    shown_reports = block_reports(reports)
    if shown_reports:
        lines.append("  Recent Playbook Reports:")
        lines.extend(
            f"    - {report.playbook_name} ({_date(report.report_generated_at)}): "
            f"{preview(_summary_of(report), BLOCK_SUMMARY_CHARS)}"
            for report in shown_reports
        )
    return "\n".join(lines)


def referenced_block(
    notes: Iterable[AccountNote],
    reports: Iterable[PlaybookReport],
    *,
    account_name: str | None = None,
) -> str:
    """The referenced-content block of seed 000 §3.1.B.1; "" when there is nothing to show.

    Every note (300 characters each) and every report (summary cut at 250, then
    up to two outcomes), newest first. With ``account_name`` each section header
    is followed by an "Account:" line, so a context about several accounts says
    whose notes these are (the seed's function served one account at a time).
    """
    parts: list[str] = []
    named = [f"Account: {account_name}"] if account_name else []
    ordered_notes = _newest_notes(notes)
    if ordered_notes:
        parts += ["=== RECENT CSM NOTES ===", *named]
        parts.extend(
            f"{_note_type(note)} - {_date(note.created_at)}: "
            f"{preview(note.note_content, REFERENCED_NOTE_CHARS)}"
            for note in ordered_notes
        )
    ordered_reports = _newest_reports(reports)
    if ordered_reports:
        parts += ["=== RECENT PLAYBOOK REPORTS ===", *named]
        for report in ordered_reports:
            line = f"{report.playbook_name} ({_date(report.report_generated_at)})"
            summary = _summary_of(report)
            if summary:
                line += f": {preview(summary, REFERENCED_SUMMARY_CHARS)}"
            outcomes = _outcomes_of(report)
            if outcomes:
                line += f" | Outcomes: {', '.join(outcomes)}"
            parts.append(line)
    return "\n".join(parts)


def history_block(records: Iterable[Mapping[str, Any]]) -> str:
    """The history block of seed 000 §3.1.B, newest first; "" when there are no records.

    The seed's header is kept; the line after it names the account, since a
    context may hold the histories of several. Missing values read "unknown"
    (the seed's code would fail on them).
    """
    ordered = sorted(
        records, key=lambda r: (r["snapshot_timestamp"], r["snapshot_id"]), reverse=True
    )
    if not ordered:
        return ""
    lines = ["=== ACCOUNT SNAPSHOT HISTORY ===", f"Account: {ordered[0]['account_name']}"]
    for record in ordered:
        revenue: Decimal | None = record["revenue"]
        lines += [
            f"Date: {_date(record['snapshot_timestamp'])}",
            "  Health: "
            + _health(record["overall_health_score"], record["health_score_trend"], out_of=""),
            f"  Revenue: {'unknown' if revenue is None else f'${revenue:,.0f}'}",
            f"  Status: {record['account_status'] or 'unknown'}",
            f"  Playbooks: {_count(record['playbooks_running_count'])} running, "
            f"{_count(record['playbooks_completed_count'])} completed",
        ]
    return "\n".join(lines)


def improvement_block(
    changes: Iterable[Change],
    *,
    trends: Mapping[int, str | None] | None = None,
    before_label: str = "Last Month",
) -> str:
    """Score changes as in seed 000 §3.2 ("Which accounts improved their health score?").

    One paragraph per change, blank lines between::

        Account: TechCorp Solutions
          Current: 72.3/100 (improving)
          Last Month: 68.5/100
          Change: +3.8 points

    ``trends`` maps the later snapshot's id to its ``health_score_trend``
    (:func:`snapshot_trends` reads them); ``before_label`` names the earlier moment.
    """
    paragraphs: list[str] = []
    for change in changes:
        check_is_score(change.field)
        trend = (trends or {}).get(change.after.snapshot_id)
        delta = change.delta
        before, after = change.before.value, change.after.value
        if delta is None and isinstance(before, Decimal) and isinstance(after, Decimal):
            delta = after - before
        paragraphs.append(
            "\n".join(
                (
                    f"Account: {change.account_name}",
                    f"  Current: {_health(after, trend)}",
                    f"  {before_label}: {_health(before, None)}",
                    f"  Change: {_number(delta, '+.1f')} points",
                )
            )
        )
    return "\n\n".join(paragraphs)


def check_is_score(field_name: str) -> None:
    """Raise ValueError unless the field is a 0-100 score (the only kind "points" fits)."""
    if not field_name.endswith("_score"):
        raise ValueError(f"{field_name} is not a score; score changes only")


# ----------------------------------------------------------------------------- questions


def is_historical(question: str) -> bool:
    """Whether a question asks about the past, so the history block belongs in its context.

    The seed's keywords (§3.1.D) are the core, matched anywhere as the seed does.
    Added: other forms of them, time phrases ("since", "ago", "last year",
    "as of"), the past tense of "to be", words of movement ("dropped", "grew",
    "compared"), dates, years, quarters and month names, and a few Thai words.
    A wrong "yes" only adds a block; a wrong "no" leaves the answerer without the
    history, so the list leans towards "yes".
    """
    lowered = question.lower()
    if any(keyword in lowered for keyword in SEED_KEYWORDS):
        return True
    if any(keyword in question for keyword in THAI_KEYWORDS):
        return True
    return _MORE_HISTORICAL.search(lowered) is not None


# ----------------------------------------------------------------------------- reads


def _usable_ids(ids: Iterable[int]) -> list[int]:
    return sorted({i for i in ids if isinstance(i, int) and 0 < i <= _MAX_ROW_ID})


def fetch_referenced(
    session: Session,
    *,
    customer_id: int,
    note_ids: Iterable[int],
    report_ids: Iterable[int],
) -> tuple[list[AccountNote], list[PlaybookReport]]:
    """The tenant's notes and reports among these ids, newest first.

    The security check of seed 000 §3.1.B.1: a snapshot's id lists are data (an
    imported history can name any id), so only rows whose ``customer_id`` is the
    tenant's are read; another tenant's id, or one that no longer exists, is
    simply not there. Two queries, whatever the number of ids.
    """
    connection = session.connection()
    notes: list[AccountNote] = []
    wanted_notes = _usable_ids(note_ids)
    if wanted_notes:
        notes = list(
            session.execute(
                select(AccountNote)
                .where(
                    AccountNote.customer_id == customer_id,
                    ids_in(connection, AccountNote.note_id, wanted_notes),
                )
                .order_by(AccountNote.created_at.desc(), AccountNote.note_id.desc())
            ).scalars()
        )
    reports: list[PlaybookReport] = []
    wanted_reports = _usable_ids(report_ids)
    if wanted_reports:
        reports = list(
            session.execute(
                select(PlaybookReport)
                .where(
                    PlaybookReport.customer_id == customer_id,
                    ids_in(connection, PlaybookReport.report_id, wanted_reports),
                )
                .order_by(
                    PlaybookReport.report_generated_at.desc(), PlaybookReport.report_id.desc()
                )
            ).scalars()
        )
    return notes, reports


def snapshot_trends(
    session: Session, *, customer_id: int, snapshot_ids: Iterable[int]
) -> dict[int, str | None]:
    """``health_score_trend`` of each of the tenant's snapshots among these ids."""
    wanted = _usable_ids(snapshot_ids)
    if not wanted:
        return {}
    rows = session.execute(
        select(AccountSnapshot.snapshot_id, AccountSnapshot.health_score_trend).where(
            AccountSnapshot.customer_id == customer_id,
            ids_in(session.connection(), AccountSnapshot.snapshot_id, wanted),
        )
    )
    return dict(rows.all())


def _account_names(
    session: Session, customer_id: int, account_ids: Sequence[int]
) -> dict[int, str]:
    """Names of the tenant's accounts; NotFound for an id that is not one of them."""
    wanted = _usable_ids(account_ids)
    found: dict[int, str] = {}
    if wanted:
        rows = session.execute(
            select(Account.account_id, Account.account_name).where(
                Account.customer_id == customer_id,
                ids_in(session.connection(), Account.account_id, wanted),
            )
        )
        found = dict(rows.all())
    for account_id in account_ids:
        if account_id not in found:
            raise NotFound("account", account_id)
    return found


def _latest_as_of(
    session: Session, customer_id: int, account_ids: Sequence[int], now: datetime
) -> dict[int, SnapshotRecord]:
    """Each account's newest snapshot at or before ``now``."""
    records = {
        record["account_id"]: record
        for record in snapshots.latest(session, customer_id=customer_id, account_ids=account_ids)
    }
    # ``now`` is a parameter, so it can lie before the newest snapshot (a replay,
    # a test clock): then read the one that was newest at ``now``.
    for account_id, record in list(records.items()):
        if record["snapshot_timestamp"] > now:
            older = snapshots.as_of(session, customer_id=customer_id, account_id=account_id, at=now)
            if older is None:
                del records[account_id]
            else:
                records[account_id] = older
    return records


# ----------------------------------------------------------------------------- assembly


@dataclass(frozen=True, slots=True)
class AccountWithoutSnapshot:
    """An account the context could not describe: it has no snapshot (at ``now``)."""

    account_id: int
    account_name: str


@dataclass(slots=True)
class Context:
    """The assembled context: its text, its blocks, and the rows it was built from."""

    #: The blocks joined by blank lines: what the answerer reads.
    text: str
    blocks: list[str]
    #: Snapshots shown (latest, then history), notes and reports shown, in order.
    snapshot_ids: list[int] = field(default_factory=list)
    note_ids: list[int] = field(default_factory=list)
    report_ids: list[int] = field(default_factory=list)
    #: Accounts asked about that have no snapshot (none was captured for them).
    missing: list[AccountWithoutSnapshot] = field(default_factory=list)
    #: Snapshots captured for accounts that had none (``capture_missing=True``).
    captured_snapshot_ids: list[int] = field(default_factory=list)
    #: Whether the question was taken as historical (history blocks included).
    historical: bool = False


def _add(target: list[int], ids: Iterable[int]) -> None:
    for i in ids:
        if i not in target:
            target.append(i)


def assemble(
    session: Session,
    *,
    customer_id: int,
    account_ids: Sequence[int],
    question: str,
    now: datetime,
    history_months: int = HISTORY_MONTHS,
    capture_missing: bool = False,
    full_references: bool = True,
) -> Context:
    """The context for a question about these accounts (seed 000 §3.1), in their order.

    Each account gets its latest snapshot block, its referenced notes and reports
    (the B.1 block, or with ``full_references=False`` the compact tail of A), and
    when the question is historical its history block (snapshots of the last
    ``history_months`` × 30 days, as the seed counts). An account without a
    snapshot gets one line saying so and is listed in ``Context.missing``; with
    ``capture_missing`` a ``rag_auto`` snapshot is captured for it first, in the
    caller's transaction (seed 002). Another tenant's account id is NotFound.
    Does not commit.
    """
    ordered = list(dict.fromkeys(account_ids))
    names = _account_names(session, customer_id, ordered)
    records = _latest_as_of(session, customer_id, ordered, now)
    captured: list[int] = []
    if capture_missing:
        for account_id in ordered:
            if account_id in records:
                continue
            snapshot_id, created = ensure_snapshot(
                session, customer_id=customer_id, account_id=account_id, now=now
            )
            # Not created: the account has snapshots, all of them after ``now``.
            if created:
                captured.append(snapshot_id)
                records[account_id] = snapshots.get(
                    session, customer_id=customer_id, snapshot_id=snapshot_id
                )
    notes, reports = fetch_referenced(
        session,
        customer_id=customer_id,
        note_ids=[i for r in records.values() for i in r["recent_csm_note_ids"] or ()],
        report_ids=[i for r in records.values() for i in r["recent_playbook_report_ids"] or ()],
    )
    historical = is_historical(question)
    since = now - timedelta(days=history_months * 30)
    context = Context(text="", blocks=[], captured_snapshot_ids=captured, historical=historical)
    for account_id in ordered:
        record = records.get(account_id)
        if record is None:
            context.missing.append(AccountWithoutSnapshot(account_id, names[account_id]))
            context.blocks.append(f"Account: {names[account_id]} (no snapshot yet)")
            continue
        # Only this account's rows: a snapshot's lists could also name another
        # account's note of the same tenant, which would be read as this one's.
        note_set = set(record["recent_csm_note_ids"] or ())
        report_set = set(record["recent_playbook_report_ids"] or ())
        own_notes = [n for n in notes if n.note_id in note_set and n.account_id == account_id]
        own_reports = [
            r for r in reports if r.report_id in report_set and r.account_id == account_id
        ]
        _add(context.snapshot_ids, [record["snapshot_id"]])
        if full_references:
            context.blocks.append(snapshot_block(record))
            referenced = referenced_block(
                own_notes, own_reports, account_name=record["account_name"]
            )
            if referenced:
                context.blocks.append(referenced)
            shown_notes, shown_reports = _newest_notes(own_notes), _newest_reports(own_reports)
        else:
            context.blocks.append(snapshot_block(record, notes=own_notes, reports=own_reports))
            shown_notes, shown_reports = block_notes(own_notes), block_reports(own_reports)
        _add(context.note_ids, (n.note_id for n in shown_notes))
        _add(context.report_ids, (r.report_id for r in shown_reports))
        if historical:
            past = [
                r
                for r in snapshots.history(
                    session, customer_id=customer_id, account_id=account_id, since=since
                )
                if r["snapshot_timestamp"] <= now
            ]
            if past:
                context.blocks.append(history_block(past))
                _add(context.snapshot_ids, (r["snapshot_id"] for r in reversed(past)))
    context.text = "\n\n".join(context.blocks)
    return context
