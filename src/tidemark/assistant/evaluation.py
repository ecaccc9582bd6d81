"""Evaluation of question answering over snapshot history, against gold answers from the data.

The evaluation builds its own tenants through the real capture path, asks a
fixed question set of every kind the question reader knows, and scores each
answer against a gold answer computed here, independently of the look-ups:

* **Data** (:func:`build_dataset`). Four tenants with the same ten account
  names, three of them Thai: a LONG history (weekly captures over 400 days, in
  Asia/Bangkok) and a SHORT one (three weekly captures, in UTC), each with a
  COUNTERFACTUAL copy (same
  accounts, capture times, note times and questions; different revenue, health,
  status, CSM, tier and note topics), so an answer learnt by heart fails on
  one of the two. Source rows (revenue, status, CSM, the month's health trend)
  change between captures; notes and playbook reports, in English and Thai,
  are written up front with their own times. Everything is drawn from
  ``random.Random`` seeded with the seed, the copy and the length, and every
  time is taken from the ``now`` passed in.
* **Questions** (:func:`question_set`). Each kind (value as of, change,
  history, ranked improved and declined, matching now and as of, assignments,
  notes by topic with Thai, and unanswerable questions: unknown account, a
  date before the first snapshot or after now, nonsense) in at least three
  phrasings with time phrases (last month, in MONTH, on DATE, last quarter, the
  past N days, since January, N months or a year ago).
* **Gold** (:func:`gold_answer`). The snapshots are read whole with
  ``tidemark.snapshots.service.history`` and notes and reports with plain
  queries; values are picked in Python. Windows come from this module's own
  calendar arithmetic (:class:`Calendar`), which follows the rules of
  ``parsing.py``'s docstring: see "Gold rules" below.
* **Scores** (:func:`score`). Exact match of the structured result (Decimal
  equality), precision, recall and F1 of account sets, window equality,
  citations (every cited id exists in the tenant, and the gold ids are among
  them), and for unanswerable questions no number that the question or the
  data does not give.
* **Baseline.** The same questions read the same way (the same parser), but
  answered from each account's newest snapshot only: the context the seed
  started from. It is scored identically.

Gold rules (all in the tenant's zone; "as of M" = the account's last snapshot
at or before M, ties broken by the larger snapshot id):

=================== ==========================================================
value as of         the value as of the window's end; a period ("last month",
                    "in March", "on 2025-03-10", "last quarter") ends at its
                    last microsecond, or now while it runs; a moment ("a year
                    ago" = the same wall-clock time 12 calendar months back,
                    clamped to the month's end) is its own end; no phrase: now.
                    No snapshot by then: unanswerable.
change              as of the window's start and as of its end; a moment M is
                    [M, now], no phrase the past 30 days. When the history
                    starts inside the window its first snapshot there stands in
                    for the start. delta = after - before.
history             every snapshot in [start, end], oldest first; none inside:
                    the last before the window; none at all: unanswerable.
ranked change       every account with a snapshot as of both ends and a value
                    that moved, in the asked direction, largest move first,
                    ties by name (case-folded), then id; "top N" keeps N.
matching            each account's snapshot as of the window's end (newest
                    without a phrase) meets every condition; text compares
                    case-folded.
assignments         the newest snapshot.
notes, reports      the tenant's (or the named account's) notes or reports in
                    the window (a moment is its day) whose text contains every
                    word of the topic, case-folded; the 20 newest.
after now           a phrase that lies after now ("next month", a future day):
                    unanswerable, whatever the intent.
=================== ==========================================================

:func:`run_evaluation` does all of it and returns a :class:`Report` (Rich
tables and JSON). ``tidemark eval`` and ``bench/assistant.py`` call it.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from rich import box
from rich.table import Table
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tidemark.assistant import answers, service
from tidemark.assistant.plan import (
    Change,
    Direction,
    Intent,
    LookupResult,
    Plan,
    TextHit,
    ValueAt,
)
from tidemark.clock import ensure_utc
from tidemark.db.engine import session_factory, unit_of_work
from tidemark.errors import NotFound
from tidemark.snapshots import service as snapshots
from tidemark.snapshots.capture import capture_accounts
from tidemark.snapshots.sections import SECTION_CACHE
from tidemark.success.catalog import STANDARD_KPIS
from tidemark.success.models import (
    KPI,
    Account,
    AccountNote,
    HealthTrend,
    PlaybookExecution,
    PlaybookReport,
    Product,
)
from tidemark.tenancy import service as tenants

# ============================================================================ the data set

#: Targets the evaluation is held to.
TARGET_EXACT: Final = 95.0
TARGET_F1: Final = 0.95
TARGET_GAP: Final = 3.0

ORIGINAL: Final = "original"
COUNTERFACTUAL: Final = "counterfactual"
LONG: Final = "long"
SHORT: Final = "short"
#: Notes and reports searched, as the ``limit`` of ``search_notes``/``search_reports``.
SEARCH_LIMIT: Final = 20
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_CENT: Final = Decimal("0.01")
#: A window: (start or None, end), in UTC.
Span = tuple[datetime | None, datetime]


@dataclass(frozen=True, slots=True)
class EvalAccount:
    """An account of the evaluation tenants: its name and how questions shorten it."""

    name: str
    short: str
    thai: bool = False


#: In the order accounts are created; a smaller data set takes the first ones,
#: so it still has Thai names.
ACCOUNTS: Final[tuple[EvalAccount, ...]] = (
    EvalAccount("Atlas Freight", "Atlas"),
    EvalAccount("บริษัท ทะเลทอง จำกัด", "ทะเลทอง", thai=True),
    EvalAccount("Borealis Health Group", "Borealis"),
    EvalAccount("Cobalt Ridge Systems", "Cobalt Ridge"),
    EvalAccount("สยามคลาวด์", "สยามคลาวด์", thai=True),
    EvalAccount("Driftwood Media", "Driftwood"),
    EvalAccount("Last Mile Couriers", "Last Mile Couriers"),
    EvalAccount("Ember Analytics", "Ember"),
    EvalAccount("Juniper Bank", "Juniper"),
    EvalAccount("เชียงใหม่ ซอฟต์แวร์", "เชียงใหม่ ซอฟต์แวร์", thai=True),
)
CSMS: Final = ("Maria Santos", "John Smith", "Sarah Chen", "Tom Becker", "Priya Natarajan")
OWNERS: Final = ("Owen Clarke", "Nadia Rahman", "Kenji Watanabe", "Lucia Ferrari")
MANAGERS: Final = ("Mary Major", "Daniel Okafor")
TIERS: Final = ("Enterprise", "Growth", "Standard")
INDUSTRIES: Final = ("Logistics", "Healthcare", "Software", "Media", "Retail")
REGIONS: Final = ("APAC", "EMEA", "North America")
PRODUCTS: Final = ("Analytics Suite", "Engagement Hub", "Data Connect", "Mobile SDK")
PLAYBOOKS: Final = (
    ("voc-sprint", "VoC Sprint"),
    ("renewal-safeguard", "Renewal Safeguard"),
    ("expansion-timing", "Expansion Timing"),
)
#: Note texts by topic; each text holds its topic's words and no other topic's.
NOTE_TEXTS: Final[dict[str, tuple[str, ...]]] = {
    "renewal": (
        "Renewal is coming up; procurement has the paperwork and wants a two-year term.",
        "Walked through the renewal terms with their finance lead.",
    ),
    "pricing": (
        "Asked about pricing for forty more seats before the budget closes.",
        "Pricing review with procurement: they expect a volume discount.",
    ),
    "onboarding": (
        "Onboarding of the new regional team is on track, two sessions left.",
        "The onboarding checklist stalled on single sign-on.",
    ),
    "integration": (
        "The CRM integration fails on large syncs; engineering has a ticket.",
        "Integration with their warehouse system went live this week.",
    ),
    "ต่ออายุสัญญา": (
        "ลูกค้ายืนยันว่าจะต่ออายุสัญญาอีกหนึ่งปี",
        "หารือเรื่องการต่ออายุสัญญากับฝ่ายจัดซื้อของลูกค้า",
    ),
    "ส่วนลด": (
        "ลูกค้าขอส่วนลดสำหรับแพ็กเกจใหม่",
        "ฝ่ายการเงินของลูกค้าต้องการส่วนลดเพิ่มเติม",
    ),
    "อบรม": (
        "วางแผนอบรมการใช้งานให้พนักงานใหม่",
        "จัดอบรมผู้ดูแลระบบเสร็จเรียบร้อยแล้ว",
    ),
}
ENGLISH_TOPICS: Final = ("renewal", "pricing", "onboarding", "integration")
THAI_TOPICS: Final = ("ต่ออายุสัญญา", "ส่วนลด", "อบรม")
REPORT_SUMMARIES: Final[dict[str, str]] = {
    "onboarding": "Onboarding of the customer's second team finished; adoption is up.",
    "adoption": "Adoption grew across both products after the training sessions.",
    "escalation": "Escalations were closed and the support backlog is cleared.",
}


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """How big the evaluation tenants are."""

    #: How many of :data:`ACCOUNTS` each tenant has.
    accounts: int = len(ACCOUNTS)
    #: The long history: captures every ``cadence_days`` over ``long_days`` before now.
    long_days: int = 400
    cadence_days: int = 7
    #: The short history: this many weekly captures, the last one the day before now.
    short_captures: int = 3

    def __post_init__(self) -> None:
        if not 2 <= self.accounts <= len(ACCOUNTS):
            raise ValueError(f"accounts must be between 2 and {len(ACCOUNTS)}")
        if self.cadence_days < 1 or self.long_days < self.cadence_days or self.short_captures < 1:
            raise ValueError("the histories need at least one capture")


#: A smaller data set (monthly captures, six accounts) for quick runs and tests.
SMALL: Final = DatasetSpec(accounts=6, long_days=400, cadence_days=28, short_captures=3)


@dataclass(slots=True)
class TenantData:
    """One evaluation tenant as built: ids, capture times and what was written at each."""

    label: str
    copy: str
    history: str
    customer_id: int
    timezone: str
    accounts: dict[str, int]
    captures: list[datetime]
    #: (account name, capture time) -> the revenue, health, status and CSM written then.
    written: dict[tuple[str, datetime], dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class Dataset:
    """The evaluation tenants and the moment they were built for."""

    now: datetime
    seed: int
    spec: DatasetSpec
    tenants: list[TenantData]

    @property
    def first_capture(self) -> datetime:
        return min(t.captures[0] for t in self.tenants)


def tenant_name(copy: str, history: str, seed: int) -> str:
    """The name of an evaluation tenant."""
    return f"Evaluation {history} {copy} (seed {seed})"


def capture_times(
    now: datetime, *, days: int, cadence: int, month_end: bool = False
) -> list[datetime]:
    """Captures at 18:30 UTC every ``cadence`` days, the last on the day before ``now``.

    18:30 UTC is 01:30 the next day in Bangkok: the local and UTC dates of every
    capture differ, so a window computed in the wrong zone picks another snapshot.
    With ``month_end``, one more capture at 18:30 UTC on the last day of last
    month: last month's in UTC, this month's in Bangkok.
    """
    day = ensure_utc(now).date() - timedelta(days=1)
    last = datetime(day.year, day.month, day.day, 18, 30, tzinfo=UTC)
    count = days // cadence + 1
    times = {last - timedelta(days=cadence * (count - 1 - n)) for n in range(count)}
    if month_end:
        end = ensure_utc(now).date().replace(day=1) - timedelta(days=1)
        extra = datetime(end.year, end.month, end.day, 18, 30, tzinfo=UTC)
        if min(times) < extra < ensure_utc(now):
            times.add(extra)
    return sorted(times)


def on_date(now: datetime) -> date:
    """The date "on DATE" questions ask about: a capture day of every cadence that divides 28."""
    return ensure_utc(now).date() - timedelta(days=85)


@dataclass(slots=True)
class _Plan:
    """What one account goes through, capture by capture."""

    revenue: list[Decimal]
    health: list[Decimal]
    status: list[str]
    csm: list[str]
    tier: str
    owner: str
    manager: str
    industry: str
    region: str
    products: list[str]


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randrange(low * 100, high * 100)) / 100


def _account_plan(rng: random.Random, captures: int, index: int) -> _Plan:
    """A random but plausible path for one account over ``captures`` captures."""
    revenue = [_money(rng, 60_000, 2_400_000)]
    health = [Decimal(str(round(rng.uniform(35, 92), 2))).quantize(_CENT)]
    for _ in range(1, captures):
        moved = revenue[-1]
        if rng.random() < 0.3:
            moved = (moved * Decimal(str(round(rng.uniform(0.82, 1.22), 4)))).quantize(_CENT)
        revenue.append(moved)
        step = Decimal(str(round(rng.uniform(-6, 6), 2)))
        health.append(min(Decimal("99.00"), max(Decimal("12.00"), health[-1] + step)))
    status = ["active"] * captures
    if rng.random() < 0.55:  # an at-risk spell, possibly still running
        start = rng.randrange(captures)
        length = rng.randint(1, max(1, captures // 3))
        for n in range(start, min(captures, start + length)):
            status[n] = "at_risk"
    if index % 4 == 1:  # a quarter of the accounts are at risk at the end
        status[-1] = "at_risk"
    if rng.random() < 0.12 and captures > 2:
        status[-1] = "churn"
    first_csm = rng.choice(CSMS)
    csm = [first_csm] * captures
    if rng.random() < 0.6:
        change = rng.randrange(captures)
        other = rng.choice([c for c in CSMS if c != first_csm])
        for n in range(change, captures):
            csm[n] = other
    return _Plan(
        revenue=revenue,
        health=health,
        status=status,
        csm=csm,
        tier=rng.choice(TIERS),
        owner=rng.choice(OWNERS),
        manager=rng.choice(MANAGERS),
        industry=rng.choice(INDUSTRIES),
        region=rng.choice(REGIONS),
        products=sorted(rng.sample(PRODUCTS, rng.randint(1, 3))),
    )


def _profile(plan: _Plan, n: int) -> dict[str, Any]:
    return {
        "assigned_csm": plan.csm[n],
        "csm_manager": plan.manager,
        "account_owner": plan.owner,
        "account_tier": plan.tier,
    }


def _set_trend(
    session: Session, account: Account, at: datetime, score: Decimal, trends: dict[Any, Any]
) -> None:
    """The account's health trend of ``at``'s month (UTC), as capture reads it."""
    key = (account.account_id, at.year, at.month)
    row = trends.get(key)
    if row is None:
        row = HealthTrend(
            customer_id=account.customer_id,
            account_id=account.account_id,
            year=at.year,
            month=at.month,
            created_at=at - timedelta(hours=1),
        )
        session.add(row)
        trends[key] = row
    row.overall_health_score = score
    row.product_usage_score = max(Decimal(0), score - 5)
    row.support_score = score
    row.customer_sentiment_score = score
    row.business_outcomes_score = score
    row.relationship_strength_score = score
    row.updated_at = at - timedelta(hours=1)


def _note_times(rng: random.Random, captures: list[datetime], count: int) -> list[datetime]:
    """``count`` note times from a month before the first capture to the last capture."""
    start = captures[0] - timedelta(days=30)
    span = (captures[-1] - start).total_seconds()
    return sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in range(count))


def _build_tenant(
    session: Session,
    *,
    copy: str,
    history: str,
    seed: int,
    spec: DatasetSpec,
    now: datetime,
    timezone: str,
) -> TenantData:
    """One tenant, captured through ``capture_accounts`` at every capture time."""
    if history == LONG:
        captures = capture_times(
            now, days=spec.long_days, cadence=spec.cadence_days, month_end=True
        )
    else:
        captures = capture_times(now, days=7 * (spec.short_captures - 1), cadence=7)
    name = tenant_name(copy, history, seed)
    customer = tenants.create(session, name=name, timezone=timezone)
    user = tenants.create_user(
        session, customer_id=customer.customer_id, name="Evaluation", email="eval@example.com"
    )
    # Values differ between the copies; times (captures, notes, reports) do not.
    values = random.Random(f"{seed}:{copy}:{history}:values")
    times = random.Random(f"{seed}:{history}:times")
    created = captures[0] - timedelta(days=2)
    data = TenantData(
        label=f"{history}/{copy}",
        copy=copy,
        history=history,
        customer_id=customer.customer_id,
        timezone=timezone,
        accounts={},
        captures=captures,
    )
    plans: dict[str, _Plan] = {}
    rows: dict[str, Account] = {}
    for index, spec_account in enumerate(ACCOUNTS[: spec.accounts]):
        plan = _account_plan(values, len(captures), index)
        plans[spec_account.name] = plan
        account = Account(
            customer_id=customer.customer_id,
            account_name=spec_account.name,
            revenue=plan.revenue[0],
            industry=plan.industry,
            region=plan.region,
            account_status=plan.status[0],
            profile_metadata=_profile(plan, 0),
            created_at=created,
        )
        session.add(account)
        session.flush()
        rows[spec_account.name] = account
        data.accounts[spec_account.name] = account.account_id
        for product in plan.products:
            session.add(
                Product(
                    customer_id=customer.customer_id,
                    account_id=account.account_id,
                    product_name=product,
                    created_at=created,
                )
            )
        kpi_value = Decimal(values.choice(("35", "55", "80", "95")))
        session.add_all(
            KPI(
                customer_id=customer.customer_id,
                account_id=account.account_id,
                category=kpi.category,
                kpi_parameter=kpi.name,
                data=str(kpi_value),
                value=kpi_value,
                impact_level=kpi.impact_level,
                weight=Decimal(1),
                created_at=created,
            )
            for kpi in STANDARD_KPIS
        )
        _write_notes(session, times, values, account, spec_account, user.user_id, captures)
        _write_reports(session, times, values, account, captures)
    session.flush()
    trends: dict[Any, Any] = {}
    for n, at in enumerate(captures):
        for account_name, account in rows.items():
            plan = plans[account_name]
            account.revenue = plan.revenue[n]
            account.account_status = plan.status[n]
            account.profile_metadata = _profile(plan, n)
            _set_trend(session, account, at, plan.health[n], trends)
            data.written[(account_name, at)] = {
                "revenue": plan.revenue[n],
                "overall_health_score": plan.health[n],
                "account_status": plan.status[n],
                "assigned_csm": plan.csm[n],
            }
        session.flush()
        capture_accounts(
            session, customer_id=customer.customer_id, at=at, snapshot_type="scheduled"
        )
    return data


def _write_notes(
    session: Session,
    times: random.Random,
    values: random.Random,
    account: Account,
    spec_account: EvalAccount,
    user_id: int,
    captures: list[datetime],
) -> None:
    """About two notes a month; Thai-named accounts write mostly in Thai."""
    days = (captures[-1] - captures[0]).days + 30
    moments = _note_times(times, captures, max(4, days // 15))
    for moment in moments:
        thai = values.random() < (0.75 if spec_account.thai else 0.2)
        topic = values.choice(THAI_TOPICS if thai else ENGLISH_TOPICS)
        session.add(
            AccountNote(
                customer_id=account.customer_id,
                account_id=account.account_id,
                note_type=values.choice(("meeting", "call", "email", "general")),
                note_title=None,
                note_content=values.choice(NOTE_TEXTS[topic]),
                created_by=user_id,
                created_at=moment,
                meeting_date=moment.date(),
            )
        )


def _write_reports(
    session: Session,
    times: random.Random,
    values: random.Random,
    account: Account,
    captures: list[datetime],
) -> None:
    """One or two playbook runs, each with a report whose summary names a topic."""
    for n, moment in enumerate(_note_times(times, captures, times.randint(1, 2))):
        playbook_id, playbook_name = values.choice(PLAYBOOKS)
        topic = values.choice(tuple(REPORT_SUMMARIES))
        execution = PlaybookExecution(
            execution_id=str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"tidemark-eval:{account.account_id}:{n}")
            ),
            customer_id=account.customer_id,
            account_id=account.account_id,
            playbook_id=playbook_id,
            status="in-progress",
            started_at=moment - timedelta(days=10),
        )
        session.add(execution)
        session.flush()
        session.add(
            PlaybookReport(
                execution_id=execution.execution_id,
                customer_id=account.customer_id,
                account_id=account.account_id,
                playbook_id=playbook_id,
                playbook_name=playbook_name,
                report_data={
                    "executive_summary": REPORT_SUMMARIES[topic],
                    "outcomes_achieved": [{"metric": "Health score", "improvement": "+4%"}],
                },
                steps_completed=2,
                status="in-progress",
                started_at=moment - timedelta(days=10),
                report_generated_at=moment,
            )
        )


def _remove_tenant(session: Session, name: str, engine: Engine) -> None:
    try:
        found = tenants.get_by_name(session, name=name)
    except NotFound:
        return
    tenants.delete(session, customer_id=found.customer_id)
    session.flush()
    SECTION_CACHE.clear(engine)


def build_dataset(
    engine: Engine,
    *,
    now: datetime,
    seed: int,
    spec: DatasetSpec = DatasetSpec(),
    progress: Callable[[int, int], None] | None = None,
) -> Dataset:
    """Write the four evaluation tenants (long and short, original and counterfactual).

    One transaction per tenant. Evaluation tenants of the same seed left by an
    earlier run are deleted first; no other tenant is touched.
    """
    now = ensure_utc(now)
    layout = (
        (ORIGINAL, LONG, "Asia/Bangkok"),
        (COUNTERFACTUAL, LONG, "Asia/Bangkok"),
        (ORIGINAL, SHORT, "UTC"),
        (COUNTERFACTUAL, SHORT, "UTC"),
    )
    built: list[TenantData] = []
    for done, (copy, history, zone) in enumerate(layout):
        with unit_of_work(engine, write=True) as session:
            _remove_tenant(session, tenant_name(copy, history, seed), engine)
            built.append(
                _build_tenant(
                    session,
                    copy=copy,
                    history=history,
                    seed=seed,
                    spec=spec,
                    now=now,
                    timezone=zone,
                )
            )
        if progress is not None:
            progress(done + 1, len(layout))
    return Dataset(now=now, seed=seed, spec=spec, tenants=built)


# ============================================================================ time


@dataclass(frozen=True, slots=True)
class When:
    """A time phrase of a question, as this module understands it (not as the parser does).

    ``kind`` is one of: ``now`` (no phrase); periods ``last_month``,
    ``next_month``, ``last_quarter``, ``month`` (a bare month name:
    ``number``), ``year`` (``number``), ``day`` (``day``); moments
    ``end_of_last_month``, ``end_of_quarter`` (a bare "Qn": ``number``),
    ``months_ago`` (``number``); ranges ``past_days`` and ``past_months``
    (``number``), ``since_month`` (``number``), ``between_months`` (from month
    ``number`` to month ``until``).
    """

    kind: str = "now"
    number: int = 0
    until: int = 0
    day: date | None = None


NOW: Final = When()


class Calendar:
    """Time phrases resolved in the tenant's zone, written from the documented rules.

    :meth:`resolve` returns ``(shape, start, end)`` in UTC: a ``period`` from
    its first instant to its last microsecond (or now while it runs), a
    ``moment`` with ``start`` None, a ``range`` ending now (or at the end of
    its second month), or ``none``.
    """

    def __init__(self, now: datetime, timezone: str) -> None:
        self.now = ensure_utc(now)
        self.zone = ZoneInfo(timezone)
        self.local = self.now.astimezone(self.zone)

    def midnight(self, day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=self.zone).astimezone(UTC)

    def period(self, first: date, after: date) -> tuple[str, datetime | None, datetime]:
        start = self.midnight(first)
        end = self.midnight(after) - _MICROSECOND
        if start <= self.now:
            end = min(end, self.now)
        return "period", start, end

    def month(self, year: int, month: int) -> tuple[str, datetime | None, datetime]:
        return self.period(date(year, month, 1), _month_after(year, month))

    def bare_month(self, month: int) -> tuple[int, int]:
        """(year, month) of the most recent ``month`` that has begun."""
        today = self.local.date()
        return (today.year if month <= today.month else today.year - 1), month

    def quarter(self, year: int, quarter: int) -> tuple[str, datetime | None, datetime]:
        first = 3 * (quarter - 1) + 1
        return self.period(date(year, first, 1), _month_after(year, first + 2))

    def months_back(self, months: int) -> datetime:
        """The local wall-clock time ``months`` calendar months ago, clamped to the month's end."""
        index = self.local.year * 12 + self.local.month - 1 - months
        year, month = divmod(index, 12)
        last = (_month_after(year, month + 1) - timedelta(days=1)).day
        moment = self.local.replace(year=year, month=month + 1, day=min(self.local.day, last))
        return moment.astimezone(UTC)

    def resolve(self, when: When) -> tuple[str, datetime | None, datetime]:
        today = self.local.date()
        kind, number = when.kind, when.number
        months = today.year * 12 + today.month - 1
        quarters = today.year * 4 + (today.month - 1) // 3
        if kind == "now":
            return "none", None, self.now
        if kind in ("last_month", "next_month"):
            index = months + (1 if kind == "next_month" else -1)
            return self.month(index // 12, index % 12 + 1)
        if kind == "last_quarter":
            return self.quarter((quarters - 1) // 4, (quarters - 1) % 4 + 1)
        if kind == "month":
            return self.month(*self.bare_month(number))
        if kind == "year":
            return self.period(date(number, 1, 1), date(number + 1, 1, 1))
        if kind == "day":
            assert when.day is not None
            return self.period(when.day, when.day + timedelta(days=1))
        if kind == "end_of_last_month":
            return "moment", None, self.midnight(today.replace(day=1)) - _MICROSECOND
        if kind == "end_of_quarter":
            current = (today.month - 1) // 3 + 1
            year = today.year if number <= current else today.year - 1
            first = 3 * (number - 1) + 1
            return "moment", None, self.midnight(_month_after(year, first + 2)) - _MICROSECOND
        if kind == "months_ago":
            return "moment", None, self.months_back(number)
        if kind == "past_days":
            return "range", (self.local - timedelta(days=number)).astimezone(UTC), self.now
        if kind == "past_months":
            return "range", self.months_back(number), self.now
        if kind == "since_month":
            return "range", self.midnight(date(*self.bare_month(number), 1)), self.now
        if kind == "between_months":
            # The first month's start to the second's last instant (each uncapped);
            # written the other way round, the two swap.
            one, two = self.bare_month(number), self.bare_month(when.until)
            start = self.midnight(date(*one, 1))
            end = self.midnight(_month_after(*two)) - _MICROSECOND
            if end < start:
                start = self.midnight(date(*two, 1))
                end = self.midnight(_month_after(*one)) - _MICROSECOND
            return "range", start, min(end, self.now) if start <= self.now else end
        raise ValueError(f"unknown time phrase kind {kind!r}")

    def after_now(self, when: When) -> bool:
        """Whether the phrase lies (partly) after now: the question reader refuses it."""
        _, start, end = self.resolve(when)
        return (start is not None and start > self.now) or end > self.now

    def window(self, intent: Intent, when: When) -> Span:
        """The window an answer of ``intent`` uses for ``when``."""
        shape, start, end = self.resolve(when)
        if intent in (Intent.CHANGE, Intent.RANKED_CHANGE, Intent.HISTORY):
            if shape == "none":
                return self.now - timedelta(days=service.DEFAULT_DAYS), self.now
            if shape == "moment":
                return end, self.now
            return start, end
        if intent is Intent.NOTES and shape == "moment":
            day = end.astimezone(self.zone).date()
            return self.midnight(day), self.midnight(day + timedelta(days=1)) - _MICROSECOND
        return start, end


def _month_after(year: int, month: int) -> date:
    """The first day of the month after ``month`` (1-12) of ``year``."""
    return date(year + month // 12, month % 12 + 1, 1)


# ============================================================================ questions


@dataclass(frozen=True, slots=True)
class Condition:
    """A condition of a matching question, as the gold answer evaluates it."""

    field: str
    op: str
    value: Decimal | str


@dataclass(frozen=True, slots=True)
class Question:
    """One question with what it asks, written independently of the question reader."""

    template: str
    text: str
    #: The kind of answer expected; None for a question that cannot be answered.
    intent: Intent | None
    field: str | None = None
    accounts: tuple[str, ...] = ()
    when: When = NOW
    direction: Direction = Direction.ANY
    limit: int | None = None
    conditions: tuple[Condition, ...] = ()
    topic: str | None = None
    #: For notes questions: "notes", "reports" or "both".
    scope: str = "notes"
    #: Why the question cannot be answered ("unknown account", "nonsense", "future").
    problem: str | None = None

    @property
    def group(self) -> str:
        """The intent, or "unanswerable" for the questions written to be unanswerable."""
        if self.template.startswith("unanswerable") or self.intent is None:
            return "unanswerable"
        return self.intent.value

    @property
    def historical(self) -> bool:
        """Whether answering needs more than the newest snapshot."""
        return self.when.kind != "now" or self.intent in (
            Intent.CHANGE,
            Intent.HISTORY,
            Intent.RANKED_CHANGE,
        )


@dataclass(frozen=True, slots=True)
class _Template:
    name: str
    intent: Intent | None
    phrasings: tuple[tuple[str, When], ...]
    field: str | None = None
    pool: str = "any"  # which accounts fill {name}: any, thai, none
    direction: Direction = Direction.ANY
    limit: int | None = None
    conditions: tuple[Condition, ...] = ()
    topic: str | None = None
    scope: str = "notes"
    problem: str | None = None
    #: What differs between the phrasings, by phrasing: field, direction, limit,
    #: conditions, topic or scope.
    each: tuple[dict[str, Any], ...] = ()


def possessive(name: str) -> str:
    """Atlas Freight's, Last Mile Couriers'."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


_MONTH_NAMES: Final = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def _templates(now: datetime, first_capture: datetime) -> list[_Template]:
    """Every question kind, each phrased at least three ways."""
    today = ensure_utc(now).date()
    month_number = (today.month - 4) % 12 + 1  # three months back: "in March" in June
    on_day = on_date(now)
    before = first_capture.date() - timedelta(days=40)
    future = today + timedelta(days=45)
    ago = When("months_ago", 12)
    health, revenue = "overall_health_score", "revenue"
    in_month = When("month", month_number)
    last_month, last_quarter = When("last_month"), When("last_quarter")
    on = When("day", day=on_day)
    past_90, since_jan = When("past_days", 90), When("since_month", 1)
    quarter = ((today.month - 1) // 3 - 1) % 4 + 1  # the last quarter that ended
    at_risk = Condition("account_status", "=", "at_risk")
    below_60 = Condition(health, "<", Decimal(60))
    return [
        # -- value as of
        _Template(
            "value: health last month",
            Intent.VALUE_AS_OF,
            (
                ("What was {pos} health score last month?", last_month),
                ("{short} health score last month", last_month),
                ("Tell me the overall health of {name} for last month", last_month),
                ("How healthy was {name} last month?", last_month),
            ),
            field=health,
        ),
        _Template(
            "value: revenue in a month",
            Intent.VALUE_AS_OF,
            (
                ("What was {pos} revenue in {month}?", in_month),
                ("{short} ARR in {month}", in_month),
                ("How much revenue did {name} have in {month}?", in_month),
            ),
            field=revenue,
        ),
        _Template(
            "value: status on a date",
            Intent.VALUE_AS_OF,
            (
                ("What was {pos} status on {iso}?", on),
                ("{short} account status as of {dmy}", on),
                ("What status did {name} have on {mdy}?", on),
                ("What was {pos} status on {dm}?", on),
            ),
            field="account_status",
        ),
        _Template(
            "value: CSM last quarter",
            Intent.VALUE_AS_OF,
            (
                ("Who was {pos} CSM last quarter?", last_quarter),
                ("Who was the CSM of {name} last quarter?", last_quarter),
                (
                    "{short} customer success manager at the end of last month",
                    When("end_of_last_month"),
                ),
            ),
            field="assigned_csm",
        ),
        _Template(
            "value: months ago",
            Intent.VALUE_AS_OF,
            (
                ("What was {pos} revenue a year ago?", ago),
                ("{short} health score 6 months ago", When("months_ago", 6)),
                ("How much revenue did {name} have 3 months ago?", When("months_ago", 3)),
            ),
            each=({"field": revenue}, {"field": health}, {"field": revenue}),
        ),
        _Template(
            "value: now",
            Intent.VALUE_AS_OF,
            (
                ("What is {pos} health score?", NOW),
                ("{short} health score now", NOW),
                ("What's the current health of {name}?", NOW),
            ),
            field=health,
        ),
        _Template(
            "value: whole state",
            Intent.VALUE_AS_OF,
            (
                ("How was {name} doing last month?", last_month),
                ("Give me a snapshot of {short} as of {iso}", on),
                ("Summarize {pos} account in {month}", in_month),
            ),
        ),
        _Template(
            "value: end of a quarter",
            Intent.VALUE_AS_OF,
            (
                ("What was {pos} revenue at the end of Q{q}?", When("end_of_quarter", quarter)),
                ("{short} health score at the close of Q{q}", When("end_of_quarter", quarter)),
                ("Who was {pos} CSM at the end of Q{q}?", When("end_of_quarter", quarter)),
            ),
            each=({"field": revenue}, {"field": health}, {"field": "assigned_csm"}),
        ),
        _Template(
            "value: Thai",
            Intent.VALUE_AS_OF,
            (
                ("คะแนนสุขภาพของ {name} เดือนที่แล้ว", last_month),
                ("คะแนนสุขภาพ ของ {short} เดือนที่แล้ว", last_month),
                ("What was the health score of {name} last month?", last_month),
            ),
            field=health,
            pool="thai",
        ),
        # -- change
        _Template(
            "change: revenue past 90 days",
            Intent.CHANGE,
            (
                ("How much did {pos} revenue change over the past 90 days?", past_90),
                ("{short} revenue change in the last 90 days", past_90),
                ("By how much has {pos} ARR moved over the past 90 days?", past_90),
            ),
            field=revenue,
        ),
        _Template(
            "change: health since January",
            Intent.CHANGE,
            (
                ("How did {pos} health score change since January?", since_jan),
                ("Change in {short} health since January", since_jan),
                ("How has the health of {name} changed since January?", since_jan),
            ),
            field=health,
        ),
        _Template(
            "change: revenue last quarter",
            Intent.CHANGE,
            (
                ("How did {pos} revenue change last quarter?", last_quarter),
                ("What was the change in {pos} revenue during the last quarter?", last_quarter),
                ("{short} ARR change last quarter", last_quarter),
            ),
            field=revenue,
        ),
        _Template(
            "change: health against a moment",
            Intent.CHANGE,
            (
                ("Compare {pos} health score now vs a year ago", ago),
                (
                    "How much did {short} health change compared to 6 months ago?",
                    When("months_ago", 6),
                ),
                ("How did {pos} health change?", NOW),
            ),
            field=health,
        ),
        # -- history
        _Template(
            "change: more phrasings",
            Intent.CHANGE,
            (
                ("Did {pos} revenue go up since January?", since_jan),
                (
                    "What's the difference in {pos} health between now and 3 months ago?",
                    When("months_ago", 3),
                ),
                ("How much has {short} ARR grown over the past 6 months?", When("past_months", 6)),
            ),
            each=({"field": revenue}, {"field": health}, {"field": revenue}),
        ),
        _Template(
            "history: health since January",
            Intent.HISTORY,
            (
                ("Show {pos} health history since January", since_jan),
                ("{short} health trend since January", since_jan),
                ("What is the health score history of {name} since January?", since_jan),
            ),
            field=health,
        ),
        _Template(
            "history: revenue past 90 days",
            Intent.HISTORY,
            (
                ("Revenue history of {name} over the past 90 days", past_90),
                ("What was {pos} revenue over the past 90 days?", past_90),
                ("Show the ARR trend for {short} over the last 90 days", past_90),
            ),
            field=revenue,
        ),
        _Template(
            "history: health in a month",
            Intent.HISTORY,
            (
                ("Show {pos} health history in {month}", in_month),
                ("{short} health timeline for {month}", in_month),
                ("What was the health trend of {name} during {month}?", in_month),
            ),
            field=health,
        ),
        # -- ranked changes
        _Template(
            "history: more phrasings",
            Intent.HISTORY,
            (
                ("What's the trend of {pos} revenue?", NOW),
                (
                    "Show {pos} revenue between {month} and {month2}",
                    When("between_months", month_number, month_number % 12 + 1),
                ),
                ("Who has been {pos} CSM over the past year?", When("past_months", 12)),
                ("How has {pos} health evolved over the last 6 months?", When("past_months", 6)),
            ),
            each=(
                {"field": revenue},
                {"field": revenue},
                {"field": "assigned_csm"},
                {"field": health},
            ),
        ),
        _Template(
            "ranked: health improved last month",
            Intent.RANKED_CHANGE,
            (
                ("Which accounts improved their health score last month?", last_month),
                ("Which customers' health improved last month?", last_month),
                ("Accounts whose health went up last month", last_month),
            ),
            field=health,
            pool="none",
            direction=Direction.IMPROVED,
        ),
        _Template(
            "ranked: health declined past 90 days",
            Intent.RANKED_CHANGE,
            (
                ("Which accounts' health declined over the past 90 days?", past_90),
                ("Which accounts got worse in health over the past 90 days?", past_90),
                ("Show accounts with a falling health score over the past 90 days", past_90),
            ),
            field=health,
            pool="none",
            direction=Direction.DECLINED,
        ),
        _Template(
            "ranked: revenue declined since January",
            Intent.RANKED_CHANGE,
            (
                ("Which customers had a drop in revenue since January?", since_jan),
                ("Which accounts lost revenue since January?", since_jan),
                ("Which accounts' ARR decreased since January?", since_jan),
            ),
            field=revenue,
            pool="none",
            direction=Direction.DECLINED,
        ),
        _Template(
            "ranked: top 3 health improvement last quarter",
            Intent.RANKED_CHANGE,
            (
                ("Top 3 accounts by health improvement last quarter", last_quarter),
                ("Which 3 accounts improved their health the most last quarter?", last_quarter),
                ("Show the top 3 accounts whose health rose last quarter", last_quarter),
            ),
            field=health,
            pool="none",
            direction=Direction.IMPROVED,
            limit=3,
        ),
        _Template(
            "ranked: revenue grew (no window)",
            Intent.RANKED_CHANGE,
            (
                ("Which accounts grew their revenue?", NOW),
                ("Which accounts increased revenue?", NOW),
                ("Which customers' ARR rose?", NOW),
            ),
            field=revenue,
            pool="none",
            direction=Direction.IMPROVED,
        ),
        # -- matching
        _Template(
            "ranked: more phrasings",
            Intent.RANKED_CHANGE,
            (
                ("Which accounts' health changed the most last month?", last_month),
                ("Which account's health dropped the most since January?", since_jan),
                ("Which 2 accounts grew revenue the most over the past 90 days?", past_90),
            ),
            pool="none",
            each=(
                {"field": health, "direction": Direction.ANY},
                {"field": health, "direction": Direction.DECLINED, "limit": 1},
                {"field": revenue, "direction": Direction.IMPROVED, "limit": 2},
            ),
        ),
        _Template(
            "matching: at risk now",
            Intent.MATCHING,
            (
                ("Which accounts are at risk?", NOW),
                ("List the at-risk accounts", NOW),
                ("Show me accounts with status at risk", NOW),
            ),
            pool="none",
            conditions=(at_risk,),
        ),
        _Template(
            "matching: at risk as of",
            Intent.MATCHING,
            (
                (
                    "Which accounts were at risk at the end of last month?",
                    When("end_of_last_month"),
                ),
                ("Accounts whose status was at risk in {month}", in_month),
                ("Which customers were at risk on {iso}?", on),
            ),
            pool="none",
            conditions=(at_risk,),
        ),
        _Template(
            "matching: health below 60 as of",
            Intent.MATCHING,
            (
                ("Which accounts had health below 60 in {month}?", in_month),
                (
                    "Accounts with a health score under 60 at the end of last month",
                    When("end_of_last_month"),
                ),
                ("Which accounts had a health score less than 60 on {iso}?", on),
            ),
            pool="none",
            conditions=(below_60,),
        ),
        _Template(
            "matching: accounts of a CSM",
            Intent.MATCHING,
            (
                ("Which accounts does {csm} manage?", NOW),
                ("Which accounts are managed by {csm}?", NOW),
                ("Accounts whose CSM is {csm}", NOW),
            ),
            pool="none",
        ),
        _Template(
            "matching: revenue above",
            Intent.MATCHING,
            (
                ("List accounts with revenue over 1000000", NOW),
                ("Which accounts have ARR above $1m?", NOW),
                ("Accounts with revenue of more than 1,000,000", NOW),
            ),
            pool="none",
            conditions=(Condition(revenue, ">", Decimal(1_000_000)),),
        ),
        # -- assignments
        _Template(
            "matching: more phrasings",
            Intent.MATCHING,
            (
                ("Which enterprise accounts are at risk?", NOW),
                ("Which accounts had churned by the end of last month?", When("end_of_last_month")),
                ("Which accounts have more than 10 critical KPIs?", NOW),
                ("How many accounts are at risk?", NOW),
            ),
            pool="none",
            each=(
                {"conditions": (Condition("account_tier", "=", "Enterprise"), at_risk)},
                {"conditions": (Condition("account_status", "=", "churn"),)},
                {"conditions": (Condition("critical_kpis_count", ">", Decimal(10)),)},
                {"conditions": (at_risk,)},
            ),
        ),
        _Template(
            "assignments: CSM",
            Intent.ASSIGNMENTS,
            (
                ("Who is {pos} CSM?", NOW),
                ("Who manages {name}?", NOW),
                ("Who is the customer success manager for {short}?", NOW),
            ),
            field="assigned_csm",
        ),
        _Template(
            "assignments: products",
            Intent.ASSIGNMENTS,
            (
                ("What products does {name} use?", NOW),
                ("Which products is {short} using?", NOW),
                ("{pos} products", NOW),
            ),
            field="products_used",
        ),
        _Template(
            "assignments: owner",
            Intent.ASSIGNMENTS,
            (
                ("Who owns {name}?", NOW),
                ("Who is the account owner of {short}?", NOW),
                ("{pos} account owner", NOW),
            ),
            field="account_owner",
        ),
        # -- notes and reports
        _Template(
            "assignments: playbooks",
            Intent.ASSIGNMENTS,
            (
                ("Which playbooks are running for {name}?", NOW),
                ("What playbooks does {short} have running?", NOW),
                ("{pos} running playbooks", NOW),
            ),
            field="playbooks_running",
        ),
        _Template(
            "notes: account and topic",
            Intent.NOTES,
            (
                ("What did we discuss with {name} about renewal?", NOW),
                ("Notes about renewal for {short}", NOW),
                ("Show {pos} meeting notes mentioning renewal", NOW),
            ),
            topic="renewal",
        ),
        _Template(
            "notes: topic in a window",
            Intent.NOTES,
            (
                ('Show notes mentioning "pricing" in {month}', in_month),
                ("Which notes discussed pricing last quarter?", last_quarter),
                ("Any calls about pricing since January?", since_jan),
            ),
            pool="none",
            topic="pricing",
        ),
        _Template(
            "notes: Thai topic",
            Intent.NOTES,
            (
                ("Notes about ต่ออายุสัญญา", NOW),
                ("What did we discuss with {name} about ต่ออายุสัญญา?", NOW),
                ("บันทึก เกี่ยวกับ ต่ออายุสัญญา ของ {short}", NOW),
            ),
            pool="thai",
            topic="ต่ออายุสัญญา",
        ),
        _Template(
            "notes: Thai topic in a window",
            Intent.NOTES,
            (
                ("Notes about ส่วนลด last quarter", last_quarter),
                ('Find notes mentioning "อบรม" since January', since_jan),
                ("บันทึก เกี่ยวกับ ส่วนลด เดือนที่แล้ว", last_month),
            ),
            pool="none",
            each=({"topic": "ส่วนลด"}, {"topic": "อบรม"}, {"topic": "ส่วนลด"}),
        ),
        _Template(
            "reports: topic",
            Intent.NOTES,
            (
                ("Which playbook reports mention onboarding?", NOW),
                ("Playbook reports about adoption for {name}", NOW),
                ("Show reports on escalation since January", since_jan),
            ),
            scope="reports",
            each=({"topic": "onboarding"}, {"topic": "adoption"}, {"topic": "escalation"}),
        ),
        # -- unanswerable
        _Template(
            "notes: more phrasings",
            Intent.NOTES,
            (
                ("Any notes or reports about onboarding for {name}?", NOW),
                ("What did the playbook reports say about adoption?", NOW),
                ("What did we talk about with {name} last month?", last_month),
            ),
            each=(
                {"topic": "onboarding", "scope": "both"},
                {"topic": "adoption", "scope": "reports"},
                {"topic": None, "scope": "notes"},
            ),
        ),
        _Template(
            "unanswerable: unknown account",
            None,
            (
                ("What was Zeppelin Partners' revenue in {month}?", in_month),
                ("Who is Globex's CSM?", NOW),
                ("How did Quartzite Labs' health change since January?", since_jan),
                ("Show notes about renewal for Globex", NOW),
            ),
            pool="none",
            problem="unknown account",
            each=({}, {}, {}, {"topic": "renewal"}),
        ),
        _Template(
            "unanswerable: before the first snapshot",
            Intent.VALUE_AS_OF,
            (
                ("What was {pos} revenue on {before_iso}?", When("day", day=before)),
                ("{short} health score on {before_dmy}", When("day", day=before)),
                ("Who was {pos} CSM on {before_mdy}?", When("day", day=before)),
            ),
            each=({"field": revenue}, {"field": health}, {"field": "assigned_csm"}),
        ),
        _Template(
            "unanswerable: after now",
            Intent.VALUE_AS_OF,
            (
                ("What was {pos} revenue on {future_iso}?", When("day", day=future)),
                ("What will {pos} health score be next month?", When("next_month")),
                ("{short} ARR in {future_year}", When("year", future.year + 1)),
            ),
            each=({"field": revenue}, {"field": health}, {"field": revenue}),
        ),
        _Template(
            "unanswerable: nonsense",
            None,
            (
                ("What is the meaning of life?", NOW),
                ("Tell me a joke about spreadsheets", NOW),
                ("How many bananas did {short} eat?", NOW),
                ("Which accounts love pineapple pizza?", NOW),
            ),
            problem="nonsense",
        ),
    ]


#: Ranges: a value question over one reads as a history.
_RANGES: Final = ("past_days", "past_months", "since_month", "between_months")


def question_set(
    *, now: datetime, first_capture: datetime, seed: int, accounts: Sequence[str]
) -> list[Question]:
    """The questions asked of every evaluation tenant (their accounts share names).

    Accounts are dealt to the phrasings in a seeded order, so each template
    asks about different accounts.
    """
    rng = random.Random(f"{seed}:questions")
    by_name = {a.name: a for a in ACCOUNTS}
    chosen = [by_name[name] for name in accounts]
    pools = {
        "any": _Dealer(rng, chosen),
        "thai": _Dealer(rng, [a for a in chosen if a.thai] or chosen),
    }
    csms = _Dealer(rng, [EvalAccount(c, c) for c in CSMS[:3]])
    today = ensure_utc(now).date()
    on_day = on_date(now)
    before = first_capture.date() - timedelta(days=40)
    future = today + timedelta(days=45)
    words = {
        "month": _MONTH_NAMES[(today.month - 4) % 12],
        "month2": _MONTH_NAMES[(today.month - 3) % 12],
        "q": str(((today.month - 1) // 3 - 1) % 4 + 1),
        "dm": f"{on_day.day} {_MONTH_NAMES[on_day.month - 1]}",
        "iso": on_day.isoformat(),
        "dmy": f"{on_day.day} {_MONTH_NAMES[on_day.month - 1]} {on_day.year}",
        "mdy": f"{_MONTH_NAMES[on_day.month - 1]} {on_day.day}, {on_day.year}",
        "before_iso": before.isoformat(),
        "before_dmy": f"{before.day} {_MONTH_NAMES[before.month - 1]} {before.year}",
        "before_mdy": f"{_MONTH_NAMES[before.month - 1]} {before.day}, {before.year}",
        "future_iso": future.isoformat(),
        "future_year": str(future.year + 1),
    }
    questions: list[Question] = []
    for template in _templates(now, first_capture):
        for n, (text, when) in enumerate(template.phrasings):
            names: tuple[str, ...] = ()
            fill = dict(words)
            conditions = template.conditions
            if "{name}" in text or "{short}" in text or "{pos}" in text:
                account = pools["thai" if template.pool == "thai" else "any"].deal()
                names = (account.name,)
                fill |= {
                    "name": account.name,
                    "short": account.short,
                    "pos": possessive(account.name),
                }
            if "{csm}" in text:
                csm = csms.deal().name
                fill["csm"] = csm
                conditions = (Condition("assigned_csm", "=", csm),)
            meaning: dict[str, Any] = {
                "field": template.field,
                "direction": template.direction,
                "limit": template.limit,
                "conditions": conditions,
                "topic": template.topic,
                "scope": template.scope,
            }
            if template.each:
                meaning.update(template.each[n])
            intent = template.intent
            if template.problem is None and intent is Intent.VALUE_AS_OF and when.kind in _RANGES:
                intent = Intent.HISTORY
            questions.append(
                Question(
                    template=template.name,
                    text=text.format(**fill),
                    intent=intent,
                    accounts=names,
                    when=when,
                    problem=template.problem,
                    **meaning,
                )
            )
    return questions


class _Dealer:
    """Deals items in a shuffled cycle: every item once before any repeats."""

    def __init__(self, rng: random.Random, items: Sequence[EvalAccount]) -> None:
        self.rng = rng
        self.items = list(items)
        self.queue: list[EvalAccount] = []

    def deal(self) -> EvalAccount:
        if not self.queue:
            self.queue = list(self.items)
            self.rng.shuffle(self.queue)
        return self.queue.pop()


# ============================================================================ gold answers


@dataclass(frozen=True, slots=True)
class _Text:
    """A note or report as the gold search reads it."""

    id: int
    account_id: int
    at: datetime
    text: str


@dataclass(slots=True)
class TenantFacts:
    """Everything the gold answers are computed from, read once per tenant."""

    data: TenantData
    names: dict[int, str]
    #: Each account's snapshots (whole records), oldest first.
    records: dict[int, list[dict[str, Any]]]
    notes: list[_Text]
    reports: list[_Text]
    snapshot_ids: frozenset[int]
    note_ids: frozenset[int]
    report_ids: frozenset[int]
    #: ISO dates (UTC and the tenant's zone) of every snapshot: dates an answer may state.
    days: frozenset[str]


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def load_facts(session: Session, data: TenantData) -> TenantFacts:
    """The tenant's snapshots (through the snapshot service), notes and reports."""
    customer_id = data.customer_id
    zone = ZoneInfo(data.timezone)
    names = {account_id: name for name, account_id in data.accounts.items()}
    records: dict[int, list[dict[str, Any]]] = {}
    for account_id in names:
        found = snapshots.history(
            session, customer_id=customer_id, account_id=account_id, since=_EPOCH
        )
        records[account_id] = sorted(
            found, key=lambda r: (r["snapshot_timestamp"], r["snapshot_id"])
        )
    notes = [
        _Text(
            row.note_id,
            row.account_id,
            ensure_utc(row.created_at),
            f"{row.note_title or ''} {row.note_content}",
        )
        for row in session.execute(
            select(
                AccountNote.note_id,
                AccountNote.account_id,
                AccountNote.created_at,
                AccountNote.note_title,
                AccountNote.note_content,
            ).where(AccountNote.customer_id == customer_id)
        )
    ]
    reports = [
        _Text(
            row.report_id,
            row.account_id,
            ensure_utc(row.report_generated_at),
            " ".join([row.playbook_name, *_strings(row.report_data)]),
        )
        for row in session.execute(
            select(
                PlaybookReport.report_id,
                PlaybookReport.account_id,
                PlaybookReport.report_generated_at,
                PlaybookReport.playbook_name,
                PlaybookReport.report_data,
            ).where(PlaybookReport.customer_id == customer_id)
        )
    ]
    all_records = [r for found in records.values() for r in found]
    days = {r["snapshot_timestamp"].date().isoformat() for r in all_records} | {
        r["snapshot_timestamp"].astimezone(zone).date().isoformat() for r in all_records
    }
    return TenantFacts(
        data=data,
        names=names,
        records=records,
        notes=notes,
        reports=reports,
        snapshot_ids=frozenset(r["snapshot_id"] for r in all_records),
        note_ids=frozenset(n.id for n in notes),
        report_ids=frozenset(r.id for r in reports),
        days=frozenset(days),
    )


@dataclass(frozen=True, slots=True)
class Gold:
    """The expected answer of one question on one tenant.

    ``value`` by ``kind``: ``value`` the field's value; ``values`` {field:
    value} of the account's state; ``change`` (before,
    after, delta); ``series`` [(snapshot id, value)]; ``ranked`` [(account id,
    delta)] in order; ``matching`` a frozenset of account ids; ``assignment``
    the field's value; ``notes`` (note ids, report ids) as frozensets;
    ``refusal`` nothing (the question cannot be answered).
    """

    answerable: bool
    kind: str
    window: Span | None = None
    account_id: int | None = None
    field: str | None = None
    value: Any = None
    snapshot_ids: tuple[int, ...] = ()
    note_ids: frozenset[int] = frozenset()
    report_ids: frozenset[int] = frozenset()
    reason: str = ""

    @property
    def accounts(self) -> frozenset[int]:
        """The account set of a which-accounts answer."""
        if self.kind == "ranked":
            return frozenset(account_id for account_id, _ in self.value)
        if self.kind == "matching":
            return frozenset(self.value)
        return frozenset()


def _refusal(reason: str, window: Span | None = None) -> Gold:
    return Gold(answerable=False, kind="refusal", window=window, reason=reason)


def _as_of(records: Sequence[dict[str, Any]], at: datetime) -> dict[str, Any] | None:
    """The last record at or before ``at`` (records are in time order)."""
    found = None
    for record in records:
        if record["snapshot_timestamp"] > at:
            break
        found = record
    return found


def _numeric(value: Any) -> bool:
    return isinstance(value, Decimal | int) and not isinstance(value, bool)


def _holds(condition: Condition, value: Any) -> bool:
    """``value op operand``: numbers as Decimals, text case-folded, lists by membership."""
    if value is None:
        return False
    operand = condition.value
    if isinstance(value, list):
        inside = str(operand).strip().casefold() in {str(v).strip().casefold() for v in value}
        return inside if condition.op == "=" else not inside
    if isinstance(value, str):
        same = value.strip().casefold() == str(operand).strip().casefold()
        return same if condition.op == "=" else not same
    number, bound = Decimal(value), Decimal(str(operand))
    return {
        "<": number < bound,
        "<=": number <= bound,
        ">": number > bound,
        ">=": number >= bound,
        "=": number == bound,
        "!=": number != bound,
    }[condition.op]


def _search_words(topic: str) -> list[str]:
    """The words of a topic: split on white space, punctuation trimmed at either end."""
    found: list[str] = []
    for raw in topic.split():
        word = raw
        while word and unicodedata.category(word[0])[0] in "PS":
            word = word[1:]
        while word and unicodedata.category(word[-1])[0] in "PS":
            word = word[:-1]
        if word and word.casefold() not in found:
            found.append(word.casefold())
    return found


def _texts_matching(
    texts: Sequence[_Text],
    topic: str,
    account_id: int | None,
    start: datetime | None,
    end: datetime | None,
) -> list[int]:
    words = _search_words(topic)
    hits = [
        t
        for t in texts
        if (account_id is None or t.account_id == account_id)
        and (start is None or t.at >= start)
        and (end is None or t.at <= end)
        and all(word in t.text.casefold() for word in words)
    ]
    hits.sort(key=lambda t: (t.at, t.id), reverse=True)
    return [t.id for t in hits[:SEARCH_LIMIT]]


def _gold_value(question: Question, facts: TenantFacts, window: Span) -> Gold:
    account_id = facts.data.accounts[question.accounts[0]]
    record = _as_of(facts.records[account_id], window[1])
    if record is None:
        return _refusal("no snapshot by then", window)
    if question.field is None:  # the account's state: the service's summary fields
        state = {name: record[name] for name in service.SUMMARY_FIELDS}
        return Gold(True, "values", window, account_id, None, state, (record["snapshot_id"],))
    field_name = question.field
    return Gold(
        True,
        "value",
        window,
        account_id,
        field_name,
        record[field_name],
        (record["snapshot_id"],),
    )


def _gold_change(question: Question, facts: TenantFacts, window: Span) -> Gold:
    account_id = facts.data.accounts[question.accounts[0]]
    field_name = question.field or "overall_health_score"
    records = facts.records[account_id]
    start, end = window
    assert start is not None
    before = _as_of(records, start) or next(
        (r for r in records if start < r["snapshot_timestamp"] <= end), None
    )
    if before is None:
        return _refusal("no snapshot in the window", window)
    after = _as_of(records, end)
    assert after is not None
    old, new = before[field_name], after[field_name]
    delta = new - old if _numeric(old) and _numeric(new) else None
    cited = tuple(dict.fromkeys((before["snapshot_id"], after["snapshot_id"])))
    return Gold(True, "change", window, account_id, field_name, (old, new, delta), cited)


def _gold_history(question: Question, facts: TenantFacts, window: Span) -> Gold:
    account_id = facts.data.accounts[question.accounts[0]]
    field_name = question.field or "overall_health_score"
    records = facts.records[account_id]
    start, end = window
    inside = [
        r
        for r in records
        if (start is None or r["snapshot_timestamp"] >= start) and r["snapshot_timestamp"] <= end
    ]
    if not inside:
        earlier = None if start is None else _as_of(records, start)
        if earlier is None:
            return _refusal("no snapshot by then", window)
        inside = [earlier]
    series = [(r["snapshot_id"], r[field_name]) for r in inside]
    return Gold(True, "series", window, account_id, field_name, series, tuple(s for s, _ in series))


def _gold_ranked(question: Question, facts: TenantFacts, window: Span) -> Gold:
    field_name = question.field or "overall_health_score"
    start, end = window
    assert start is not None
    moves: list[tuple[Any, str, int, Decimal, int, int]] = []
    for account_id, records in facts.records.items():
        before, after = _as_of(records, start), _as_of(records, end)
        if before is None or after is None:
            continue
        old, new = before[field_name], after[field_name]
        if old is None or new is None or old == new:
            continue
        delta = new - old
        if (question.direction is Direction.IMPROVED and delta < 0) or (
            question.direction is Direction.DECLINED and delta > 0
        ):
            continue
        size = {Direction.IMPROVED: -delta, Direction.DECLINED: delta}.get(
            question.direction, -abs(delta)
        )
        name = facts.names[account_id].casefold()
        moves.append((size, name, account_id, delta, before["snapshot_id"], after["snapshot_id"]))
    moves.sort()
    if question.limit is not None:
        moves = moves[: question.limit]
    return Gold(
        True,
        "ranked",
        window,
        field=field_name,
        value=[(m[2], m[3]) for m in moves],
        snapshot_ids=tuple(i for m in moves for i in (m[4], m[5])),
    )


def _gold_matching(question: Question, facts: TenantFacts, window: Span) -> Gold:
    newest = question.when.kind == "now"
    matched: list[int] = []
    cited: list[int] = []
    for account_id, records in facts.records.items():
        record = (records[-1] if records else None) if newest else _as_of(records, window[1])
        if record is not None and all(_holds(c, record[c.field]) for c in question.conditions):
            matched.append(account_id)
            cited.append(record["snapshot_id"])
    return Gold(True, "matching", window, value=frozenset(matched), snapshot_ids=tuple(cited))


def _gold_assignment(question: Question, facts: TenantFacts, window: Span) -> Gold:
    account_id = facts.data.accounts[question.accounts[0]]
    field_name = question.field or "assigned_csm"
    records = facts.records[account_id]
    if not records:
        return _refusal("no snapshot", window)
    newest = records[-1]
    return Gold(
        True,
        "assignment",
        window,
        account_id,
        field_name,
        newest[field_name],
        (newest["snapshot_id"],),
    )


def _gold_notes(question: Question, facts: TenantFacts, window: Span) -> Gold:
    """Notes, reports or both, of the named account or the whole tenant."""
    topic = question.topic or ""
    start, end = window
    filter_end = None if question.when.kind == "now" else end
    accounts: list[int | None] = [facts.data.accounts[n] for n in question.accounts] or [None]
    notes: set[int] = set()
    reports: set[int] = set()
    for account_id in accounts:
        if question.scope in ("notes", "both"):
            notes.update(_texts_matching(facts.notes, topic, account_id, start, filter_end))
        if question.scope in ("reports", "both"):
            reports.update(_texts_matching(facts.reports, topic, account_id, start, filter_end))
    return Gold(
        True,
        "notes",
        window,
        value=(frozenset(notes), frozenset(reports)),
        note_ids=frozenset(notes),
        report_ids=frozenset(reports),
    )


_GOLD: Final[dict[Intent, Callable[[Question, TenantFacts, Span], Gold]]] = {
    Intent.VALUE_AS_OF: _gold_value,
    Intent.CHANGE: _gold_change,
    Intent.HISTORY: _gold_history,
    Intent.RANKED_CHANGE: _gold_ranked,
    Intent.MATCHING: _gold_matching,
    Intent.ASSIGNMENTS: _gold_assignment,
    Intent.NOTES: _gold_notes,
}


def gold_answer(question: Question, facts: TenantFacts, now: datetime) -> Gold:
    """The answer ``question`` should get on this tenant, from its snapshots, notes and reports."""
    if question.problem is not None or question.intent is None:
        return _refusal(question.problem or "no intent")
    calendar = Calendar(now, facts.data.timezone)
    if calendar.after_now(question.when):
        return _refusal("after now")
    window = calendar.window(question.intent, question.when)
    return _GOLD[question.intent](question, facts, window)


def portable(gold: Gold, facts: TenantFacts) -> Any:
    """The gold answer with names and times in place of ids, to compare across tenants."""
    if not gold.answerable:
        return ("unanswerable",)
    times = {r["snapshot_id"]: r["snapshot_timestamp"] for rs in facts.records.values() for r in rs}
    if gold.kind == "series":
        return tuple((times[i], v) for i, v in gold.value)
    if gold.kind == "ranked":
        return tuple((facts.names[a], d) for a, d in gold.value)
    if gold.kind == "matching":
        return tuple(sorted(facts.names[a] for a in gold.value))
    if gold.kind == "values":
        return tuple(sorted(gold.value.items()))
    if gold.kind == "notes":
        texts = {("note", t.id): t for t in facts.notes} | {
            ("report", t.id): t for t in facts.reports
        }
        found = [texts[("note", i)] for i in gold.note_ids] + [
            texts[("report", i)] for i in gold.report_ids
        ]
        return tuple(sorted((facts.names[t.account_id], t.at, t.text) for t in found))
    value = gold.value
    return tuple(value) if isinstance(value, list) else value


# ============================================================================ answers


@dataclass(slots=True)
class Response:
    """An answer as the scorer sees it: structured values, window and the ids it cites."""

    answerable: bool
    text: str
    intent: str | None = None
    window: tuple[datetime | None, datetime] | None = None
    #: The value of each look-up: ValueAt, Change, lists of them, TextHits, a dict.
    values: list[Any] = field(default_factory=list)
    snapshot_ids: list[int] = field(default_factory=list)
    note_ids: list[int] = field(default_factory=list)
    report_ids: list[int] = field(default_factory=list)
    error: str | None = None
    ms: float = 0.0


def response_of(answer: service.Answer, ms: float = 0.0) -> Response:
    """The scorer's view of an :class:`~tidemark.assistant.service.Answer`."""
    window = answer.window
    return Response(
        answerable=answer.answerable,
        text=answer.text,
        intent=answer.plan.intent.value if answer.plan.intent else None,
        window=None if window is None else (window.start, window.end),
        values=[r.value for r in answer.results],
        snapshot_ids=answer.snapshot_ids,
        note_ids=answer.note_ids,
        report_ids=answer.report_ids,
        ms=ms,
    )


def ask_question(
    session: Session, facts: TenantFacts, question: Question, now: datetime
) -> Response:
    """Ask through ``service.ask`` (offline answerer); an exception becomes the response's error."""
    started = time.perf_counter()
    try:
        answer = service.ask(
            session, customer_id=facts.data.customer_id, question=question.text, now=now
        )
    except Exception as error:  # every failure is a wrong answer, reported
        session.rollback()
        return Response(
            answerable=False,
            text="",
            error=f"{type(error).__name__}: {error}",
            ms=(time.perf_counter() - started) * 1000,
        )
    return response_of(answer, (time.perf_counter() - started) * 1000)


# -- the baseline: the newest snapshot only ------------------------------------------------


#: The change from the previous snapshot that the newest snapshot carries, by field.
_CHANGE_FIELDS: Final = {
    "revenue": "revenue_change_from_last",
    "overall_health_score": "health_score_change_from_last",
}


def _value_at(record: dict[str, Any], field_name: str, value: Any = None) -> ValueAt:
    return ValueAt(
        account_id=record["account_id"],
        account_name=record["account_name"],
        field=field_name,
        value=record[field_name] if value is None else value,
        snapshot_id=record["snapshot_id"],
        snapshot_timestamp=record["snapshot_timestamp"],
    )


def _last_change(record: dict[str, Any], field_name: str) -> Decimal | None:
    change_field = _CHANGE_FIELDS.get(field_name)
    value = record.get(change_field) if change_field else None
    return value if isinstance(value, Decimal) else None


def _baseline_change(record: dict[str, Any], field_name: str) -> Change:
    after = _value_at(record, field_name)
    delta = _last_change(record, field_name)
    if delta is None or after.value is None:
        before, delta = after, (Decimal(0) if _numeric(after.value) else None)
    else:
        before = _value_at(record, field_name, after.value - delta)
    return Change(
        account_id=after.account_id,
        account_name=after.account_name,
        field=field_name,
        before=before,
        after=after,
        delta=delta,
        percent=None,
    )


def _baseline_results(plan: Plan, facts: TenantFacts) -> list[LookupResult]:
    """What the newest snapshots alone say about a parsed question."""
    newest = {aid: records[-1] for aid, records in facts.records.items() if records}
    field_name = plan.field or "overall_health_score"
    named = [newest[a.account_id] for a in plan.accounts if a.account_id in newest]

    def result(value: Any, ids: Iterable[int], **more: Any) -> LookupResult:
        return LookupResult("baseline", {}, value, snapshot_ids=list(ids), **more)

    if plan.intent is Intent.VALUE_AS_OF:
        fields = [plan.field] if plan.field else list(service.SUMMARY_FIELDS)
        return [result(_value_at(r, name), [r["snapshot_id"]]) for r in named for name in fields]
    if plan.intent is Intent.CHANGE:
        return [result(_baseline_change(r, field_name), [r["snapshot_id"]]) for r in named]
    if plan.intent is Intent.HISTORY:
        return [result([_value_at(r, field_name)], [r["snapshot_id"]]) for r in named]
    if plan.intent is Intent.RANKED_CHANGE:
        moves: list[tuple[Any, str, int, Change]] = []
        for record in newest.values():
            change = _baseline_change(record, field_name)
            delta = change.delta
            if delta is None or delta == 0:
                continue
            if (plan.direction is Direction.IMPROVED and delta < 0) or (
                plan.direction is Direction.DECLINED and delta > 0
            ):
                continue
            size = {Direction.IMPROVED: -delta, Direction.DECLINED: delta}.get(
                plan.direction, -abs(delta)
            )
            moves.append((size, change.account_name.casefold(), change.account_id, change))
        moves.sort(key=lambda m: m[:3])
        changes = [m[3] for m in moves][: plan.limit or None]
        return [result(changes, [c.after.snapshot_id for c in changes])]
    if plan.intent is Intent.MATCHING:
        conditions = [Condition(c.field, c.op, c.value) for c in plan.conditions]
        first = conditions[0].field
        matched = sorted(
            (r for r in newest.values() if all(_holds(c, r.get(c.field)) for c in conditions)),
            key=lambda r: (str(r["account_name"]).casefold(), r["account_id"]),
        )
        return [result([_value_at(r, first) for r in matched], [r["snapshot_id"] for r in matched])]
    if plan.intent is Intent.ASSIGNMENTS:
        out: list[LookupResult] = []
        for record in named:
            value = {
                name: record[name]
                for name in (
                    "assigned_csm",
                    "csm_manager",
                    "account_owner",
                    "products_used",
                    "product_count",
                    "playbooks_running",
                    "playbooks_running_count",
                )
            }
            value["snapshot_timestamp"] = record["snapshot_timestamp"]
            out.append(result(value, [record["snapshot_id"]]))
        return out
    if plan.intent is Intent.NOTES:
        texts = {("note", t.id): t for t in facts.notes} | {
            ("report", t.id): t for t in facts.reports
        }
        words = _search_words(plan.topic or "")
        kinds = {
            "recent_csm_note_ids": ("note",),
            "recent_playbook_report_ids": ("report",),
        }.get(plan.field or "", ("note", "report"))
        hits: list[TextHit] = []
        for record in named or list(newest.values()):
            for kind in kinds:
                listed = record[f"recent_{'csm_note' if kind == 'note' else 'playbook_report'}_ids"]
                for text_id in listed or []:
                    text = texts.get((kind, text_id))
                    if text is not None and all(w in text.text.casefold() for w in words):
                        hits.append(
                            TextHit(
                                kind, text.id, text.account_id,
                                facts.names[text.account_id], text.at, kind, text.text[:150],
                            )
                        )  # fmt: skip
        return [
            result(
                hits,
                [],
                note_ids=[h.id for h in hits if h.kind == "note"],
                report_ids=[h.id for h in hits if h.kind == "report"],
            )
        ]
    return []


def baseline_response(
    session: Session, facts: TenantFacts, question: Question, now: datetime
) -> Response:
    """The answer from current data only: the question read as usual, the newest snapshots read."""
    plan = service.plan_question(
        session, customer_id=facts.data.customer_id, question=question.text, now=now
    )
    intent = plan.intent.value if plan.intent else None
    if not plan.answerable:
        return Response(answerable=False, text=answers.refusal(plan), intent=intent)
    results = _baseline_results(plan, facts)
    return Response(
        answerable=True,
        text=answers.word(plan, results),
        intent=intent,
        window=(None, ensure_utc(now)),
        values=[r.value for r in results],
        snapshot_ids=list(dict.fromkeys(i for r in results for i in r.snapshot_ids)),
        note_ids=list(dict.fromkeys(i for r in results for i in r.note_ids)),
        report_ids=list(dict.fromkeys(i for r in results for i in r.report_ids)),
    )


# ============================================================================ scoring


@dataclass(slots=True)
class Scored:
    """One question asked of one tenant, scored."""

    tenant: str
    copy: str
    history: str
    template: str
    intent: str
    question: str
    historical: bool
    answerable: bool
    exact: bool
    #: Window equal to the gold window; None when the question has none.
    window_ok: bool | None
    cited: int
    cited_real: int
    #: The gold ids are among the cited ones; None for an unanswerable question.
    gold_cited: bool | None
    #: A which-accounts question (ranked changes, matching).
    which: bool
    precision: float | None
    recall: float | None
    f1: float | None
    invented: list[str]
    expected: str
    actual: str
    error: str | None = None
    ms: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "template": self.template,
            "intent": self.intent,
            "question": self.question,
            "exact": self.exact,
            "window_ok": self.window_ok,
            "gold_cited": self.gold_cited,
            "cited": self.cited,
            "cited_real": self.cited_real,
            "f1": None if self.f1 is None else round(self.f1, 4),
            "invented": self.invented,
            "expected": self.expected,
            "actual": self.actual,
            "error": self.error,
            "ms": round(self.ms, 2),
        }


_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_DIGITS: Final = re.compile(r"\d[\d,]*(?:\.\d+)?")


def _numbers(text: str) -> set[str]:
    return {token.replace(",", "").rstrip(".") for token in _DIGITS.findall(_DATE.sub(" ", text))}


def invented_numbers(answer: str, question: str, allowed_dates: Iterable[str]) -> list[str]:
    """Numbers in ``answer`` that neither the question nor the data gives.

    A date (YYYY-MM-DD) is given when the question writes it or it is in
    ``allowed_dates`` (the tenant's snapshot dates, today, the window asked
    about); any other number must appear in the question.
    """
    allowed = set(allowed_dates) | set(_DATE.findall(question))
    invented = [d for d in _DATE.findall(answer) if d not in allowed]
    known = _numbers(question)
    invented += sorted(n for n in _numbers(answer) if n not in known)
    return invented


def set_scores(gold: frozenset[Any], got: frozenset[Any]) -> tuple[float, float, float]:
    """Precision, recall and F1 of ``got`` against ``gold``; two empty sets score 1."""
    if not gold and not got:
        return 1.0, 1.0, 1.0
    hit = len(gold & got)
    precision = hit / len(got) if got else 1.0
    recall = hit / len(gold) if gold else 1.0
    return precision, recall, 2 * hit / (len(gold) + len(got))


class _Missing:
    """What the scorer extracts when the response has no value of the expected shape."""

    def __repr__(self) -> str:
        return "nothing"


MISSING: Final = _Missing()


def extract(gold: Gold, response: Response) -> Any:
    """The part of ``response`` that ``gold`` is compared with, in gold's shape."""
    if gold.kind == "notes":
        return (frozenset(response.note_ids), frozenset(response.report_ids))
    if gold.kind == "values":
        state = {
            v.field: v.value
            for v in response.values
            if isinstance(v, ValueAt) and v.account_id == gold.account_id
        }
        return state or MISSING
    for value in response.values:
        if gold.kind == "value" and isinstance(value, ValueAt):
            if value.account_id == gold.account_id and value.field == gold.field:
                return value.value
        elif gold.kind == "change" and isinstance(value, Change):
            if value.account_id == gold.account_id and value.field == gold.field:
                return (value.before.value, value.after.value, value.delta)
        elif gold.kind == "series" and isinstance(value, list):
            items = [v for v in value if isinstance(v, ValueAt)]
            if items and all(
                v.account_id == gold.account_id and v.field == gold.field for v in items
            ):
                return [(v.snapshot_id, v.value) for v in items]
        elif gold.kind == "ranked" and isinstance(value, list):
            if all(isinstance(v, Change) and v.field == gold.field for v in value):
                return [(v.account_id, v.delta) for v in value]
        elif gold.kind == "matching" and isinstance(value, list):
            if all(isinstance(v, ValueAt) for v in value):
                return frozenset(v.account_id for v in value)
        elif gold.kind == "assignment" and isinstance(value, Mapping) and gold.field in value:
            return value[gold.field]
    return MISSING


def _show(value: Any) -> str:
    if isinstance(value, frozenset):
        return "{" + ", ".join(str(v) for v in sorted(value, key=str)) + "}"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return repr(value) if isinstance(value, str) else str(value)


def _describe(gold: Gold) -> str:
    if not gold.answerable:
        return f"unanswerable ({gold.reason})"
    return f"{gold.kind} {_show(gold.value)}"


def score(
    question: Question,
    gold: Gold,
    response: Response,
    facts: TenantFacts,
    now: datetime,
) -> Scored:
    """Score one response: exact, window, citations, sets, invented numbers."""
    got = MISSING if not response.answerable else extract(gold, response)
    which = gold.kind in ("ranked", "matching")
    invented: list[str] = []
    if gold.answerable:
        exact = response.error is None and response.answerable and got == gold.value
    else:
        zone = ZoneInfo(facts.data.timezone)
        moments = [ensure_utc(now)]
        if gold.window is not None:
            moments += [m for m in gold.window if m is not None]
        allowed = set(facts.days)
        for moment in moments:
            allowed |= {moment.date().isoformat(), moment.astimezone(zone).date().isoformat()}
        invented = invented_numbers(response.text, question.text, allowed)
        exact = response.error is None and not response.answerable and not invented
    precision = recall = f1 = None
    if gold.answerable and gold.kind in ("ranked", "matching", "notes"):
        expected: frozenset[Any]
        if gold.kind == "notes":
            expected = frozenset(("note", i) for i in gold.note_ids) | frozenset(
                ("report", i) for i in gold.report_ids
            )
            found: frozenset[Any] = frozenset(("note", i) for i in response.note_ids) | frozenset(
                ("report", i) for i in response.report_ids
            )
        else:
            expected = gold.accounts
            if isinstance(got, frozenset):
                found = got
            elif isinstance(got, list):
                found = frozenset(account_id for account_id, _ in got)
            else:
                found = frozenset()
        precision, recall, f1 = set_scores(expected, found)
    cited = (
        [("snapshot", i) for i in response.snapshot_ids]
        + [("note", i) for i in response.note_ids]
        + [("report", i) for i in response.report_ids]
    )
    real = {"snapshot": facts.snapshot_ids, "note": facts.note_ids, "report": facts.report_ids}
    cited_real = sum(1 for kind, i in cited if i in real[kind])
    gold_cited: bool | None = None
    if gold.answerable:
        gold_cited = (
            set(gold.snapshot_ids) <= set(response.snapshot_ids)
            and gold.note_ids <= set(response.note_ids)
            and gold.report_ids <= set(response.report_ids)
        )
    window_ok: bool | None = None
    if gold.window is not None:
        window_ok = response.window == gold.window
    if response.error:
        actual = response.error
    elif not response.answerable:
        actual = f"unanswerable: {response.text}"
    elif not gold.answerable:
        actual = f"answered: {response.text}"
    else:
        actual = f"{_show(got)}" + (f" | {response.text}" if got is MISSING else "")
    if invented:
        actual += f" [numbers not given: {', '.join(invented)}]"
    return Scored(
        tenant=facts.data.label,
        copy=facts.data.copy,
        history=facts.data.history,
        template=question.template,
        intent=question.group,
        question=question.text,
        historical=question.historical,
        answerable=gold.answerable,
        exact=exact,
        window_ok=window_ok,
        cited=len(cited),
        cited_real=cited_real,
        gold_cited=gold_cited,
        which=which and gold.answerable,
        precision=precision,
        recall=recall,
        f1=f1,
        invented=invented,
        expected=_describe(gold),
        actual=actual[:400],
        error=response.error,
        ms=response.ms,
    )


# ============================================================================ the report


@dataclass(frozen=True, slots=True)
class Figures:
    """Aggregate scores of a set of scored questions (percentages 0-100, F1 0-1)."""

    questions: int
    exact: float
    window: float | None
    citations_real: float | None
    gold_cited: float | None
    which_questions: int
    which_f1: float | None
    unanswerable: int
    invented: int

    def as_json(self) -> dict[str, Any]:
        return {
            "questions": self.questions,
            "exact_percent": _round(self.exact),
            "window_percent": _round(self.window),
            "cited_ids_real_percent": _round(self.citations_real),
            "gold_ids_cited_percent": _round(self.gold_cited),
            "which_accounts_questions": self.which_questions,
            "which_accounts_f1": None if self.which_f1 is None else round(self.which_f1, 4),
            "unanswerable_questions": self.unanswerable,
            "unanswerable_with_invented_numbers": self.invented,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _percent(flags: Sequence[bool]) -> float | None:
    return 100.0 * sum(flags) / len(flags) if flags else None


def figures(rows: Sequence[Scored]) -> Figures:
    """The figures of ``rows``."""
    windows = [r.window_ok for r in rows if r.window_ok is not None]
    cited = sum(r.cited for r in rows)
    gold = [r.gold_cited for r in rows if r.gold_cited is not None]
    which = [r.f1 for r in rows if r.which and r.f1 is not None]
    refused = [r for r in rows if not r.answerable]
    return Figures(
        questions=len(rows),
        exact=_percent([r.exact for r in rows]) or 0.0,
        window=_percent(windows),
        citations_real=100.0 * sum(r.cited_real for r in rows) / cited if cited else None,
        gold_cited=_percent(gold),
        which_questions=len(which),
        which_f1=sum(which) / len(which) if which else None,
        unanswerable=len(refused),
        invented=sum(1 for r in refused if r.invented),
    )


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile ``q`` (0-100) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class Target:
    """One figure the evaluation must reach."""

    name: str
    goal: str
    value: str
    met: bool


@dataclass(slots=True)
class Report:
    """Every scored question of the assistant and of the baseline, with the figures."""

    now: datetime
    seed: int
    spec: DatasetSpec
    database: str
    rows: list[Scored]
    baseline: list[Scored]
    build_seconds: float = 0.0
    ask_seconds: float = 0.0
    #: History length -> (questions whose gold answer differs between the copies, compared).
    differing: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def overall(self) -> Figures:
        return figures(self.rows)

    @property
    def baseline_overall(self) -> Figures:
        return figures(self.baseline)

    def by(
        self, key: Callable[[Scored], str], rows: Sequence[Scored] | None = None
    ) -> dict[str, Figures]:
        groups: dict[str, list[Scored]] = defaultdict(list)
        for row in self.rows if rows is None else rows:
            groups[key(row)].append(row)
        return {name: figures(group) for name, group in groups.items()}

    @property
    def gap(self) -> float:
        """Exact answers on the original copies minus the counterfactual ones, in points."""
        copies = self.by(lambda r: r.copy)
        original = copies.get(ORIGINAL)
        counterfactual = copies.get(COUNTERFACTUAL)
        if original is None or counterfactual is None:
            return 0.0
        return abs(original.exact - counterfactual.exact)

    def latency(self) -> dict[str, dict[str, float]]:
        """p50, p95 and max milliseconds of ``service.ask``, per intent and overall."""
        groups: dict[str, list[float]] = defaultdict(list)
        for row in self.rows:
            groups[row.intent].append(row.ms)
            groups["all"].append(row.ms)
        return {
            name: {
                "p50": round(percentile(values, 50), 2),
                "p95": round(percentile(values, 95), 2),
                "max": round(max(values), 2),
            }
            for name, values in groups.items()
        }

    def targets(self) -> list[Target]:
        overall = self.overall
        base = self.baseline_overall
        historical = [r for r in self.rows if r.historical]
        base_historical = [r for r in self.baseline if r.historical]
        real = overall.citations_real
        return [
            Target(
                "exact answers", f">= {TARGET_EXACT:g} %", f"{overall.exact:.1f} %",
                overall.exact >= TARGET_EXACT,
            ),
            Target(
                "which-accounts F1", f">= {TARGET_F1:g}",
                "-" if overall.which_f1 is None else f"{overall.which_f1:.3f}",
                overall.which_f1 is None or overall.which_f1 >= TARGET_F1,
            ),
            Target(
                "cited ids real and in the tenant", "100 %",
                "-" if real is None else f"{real:.1f} %", real is None or real == 100.0,
            ),
            Target(
                "unanswerable questions with an invented number", "0",
                f"{overall.invented} of {overall.unanswerable}", overall.invented == 0,
            ),
            Target(
                "original vs counterfactual gap", f"<= {TARGET_GAP:g} points",
                f"{self.gap:.1f} points", self.gap <= TARGET_GAP,
            ),
            Target(
                "baseline (newest snapshot only), for comparison",
                "worse on historical questions",
                f"{figures(base_historical).exact:.1f} % vs {figures(historical).exact:.1f} % "
                f"historical; {base.exact:.1f} % overall",
                figures(base_historical).exact < figures(historical).exact,
            ),
        ]  # fmt: skip

    @property
    def passed(self) -> bool:
        return all(t.met for t in self.targets())

    def failures(self) -> list[Scored]:
        return [
            r for r in self.rows if not r.exact or r.window_ok is False or r.gold_cited is False
        ]

    def tables(self, *, failures: int = 40) -> list[Table]:
        """The figures as Rich tables: by intent, by copy and history, targets, failures.

        Columns: questions, exact answers, the baseline's exact answers, windows equal
        to gold, gold ids cited, which-accounts F1 (the assistant's and the
        baseline's), and ``service.ask`` latency.
        """
        out: list[Table] = []
        by_intent = self.by(lambda r: r.intent)
        base_by_intent = self.by(lambda r: r.intent, self.baseline)
        latency = self.latency()
        table = _table("Answers by intent (percent; ms; baseline = newest snapshot only)")
        table.add_column("Intent", no_wrap=True)
        for header in (
            "Qs", "Exact", "Base", "Window", "Cited", "F1", "Base F1", "p50", "p95",
        ):  # fmt: skip
            table.add_column(header, justify="right", no_wrap=True)
        for intent in sorted(by_intent):
            f, b = by_intent[intent], base_by_intent[intent]
            table.add_row(
                intent,
                str(f.questions),
                _cell(f.exact),
                _cell(b.exact),
                _cell(f.window),
                _cell(f.gold_cited),
                _cell(f.which_f1, 3),
                _cell(b.which_f1, 3),
                _cell(latency[intent]["p50"]),
                _cell(latency[intent]["p95"]),
            )
        f, b = self.overall, self.baseline_overall
        table.add_row(
            "all", str(f.questions), _cell(f.exact), _cell(b.exact), _cell(f.window),
            _cell(f.gold_cited), _cell(f.which_f1, 3), _cell(b.which_f1, 3),
            _cell(latency["all"]["p50"]), _cell(latency["all"]["p95"]), style="bold",
        )  # fmt: skip
        out.append(table)

        split = _table("By copy and history length (percent)")
        split.add_column("Tenant", no_wrap=True)
        for header in ("Qs", "Exact", "Base", "Historical", "Base historical", "F1"):
            split.add_column(header, justify="right", no_wrap=True)
        base_rows = defaultdict(list)
        for row in self.baseline:
            base_rows[row.tenant].append(row)
        own_rows = defaultdict(list)
        for row in self.rows:
            own_rows[row.tenant].append(row)
        for tenant, rows in own_rows.items():
            mine, theirs = figures(rows), figures(base_rows[tenant])
            hist = figures([r for r in rows if r.historical])
            base_hist = figures([r for r in base_rows[tenant] if r.historical])
            split.add_row(
                tenant, str(mine.questions), _cell(mine.exact), _cell(theirs.exact),
                _cell(hist.exact), _cell(base_hist.exact), _cell(mine.which_f1, 3),
            )  # fmt: skip
        if self.differing:
            split.caption = "Gold answers that differ between the copies: " + ", ".join(
                f"{history} {d} of {n}" for history, (d, n) in self.differing.items()
            )
            split.caption_justify = "left"
        out.append(split)

        goals = _table("Targets")
        for header in ("Figure", "Goal", "Reached", "Met"):
            goals.add_column(header)
        for target in self.targets():
            goals.add_row(
                target.name, target.goal, target.value,
                "[green]yes[/green]" if target.met else "[red]no[/red]",
            )  # fmt: skip
        out.append(goals)

        wrong = self.failures()
        if wrong:
            missed = _table(
                f"Questions not answered exactly ({len(wrong)}; first {min(failures, len(wrong))})"
            )
            for header in ("Tenant", "Question", "Expected", "Got"):
                missed.add_column(header, overflow="fold")
            for row in wrong[:failures]:
                flags = []
                if row.window_ok is False:
                    flags.append("window differs")
                if row.gold_cited is False:
                    flags.append("gold ids not cited")
                got = row.actual + (f" ({', '.join(flags)})" if flags else "")
                missed.add_row(row.tenant, row.question, row.expected[:160], got[:200])
            out.append(missed)
        return out

    def to_json(self) -> dict[str, Any]:
        """Every figure and every scored question, JSON-ready."""
        return {
            "now": self.now.isoformat(),
            "seed": self.seed,
            "database": self.database,
            "data_set": {
                "accounts": self.spec.accounts,
                "long_days": self.spec.long_days,
                "cadence_days": self.spec.cadence_days,
                "short_captures": self.spec.short_captures,
            },
            "seconds": {"build": round(self.build_seconds, 2), "ask": round(self.ask_seconds, 2)},
            "overall": self.overall.as_json(),
            "baseline": self.baseline_overall.as_json(),
            "gap_points": round(self.gap, 2),
            "counterfactual_answers_differ": {
                history: {"differ": d, "answerable": n}
                for history, (d, n) in self.differing.items()
            },
            "by_intent": {k: v.as_json() for k, v in sorted(self.by(lambda r: r.intent).items())},
            "baseline_by_intent": {
                k: v.as_json()
                for k, v in sorted(self.by(lambda r: r.intent, self.baseline).items())
            },
            "by_tenant": {k: v.as_json() for k, v in self.by(lambda r: r.tenant).items()},
            "historical": figures([r for r in self.rows if r.historical]).as_json(),
            "baseline_historical": figures([r for r in self.baseline if r.historical]).as_json(),
            "latency_ms": self.latency(),
            "targets": [
                {"name": t.name, "goal": t.goal, "value": t.value, "met": t.met}
                for t in self.targets()
            ],
            "passed": self.passed,
            "failures": [r.as_json() for r in self.failures()],
        }

    def json_text(self) -> str:
        return json.dumps(self.to_json(), ensure_ascii=False, indent=2)


def _table(title: str) -> Table:
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )


def _cell(value: float | None, places: int = 1) -> str:
    return "-" if value is None else f"{value:.{places}f}"


# ============================================================================ running it

#: Reports progress: (stage, done, total).
ProgressCallback = Callable[[str, int, int], None]


def run_evaluation(
    engine: Engine,
    *,
    now: datetime,
    seed: int,
    spec: DatasetSpec = DatasetSpec(),
    progress: ProgressCallback | None = None,
) -> Report:
    """Build the evaluation tenants in ``engine`` (migrated), ask every question, score it.

    The questions are asked in one transaction that is rolled back at the end,
    so the query log keeps nothing of them; the tenants stay.
    """
    now = ensure_utc(now)
    started = time.perf_counter()
    dataset = build_dataset(
        engine,
        now=now,
        seed=seed,
        spec=spec,
        progress=None if progress is None else (lambda d, t: progress("building tenants", d, t)),
    )
    built = time.perf_counter()
    questions = question_set(
        now=now,
        first_capture=dataset.first_capture,
        seed=seed,
        accounts=[a.name for a in ACCOUNTS[: spec.accounts]],
    )
    total = len(questions) * len(dataset.tenants)
    rows: list[Scored] = []
    baseline: list[Scored] = []
    golds: dict[tuple[str, str], list[Any]] = {}
    session = session_factory(engine)()
    try:
        for tenant in dataset.tenants:
            facts = load_facts(session, tenant)
            kept = golds.setdefault((tenant.history, tenant.copy), [])
            for question in questions:
                gold = gold_answer(question, facts, now)
                kept.append(portable(gold, facts))
                response = ask_question(session, facts, question, now)
                rows.append(score(question, gold, response, facts, now))
                base = baseline_response(session, facts, question, now)
                baseline.append(score(question, gold, base, facts, now))
                if progress is not None:
                    progress("asking questions", len(rows), total)
    finally:
        session.rollback()
        session.close()
    differing: dict[str, tuple[int, int]] = {}
    for history in (LONG, SHORT):
        pairs = [
            (a, b)
            for a, b in zip(
                golds[(history, ORIGINAL)], golds[(history, COUNTERFACTUAL)], strict=True
            )
            if a != ("unanswerable",) or b != ("unanswerable",)
        ]
        differing[history] = (sum(1 for a, b in pairs if a != b), len(pairs))
    return Report(
        now=now,
        seed=seed,
        spec=spec,
        database=engine.url.render_as_string(hide_password=True),
        rows=rows,
        baseline=baseline,
        build_seconds=built - started,
        ask_seconds=time.perf_counter() - built,
        differing=differing,
    )
