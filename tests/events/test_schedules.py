"""Scheduled snapshots: run times across zones and DST, claims, catch-up, scopes, resumable runs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from tests import factories
from tidemark import console
from tidemark.clock import FakeClock
from tidemark.console import ReportingGroup
from tidemark.db.engine import session_factory, unit_of_work
from tidemark.errors import InvalidInput, NotFound
from tidemark.events import schedules
from tidemark.events.models import ScheduleRun, SnapshotSchedule
from tidemark.events.schedule_commands import schedule_app
from tidemark.settings import get_settings
from tidemark.snapshots.capture import capture_accounts
from tidemark.snapshots.models import AccountSnapshot
from tidemark.success.models import Account, HealthTrend
from tidemark.tenancy.models import Customer


@dataclass
class Timing:
    """A schedule's timing without a database row."""

    frequency: str = "daily"
    time_of_day: str = "02:00"
    weekday: int = 0
    day_of_month: int = 1


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# -- run times -------------------------------------------------------------------------


def test_daily_runs_at_the_local_time_of_day_in_the_tenants_zone() -> None:
    bangkok = Timing(time_of_day="02:00")
    # 2026-11-22 03:00 in Bangkok (UTC+7): today's 02:00 has passed.
    after = utc(2026, 11, 21, 20, 0)
    assert schedules.next_due(bangkok, after, timezone="Asia/Bangkok") == utc(2026, 11, 22, 19, 0)
    # Strictly after: a moment that is itself a run time gives the next day's.
    assert schedules.next_due(bangkok, utc(2026, 11, 22, 19, 0), timezone="Asia/Bangkok") == utc(
        2026, 11, 23, 19, 0
    )
    # Just before it: the same day.
    assert schedules.next_due(
        bangkok, utc(2026, 11, 22, 18, 59, 59), timezone="Asia/Bangkok"
    ) == utc(2026, 11, 22, 19, 0)
    # West of UTC the local date is behind: 23:30 in Los Angeles is 07:30 UTC the next day.
    late = Timing(time_of_day="23:30")
    assert schedules.next_due(late, utc(2026, 1, 10, 12), timezone="America/Los_Angeles") == utc(
        2026, 1, 11, 7, 30
    )


def test_weekly_and_monthly_runs() -> None:
    monday = Timing(frequency="weekly", time_of_day="02:00", weekday=0)
    # Wednesday 2026-11-18 → Monday 2026-11-23 02:00 in London (GMT in winter).
    assert schedules.next_due(monday, utc(2026, 11, 18, 9), timezone="Europe/London") == utc(
        2026, 11, 23, 2
    )
    # Across the change to summer time (2026-03-29): the Monday after is at 02:00 BST = 01:00 UTC.
    assert schedules.next_due(monday, utc(2026, 3, 24, 9), timezone="Europe/London") == utc(
        2026, 3, 30, 1
    )
    sunday = Timing(frequency="weekly", time_of_day="08:15", weekday=6)
    # Sunday 2026-11-22 10:00 in Tokyo: today's 08:15 has passed, so the next Sunday's.
    assert schedules.next_due(sunday, utc(2026, 11, 22, 1), timezone="Asia/Tokyo") == utc(
        2026, 11, 28, 23, 15
    )
    monthly = Timing(frequency="monthly", time_of_day="02:00", day_of_month=28)
    # Across the year end, in a zone east of UTC: 28 January 02:00 JST is 27 January 17:00 UTC.
    assert schedules.next_due(monthly, utc(2026, 12, 28, 12), timezone="Asia/Tokyo") == utc(
        2027, 1, 27, 17
    )
    first = Timing(frequency="monthly", time_of_day="00:00", day_of_month=1)
    # Midnight on the 1st in New York is 05:00 UTC: on 1 March 03:00 UTC it is still February.
    assert schedules.next_due(first, utc(2026, 3, 1, 3), timezone="America/New_York") == utc(
        2026, 3, 1, 5
    )


def test_a_time_skipped_by_summer_time_runs_after_the_gap_once() -> None:
    # New York jumps from 02:00 to 03:00 on 2026-03-08: 02:30 does not exist that day.
    timing = Timing(time_of_day="02:30")
    zone = "America/New_York"
    gap_day = schedules.next_due(timing, utc(2026, 3, 7, 12), timezone=zone)
    assert gap_day == utc(2026, 3, 8, 7, 30)  # 03:30 EDT, as far past the change as 02:30 was
    assert gap_day.astimezone(ZoneInfo(zone)).strftime("%H:%M") == "03:30"
    assert schedules.next_due(timing, gap_day, timezone=zone) == utc(2026, 3, 9, 6, 30)


def test_a_time_repeated_by_the_change_back_runs_once_at_its_first_occurrence() -> None:
    # New York goes back from 02:00 EDT to 01:00 EST on 2026-11-01: 01:30 happens twice.
    timing = Timing(time_of_day="01:30")
    zone = "America/New_York"
    first = schedules.next_due(timing, utc(2026, 10, 31, 12), timezone=zone)
    assert first == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    # Neither from the first occurrence nor from between the two is the second one a run.
    assert schedules.next_due(timing, first, timezone=zone) == utc(2026, 11, 2, 6, 30)
    assert schedules.next_due(timing, utc(2026, 11, 1, 6, 0), timezone=zone) == utc(
        2026, 11, 2, 6, 30
    )


ZONES = (
    "UTC",
    "Asia/Bangkok",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",  # a half-hour DST change
    "Asia/Kathmandu",
    "America/Sao_Paulo",
    "America/St_Johns",
    "Africa/Casablanca",
)


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    frequency=st.sampled_from(("daily", "weekly", "monthly", "recommended")),
    hour=st.integers(0, 23),
    minute=st.sampled_from((0, 15, 30, 45, 59)),
    weekday=st.integers(0, 6),
    day=st.integers(1, 28),
    after=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31)),
)
def test_the_next_run_is_the_first_local_occurrence_after_the_moment(
    zone: str,
    frequency: str,
    hour: int,
    minute: int,
    weekday: int,
    day: int,
    after: datetime,
) -> None:
    timing = Timing(frequency, f"{hour:02d}:{minute:02d}", weekday, day)
    moment = after.replace(tzinfo=UTC)
    due = schedules.next_due(timing, moment, timezone=zone)
    assert due > moment
    tz = ZoneInfo(zone)
    wall = due.astimezone(tz)
    wall_date = datetime.combine(wall.date(), datetime.min.time())
    intended = wall_date.replace(hour=hour, minute=minute, tzinfo=tz)
    # The run is at the intended local time, or where fold=0 puts a skipped one.
    assert due == intended.astimezone(UTC) or (wall.hour, wall.minute) == (hour, minute)
    if frequency == "weekly":
        assert intended.weekday() == weekday
    if frequency == "monthly":
        assert intended.day == day
    # It is the first: the occurrence before it was not after the moment.
    if frequency == "monthly":
        month = wall.year * 12 + wall.month - 2
        before = wall.date().replace(year=month // 12, month=month % 12 + 1)
    else:
        before = wall.date() - timedelta(days=7 if frequency == "weekly" else 1)
    previous = datetime.combine(before, datetime.min.time()).replace(
        hour=hour, minute=minute, tzinfo=tz
    )
    assert previous.astimezone(UTC) <= moment
    following = schedules.next_due(timing, due, timezone=zone)
    gap = {"daily": 1, "recommended": 1, "weekly": 7, "monthly": 28}[frequency]
    assert following - due >= timedelta(days=gap) - timedelta(hours=3)


def test_several_missed_periods_make_one_catch_up_run() -> None:
    timing = Timing(time_of_day="02:00")
    first_missed = utc(2026, 11, 20, 19)
    now = utc(2026, 11, 23, 12)  # three 02:00s in Bangkok have passed
    due, following = schedules.due_and_next(timing, first_missed, now, timezone="Asia/Bangkok")
    assert due == utc(2026, 11, 22, 19)
    assert following == utc(2026, 11, 23, 19)


# -- the database ----------------------------------------------------------------------


T0 = utc(2026, 11, 20, 5, 0)  # 12:00 in Bangkok


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def make_tenant(
    engine: Engine, name: str = "Schedule Co", *, timezone: str = "Asia/Bangkok", accounts: int = 3
) -> tuple[int, list[int]]:
    """A tenant in ``timezone`` with ``accounts`` accounts; (customer id, account ids)."""
    with unit_of_work(engine, write=True) as session:
        customer, _user = factories.customer(session, name=name)
        customer.timezone = timezone
        ids = [
            factories.account(session, customer, f"{name} account {i}").account_id
            for i in range(accounts)
        ]
        return customer.customer_id, ids


def set_schedule(engine: Engine, clock: FakeClock, customer_id: int, **options: Any) -> int:
    options.setdefault("name", "nightly")
    options.setdefault("frequency", "daily")
    with unit_of_work(engine, write=True) as session:
        schedule = schedules.set_schedule(
            session, customer_id=customer_id, now=clock.now(), **options
        )
        return schedule.schedule_id


def runs_of(engine: Engine, schedule_id: int) -> list[ScheduleRun]:
    with session_factory(engine)() as session:
        return list(
            session.execute(
                select(ScheduleRun)
                .where(ScheduleRun.schedule_id == schedule_id)
                .order_by(ScheduleRun.due_at)
            ).scalars()
        )


def scheduled_per_account(engine: Engine, customer_id: int) -> dict[int, int]:
    with session_factory(engine)() as session:
        rows = session.execute(
            select(AccountSnapshot.account_id, func.count())
            .where(
                AccountSnapshot.customer_id == customer_id,
                AccountSnapshot.snapshot_type == "scheduled",
            )
            .group_by(AccountSnapshot.account_id)
        ).all()
    return {int(account_id): int(count) for account_id, count in rows}


def schedule_row(engine: Engine, schedule_id: int) -> SnapshotSchedule:
    with session_factory(engine)() as session:
        return session.get_one(SnapshotSchedule, schedule_id)


def test_schedules_are_set_listed_changed_and_deleted_per_tenant(
    engine: Engine, clock: FakeClock
) -> None:
    customer_id, _ = make_tenant(engine)
    other_id, _ = make_tenant(engine, "Other Co", timezone="UTC", accounts=0)
    schedule_id = set_schedule(engine, clock, customer_id, time_of_day="2:00")
    row = schedule_row(engine, schedule_id)
    assert (row.time_of_day, row.weekday, row.day_of_month, row.scope) == ("02:00", 0, 1, "all")
    assert row.next_run_at == utc(2026, 11, 20, 19)  # 02:00 tomorrow in Bangkok
    assert row.created_at == T0

    clock.advance(timedelta(hours=1))
    with unit_of_work(engine, write=True) as session:
        # Only the scope changes: the next run stays as it was.
        changed = schedules.set_schedule(
            session,
            customer_id=customer_id,
            name="nightly",
            frequency="daily",
            scope="health_below",
            health_threshold=70,
            now=clock.now(),
        )
        assert changed.schedule_id == schedule_id
        assert changed.health_threshold == Decimal("70.00")
        assert changed.next_run_at == utc(2026, 11, 20, 19)
        assert changed.updated_at == clock.now()
        weekly = schedules.set_schedule(
            session,
            customer_id=customer_id,
            name="weekly",
            frequency="weekly",
            weekday="fri",
            time_of_day="06:30",
            now=clock.now(),
        )
        assert weekly.weekday == 4
        # It is Friday 13:00 in Bangkok: this Friday's 06:30 has passed.
        assert weekly.next_run_at == utc(2026, 11, 26, 23, 30)
        names = [s.name for s in schedules.list_schedules(session, customer_id=customer_id)]
        assert names == ["nightly", "weekly"]
        assert schedules.list_schedules(session, customer_id=other_id) == []
        with pytest.raises(NotFound):
            schedules.get(session, customer_id=other_id, schedule_id=schedule_id)
        with pytest.raises(NotFound):
            schedules.delete(session, customer_id=other_id, schedule_id=schedule_id)
        schedules.delete(session, customer_id=customer_id, schedule_id=schedule_id)
        assert schedules.find_by_name(session, customer_id=customer_id, name="nightly") is None


BAD_SETTINGS: list[tuple[dict[str, Any], str]] = [
    ({"time_of_day": "25:00"}, "time_of_day"),
    ({"time_of_day": "02:60"}, "time_of_day"),
    ({"time_of_day": "2am"}, "time_of_day"),
    ({"frequency": "hourly"}, "frequency"),
    ({"scope": "health_below"}, "health_threshold"),
    ({"scope": "health_below", "health_threshold": 101}, "health_threshold"),
    ({"scope": "health_below", "health_threshold": "lots"}, "health_threshold"),
    ({"health_threshold": 50}, "health_threshold"),
    ({"scope": "some"}, "scope"),
    ({"frequency": "weekly", "weekday": 7}, "weekday"),
    ({"frequency": "weekly", "weekday": "someday"}, "weekday"),
    ({"frequency": "weekly", "weekday": "monkey"}, "weekday"),
    ({"frequency": "monthly", "day_of_month": 31}, "day_of_month"),
    ({"frequency": "recommended", "scope": "active_only"}, "scope"),
    ({"name": "  "}, "name"),
    ({"name": "x" * 91}, "name"),
]


def test_bad_settings_name_the_field_and_change_nothing(engine: Engine, clock: FakeClock) -> None:
    customer_id, _ = make_tenant(engine, accounts=0)
    for options, field in BAD_SETTINGS:
        with pytest.raises(InvalidInput) as caught:
            set_schedule(engine, clock, customer_id, **options)
        assert caught.value.where == field, options
    with session_factory(engine)() as session:
        assert session.execute(select(func.count()).select_from(SnapshotSchedule)).scalar() == 0


def test_downtime_across_three_periods_makes_one_catch_up_run_then_runs_on_time(
    engine: Engine, clock: FakeClock
) -> None:
    customer_id, account_ids = make_tenant(engine)
    schedule_id = set_schedule(engine, clock, customer_id)
    # Nothing is due yet.
    assert schedules.tick(engine, clock=clock, owner="w1") == 0
    # The scheduler is down for three nights (20th, 21st, 22nd at 02:00 Bangkok) and comes back.
    clock.set(utc(2026, 11, 23, 5))
    assert schedules.tick(engine, clock=clock, owner="w1") == len(account_ids)
    (catch_up,) = runs_of(engine, schedule_id)
    assert catch_up.due_at == utc(2026, 11, 22, 19)  # the most recent missed run
    assert (catch_up.state, catch_up.snapshots_created, catch_up.accounts_total) == ("done", 3, 3)
    assert catch_up.cursor_account_id == max(account_ids)
    assert schedule_row(engine, schedule_id).next_run_at == utc(2026, 11, 23, 19)
    assert schedule_row(engine, schedule_id).last_run_at == clock.now()
    # Ticking again changes nothing.
    assert schedules.tick(engine, clock=clock, owner="w1") == 0
    # The next run comes on time.
    clock.set(utc(2026, 11, 23, 19))
    assert schedules.tick(engine, clock=clock, owner="w1") == len(account_ids)
    assert [run.due_at for run in runs_of(engine, schedule_id)] == [
        utc(2026, 11, 22, 19),
        utc(2026, 11, 23, 19),
    ]
    assert scheduled_per_account(engine, customer_id) == dict.fromkeys(account_ids, 2)
    with session_factory(engine)() as session:
        reasons = set(
            session.execute(
                select(AccountSnapshot.snapshot_reason, AccountSnapshot.trigger_event).where(
                    AccountSnapshot.customer_id == customer_id
                )
            ).all()
        )
    assert reasons == {
        ("scheduled daily run 2026-11-23 02:00 Asia/Bangkok", "schedule:nightly"),
        ("scheduled daily run 2026-11-24 02:00 Asia/Bangkok", "schedule:nightly"),
    }


def test_two_schedulers_that_saw_the_same_due_run_claim_it_once(
    engine: Engine, clock: FakeClock
) -> None:
    customer_id, account_ids = make_tenant(engine)
    schedule_id = set_schedule(engine, clock, customer_id)
    clock.set(utc(2026, 11, 20, 19, 0, 5))
    # Both schedulers read the due schedules before either claims.
    with unit_of_work(engine) as session:
        seen_by_a = schedules.due_schedules(session, now=clock.now())
    with unit_of_work(engine) as session:
        seen_by_b = schedules.due_schedules(session, now=clock.now())
    assert seen_by_a == seen_by_b == [(schedule_id, utc(2026, 11, 20, 19))]
    claims = []
    for owner, seen in (("a", seen_by_a), ("b", seen_by_b)):
        with unit_of_work(engine, write=True) as session:
            run = schedules.claim_due(
                session,
                schedule_id=schedule_id,
                seen_next_run_at=seen[0][1],
                now=clock.now(),
                owner=owner,
                lease_seconds=60,
            )
            claims.append(None if run is None else run.lease_owner)
    assert claims == ["a", None]
    # b cannot work on a's leased run; a can.
    assert schedules.tick(engine, clock=clock, owner="b") == 0
    assert schedules.tick(engine, clock=clock, owner="a") == len(account_ids)
    assert len(runs_of(engine, schedule_id)) == 1


def test_two_scheduler_threads_run_each_period_once(engine: Engine, clock: FakeClock) -> None:
    customer_id, account_ids = make_tenant(engine, accounts=4)
    schedule_id = set_schedule(engine, clock, customer_id)
    days = 4
    errors: list[BaseException] = []
    for day in range(days):
        clock.set(utc(2026, 11, 20 + day, 19, 0, 1))
        barrier = threading.Barrier(2)

        def scheduler(owner: str, barrier: threading.Barrier) -> None:
            try:
                barrier.wait()
                for _ in range(3):
                    schedules.tick(engine, clock=clock, owner=owner, batch_size=1)
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        threads = [threading.Thread(target=scheduler, args=(name, barrier)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert errors == []
    runs = runs_of(engine, schedule_id)
    assert [run.due_at for run in runs] == [utc(2026, 11, 20 + day, 19) for day in range(days)]
    assert all(run.state == "done" for run in runs)
    assert scheduled_per_account(engine, customer_id) == dict.fromkeys(account_ids, days)


def test_a_run_interrupted_after_one_batch_resumes_from_its_cursor(
    engine: Engine, clock: FakeClock
) -> None:
    customer_id, account_ids = make_tenant(engine, accounts=5)
    schedule_id = set_schedule(engine, clock, customer_id)
    clock.set(utc(2026, 11, 20, 19))
    # Scheduler "a" claims the run, captures one batch of two accounts and stops.
    made = schedules.tick(
        engine, clock=clock, owner="a", batch_size=2, lease_seconds=60, max_batches=1
    )
    assert made == 2
    (run,) = runs_of(engine, schedule_id)
    assert (run.state, run.cursor_account_id, run.lease_owner) == ("running", account_ids[1], "a")
    # While a's lease holds, "b" leaves the run alone.
    clock.advance(timedelta(seconds=30))
    assert schedules.tick(engine, clock=clock, owner="b", batch_size=2) == 0
    # a's lease runs out: b takes the run over and finishes it from the cursor.
    clock.advance(timedelta(seconds=31))
    assert schedules.tick(engine, clock=clock, owner="b", batch_size=2) == 3
    (run,) = runs_of(engine, schedule_id)
    assert (run.state, run.snapshots_created, run.lease_owner) == ("done", 5, None)
    assert scheduled_per_account(engine, customer_id) == dict.fromkeys(account_ids, 1)
    # a, back, finds nothing to do.
    assert schedules.tick(engine, clock=clock, owner="a", batch_size=2) == 0


def test_a_batch_that_fails_is_recorded_and_retried_without_double_snapshots(
    engine: Engine, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer_id, account_ids = make_tenant(engine, accounts=5)
    schedule_id = set_schedule(engine, clock, customer_id)
    clock.set(utc(2026, 11, 20, 19))
    calls = {"n": 0}

    def failing_second_batch(session: Session, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            # Half of the batch is written before the failure; the rollback must undo it.
            capture_accounts(session, **{**kwargs, "account_ids": kwargs["account_ids"][:1]})
            raise RuntimeError("database went away")
        return capture_accounts(session, **kwargs)

    monkeypatch.setattr(schedules, "capture_accounts", failing_second_batch)
    assert schedules.tick(engine, clock=clock, owner="a", batch_size=2, lease_seconds=60) == 2
    (run,) = runs_of(engine, schedule_id)
    assert run.state == "running"
    assert run.cursor_account_id == account_ids[1]
    assert run.error == "RuntimeError: database went away"
    assert run.lease_owner is None
    assert scheduled_per_account(engine, customer_id) == dict.fromkeys(account_ids[:2], 1)
    # Nobody retries before the back-off; then any scheduler does, from the cursor.
    assert schedules.tick(engine, clock=clock, owner="a", batch_size=2) == 0
    clock.advance(timedelta(seconds=60))
    assert schedules.tick(engine, clock=clock, owner="b", batch_size=2) == 3
    (run,) = runs_of(engine, schedule_id)
    assert (run.state, run.snapshots_created, run.error) == ("done", 5, None)
    assert scheduled_per_account(engine, customer_id) == dict.fromkeys(account_ids, 1)


def test_a_new_period_closes_a_run_still_going_from_the_last(
    engine: Engine, clock: FakeClock
) -> None:
    customer_id, _ = make_tenant(engine, accounts=3)
    schedule_id = set_schedule(engine, clock, customer_id)
    clock.set(utc(2026, 11, 20, 19))
    schedules.tick(engine, clock=clock, owner="a", batch_size=1, max_batches=1)
    clock.set(utc(2026, 11, 21, 19))
    assert schedules.tick(engine, clock=clock, owner="b", batch_size=1) == 3
    old, new = runs_of(engine, schedule_id)
    assert old.state == "failed"
    assert old.error == "superseded by the run due at 2026-11-21T19:00:00+00:00"
    assert (new.state, new.snapshots_created) == ("done", 3)


def test_a_disabled_schedule_does_not_run_until_enabled(engine: Engine, clock: FakeClock) -> None:
    customer_id, _ = make_tenant(engine)
    schedule_id = set_schedule(engine, clock, customer_id, enabled=False)
    clock.set(utc(2026, 11, 25))
    assert schedules.tick(engine, clock=clock, owner="a") == 0
    set_schedule(engine, clock, customer_id, enabled=True)
    # Enabling starts from now: the days it was off are not caught up.
    assert schedule_row(engine, schedule_id).next_run_at == utc(2026, 11, 25, 19)
    assert runs_of(engine, schedule_id) == []


def test_a_run_now_at_a_due_time_covers_that_period(engine: Engine, clock: FakeClock) -> None:
    customer_id, _ = make_tenant(engine)
    schedule_id = set_schedule(engine, clock, customer_id)
    clock.set(utc(2026, 11, 20, 19))
    run = schedules.run_now(engine, customer_id=customer_id, name="nightly", clock=clock, owner="c")
    assert (run.state, run.snapshots_created, run.due_at) == ("done", 3, clock.now())
    # The scheduler moves on without a second run for the same moment.
    assert schedules.tick(engine, clock=clock, owner="a") == 0
    assert len(runs_of(engine, schedule_id)) == 1
    assert schedule_row(engine, schedule_id).next_run_at == utc(2026, 11, 21, 19)


def test_a_tenants_new_time_zone_moves_its_next_runs(engine: Engine, clock: FakeClock) -> None:
    from tidemark.tenancy import config

    customer_id, _ = make_tenant(engine)
    schedule_id = set_schedule(engine, clock, customer_id)
    assert schedule_row(engine, schedule_id).next_run_at == utc(2026, 11, 20, 19)
    with unit_of_work(engine, write=True) as session:
        config.update(
            session,
            customer_id=customer_id,
            changes={"timezone": "America/New_York"},
            now=clock.now(),
        )
    # 02:00 in New York is 07:00 UTC; it is midnight there now.
    assert schedule_row(engine, schedule_id).next_run_at == utc(2026, 11, 20, 7)


# -- which accounts --------------------------------------------------------------------


def add_trend(session: Session, customer_id: int, account_id: int, score: str) -> None:
    session.add(
        HealthTrend(
            customer_id=customer_id,
            account_id=account_id,
            year=2026,
            month=11,
            overall_health_score=Decimal(score),
        )
    )
    session.flush()


def capture(session: Session, customer_id: int, account_ids: list[int], at: datetime) -> None:
    capture_accounts(
        session, customer_id=customer_id, at=at, snapshot_type="manual", account_ids=account_ids
    )


def selected(session: Session, schedule_id: int, at: datetime) -> set[int]:
    schedule = session.get_one(SnapshotSchedule, schedule_id)
    return set(schedules.accounts_for_run(session, schedule=schedule, at=at))


def test_scopes_pick_all_active_or_unhealthy_accounts(engine: Engine, clock: FakeClock) -> None:
    with unit_of_work(engine, write=True) as session:
        customer, _ = factories.customer(session)
        make = factories.account
        healthy = make(session, customer, "Healthy", kpi_value="80").account_id
        low_trend = make(session, customer, "Low trend").account_id
        low_snapshot = make(session, customer, "Low snapshot", kpi_value="10").account_id
        inactive = make(session, customer, "Inactive", account_status="inactive").account_id
        unknown = make(session, customer, "Never scored").account_id
        # A trend says 60 although the KPIs would score it healthy; the trend wins, as in capture.
        add_trend(session, customer.customer_id, low_trend, "60")
        add_trend(session, customer.customer_id, healthy, "85")
        capture(session, customer.customer_id, [low_snapshot, healthy], T0 - timedelta(days=2))
        customer_id = customer.customer_id
    other_id, other_accounts = make_tenant(engine, "Other Co")
    everyone = set_schedule(engine, clock, customer_id, name="all")
    active = set_schedule(engine, clock, customer_id, name="active", scope="active_only")
    unhealthy = set_schedule(
        engine, clock, customer_id, name="unhealthy", scope="health_below", health_threshold=70
    )
    with session_factory(engine)() as session:
        assert selected(session, everyone, T0) == {
            healthy,
            low_trend,
            low_snapshot,
            inactive,
            unknown,
        }
        assert selected(session, active, T0) == {healthy, low_trend, low_snapshot, unknown}
        assert selected(session, unhealthy, T0) == {low_trend, low_snapshot}
        schedule = session.get_one(SnapshotSchedule, everyone)
        # Resuming after a cursor, a page at a time.
        ordered = sorted([healthy, low_trend, low_snapshot, inactive, unknown])
        assert (
            schedules.accounts_for_run(
                session, schedule=schedule, at=T0, after_account_id=ordered[1], limit=2
            )
            == ordered[2:4]
        )
        assert schedules.count_accounts_for_run(session, schedule=schedule, at=T0) == 5
    assert not set(other_accounts) & {healthy, low_trend, low_snapshot, inactive, unknown}
    assert other_id != customer_id


def test_the_recommended_schedule_follows_the_frequency_table(
    engine: Engine, clock: FakeClock
) -> None:
    now = utc(2026, 11, 20, 19)
    with unit_of_work(engine, write=True) as session:
        customer, _ = factories.customer(session)
        customer_id = customer.customer_id
        made: dict[str, int] = {}
        for name, fields in (
            ("high value", {"revenue": "2500000"}),
            ("at risk", {}),
            ("flagged at risk", {"account_status": "at_risk"}),
            ("playbook running", {}),
            ("playbook finished", {}),
            ("standard fresh", {}),
            ("standard a week old", {}),
            ("standard never captured", {}),
            ("inactive fresh", {"account_status": "inactive"}),
            ("inactive a month old", {"account_status": "inactive"}),
            ("churned never captured", {"account_status": "churn"}),
        ):
            made[name] = factories.account(session, customer, name, **fields).account_id
        add_trend(session, customer_id, made["at risk"], "64.5")
        factories.playbook(session, session.get_one(Account, made["playbook running"]), "voc")
        factories.playbook(
            session,
            session.get_one(Account, made["playbook finished"]),
            "renewal-safeguard",
            completed_at=T0 - timedelta(days=30),
        )
        daily = ["high value", "at risk", "flagged at risk", "playbook running"]
        capture(session, customer_id, [made[n] for n in daily], now - timedelta(hours=1))
        capture(session, customer_id, [made["standard fresh"]], now - timedelta(days=6, hours=22))
        # Half an hour short of a week: a run that was a little late last week counts.
        capture(
            session,
            customer_id,
            [made["standard a week old"]],
            now - timedelta(days=7) + timedelta(minutes=30),
        )
        capture(session, customer_id, [made["playbook finished"]], now - timedelta(days=2))
        capture(session, customer_id, [made["inactive fresh"]], now - timedelta(days=20))
        capture(session, customer_id, [made["inactive a month old"]], utc(2026, 10, 20, 19, 30))
    schedule_id = set_schedule(
        engine, clock, customer_id, name="recommended", frequency="recommended"
    )
    with session_factory(engine)() as session:
        names = {account_id: name for name, account_id in made.items()}
        assert {names[i] for i in selected(session, schedule_id, now)} == {
            *daily,
            "standard a week old",
            "standard never captured",
            "inactive a month old",
            "churned never captured",
        }
        # A day later: the daily ones again, and the standard one that has come of age.
        later = {names[i] for i in selected(session, schedule_id, now + timedelta(days=1))}
        assert later >= {*daily, "standard fresh"}
        assert "inactive fresh" not in later
        assert "playbook finished" not in later


def test_a_recommended_run_captures_the_daily_accounts_every_day(
    engine: Engine, clock: FakeClock
) -> None:
    with unit_of_work(engine, write=True) as session:
        customer, _ = factories.customer(session)
        customer.timezone = "UTC"
        big = factories.account(session, customer, "Big", revenue="1000000.01").account_id
        small = factories.account(session, customer, "Small", revenue="1000000").account_id
        customer_id = customer.customer_id
    set_schedule(engine, clock, customer_id, name="recommended", frequency="recommended")
    for day in range(8):
        clock.set(utc(2026, 11, 21 + day, 2))
        schedules.tick(engine, clock=clock, owner="w")
    # Eight daily runs: the high-value account each day, the standard one weekly.
    assert scheduled_per_account(engine, customer_id) == {big: 8, small: 2}


# -- the command line ------------------------------------------------------------------


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`tidemark schedule ...` on the test's database, the clock pinned."""
    root = typer.Typer(cls=ReportingGroup)

    @root.callback()
    def main() -> None:
        """The command line."""

    root.add_typer(schedule_app)
    monkeypatch.setenv("TIDEMARK_DATABASE_URL", database_url)
    monkeypatch.setenv("TIDEMARK_NOW", "2026-11-20T19:00:00+00:00")
    monkeypatch.setattr(console.out, "width", 200)
    get_settings.cache_clear()

    def run(*args: str, code: int = 0) -> Any:
        result = CliRunner().invoke(root, list(args), catch_exceptions=False)
        assert result.exit_code == code, f"{args}: {result.stdout}{result.stderr}"
        return result

    yield run
    get_settings.cache_clear()


def test_the_schedule_commands_work_end_to_end(cli: Any, engine: Engine) -> None:
    customer_id, account_ids = make_tenant(engine)
    created = cli("schedule", "set", "nightly", "--frequency", "daily", "--at", "02:00")
    assert (
        "Created schedule nightly: daily at 02:00, all accounts; next run 2026-11-22 02:00 "
        "Asia/Bangkok." in " ".join(created.stdout.split())
    )
    cli(
        "schedule",
        "set",
        "at-risk",
        "--customer",
        "schedule co",
        "--below",
        "70",
        "--weekday",
        "mon",
        "--frequency",
        "weekly",
        "--disable",
    )
    listed = json.loads(cli("schedule", "list", "--json").stdout)
    assert [(s["name"], s["scope"], s["enabled"], s["weekday"]) for s in listed] == [
        ("at-risk", "health_below", False, 0),
        ("nightly", "all", True, 0),
    ]
    assert listed[1]["next_run_local"] == "2026-11-22 02:00"
    table = cli("schedule", "list").stdout
    assert "nightly" in table and "health below 70.00" in table

    ran = json.loads(cli("schedule", "run-now", "nightly", "--json").stdout)
    assert (ran["state"], ran["snapshots_created"], ran["accounts_total"]) == ("done", 3, 3)
    assert scheduled_per_account(engine, customer_id) == dict.fromkeys(account_ids, 1)

    failed = cli("schedule", "set", "bad", "--at", "25:00", code=1)
    assert "time_of_day: '25:00' is not a time of day" in " ".join(failed.stderr.split())
    missing = cli("schedule", "run-now", "nowhere", code=1)
    assert "snapshot schedule 'nowhere' not found" in missing.stderr
    cli("schedule", "delete", "nightly")
    assert [s["name"] for s in json.loads(cli("schedule", "list", "--json").stdout)] == ["at-risk"]


def test_every_schedule_command_has_help_with_an_example() -> None:
    for command in schedule_app.registered_commands:
        assert command.callback is not None
        assert "Example: tidemark schedule " in (command.callback.__doc__ or "")


def test_a_tenant_with_a_broken_time_zone_does_not_hold_up_the_others(
    engine: Engine, clock: FakeClock
) -> None:
    broken_id, _ = make_tenant(engine, "Broken Co")
    fine_id, fine_accounts = make_tenant(engine, "Fine Co")
    broken = set_schedule(engine, clock, broken_id)
    fine = set_schedule(engine, clock, fine_id)
    with unit_of_work(engine, write=True) as session:
        session.get_one(Customer, broken_id).timezone = "Atlantis/Capital"
    clock.set(utc(2026, 11, 20, 19))
    assert schedules.tick(engine, clock=clock, owner="w") == len(fine_accounts)
    assert len(runs_of(engine, fine)) == 1
    assert runs_of(engine, broken) == []
    assert schedule_row(engine, broken).next_run_at == utc(2026, 11, 20, 19)  # still due
