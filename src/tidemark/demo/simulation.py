"""The demo year, simulated event by event on a moving clock.

Everything happens in time order: a heap of scheduled events is drained while a
``FakeClock`` moves forward, so every row written carries the simulated time
at which it happened and every snapshot is captured as of that time, through
the same ``capture_accounts`` path a live system uses. The clock never stands
still: each event runs at least one second after the previous one, so
snapshot times are strictly increasing per account.

All randomness comes from one ``random.Random(seed)`` consumed in a fixed order;
nothing reads the wall clock.
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from types import SimpleNamespace
from typing import Any, Final, cast

from sqlalchemy import Insert, Table, Update, bindparam, insert, select, update
from sqlalchemy.orm import Session

from tidemark.clock import FakeClock
from tidemark.demo import notes as note_text
from tidemark.demo.course import TECHCORP, Course, MonthFigures, draw_course
from tidemark.demo.kpi_values import FORMATS, WEIGHTS, UploadRow, kpi_reading, upload_file
from tidemark.demo.playbooks import (
    EXPANSION_TIMING,
    PLAYBOOKS,
    RENEWAL_SAFEGUARD,
    VOC_SPRINT,
    ReportPeople,
    build_report,
)
from tidemark.demo.profiles import (
    ACCOUNT_OWNERS,
    ACCOUNTS,
    CATEGORY_WEIGHTS,
    CSM_MANAGER,
    CSM_TEAM,
    CUSTOMER_EMAIL,
    CUSTOMER_NAME,
    DECLINING,
    FIRST_NAMES,
    IMPROVING,
    LAST_NAMES,
    STABLE,
    THAI_FIRST_NAMES,
    THAI_LAST_NAMES,
    USER_EMAIL,
    USER_NAME,
    AccountProfile,
)
from tidemark.demo.timeline import (
    MONTHS,
    QUIET_BEFORE_NOW,
    add_months,
    cycle_time,
    history_months,
)
from tidemark.snapshots.capture import capture_accounts
from tidemark.snapshots.source import computed_category_scores
from tidemark.success.catalog import STANDARD_KPIS
from tidemark.success.models import (
    KPI,
    Account,
    AccountNote,
    HealthTrend,
    KPIReferenceRange,
    KPITimeSeries,
    KPIUpload,
    PlaybookExecution,
    PlaybookReport,
    PlaybookTrigger,
    Product,
)
from tidemark.success.scoring import CATEGORY_FIELDS, STATUS_POINTS, kpi_status, overall_score
from tidemark.success.triggers import check_condition, condition_met
from tidemark.tenancy import service as tenancy
from tidemark.tenancy.models import CATEGORIES, CustomerConfig

Progress = Callable[[str, int, int], object]

PROGRESS_STAGE: Final = "Simulating 12 months of history"
#: Months a playbook type waits before it runs again for the same account.
PLAYBOOK_COOLDOWN: Final = 6
#: Months between two playbooks of any type for one account.
PLAYBOOK_GAP: Final = 4
#: Playbooks the CS team starts at most in a month.
STARTS_PER_MONTH: Final = 1
#: Product Usage KPIs are measured per product (the account's primary one).
PRODUCT_CATEGORY: Final = "Product Usage"

_TICK = timedelta(seconds=1)
_CHAMPION_TITLES = (
    "VP Operations",
    "Director of Customer Experience",
    "Head of Analytics",
    "IT Manager",
    "COO",
    "Head of Digital",
)
_CSM_BY_REGION = {
    "North America": (CSM_TEAM[0], CSM_TEAM[1]),
    "LATAM": (CSM_TEAM[1],),
    "EMEA": (CSM_TEAM[1], CSM_TEAM[2]),
    "APAC": (CSM_TEAM[3], CSM_TEAM[2]),
}


def kpi_statements(customer_id: int) -> tuple[Insert, Update]:
    """The insert of an account's first KPIs and the update of later months, by name."""
    table = cast(Table, KPI.__table__)
    first = insert(table).values(
        customer_id=customer_id,
        account_id=bindparam("b_account"),
        product_id=bindparam("b_product"),
        upload_id=bindparam("b_upload"),
        category=bindparam("b_category"),
        kpi_parameter=bindparam("b_parameter"),
        data=bindparam("b_data"),
        value=bindparam("b_value"),
        impact_level=bindparam("b_impact"),
        weight=bindparam("b_weight"),
        measurement_frequency=bindparam("b_frequency"),
        created_at=bindparam("b_at"),
    )
    later = (
        update(table)
        .where(
            table.c.customer_id == customer_id,
            table.c.account_id == bindparam("b_account"),
            table.c.kpi_parameter == bindparam("b_parameter"),
        )
        .values(
            upload_id=bindparam("b_upload"),
            data=bindparam("b_data"),
            value=bindparam("b_value"),
            updated_at=bindparam("b_at"),
        )
    )
    return first, later


@dataclass(eq=False, slots=True)
class SimAccount:
    """The simulation's view of one account."""

    index: int
    profile: AccountProfile
    course: Course
    row: Account
    products: list[Product]
    csm: str
    owner: str
    champions: list[dict[str, str]]
    qbr_day: int
    has_kpis: bool = False
    data: dict[str, str] = field(default_factory=dict)
    months: dict[int, MonthFigures] = field(default_factory=dict)
    running: dict[str, PlaybookExecution] = field(default_factory=dict)
    last_started: dict[str, int] = field(default_factory=dict)
    start_pending: bool = False
    last_qbr: date | None = None

    @property
    def churned(self) -> bool:
        """Whether the account has left."""
        return self.row.account_status == "churn"

    def latest(self) -> MonthFigures | None:
        """The figures of the latest simulated month."""
        return self.months[max(self.months)] if self.months else None


@dataclass(order=True, slots=True)
class _Event:
    at: datetime
    seq: int
    action: Callable[[], None] = field(compare=False)


class DemoSimulation:
    """Build the demo tenant and simulate its year; ``run`` returns the tenant id."""

    def __init__(
        self, session: Session, *, now: datetime, seed: int, progress: Progress | None
    ) -> None:
        self.session = session
        self.now = now
        self.rng = random.Random(seed)
        self.progress = progress
        self.months = history_months(now)
        self.cutoff = now - QUIET_BEFORE_NOW
        first_cycle = cycle_time(*self.months[0])
        self.start = first_cycle - timedelta(days=2, hours=1)
        self.clock = FakeClock(self.start)
        self.events: list[_Event] = []
        self.seq = 0
        self.k = -1
        self.accounts: list[SimAccount] = []
        self.ranges: dict[str, tuple[str, Decimal, Decimal]] = {}
        self.triggers: dict[str, PlaybookTrigger] = {}
        self.upload_version = 0
        self.customer_id = 0
        self.user_id = 0

    # -- the event loop -------------------------------------------------------------------

    def schedule(self, at: datetime, action: Callable[[], None]) -> None:
        """Run ``action`` at ``at``; events after the quiet hour before ``now`` never happen."""
        if at >= self.cutoff:
            return
        self.seq += 1
        heapq.heappush(self.events, _Event(at, self.seq, action))

    def advance(self, at: datetime) -> datetime:
        """Move the clock to ``at``, or one tick past the last event when that is later."""
        self.clock.set(max(at, self.clock.now() + _TICK))
        return self.clock.now()

    def run(self) -> int:
        """Simulate the whole year and take the closing manual snapshot."""
        self.setup()
        for k, (year, month) in enumerate(self.months):
            self.schedule(cycle_time(year, month), partial(self.month_cycle, k))
        self.schedule_weekly()
        self.schedule_techcorp_playbooks()
        while self.events:
            event = heapq.heappop(self.events)
            self.advance(event.at)
            event.action()
        self.report_progress(MONTHS)
        self.manual_snapshot()
        return self.customer_id

    def report_progress(self, done: int) -> None:
        """Tell the caller how many months are done (one stage, so one progress bar)."""
        if self.progress is not None:
            self.progress(PROGRESS_STAGE, done, MONTHS)

    def capture(
        self,
        snapshot_type: str,
        account_ids: Sequence[int] | None = None,
        *,
        reason: str | None = None,
        trigger_event: str | None = None,
        created_by: int | None = None,
    ) -> None:
        """Snapshot accounts as of the clock, after writing out what is pending."""
        self.session.flush()
        capture_accounts(
            self.session,
            customer_id=self.customer_id,
            at=self.clock.now(),
            snapshot_type=snapshot_type,
            account_ids=account_ids,
            reason=reason,
            trigger_event=trigger_event,
            created_by=created_by,
        )

    # -- setup ----------------------------------------------------------------------------

    def setup(self) -> None:
        """The tenant, its user, triggers, accounts and products, before the first upload."""
        at = self.clock.now()
        customer = tenancy.create(
            self.session,
            name=CUSTOMER_NAME,
            email=CUSTOMER_EMAIL,
            category_weights=dict(CATEGORY_WEIGHTS),
        )
        customer.created_at = at
        self.customer_id = customer.customer_id
        config = self.session.execute(
            select(CustomerConfig).where(CustomerConfig.customer_id == self.customer_id)
        ).scalar_one()
        config.created_at = at
        config.kpi_upload_mode = "account_rollup"
        user = tenancy.create_user(
            self.session, customer_id=self.customer_id, name=USER_NAME, email=USER_EMAIL
        )
        user.created_at = at
        self.user_id = user.user_id
        for row in self.session.execute(
            select(KPIReferenceRange).where(KPIReferenceRange.customer_id == self.customer_id)
        ).scalars():
            row.updated_at = at
            self.ranges[row.kpi_parameter] = (
                row.direction,
                row.critical_threshold,
                row.risk_threshold,
            )
        for playbook in PLAYBOOKS.values():
            check_condition(playbook.trigger)
            trigger = PlaybookTrigger(
                customer_id=self.customer_id,
                playbook_type=playbook.playbook_id,
                trigger_conditions=dict(playbook.trigger),
                auto_trigger_enabled=True,
                created_at=at,
            )
            self.session.add(trigger)
            self.triggers[playbook.playbook_id] = trigger

        created = self.advance(at + timedelta(hours=1))
        for index, profile in enumerate(ACCOUNTS):
            self.accounts.append(self.new_account(index, profile, created))
        self.session.flush()

    def new_account(self, index: int, profile: AccountProfile, at: datetime) -> SimAccount:
        """One account with its products and profile, as imported from the CRM."""
        rng = self.rng
        course = draw_course(rng, profile)
        csms = _CSM_BY_REGION[profile.region]
        csm = CSM_TEAM[0] if profile.name == TECHCORP else csms[index % len(csms)]
        owner = ACCOUNT_OWNERS[index % len(ACCOUNT_OWNERS)]
        first, last = (
            (THAI_FIRST_NAMES, THAI_LAST_NAMES) if profile.thai else (FIRST_NAMES, LAST_NAMES)
        )
        count = 3 if profile.trajectory == DECLINING else rng.choice((1, 2, 2, 3))
        names: list[str] = []
        while len(names) < count:
            name = f"{rng.choice(first)} {rng.choice(last)}"
            if name not in names:
                names.append(name)
        titles = rng.sample(_CHAMPION_TITLES, count)
        champions = [
            {"name": name, "status": "active", "title": title}
            for name, title in zip(names, titles, strict=True)
        ]
        row = Account(
            customer_id=self.customer_id,
            account_name=profile.name,
            revenue=profile.revenue,
            industry=profile.industry,
            region=profile.region,
            account_status="active",
            external_account_id=f"ACC-{1001 + index}",
            profile_metadata={},
            created_at=at,
        )
        self.session.add(row)
        self.session.flush()
        products = [
            Product(
                customer_id=self.customer_id,
                account_id=row.account_id,
                product_name=name,
                created_at=at,
            )
            for name in profile.products
        ]
        self.session.add_all(products)
        account = SimAccount(
            index=index,
            profile=profile,
            course=course,
            row=row,
            products=products,
            csm=csm,
            owner=owner,
            champions=champions,
            qbr_day=10 + index % 10,
        )
        # The QBR before the year started, on the account's quarterly rhythm.
        first_qbr = next(k for k in range(3) if (k + index) % 3 == 0)
        year, month = add_months(*self.months[first_qbr], -3)
        account.last_qbr = date(year, month, account.qbr_day)
        row.profile_metadata = self.profile_metadata(account, k=0)
        return account

    def profile_metadata(self, account: SimAccount, *, k: int) -> dict[str, Any]:
        """The account's profile as the CRM holds it in month ``k``."""
        profile = account.profile
        onboarding = profile.onboarding and k < 3
        renewal_in = None if profile.renewal_month is None else profile.renewal_month - k
        if onboarding:
            stage = "onboarding"
        elif renewal_in is not None and 0 <= renewal_in <= 2:
            stage = "renewal"
        elif profile.trajectory == IMPROVING or profile.onboarding:
            stage = "growth"
        else:
            stage = "mature"
        latest = account.latest()
        relationship = latest.categories.get("Relationship Strength") if latest else None
        overall = latest.overall if latest else None
        if relationship is not None and overall is not None:
            score = float(round((relationship * 3 + overall * 2) / 5, 1))
        else:
            score = None
        last_qbr = account.last_qbr
        next_qbr = None
        if last_qbr is not None:
            year, month = add_months(last_qbr.year, last_qbr.month, 3)
            next_qbr = date(year, month, account.qbr_day)
        return {
            "assigned_csm": account.csm,
            "csm_manager": CSM_MANAGER,
            "account_owner": account.owner,
            "account_tier": profile.tier,
            "products_used": list(profile.products),
            "primary_product": profile.products[0],
            "engagement": {
                "lifecycle_stage": stage,
                "onboarding_status": "in_progress" if onboarding else "complete",
                "last_qbr_date": last_qbr.isoformat() if last_qbr else None,
                "next_qbr_date": next_qbr.isoformat() if next_qbr else None,
                "score": score,
            },
            "champions": [dict(c) for c in account.champions],
        }

    def schedule_weekly(self) -> None:
        """A scheduled snapshot of every account each Monday at 02:00, from the first upload."""
        first = cycle_time(*self.months[0]).date() + timedelta(days=1)
        monday = first + timedelta(days=(7 - first.weekday()) % 7)
        at = datetime(monday.year, monday.month, monday.day, 2, tzinfo=UTC)
        while at < self.cutoff:
            self.schedule(at, self.weekly_snapshot)
            at += timedelta(days=7)

    def weekly_snapshot(self) -> None:
        """The weekly scheduled snapshot of all accounts."""
        self.capture("scheduled", reason="Weekly scheduled snapshot")

    def schedule_techcorp_playbooks(self) -> None:
        """Seed 004's three TechCorp executions: started late in the year, still running."""
        techcorp = self.account_named(TECHCORP)
        plan = (
            (VOC_SPRINT, 9, 12, 10),
            (RENEWAL_SAFEGUARD, 10, 6, 11),
            (EXPANSION_TIMING, 10, 19, 14),
        )
        for playbook_id, k, day, hour in plan:
            year, month = self.months[k]
            at = datetime(year, month, day, hour, tzinfo=UTC)
            self.schedule(at, partial(self.start_playbook, techcorp, playbook_id, auto=False))
        # Their reports are viewed after the last upload, so they show progress so far.
        last_cycle = cycle_time(*self.months[-1])
        for minutes, (playbook_id, *_) in enumerate(plan, start=100):
            self.schedule(
                last_cycle + timedelta(minutes=minutes),
                partial(self.progress_report, techcorp, playbook_id),
            )

    def account_named(self, name: str) -> SimAccount:
        """The simulated account with this name."""
        return next(a for a in self.accounts if a.profile.name == name)

    # -- the monthly cycle ------------------------------------------------------------------

    def month_cycle(self, k: int) -> None:
        """Upload KPIs, write time series and health trends, then react to what changed."""
        self.k = k
        year, month = self.months[k]
        self.report_progress(k)
        start = self.clock.now()
        live = [a for a in self.accounts if not a.churned]
        self.upload_month(live, k, start)
        self.advance(start + timedelta(minutes=30))
        ids = [a.row.account_id for a in live]
        self.capture(
            "post_upload",
            ids,
            reason=f"KPI upload {year}-{month:02d}",
            trigger_event="kpi_data_uploaded",
        )
        trend_at = self.advance(start + timedelta(minutes=60))
        self.session.execute(
            insert(HealthTrend),
            [self.health_trend_row(a, k, trend_at) for a in live],
        )
        self.advance(start + timedelta(minutes=65))
        self.capture(
            "post_health_calc",
            ids,
            reason=f"Health scores {year}-{month:02d}",
            trigger_event="health_scores_updated",
        )
        self.advance(start + timedelta(minutes=90))
        for account in live:
            self.apply_status_rules(account, k)
        self.advance(start + timedelta(minutes=95))
        self.evaluate_triggers(k)
        for account in live:
            if not account.churned:
                self.schedule_month_activity(account, k)

    def read_month(self, account: SimAccount, k: int) -> list[UploadRow]:
        """The account's KPI readings for month ``k``, as its file lists them."""
        course = account.course
        primary = account.products[0].product_name
        category_level = {
            category: course.base
            + course.category_offsets[category]
            + course.category_sensitivity[category] * course.shift(k)
            + self.rng.gauss(0, course.category_noise)
            for category in CATEGORIES
        }
        rows: list[UploadRow] = []
        for kpi in STANDARD_KPIS:
            condition = (
                category_level[kpi.category]
                + course.kpi_offsets[kpi.name]
                + self.rng.gauss(0, course.kpi_noise)
            )
            value, text = kpi_reading(kpi, condition)
            rows.append(
                UploadRow(
                    category=kpi.category,
                    kpi_parameter=kpi.name,
                    data=text,
                    value=value,
                    impact_level=kpi.impact_level,
                    measurement_frequency=FORMATS[kpi.name].frequency,
                    product=primary if kpi.category == PRODUCT_CATEGORY else None,
                )
            )
        return rows

    def upload_month(self, accounts: list[SimAccount], k: int, start: datetime) -> None:
        """Each account's monthly KPI file: stored whole, parsed, and applied to its KPIs.

        The files arrive a minute apart; they are written in one batch per table
        so that a month costs a handful of statements, not a few per account.
        """
        year, month = self.months[k]
        uploads: list[tuple[SimAccount, KPIUpload, list[UploadRow]]] = []
        for account in accounts:
            at = self.advance(start + timedelta(minutes=account.index))
            rows = self.read_month(account, k)
            external_id = account.row.external_account_id or str(account.row.account_id)
            raw, parsed = upload_file(account.profile.name, external_id, rows)
            self.upload_version += 1
            upload = KPIUpload(
                customer_id=self.customer_id,
                account_id=account.row.account_id,
                user_id=self.user_id,
                uploaded_at=at,
                version=self.upload_version,
                original_filename=f"KPI_{external_id}_{year}-{month:02d}.csv",
                raw_file=raw,
                parsed_data=parsed,
                row_count=len(rows),
            )
            self.session.add(upload)
            uploads.append((account, upload, rows))
            values = {row.kpi_parameter: row.value for row in rows}
            account.data = {row.kpi_parameter: row.data for row in rows}
            account.months[k] = self.figures(values)
            account.row.profile_metadata = self.profile_metadata(account, k=k)
            account.row.updated_at = at
        self.session.flush()

        new_kpis: list[dict[str, Any]] = []
        changed_kpis: list[dict[str, Any]] = []
        series: list[dict[str, Any]] = []
        for account, upload, rows in uploads:
            primary_id = account.products[0].product_id
            at = upload.uploaded_at
            for row in rows:
                product_id = primary_id if row.product else None
                params = {
                    "b_account": account.row.account_id,
                    "b_parameter": row.kpi_parameter,
                    "b_upload": upload.upload_id,
                    "b_data": row.data,
                    "b_value": row.value,
                    "b_at": at,
                }
                if account.has_kpis:
                    changed_kpis.append(params)
                else:
                    new_kpis.append(
                        params
                        | {
                            "b_product": product_id,
                            "b_category": row.category,
                            "b_impact": row.impact_level,
                            "b_weight": WEIGHTS[row.impact_level],
                            "b_frequency": row.measurement_frequency,
                        }
                    )
                status = self.status_of(row.kpi_parameter, row.value)
                series.append(
                    {
                        "customer_id": self.customer_id,
                        "account_id": account.row.account_id,
                        "product_id": product_id,
                        "kpi_parameter": row.kpi_parameter,
                        "category": row.category,
                        "year": year,
                        "month": month,
                        "value": row.value,
                        "health_status": status,
                        "health_score": None if status is None else Decimal(STATUS_POINTS[status]),
                        "created_at": at,
                    }
                )
            account.has_kpis = True
        # Core statements: 625 KPI rows a month do not need the unit of work's bookkeeping.
        first, later = kpi_statements(self.customer_id)
        if new_kpis:
            self.session.execute(first, new_kpis)
        if changed_kpis:
            self.session.execute(later, changed_kpis)
        self.session.execute(insert(KPITimeSeries), series)

    def status_of(self, kpi_name: str, value: Decimal) -> str | None:
        """The KPI's health status against the tenant's reference range."""
        found = self.ranges.get(kpi_name)
        if found is None:
            return None
        direction, critical, risk = found
        return kpi_status(value, direction=direction, critical=critical, risk=risk)

    def figures(self, values: dict[str, Decimal]) -> MonthFigures:
        """Category and overall health from KPI values, by the platform's scoring formula."""
        sums = {category: [Decimal(0), Decimal(0)] for category in CATEGORIES}
        for kpi in STANDARD_KPIS:
            status = self.status_of(kpi.name, values[kpi.name])
            if status is None:
                continue
            weight = WEIGHTS[kpi.impact_level]
            sums[kpi.category][0] += weight * STATUS_POINTS[status]
            sums[kpi.category][1] += weight
        summary = SimpleNamespace(
            **{f"wp{i}": sums[c][0] for i, c in enumerate(CATEGORIES)},
            **{f"w{i}": sums[c][1] for i, c in enumerate(CATEGORIES)},
        )
        categories = computed_category_scores(summary)
        return MonthFigures(values, categories, overall_score(categories, CATEGORY_WEIGHTS))

    def health_trend_row(self, account: SimAccount, k: int, at: datetime) -> dict[str, Any]:
        """The month's HealthTrend row of an account."""
        year, month = self.months[k]
        figures = account.months[k]
        row: dict[str, Any] = {
            "customer_id": self.customer_id,
            "account_id": account.row.account_id,
            "year": year,
            "month": month,
            "overall_health_score": figures.overall,
            "created_at": at,
        }
        for category, field_name in CATEGORY_FIELDS.items():
            row[field_name] = figures.categories[category]
        return row

    def apply_status_rules(self, account: SimAccount, k: int) -> None:
        """At risk after a fall, active again after recovery, churn when it is planned."""
        old = account.row.account_status
        health = account.months[k].overall
        if account.profile.churn_month == k:
            new = "churn"
        elif health is None:
            return
        elif old == "active":
            earlier = account.months.get(k - 2)
            fell = (
                earlier is not None
                and earlier.overall is not None
                and health - earlier.overall <= -8
            )
            new = "at_risk" if health < 60 or (health < 70 and fell) else old
        elif old == "at_risk" and health >= 72 and self.held_up(account, k - 1, 68):
            new = "active"
        else:
            return
        if new == old:
            return
        at = self.advance(self.clock.now())
        account.row.account_status = new
        account.row.updated_at = at
        if new == "churn":
            for execution in account.running.values():
                execution.status = "cancelled"
                execution.updated_at = at
            account.running.clear()
        self.add_note(account, note_text.status_note(self.note_context(account), old, new))
        self.advance(at)
        self.capture(
            "event_driven",
            [account.row.account_id],
            reason=f"Status changed from {old} to {new}",
            trigger_event="account_status_changed",
        )

    @staticmethod
    def held_up(account: SimAccount, k: int, floor: int) -> bool:
        """Whether the account's health in month ``k`` was at least ``floor``."""
        figures = account.months.get(k)
        return figures is not None and figures.overall is not None and figures.overall >= floor

    def evaluate_triggers(self, k: int) -> None:
        """Start the playbooks whose triggers an account meets (TechCorp's are planned)."""
        at = self.clock.now()
        for trigger in self.triggers.values():
            trigger.last_evaluated_at = at
        if k == 0:
            return
        candidates: list[tuple[SimAccount, str]] = []
        for account in self.accounts:
            if (
                account.churned
                or account.profile.name == TECHCORP
                or account.running
                or account.start_pending
            ):
                continue
            if account.last_started and k - max(account.last_started.values()) < PLAYBOOK_GAP:
                continue
            values = self.trigger_values(account, k)
            for playbook_id in (VOC_SPRINT, RENEWAL_SAFEGUARD, EXPANSION_TIMING):
                if (
                    k - account.last_started.get(playbook_id, -PLAYBOOK_COOLDOWN)
                    < PLAYBOOK_COOLDOWN
                ):
                    continue
                if condition_met(PLAYBOOKS[playbook_id].trigger, values):
                    candidates.append((account, playbook_id))
                    break
        # A small team can only start so many playbooks a month.
        self.rng.shuffle(candidates)
        for account, playbook_id in candidates[:STARTS_PER_MONTH]:
            start = at + timedelta(days=self.rng.randint(2, 9), hours=self.rng.randint(0, 6))
            account.start_pending = True
            self.schedule(start, partial(self.start_playbook, account, playbook_id, auto=True))

    def trigger_values(self, account: SimAccount, k: int) -> dict[str, Any]:
        """The snapshot fields the trigger conditions read, from the month's figures."""
        figures = account.months[k]
        values: dict[str, Any] = {
            "overall_health_score": figures.overall,
            "account_status": account.row.account_status,
        }
        for category, field_name in CATEGORY_FIELDS.items():
            values[field_name] = figures.categories[category]
        return values

    def schedule_month_activity(self, account: SimAccount, k: int) -> None:
        """The month's notes, QBR, contract and champion changes of an account."""
        rng = self.rng
        year, month = self.months[k]
        for _ in range(rng.choice((1, 1, 1, 2, 2))):
            at = datetime(
                year, month, rng.randint(4, 27), rng.randint(9, 17), rng.randint(0, 59), tzinfo=UTC
            )
            self.schedule(at, partial(self.everyday_note, account))
        if (k + account.index) % 3 == 0:
            at = datetime(year, month, account.qbr_day, 14, tzinfo=UTC)
            self.schedule(at, partial(self.qbr, account))
        profile = account.profile
        change = self.revenue_change(account, k)
        if change is not None:
            at = datetime(year, month, rng.randint(12, 24), rng.randint(10, 16), tzinfo=UTC)
            self.schedule(at, partial(self.change_revenue, account, change))
        if profile.trajectory == DECLINING and k == self.champion_leaves_month(account):
            at = datetime(year, month, rng.randint(5, 25), 11, tzinfo=UTC)
            self.schedule(at, partial(self.champion_leaves, account))

    def revenue_change(self, account: SimAccount, k: int) -> float | None:
        """The contract change planned for month ``k``, as a factor, if any."""
        profile = account.profile
        # Each account's plan is fixed from its index, so the same months come out every run.
        if profile.trajectory == IMPROVING and k == 5 + account.index % 6:
            return 1 + self.rng.uniform(0.12, 0.25)
        renewal = profile.renewal_month
        if renewal is None or not 1 <= renewal <= 11 or k != renewal:
            return None
        if profile.trajectory == DECLINING and profile.churn_month is None:
            return 1 - self.rng.uniform(0.12, 0.22)
        if profile.trajectory == STABLE:
            return 1 + self.rng.uniform(0.03, 0.07)
        return None

    def champion_leaves_month(self, account: SimAccount) -> int:
        """When a declining account loses its champion."""
        return 4 + account.index % 4

    # -- events within a month -------------------------------------------------------------

    def note_context(self, account: SimAccount) -> note_text.NoteContext:
        """What the CSM knows about the account right now."""
        latest = account.latest()
        previous = account.months.get(self.k - 1)
        champion = account.champions[0]["name"] if account.champions else "the customer"
        profile = account.profile
        return note_text.NoteContext(
            account=profile.name,
            csm=account.csm,
            champion=champion,
            product=profile.products[0],
            other_products=tuple(
                p for p in ("Insights API", "Mobile SDK") if p not in profile.products
            )
            + profile.products[1:],
            kpis=dict(account.data),
            health=latest.overall if latest else None,
            previous_health=previous.overall if previous else None,
            sentiment=latest.categories.get("Customer Sentiment") if latest else None,
            status=account.row.account_status,
            renewal_in_months=None
            if profile.renewal_month is None
            else profile.renewal_month - self.k,
            onboarding=profile.onboarding and self.k < 3,
            on=self.clock.now().date(),
            thai=profile.thai,
        )

    def add_note(self, account: SimAccount, draft: note_text.NoteDraft) -> AccountNote:
        """Store a note written by the demo user at the current simulated time."""
        at = self.clock.now()
        champion = account.champions[0]["name"] if account.champions else None
        participants = [f"{account.csm} (CSM)"]
        if champion and draft.note_type in ("meeting", "qbr", "call"):
            participants.append(f"{champion} ({account.profile.name})")
        note = AccountNote(
            customer_id=self.customer_id,
            account_id=account.row.account_id,
            note_type=draft.note_type,
            note_title=draft.title,
            note_content=draft.content,
            created_by=self.user_id,
            created_at=at,
            meeting_date=at.date() if draft.note_type in ("meeting", "qbr", "call") else None,
            participants=participants,
            tags=list(draft.tags),
            is_important=draft.is_important,
            related_playbook_id=draft.related_playbook_id,
        )
        self.session.add(note)
        return note

    def everyday_note(self, account: SimAccount) -> None:
        """A meeting, call or email note."""
        if account.churned:
            return
        self.add_note(account, note_text.monthly_note(self.rng, self.note_context(account)))

    def qbr(self, account: SimAccount) -> None:
        """A quarterly business review: the note, and the new QBR dates on the profile."""
        if account.churned:
            return
        account.last_qbr = self.clock.now().date()
        account.row.profile_metadata = self.profile_metadata(account, k=self.k)
        account.row.updated_at = self.clock.now()
        self.add_note(account, note_text.qbr_note(self.note_context(account)))

    def change_revenue(self, account: SimAccount, factor: float) -> None:
        """An expansion or a contraction of the contract."""
        if account.churned or account.row.revenue is None:
            return
        old = account.row.revenue
        new = Decimal(round(float(old) * factor / 1000) * 1000)
        account.row.revenue = new
        account.row.updated_at = self.clock.now()
        self.add_note(account, note_text.revenue_note(self.note_context(account), old, new))

    def champion_leaves(self, account: SimAccount) -> None:
        """The primary champion leaves; the next stakeholder takes over."""
        if account.churned or not account.champions:
            return
        departed = account.champions.pop(0)
        departed["status"] = "departed"
        successor = account.champions[0] if account.champions else None
        if successor is not None:
            successor["status"] = "new"
        account.champions.append(departed)
        context = self.note_context(account)
        account.row.profile_metadata = self.profile_metadata(account, k=self.k)
        account.row.updated_at = self.clock.now()
        self.add_note(
            account,
            note_text.champion_note(
                context, departed["name"], successor["name"] if successor else None
            ),
        )

    # -- playbooks ----------------------------------------------------------------------

    def start_playbook(self, account: SimAccount, playbook_id: str, *, auto: bool) -> None:
        """Start an execution, note it, snapshot the account, and plan its end."""
        account.start_pending = False
        if account.churned or playbook_id in account.running:
            return
        playbook = PLAYBOOKS[playbook_id]
        at = self.clock.now()
        execution = PlaybookExecution(
            execution_id=str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            customer_id=self.customer_id,
            account_id=account.row.account_id,
            playbook_id=playbook_id,
            status="in-progress",
            current_step=1,
            execution_data={
                "playbook_name": playbook.name,
                "started_by": "trigger" if auto else "csm",
                "trigger_conditions": dict(playbook.trigger) if auto else None,
                "owner": account.csm,
                "steps": [
                    {"step": i + 1, "title": title, "status": "pending"}
                    for i, title in enumerate(playbook.steps)
                ],
                "baseline_month": self.k,
            },
            started_at=at,
            created_by=self.user_id,
        )
        self.session.add(execution)
        account.running[playbook_id] = execution
        account.last_started[playbook_id] = self.k
        if auto:
            self.triggers[playbook_id].last_triggered_at = at
        self.add_note(
            account,
            note_text.playbook_note(
                self.note_context(account),
                playbook_id=playbook_id,
                playbook_name=playbook.name,
                started=True,
            ),
        )
        self.advance(at)
        self.capture(
            "event_driven",
            [account.row.account_id],
            reason=f"Playbook started: {playbook.name}",
            trigger_event="playbook_execution_started",
        )
        if auto:
            low, high = playbook.duration_days
            end = at + timedelta(days=self.rng.randint(low, high), hours=self.rng.randint(0, 5))
            self.schedule(end, partial(self.complete_playbook, account, execution))

    def people(self, account: SimAccount) -> ReportPeople:
        """The names a report's RACI uses."""
        champion = account.champions[0]["name"] if account.champions else "Customer champion"
        return ReportPeople(account.profile.name, account.csm, CSM_MANAGER, account.owner, champion)

    def metrics(self, account: SimAccount, playbook_id: str, k: int) -> dict[str, float]:
        """The playbook's metrics in month ``k``."""
        figures = account.months[max(m for m in account.months if m <= k)]
        return {metric: figures.metric(metric) for metric in PLAYBOOKS[playbook_id].metrics}

    def complete_playbook(self, account: SimAccount, execution: PlaybookExecution) -> None:
        """Close an execution with its report, note it and snapshot the account."""
        if execution.status != "in-progress":
            return
        playbook = PLAYBOOKS[execution.playbook_id]
        at = self.clock.now()
        baseline = int(execution.execution_data["baseline_month"])
        before = self.metrics(account, playbook.playbook_id, baseline)
        after = self.metrics(account, playbook.playbook_id, self.k)
        report = build_report(
            playbook,
            people=self.people(account),
            started_at=execution.started_at,
            as_of=at,
            before=before,
            after=after,
            steps_completed=len(playbook.steps),
            completed=True,
        )
        execution.status = "completed"
        execution.completed_at = at
        execution.updated_at = at
        execution.current_step = len(playbook.steps)
        execution.execution_data = {
            **execution.execution_data,
            "steps": [
                {"step": i + 1, "title": title, "status": "done"}
                for i, title in enumerate(playbook.steps)
            ],
        }
        account.running.pop(playbook.playbook_id, None)
        self.session.add(
            PlaybookReport(
                execution_id=execution.execution_id,
                customer_id=self.customer_id,
                account_id=account.row.account_id,
                playbook_id=playbook.playbook_id,
                playbook_name=playbook.name,
                report_data=report,
                steps_completed=len(playbook.steps),
                status="completed",
                started_at=execution.started_at,
                completed_at=at,
                report_generated_at=at,
            )
        )
        self.add_note(
            account,
            note_text.playbook_note(
                self.note_context(account),
                playbook_id=playbook.playbook_id,
                playbook_name=playbook.name,
                started=False,
                summary=str(report["executive_summary"]),
            ),
        )
        self.advance(at)
        self.capture(
            "event_driven",
            [account.row.account_id],
            reason=f"Playbook completed: {playbook.name}",
            trigger_event="playbook_execution_completed",
        )

    def progress_report(self, account: SimAccount, playbook_id: str) -> None:
        """The in-progress report of a running execution (viewed by the CSM)."""
        execution = account.running.get(playbook_id)
        if execution is None:
            return
        playbook = PLAYBOOKS[execution.playbook_id]
        at = self.clock.now()
        steps_done = self.rng.randint(2, 3)
        baseline = int(execution.execution_data["baseline_month"])
        report = build_report(
            playbook,
            people=self.people(account),
            started_at=execution.started_at,
            as_of=at,
            before=self.metrics(account, playbook.playbook_id, baseline),
            after=self.metrics(account, playbook.playbook_id, self.k),
            steps_completed=steps_done,
            completed=False,
        )
        execution.current_step = steps_done + 1
        execution.updated_at = at
        execution.execution_data = {
            **execution.execution_data,
            "steps": [
                {"step": i + 1, "title": title, "status": "done" if i < steps_done else "pending"}
                for i, title in enumerate(playbook.steps)
            ],
        }
        self.session.add(
            PlaybookReport(
                execution_id=execution.execution_id,
                customer_id=self.customer_id,
                account_id=account.row.account_id,
                playbook_id=playbook.playbook_id,
                playbook_name=playbook.name,
                report_data=report,
                steps_completed=steps_done,
                status="in-progress",
                started_at=execution.started_at,
                completed_at=None,
                report_generated_at=at,
            )
        )

    # -- the end --------------------------------------------------------------------------

    def manual_snapshot(self) -> None:
        """The CSM's manual snapshot of TechCorp before its QBR, at ``now``."""
        self.clock.set(self.now)
        techcorp = self.account_named(TECHCORP)
        self.capture(
            "manual",
            [techcorp.row.account_id],
            reason="Pre-QBR snapshot",
            created_by=self.user_id,
        )
