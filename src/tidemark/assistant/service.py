"""Answering a question: parse it, run the typed look-ups, word the result, log it.

``ask`` is the one entry of the assistant used by the API, the CLI and the
evaluation. The offline answerer (templated wording, :mod:`.answers`) is the
default; with an OpenAI-compatible endpoint configured, :mod:`.llm` routes the
question to the same look-ups through tool calls and words the answer, and its
numbers are checked against the look-ups' values.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from tidemark.assistant import answers, lookups, search
from tidemark.assistant.log import log_query
from tidemark.assistant.parsing import parse
from tidemark.assistant.plan import Intent, LookupResult, NoHistory, Plan, Window
from tidemark.errors import InvalidInput
from tidemark.events.service import ensure_snapshot
from tidemark.success.models import Account
from tidemark.tenancy.models import Customer

#: The window of a change, history or ranking question that names none.
DEFAULT_DAYS = 30
#: The longest question accepted.
MAX_QUESTION = 1000
#: What "the state of an account" means when a question names no field.
SUMMARY_FIELDS = ("overall_health_score", "revenue", "account_status", "assigned_csm")


@dataclass(slots=True)
class Answer:
    """An answer with everything needed to check it: plan, window, look-ups, sources."""

    question: str
    text: str
    answerable: bool
    answerer: str
    plan: Plan
    window: Window | None
    results: list[LookupResult] = field(default_factory=list)
    #: rag_auto snapshots taken because a named account had none (seed 002).
    captured_snapshot_ids: list[int] = field(default_factory=list)
    query_id: int | None = None
    duration_ms: int = 0

    @property
    def snapshot_ids(self) -> list[int]:
        return _unique(i for r in self.results for i in r.snapshot_ids)

    @property
    def note_ids(self) -> list[int]:
        return _unique(i for r in self.results for i in r.note_ids)

    @property
    def report_ids(self) -> list[int]:
        return _unique(i for r in self.results for i in r.report_ids)

    def body(self) -> dict[str, Any]:
        """The JSON body of ``POST /api/rag/query`` and ``tidemark ask --json``."""
        window = self.window
        return {
            "question": self.question,
            "answer": self.text,
            "answerable": self.answerable,
            "answerer": self.answerer,
            "intent": self.plan.intent.value if self.plan.intent else None,
            "window": None
            if window is None
            else {
                "start": window.start.isoformat() if window.start else None,
                "end": window.end.isoformat(),
                "phrase": window.phrase,
            },
            "accounts": [answers.jsonable(a) for a in self.plan.accounts],
            "field": self.plan.field,
            "problems": list(self.plan.problems),
            "result": [answers.jsonable(r.value) for r in self.results],
            "lookups": [{"lookup": r.lookup, "arguments": r.arguments} for r in self.results],
            "snapshot_ids": self.snapshot_ids,
            "note_ids": self.note_ids,
            "report_ids": self.report_ids,
            "captured_snapshot_ids": self.captured_snapshot_ids,
            "query_id": self.query_id,
            "duration_ms": self.duration_ms,
        }


def _unique(ids: Any) -> list[int]:
    return list(dict.fromkeys(int(i) for i in ids))


class Answerer(Protocol):
    """Something that answers a parsed question from the look-ups (offline or a model)."""

    name: str

    def answer(
        self, session: Session, *, customer_id: int, question: str, plan: Plan, now: datetime
    ) -> tuple[str, list[LookupResult], bool]: ...


def tenant_accounts(session: Session, customer_id: int) -> list[tuple[int, str]]:
    """(id, name) of every account of the tenant, for matching names in questions."""
    return [
        (account_id, name)
        for account_id, name in session.execute(
            select(Account.account_id, Account.account_name)
            .where(Account.customer_id == customer_id)
            .order_by(Account.account_id)
        ).all()
    ]


def tenant_timezone(session: Session, customer_id: int) -> str:
    zone = session.execute(
        select(Customer.timezone).where(Customer.customer_id == customer_id)
    ).scalar_one_or_none()
    return zone or "UTC"


def plan_question(session: Session, *, customer_id: int, question: str, now: datetime) -> Plan:
    """The question parsed against the tenant's accounts and time zone."""
    return parse(
        question,
        accounts=tenant_accounts(session, customer_id),
        now=now,
        timezone=tenant_timezone(session, customer_id),
    )


def effective_window(plan: Plan, now: datetime) -> Window:
    """The window the look-ups use: the question's, or the default for its intent."""
    if plan.window is not None:
        return plan.window
    if plan.intent in (Intent.CHANGE, Intent.HISTORY, Intent.RANKED_CHANGE):
        return Window(now - timedelta(days=DEFAULT_DAYS), now, f"the last {DEFAULT_DAYS} days")
    return Window(None, now, "now")


def run_lookups(
    session: Session, *, customer_id: int, plan: Plan, now: datetime
) -> list[LookupResult]:
    """The look-ups a plan calls for, in order. NoHistory propagates."""
    window = effective_window(plan, now)
    field_name = plan.field or "overall_health_score"
    ids = [a.account_id for a in plan.accounts]
    if plan.intent is Intent.VALUE_AS_OF:
        fields = [plan.field] if plan.field else list(SUMMARY_FIELDS)
        return [
            lookups.value_as_of(
                session, customer_id=customer_id, account_id=i, field=name, at=window.end
            )
            for i in ids
            for name in fields
        ]
    if plan.intent in (Intent.CHANGE, Intent.HISTORY):
        over_window = lookups.change_over if plan.intent is Intent.CHANGE else lookups.field_history
        return [
            over_window(
                session,
                customer_id=customer_id,
                account_id=i,
                field=field_name,
                start=window.start,
                end=window.end,
            )
            for i in ids
        ]
    if plan.intent is Intent.RANKED_CHANGE:
        ranked = lookups.ranked_changes(
            session,
            customer_id=customer_id,
            field=field_name,
            start=window.start,
            end=window.end,
            direction=plan.direction,
            limit=None if plan.conditions else plan.limit,
        )
        if not plan.conditions:
            return [ranked]
        # "Which enterprise accounts improved?": the ranking, of the accounts that matched
        # the conditions at the window's end.
        matching = lookups.accounts_matching(
            session, customer_id=customer_id, conditions=plan.conditions, at=window.end
        )
        kept = {item.account_id for item in matching.value}
        changes = [c for c in ranked.value if c.account_id in kept][: plan.limit or None]
        ranked.value = changes
        ranked.arguments["conditions"] = matching.arguments.get("conditions")
        ranked.snapshot_ids = [
            i for c in changes for i in (c.before.snapshot_id, c.after.snapshot_id)
        ]
        return [ranked]
    if plan.intent is Intent.MATCHING:
        return [
            lookups.accounts_matching(
                session,
                customer_id=customer_id,
                conditions=plan.conditions,
                at=plan.window.end if plan.window is not None else None,
            )
        ]
    if plan.intent is Intent.ASSIGNMENTS:
        return [
            lookups.assignments(
                session,
                customer_id=customer_id,
                account_id=i,
                at=plan.window.end if plan.window is not None else None,
            )
            for i in ids
        ]
    if plan.intent is Intent.NOTES:
        account_ids: Sequence[int | None] = ids or [None]
        finders = {
            "recent_csm_note_ids": (search.search_notes,),
            "recent_playbook_report_ids": (search.search_reports,),
        }.get(plan.field or "", (search.search_notes, search.search_reports))
        found: list[LookupResult] = []
        for account_id in account_ids:
            for finder in finders:
                found.append(
                    finder(
                        session,
                        customer_id=customer_id,
                        text=plan.topic or "",
                        account_id=account_id,
                        start=plan.window.start if plan.window is not None else None,
                        end=plan.window.end if plan.window is not None else None,
                    )
                )
        return found
    return []


class OfflineAnswerer:
    """The default: deterministic templated wording over the look-ups' results."""

    name = "offline"

    def answer(
        self, session: Session, *, customer_id: int, question: str, plan: Plan, now: datetime
    ) -> tuple[str, list[LookupResult], bool]:
        if not plan.answerable:
            return answers.refusal(plan), [], False
        try:
            results = run_lookups(session, customer_id=customer_id, plan=plan, now=now)
        except NoHistory as missing:
            return f"I cannot answer that: {missing}.", [], False
        return answers.word(plan, results), results, True


def ask(
    session: Session,
    *,
    customer_id: int,
    question: str,
    now: datetime,
    user_id: int | None = None,
    answerer: Answerer | None = None,
) -> Answer:
    """Answer ``question`` for the tenant from its snapshot history, and log it. No commit.

    A named account without any snapshot gets a ``rag_auto`` one first (in this
    transaction), so the answer is about its recorded state.
    """
    started = time.perf_counter()
    text = question.strip()
    if not text:
        raise InvalidInput("question", "must not be empty")
    if len(text) > MAX_QUESTION:
        raise InvalidInput("question", f"at most {MAX_QUESTION} characters")
    plan = plan_question(session, customer_id=customer_id, question=text, now=now)
    captured: list[int] = []
    if plan.answerable:
        for ref in plan.accounts:
            snapshot_id, created = ensure_snapshot(
                session, customer_id=customer_id, account_id=ref.account_id, now=now
            )
            if created:
                captured.append(snapshot_id)
    chosen = answerer or OfflineAnswerer()
    words, results, answerable = chosen.answer(
        session, customer_id=customer_id, question=text, plan=plan, now=now
    )
    window = effective_window(plan, now) if plan.intent is not None else None
    duration_ms = round((time.perf_counter() - started) * 1000)
    row = log_query(
        session,
        customer_id=customer_id,
        user_id=user_id,
        question=text,
        answer=words,
        answerer=chosen.name,
        answerable=answerable,
        created_at=now,
        duration_ms=duration_ms,
        results=results,
        intent=plan.intent.value if plan.intent else None,
        window_start=window.start if window else None,
        window_end=window.end if window else None,
    )
    return Answer(
        question=text,
        text=words,
        answerable=answerable,
        answerer=chosen.name,
        plan=plan,
        window=window,
        results=results,
        captured_snapshot_ids=captured,
        query_id=row.query_id,
        duration_ms=duration_ms,
    )
