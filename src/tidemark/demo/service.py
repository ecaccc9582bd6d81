"""Load the demo tenant (seed 004's "Test Company") with a simulated year of history."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tidemark.clock import ensure_utc
from tidemark.demo.profiles import CUSTOMER_NAME, USER_EMAIL
from tidemark.demo.simulation import DemoSimulation
from tidemark.demo.timeline import MONTHS, cycle_time, history_months
from tidemark.events import schedules
from tidemark.snapshots.fields import SNAPSHOT_TYPES
from tidemark.snapshots.models import AccountSnapshot
from tidemark.success.models import (
    KPI,
    Account,
    AccountNote,
    HealthTrend,
    KPIUpload,
    PlaybookExecution,
    PlaybookReport,
)

#: (account name, first health score, last health score, last minus first)
Mover = tuple[str, Decimal, Decimal, Decimal]

MOVERS = 5


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the demo load created, and what a person wants to read after it."""

    customer_id: int
    customer_name: str
    user_email: str
    history_start: datetime
    history_end: datetime
    accounts: int
    kpis: int
    snapshots_by_type: dict[str, int] = field(default_factory=dict)
    notes: int = 0
    playbook_executions: int = 0
    playbook_reports: int = 0
    uploads: int = 0
    health_trends: int = 0
    biggest_movers: list[Mover] = field(default_factory=list)

    @property
    def snapshots(self) -> int:
        """Snapshots of every type."""
        return sum(self.snapshots_by_type.values())

    def render(self) -> list[str]:
        """The lines to print after loading: counts, snapshots by type, movers, next steps."""
        lines = [
            f'Loaded demo tenant "{self.customer_name}" (customer {self.customer_id}): '
            f"{MONTHS} months of history, {self.history_start:%Y-%m-%d} to "
            f"{self.history_end:%Y-%m-%d %H:%M} UTC",
            f"  {self.accounts} accounts, {self.kpis} KPIs, {self.uploads} KPI uploads, "
            f"{self.health_trends} monthly health trends",
            f"  {self.notes} CSM notes, {self.playbook_executions} playbook executions, "
            f"{self.playbook_reports} playbook reports",
            f"Snapshots: {self.snapshots:,}",
        ]
        width = max((len(name) for name in self.snapshots_by_type), default=0)
        lines.extend(
            f"  {name:<{width}}  {count:>6,}" for name, count in self.snapshots_by_type.items()
        )
        lines.append("Biggest movers over the year (overall health, first to latest snapshot):")
        name_width = max((display_width(m[0]) for m in self.biggest_movers), default=0)
        lines.extend(
            f"  {pad(name, name_width)}  {first:>6} -> {last:>6}  ({delta:+})"
            for name, first, last, delta in self.biggest_movers
        )
        lines.extend(
            [
                f"Demo user: {self.user_email}",
                "Try next:",
                "  tidemark snapshot latest",
                '  tidemark snapshot history --account "TechCorp Solutions" --months 6',
            ]
        )
        return lines


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal: Thai vowel and tone marks take none."""
    return sum(0 if unicodedata.category(ch) in ("Mn", "Me") else 1 for ch in text)


def pad(text: str, width: int) -> str:
    """``text`` followed by spaces up to ``width`` terminal columns."""
    return text + " " * max(0, width - display_width(text))


def load_demo(
    session: Session,
    *,
    now: datetime,
    seed: int = 7,
    progress: Callable[[str, int, int], object] | None = None,
) -> DemoSummary:
    """Create the demo tenant with a year of simulated history ending at ``now``; no commit.

    The same ``seed`` and ``now`` give the same data. Raises Conflict when a
    customer named "Test Company" already exists.
    """
    moment = ensure_utc(now)
    customer_id = DemoSimulation(session, now=moment, seed=seed, progress=progress).run()
    # From here on snapshots follow the data by themselves: the worker of `tidemark serve`
    # takes the events of every write, and this schedule the table of seed 000 §4.2.
    schedules.set_schedule(
        session,
        customer_id=customer_id,
        name="recommended",
        frequency="recommended",
        time_of_day="02:00",
        now=moment,
    )
    session.flush()
    return summarize(session, customer_id=customer_id, now=moment)


def _count(session: Session, model: Any, customer_id: int) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(model).where(model.customer_id == customer_id)
        ).scalar_one()
    )


def summarize(session: Session, *, customer_id: int, now: datetime) -> DemoSummary:
    """Count what the demo tenant holds and find its biggest movers."""
    by_type = dict(
        session.execute(
            select(AccountSnapshot.snapshot_type, func.count())
            .where(AccountSnapshot.customer_id == customer_id)
            .group_by(AccountSnapshot.snapshot_type)
        ).all()
    )
    ordered = {name: int(by_type[name]) for name in SNAPSHOT_TYPES if name in by_type}
    return DemoSummary(
        customer_id=customer_id,
        customer_name=CUSTOMER_NAME,
        user_email=USER_EMAIL,
        history_start=cycle_time(*history_months(now)[0]),
        history_end=now,
        accounts=_count(session, Account, customer_id),
        kpis=_count(session, KPI, customer_id),
        snapshots_by_type=ordered,
        notes=_count(session, AccountNote, customer_id),
        playbook_executions=_count(session, PlaybookExecution, customer_id),
        playbook_reports=_count(session, PlaybookReport, customer_id),
        uploads=_count(session, KPIUpload, customer_id),
        health_trends=_count(session, HealthTrend, customer_id),
        biggest_movers=biggest_movers(session, customer_id=customer_id),
    )


def biggest_movers(session: Session, *, customer_id: int, limit: int = MOVERS) -> list[Mover]:
    """Accounts whose overall health moved most between their first and latest snapshots."""
    first: dict[int, Decimal] = {}
    last: dict[int, Decimal] = {}
    for account_id, health in session.execute(
        select(AccountSnapshot.account_id, AccountSnapshot.overall_health_score)
        .where(AccountSnapshot.customer_id == customer_id)
        .order_by(
            AccountSnapshot.account_id,
            AccountSnapshot.snapshot_timestamp,
            AccountSnapshot.snapshot_id,
        )
    ):
        if health is None:  # a snapshot without a score says nothing about movement
            continue
        first.setdefault(account_id, health)
        last[account_id] = health
    names = dict(
        session.execute(
            select(Account.account_id, Account.account_name).where(
                Account.customer_id == customer_id
            )
        ).all()
    )
    movers = [
        (
            names[account_id],
            first[account_id],
            last[account_id],
            last[account_id] - first[account_id],
        )
        for account_id in first
    ]
    movers.sort(key=lambda m: (-abs(m[3]), m[0]))
    return movers[:limit]
