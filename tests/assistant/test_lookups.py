"""Typed look-ups over a captured history, on SQLite and PostgreSQL.

The history: a tenant of four accounts captured on 2 January, 2 February and 2
March 2025 (Delta Co only from February), with revenue, health, status and team
changes in between; and a second tenant whose "Acme Corp" must never show up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from tests import factories
from tidemark.assistant import lookups
from tidemark.assistant.log import log_query
from tidemark.assistant.models import RagQueryLog
from tidemark.assistant.plan import Change, Condition, Direction, NoHistory, ValueAt
from tidemark.clock import FakeClock
from tidemark.errors import InvalidInput, NotFound
from tidemark.snapshots import service as snapshots
from tidemark.snapshots.capture import capture_accounts
from tidemark.snapshots.sections import SECTION_CACHE
from tidemark.success.models import Account, HealthTrend
from tidemark.tenancy.models import Customer

JAN = datetime(2025, 1, 2, 2, 0, tzinfo=UTC)
FEB = datetime(2025, 2, 2, 2, 0, tzinfo=UTC)
MAR = datetime(2025, 3, 2, 2, 0, tzinfo=UTC)
CAPTURES = (JAN, FEB, MAR)
#: Overall health per account and capture (from the monthly health trend).
HEALTH = {
    "Acme Corp": ("70.00", "65.00", "80.00"),
    "Beta Ltd": ("60.00", "62.00", "55.00"),
    "Gamma Inc": ("80.00", "80.00", "90.00"),
    "Delta Co": (None, "50.00", "58.00"),
}


@dataclass
class History:
    """The captured tenant: ids of accounts and of each account's snapshot per capture."""

    customer_id: int
    other_customer_id: int
    accounts: dict[str, int]
    other_account: int
    #: (account name, capture time) -> snapshot id
    snapshots: dict[tuple[str, datetime], int] = field(default_factory=dict)

    def sid(self, name: str, at: datetime) -> int:
        return self.snapshots[(name, at)]


def _trend(session: Session, acct: Account, at: datetime, score: str) -> None:
    session.add(
        HealthTrend(
            customer_id=acct.customer_id,
            account_id=acct.account_id,
            year=at.year,
            month=at.month,
            overall_health_score=Decimal(score),
            product_usage_score=Decimal(score) - 5,
            support_score=Decimal(score),
            customer_sentiment_score=Decimal(score),
            business_outcomes_score=Decimal(score),
            relationship_strength_score=Decimal(score),
            created_at=at - timedelta(hours=1),
        )
    )


def _capture(session: Session, history: History, clock: FakeClock, names: list[str]) -> None:
    at = clock.now()
    result = capture_accounts(
        session, customer_id=history.customer_id, at=at, snapshot_type="scheduled"
    )
    # Accounts are captured in id order; the names were created in that order.
    for name, snapshot_id in zip(names, result.snapshot_ids, strict=True):
        history.snapshots[(name, at)] = snapshot_id


def build_history(session: Session) -> History:
    """Three monthly captures with changes in between, and another tenant beside it."""
    tenant, _ = factories.customer(session, "Northwind")
    other, _ = factories.customer(session, "Southwind")
    team = {"assigned_csm": "John Smith", "csm_manager": "Mary Major", "account_owner": "Owen"}
    acme = factories.account(
        session,
        tenant,
        "Acme Corp",
        revenue="100000",
        products=("Analytics", "Platform"),
        profile_metadata=dict(team),
    )
    beta = factories.account(session, tenant, "Beta Ltd", revenue="200000")
    gamma = factories.account(session, tenant, "Gamma Inc", revenue="50000")
    theirs = factories.account(session, other, "Acme Corp", revenue="999000")
    factories.playbook(session, acme, "voc-sprint", started_at=JAN - timedelta(days=3))
    history = History(
        tenant.customer_id,
        other.customer_id,
        {"Acme Corp": acme.account_id, "Beta Ltd": beta.account_id, "Gamma Inc": gamma.account_id},
        theirs.account_id,
    )
    clock = FakeClock(JAN)
    names = ["Acme Corp", "Beta Ltd", "Gamma Inc"]
    for acct in (acme, beta, gamma):
        _trend(session, acct, JAN, HEALTH[acct.account_name][0])
    _trend(session, theirs, JAN, "99.00")
    _capture(session, history, clock, names)
    capture_accounts(session, customer_id=other.customer_id, at=JAN, snapshot_type="scheduled")

    clock.set(FEB)
    acme.revenue = Decimal("120000")
    delta = factories.account(session, tenant, "Delta Co", revenue="10000")
    history.accounts["Delta Co"] = delta.account_id
    names.append("Delta Co")
    for acct in (acme, beta, gamma, delta):
        _trend(session, acct, FEB, HEALTH[acct.account_name][1])
    session.flush()
    _capture(session, history, clock, names)

    clock.set(MAR)
    acme.revenue = Decimal("150000")
    acme.profile_metadata = {**team, "assigned_csm": "Mary Major"}
    beta.revenue = Decimal("180000")
    beta.account_status = "at_risk"
    for acct in (acme, beta, gamma, delta):
        _trend(session, acct, MAR, HEALTH[acct.account_name][2])
    session.flush()
    _capture(session, history, clock, names)
    capture_accounts(session, customer_id=other.customer_id, at=MAR, snapshot_type="scheduled")
    session.commit()
    return history


@pytest.fixture
def history(session: Session) -> History:
    return build_history(session)


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements sent inside the block."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's transaction start
            sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


# -- value_as_of -----------------------------------------------------------------------------


def test_value_as_of_picks_the_last_snapshot_at_or_before_the_moment(
    session: Session, history: History
) -> None:
    acme = history.accounts["Acme Corp"]

    def value(at: datetime, name: str = "overall_health_score") -> ValueAt:
        result = lookups.value_as_of(
            session, customer_id=history.customer_id, account_id=acme, field=name, at=at
        )
        assert result.lookup == "value_as_of"
        assert result.snapshot_ids == [result.value.snapshot_id]
        return result.value  # type: ignore[no-any-return]

    exactly = value(FEB)
    assert exactly.value == Decimal("65.00")
    assert exactly.snapshot_id == history.sid("Acme Corp", FEB)
    assert exactly.snapshot_timestamp == FEB
    assert exactly.account_name == "Acme Corp"
    assert exactly.account_id == acme

    between = value(FEB - timedelta(microseconds=1))
    assert (between.value, between.snapshot_id) == (Decimal("70.00"), history.sid("Acme Corp", JAN))
    later = value(datetime(2025, 12, 31, tzinfo=UTC))
    assert later.snapshot_id == history.sid("Acme Corp", MAR)

    # Header and section fields keep their types.
    assert value(MAR, "revenue").value == Decimal("150000.00")
    assert value(MAR, "product_usage_score").value == Decimal("75.00")
    assert value(FEB, "assigned_csm").value == "John Smith"
    assert value(MAR, "assigned_csm").value == "Mary Major"
    assert value(MAR, "products_used").value == ["Analytics", "Platform"]
    assert value(MAR, "product_count").value == 2
    assert value(MAR, "created_at").value == MAR

    result = lookups.value_as_of(
        session, customer_id=history.customer_id, account_id=acme, field="revenue", at=FEB
    )
    assert result.arguments == {"account_id": acme, "field": "revenue", "at": FEB.isoformat()}


def test_value_as_of_before_the_first_snapshot_is_no_history(
    session: Session, history: History
) -> None:
    with pytest.raises(NoHistory) as raised:
        lookups.value_as_of(
            session,
            customer_id=history.customer_id,
            account_id=history.accounts["Delta Co"],
            field="revenue",
            at=JAN,
        )
    assert raised.value.account_name == "Delta Co"
    assert raised.value.first == FEB
    assert "first is from 2025-02-02" in str(raised.value)


def test_look_ups_refuse_another_tenants_account_and_unknown_fields(
    session: Session, history: History
) -> None:
    theirs = history.other_account
    calls = [
        lambda: lookups.value_as_of(
            session, customer_id=history.customer_id, account_id=theirs, field="revenue", at=MAR
        ),
        lambda: lookups.change_over(
            session,
            customer_id=history.customer_id,
            account_id=theirs,
            field="revenue",
            start=JAN,
            end=MAR,
        ),
        lambda: lookups.field_history(
            session,
            customer_id=history.customer_id,
            account_id=theirs,
            field="revenue",
            start=JAN,
            end=MAR,
        ),
        lambda: lookups.assignments(session, customer_id=history.customer_id, account_id=theirs),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
    with pytest.raises(InvalidInput) as raised:
        lookups.value_as_of(
            session,
            customer_id=history.customer_id,
            account_id=history.accounts["Acme Corp"],
            field="health",
            at=MAR,
        )
    assert raised.value.where == "field"


# -- change_over and field_history -----------------------------------------------------------


def test_change_over_a_window(session: Session, history: History) -> None:
    acme = history.accounts["Acme Corp"]
    result = lookups.change_over(
        session,
        customer_id=history.customer_id,
        account_id=acme,
        field="revenue",
        start=JAN,
        end=MAR,
    )
    change = result.value
    assert isinstance(change, Change)
    assert (change.before.value, change.after.value) == (Decimal("100000.00"), Decimal("150000.00"))
    assert change.delta == Decimal("50000.00")
    assert change.percent == Decimal("50.00")
    assert result.snapshot_ids == [history.sid("Acme Corp", JAN), history.sid("Acme Corp", MAR)]
    assert "start_used" not in result.arguments

    # Mid-window moments use the last snapshot before them.
    health = lookups.change_over(
        session,
        customer_id=history.customer_id,
        account_id=acme,
        field="overall_health_score",
        start=JAN + timedelta(days=10),
        end=MAR - timedelta(days=1),
    ).value
    assert (health.before.value, health.after.value) == (Decimal("70.00"), Decimal("65.00"))
    assert health.delta == Decimal("-5.00")
    assert health.percent == Decimal("-7.14")

    # Text fields change without a delta.
    status = lookups.change_over(
        session,
        customer_id=history.customer_id,
        account_id=history.accounts["Beta Ltd"],
        field="account_status",
        start=JAN,
        end=MAR,
    ).value
    assert (status.before.value, status.after.value) == ("active", "at_risk")
    assert status.delta is None and status.percent is None


def test_change_over_starts_at_the_first_snapshot_inside_the_window(
    session: Session, history: History
) -> None:
    delta_co = history.accounts["Delta Co"]
    result = lookups.change_over(
        session,
        customer_id=history.customer_id,
        account_id=delta_co,
        field="overall_health_score",
        start=JAN,
        end=MAR,
    )
    assert result.arguments["start_used"] == FEB.isoformat()
    assert result.value.before.snapshot_id == history.sid("Delta Co", FEB)
    assert result.value.delta == Decimal("8.00")
    assert result.value.percent == Decimal("16.00")

    with pytest.raises(NoHistory):
        lookups.change_over(
            session,
            customer_id=history.customer_id,
            account_id=delta_co,
            field="revenue",
            start=JAN - timedelta(days=30),
            end=JAN,
        )
    with pytest.raises(InvalidInput) as raised:
        lookups.change_over(
            session,
            customer_id=history.customer_id,
            account_id=delta_co,
            field="revenue",
            start=MAR,
            end=JAN,
        )
    assert raised.value.where == "start"


def test_field_history_lists_the_window_oldest_first(session: Session, history: History) -> None:
    acme = history.accounts["Acme Corp"]
    result = lookups.field_history(
        session,
        customer_id=history.customer_id,
        account_id=acme,
        field="overall_health_score",
        start=JAN,
        end=MAR,
    )
    assert [v.value for v in result.value] == [Decimal("70.00"), Decimal("65.00"), Decimal("80.00")]
    assert [v.snapshot_timestamp for v in result.value] == [JAN, FEB, MAR]
    assert result.snapshot_ids == [history.sid("Acme Corp", at) for at in CAPTURES]

    csm = lookups.field_history(
        session,
        customer_id=history.customer_id,
        account_id=acme,
        field="assigned_csm",
        start=JAN + timedelta(days=1),
        end=MAR,
    )
    assert [v.value for v in csm.value] == ["John Smith", "Mary Major"]

    # A window without a snapshot gives the last value before it.
    quiet = lookups.field_history(
        session,
        customer_id=history.customer_id,
        account_id=acme,
        field="revenue",
        start=FEB + timedelta(days=1),
        end=FEB + timedelta(days=2),
    )
    assert quiet.arguments["before_window"] is True
    assert [v.snapshot_id for v in quiet.value] == [history.sid("Acme Corp", FEB)]

    with pytest.raises(NoHistory):
        lookups.field_history(
            session,
            customer_id=history.customer_id,
            account_id=acme,
            field="revenue",
            start=None,
            end=JAN - timedelta(days=1),
        )


# -- ranked_changes --------------------------------------------------------------------------


def _ranked(session: Session, history: History, direction: Direction, **kw: Any) -> Any:
    return lookups.ranked_changes(
        session,
        customer_id=history.customer_id,
        field=kw.pop("field", "overall_health_score"),
        start=kw.pop("start", JAN),
        end=kw.pop("end", MAR),
        direction=direction,
        **kw,
    )


def test_ranked_changes_order_ties_and_cited_snapshots(session: Session, history: History) -> None:
    improved = _ranked(session, history, Direction.IMPROVED)
    # Acme and Gamma both rose 10 points: the tie goes by name. Delta Co has no
    # snapshot at the start, Beta fell.
    assert [(c.account_name, c.delta) for c in improved.value] == [
        ("Acme Corp", Decimal("10.00")),
        ("Gamma Inc", Decimal("10.00")),
    ]
    assert improved.snapshot_ids == [
        history.sid("Acme Corp", JAN),
        history.sid("Acme Corp", MAR),
        history.sid("Gamma Inc", JAN),
        history.sid("Gamma Inc", MAR),
    ]
    assert improved.arguments["accounts_compared"] == 3
    assert improved.arguments["accounts_starting_later"] == 1
    assert improved.arguments["direction"] == "improved"

    declined = _ranked(session, history, Direction.DECLINED)
    assert [(c.account_name, c.delta) for c in declined.value] == [("Beta Ltd", Decimal("-5.00"))]
    assert declined.value[0].percent == Decimal("-8.33")

    both = _ranked(session, history, Direction.ANY)
    assert [c.account_name for c in both.value] == ["Acme Corp", "Gamma Inc", "Beta Ltd"]
    assert [c.account_name for c in _ranked(session, history, Direction.ANY, limit=1).value] == [
        "Acme Corp"
    ]

    # From February (mid-window moments fall back to the snapshot before them).
    since_feb = _ranked(session, history, Direction.ANY, start=FEB + timedelta(days=3))
    assert [(c.account_name, c.delta) for c in since_feb.value] == [
        ("Acme Corp", Decimal("15.00")),
        ("Gamma Inc", Decimal("10.00")),
        ("Delta Co", Decimal("8.00")),
        ("Beta Ltd", Decimal("-7.00")),
    ]
    # Revenue is in the header, product usage in a section: both rank.
    revenue = _ranked(session, history, Direction.DECLINED, field="revenue")
    assert [(c.account_name, c.delta) for c in revenue.value] == [
        ("Beta Ltd", Decimal("-20000.00"))
    ]
    usage = _ranked(session, history, Direction.IMPROVED, field="product_usage_score")
    assert [c.after.value for c in usage.value] == [Decimal("75.00"), Decimal("85.00")]


def test_ranked_changes_never_show_another_tenant_and_check_input(
    session: Session, history: History
) -> None:
    everything = _ranked(session, history, Direction.ANY, start=JAN - timedelta(days=1))
    assert everything.value == []
    assert everything.arguments["accounts_compared"] == 0
    names = {c.account_id for c in _ranked(session, history, Direction.ANY).value}
    assert history.other_account not in names

    for kw, where in (
        ({"field": "account_status"}, "field"),
        ({"field": "nope"}, "field"),
        ({"start": None}, "start"),
        ({"limit": 0}, "limit"),
    ):
        with pytest.raises(InvalidInput) as raised:
            _ranked(session, history, Direction.ANY, **kw)
        assert raised.value.where == where
    with pytest.raises(InvalidInput):
        _ranked(session, history, "sideways")  # type: ignore[arg-type]


def test_every_account_look_up_runs_a_fixed_number_of_queries(
    engine: Engine, session: Session, history: History
) -> None:
    owner = session.get_one(Customer, history.customer_id)
    counts = []
    for extra in (0, 12):
        for n in range(extra):
            factories.account(session, owner, f"Extra {n:02d}")
        capture_accounts(
            session,
            customer_id=history.customer_id,
            at=MAR + timedelta(days=1),
            snapshot_type="manual",
        )
        session.commit()
        SECTION_CACHE.clear(engine)
        with statements(engine) as sent:
            ranked = _ranked(
                session,
                history,
                Direction.ANY,
                field="product_usage_score",
                end=MAR + timedelta(days=1),
            )
            matching = lookups.accounts_matching(
                session,
                customer_id=history.customer_id,
                conditions=[Condition("account_status", "=", "active")],
            )
        counts.append((len(sent), ranked.arguments["accounts_compared"], len(matching.value)))
    # Per look-up one statement for the snapshots, one for the sections not yet decoded.
    assert counts == [(4, 3, 3), (4, 3, 15)]


# -- accounts_matching -----------------------------------------------------------------------


def _matching(session: Session, history: History, *conditions: Condition, **kw: Any) -> Any:
    return lookups.accounts_matching(
        session, customer_id=history.customer_id, conditions=list(conditions), **kw
    )


def test_accounts_matching_now_and_as_of(session: Session, history: History) -> None:
    at_risk = _matching(session, history, Condition("account_status", "=", "at_risk"))
    assert [(v.account_name, v.value) for v in at_risk.value] == [("Beta Ltd", "at_risk")]
    assert at_risk.snapshot_ids == [history.sid("Beta Ltd", MAR)]
    assert at_risk.arguments["accounts_checked"] == 4
    # Only the other tenant's "Acme Corp" has such revenue.
    assert _matching(session, history, Condition("revenue", ">", "500000")).value == []

    assert (
        _matching(session, history, Condition("account_status", "=", "AT_RISK"), at=FEB).value == []
    )

    low = _matching(
        session,
        history,
        Condition("overall_health_score", "<", Decimal("63")),
        at=FEB + timedelta(1),
    )
    assert [(v.account_name, v.value) for v in low.value] == [
        ("Beta Ltd", Decimal("62.00")),
        ("Delta Co", Decimal("50.00")),
    ]
    assert low.snapshot_ids == [history.sid("Beta Ltd", FEB), history.sid("Delta Co", FEB)]
    assert low.arguments["conditions"] == [
        {"field": "overall_health_score", "op": "<", "value": "63"}
    ]
    # Before Delta Co's first snapshot only three accounts are checked.
    early = _matching(session, history, Condition("revenue", ">=", "0"), at=JAN)
    assert [v.account_name for v in early.value] == ["Acme Corp", "Beta Ltd", "Gamma Inc"]

    both = _matching(
        session,
        history,
        Condition("overall_health_score", ">=", "60"),
        Condition("revenue", "<=", "150000"),
    )
    assert [(v.account_name, v.field) for v in both.value] == [
        ("Acme Corp", "overall_health_score"),
        ("Gamma Inc", "overall_health_score"),
    ]
    team = _matching(session, history, Condition("assigned_csm", "=", "mary major"))
    assert [v.account_name for v in team.value] == ["Acme Corp"]
    # Two fields of one section, as of a moment.
    before = _matching(
        session,
        history,
        Condition("assigned_csm", "=", "John Smith"),
        Condition("account_status", "=", "active"),
        at=FEB,
    )
    assert [(v.account_name, v.value) for v in before.value] == [("Acme Corp", "John Smith")]
    uses = _matching(session, history, Condition("products_used", "=", "analytics"))
    assert [v.value for v in uses.value] == [["Analytics", "Platform"]]
    not_using = _matching(session, history, Condition("products_used", "!=", "Analytics"))
    assert [v.account_name for v in not_using.value] == ["Beta Ltd", "Delta Co", "Gamma Inc"]


def test_accounts_matching_checks_conditions(session: Session, history: History) -> None:
    for conditions, where in (
        ([], "conditions"),
        ([Condition("nope", "=", "x")], "conditions[0].field"),
        ([Condition("revenue", "=", "x")], "conditions[0].value"),
        ([Condition("revenue", "~", "1")], "conditions[0].op"),
        (
            [Condition("revenue", ">", "1"), Condition("account_status", "<", "b")],
            "conditions[1].op",
        ),
    ):
        with pytest.raises(InvalidInput) as raised:
            _matching(session, history, *conditions)
        assert raised.value.where == where


# -- assignments -----------------------------------------------------------------------------


def test_assignments_from_the_newest_snapshot_or_as_of(session: Session, history: History) -> None:
    acme = history.accounts["Acme Corp"]
    result = lookups.assignments(session, customer_id=history.customer_id, account_id=acme)
    assert result.snapshot_ids == [history.sid("Acme Corp", MAR)]
    assert result.value == {
        "assigned_csm": "Mary Major",
        "csm_manager": "Mary Major",
        "account_owner": "Owen",
        "products_used": ["Analytics", "Platform"],
        "product_count": 2,
        "playbooks_running": ["voc-sprint"],
        "playbooks_running_count": 1,
        "snapshot_timestamp": MAR,
    }
    earlier = lookups.assignments(
        session, customer_id=history.customer_id, account_id=acme, at=FEB + timedelta(days=1)
    )
    assert earlier.value["assigned_csm"] == "John Smith"
    assert earlier.snapshot_ids == [history.sid("Acme Corp", FEB)]
    # The value is the caller's to change; the decoded sections are shared.
    result.value["products_used"].append("Mobile")
    again = lookups.assignments(session, customer_id=history.customer_id, account_id=acme)
    assert again.value["products_used"] == ["Analytics", "Platform"]

    fresh = factories.account(session, session.get_one(Customer, history.customer_id), "New Co")
    with pytest.raises(NoHistory) as raised:
        lookups.assignments(session, customer_id=history.customer_id, account_id=fresh.account_id)
    assert raised.value.first is None


def test_look_ups_agree_with_the_snapshot_records(session: Session, history: History) -> None:
    """The narrow reads return what the whole-record reads of the snapshot service do."""
    for name, account_id in history.accounts.items():
        for at in CAPTURES:
            record = snapshots.as_of(
                session, customer_id=history.customer_id, account_id=account_id, at=at
            )
            if record is None:
                assert name == "Delta Co" and at == JAN
                continue
            for field_name in ("revenue", "support_score", "account_status", "total_kpis"):
                found = lookups.value_as_of(
                    session,
                    customer_id=history.customer_id,
                    account_id=account_id,
                    field=field_name,
                    at=at,
                ).value
                assert found.value == record[field_name]
                assert found.snapshot_id == record["snapshot_id"]


# -- the question log ------------------------------------------------------------------------


def test_log_query_keeps_the_question_and_its_sources(session: Session, history: History) -> None:
    acme = history.accounts["Acme Corp"]
    first = lookups.value_as_of(
        session, customer_id=history.customer_id, account_id=acme, field="revenue", at=MAR
    )
    second = lookups.change_over(
        session,
        customer_id=history.customer_id,
        account_id=acme,
        field="revenue",
        start=JAN,
        end=MAR,
    )
    row = log_query(
        session,
        customer_id=history.customer_id,
        question="How did Acme's revenue change?",
        answer="Up 50%.",
        answerer="offline",
        answerable=True,
        created_at=MAR,
        duration_ms=12,
        results=[first, second],
        intent="change",
        window_start=JAN,
        window_end=MAR,
    )
    session.commit()
    stored = session.get_one(RagQueryLog, row.query_id)
    session.refresh(stored)
    assert stored.snapshot_ids == [history.sid("Acme Corp", MAR), history.sid("Acme Corp", JAN)]
    assert stored.lookups[1] == {"lookup": "change_over", "arguments": second.arguments}
    assert (stored.window_start, stored.window_end, stored.created_at) == (JAN, MAR, MAR)
    assert stored.note_ids == [] and stored.answerable is True
    with pytest.raises(InvalidInput):
        log_query(
            session,
            customer_id=history.customer_id,
            question="?",
            answer="",
            answerer="oracle",
            answerable=False,
            created_at=MAR,
            duration_ms=1,
        )


@pytest.mark.slow
def test_lookup_benchmark_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The benchmark end to end on a tiny data set, so that it does not rot."""
    from bench import lookups as bench_lookups

    db = tmp_path / "lookups.db"
    args = ["--accounts", "8", "--days", "35", "--runs", "8", "--db", str(db)]
    assert bench_lookups.main(args) == 0
    out = capsys.readouterr().out
    assert "added 16 Thai notes" in out
    for name in ("value_as_of", "ranked_changes health (header)", "notes Thai 'ต่ออายุ'"):
        assert re.search(rf"^{re.escape(name)}\s.*\bwarm\b", out, re.MULTILINE), name
    assert re.search(r"^correlated ORDER BY .* 8\s", out, re.MULTILINE)
    # A second run reuses the data set.
    assert bench_lookups.main(args) == 0
    assert "building the data set" not in capsys.readouterr().out
