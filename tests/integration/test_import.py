"""History import on SQLite and PostgreSQL: matching, derived fields, and all-or-nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from tests.factories import T0
from tidemark.errors import Conflict, InvalidInput, NotFound
from tidemark.snapshots import importer
from tidemark.snapshots import service as snapshots
from tidemark.snapshots.capture import capture_accounts
from tidemark.snapshots.importer import ImportResult, import_snapshots, read_lines
from tidemark.snapshots.models import AccountSnapshot, SnapshotSection
from tidemark.success.models import Account
from tidemark.tenancy.models import Customer

NOW = datetime(2025, 12, 31, tzinfo=UTC)
THAI = "บริษัท ไทยเทค จำกัด"


def jl(**fields: Any) -> str:
    """One line of a history file."""
    return json.dumps(fields, ensure_ascii=False)


def day(n: int) -> str:
    return (T0 + timedelta(days=n)).isoformat()


def run(session: Session, tenant: Customer, lines: Iterable[str], **kw: Any) -> ImportResult:
    return import_snapshots(
        session, customer_id=tenant.customer_id, lines=lines, now=kw.pop("now", NOW), **kw
    )


def counts(session: Session) -> tuple[int, int, int]:
    """Rows in account_snapshots, snapshot_sections and accounts."""
    return (
        session.execute(select(func.count()).select_from(AccountSnapshot)).scalar_one(),
        session.execute(select(func.count()).select_from(SnapshotSection)).scalar_one(),
        session.execute(select(func.count()).select_from(Account)).scalar_one(),
    )


def account_history(session: Session, tenant: Customer, account_id: int) -> list[dict[str, Any]]:
    return snapshots.history(
        session,
        customer_id=tenant.customer_id,
        account_id=account_id,
        since=T0 - timedelta(days=3650),
    )


def only_account(session: Session, tenant: Customer, name: str) -> Account:
    return session.execute(
        select(Account).where(
            Account.customer_id == tenant.customer_id, Account.account_name == name
        )
    ).scalar_one()


# ----------------------------------------------------------------------------- happy path


def test_import_matches_creates_and_derives_in_time_order(session: Session) -> None:
    tenant, _ = factories.customer(session)
    alpha = factories.account(session, tenant, "Alpha Industries", external_account_id="EXT-A")
    beta = factories.account(session, tenant, "Beta Labs", revenue="50000")
    session.commit()

    # Alpha by external id (once with an older name), Beta by name in another case,
    # Gamma new; lines are out of order in the file and one blank line sits inside.
    lines = [
        jl(
            external_account_id="EXT-A",
            snapshot_timestamp=day(40),
            overall_health_score=80,
            revenue=125000,
        ),
        jl(account_name="beta labs", snapshot_timestamp=day(20), overall_health_score=50),
        jl(
            account_name="Gamma GmbH",
            external_account_id="EXT-G",
            snapshot_timestamp=day(90),
            overall_health_score=61,
            revenue="2000",
            account_status="at_risk",
            industry="Retail",
            region="EMEA",
            account_tier="Mid-Market",
            assigned_csm="Jo Park",
            csm_manager="Ana Ruiz",
            account_owner="Lee Chan",
            products_used=["Core", "Sync"],
            primary_product="Core",
            lifecycle_stage="renewal",
            onboarding_status="complete",
            last_qbr_date="2025-03-01",
            next_qbr_date="2025-06-01",
            engagement_score=77.5,
            primary_champion="Mia Holt",
            champion_status="active",
        ),
        jl(
            external_account_id="EXT-A",
            snapshot_timestamp=day(0),
            overall_health_score=70,
            revenue=100000,
            snapshot_reason="Monthly export",
        ),
        "",
        jl(
            account_name="Gamma GmbH",
            snapshot_timestamp=day(10),
            overall_health_score=40,
            revenue=1000,
            account_status="active",
            industry="Wholesale",
            account_tier="SMB",
        ),
        jl(
            external_account_id="EXT-A",
            account_name="Alpha Inc (old name)",
            snapshot_timestamp=day(10),
            overall_health_score=71,
            revenue=100000,
        ),
        jl(account_name="Beta Labs", snapshot_timestamp=day(5), overall_health_score=56),
        jl(
            external_account_id="EXT-A",
            snapshot_timestamp=day(41),
            overall_health_score=79,
            revenue=120000,
            trigger_event="legacy_export",
        ),
        jl(
            account_name="GAMMA GMBH",
            snapshot_timestamp=day(50),
            overall_health_score=47,
            revenue=1100,
        ),
        jl(account_name="Beta Labs", snapshot_timestamp=day(35), overall_health_score=55),
    ]
    progress: list[int] = []
    result = run(session, tenant, lines, progress=progress.append)

    assert result.lines == 11
    assert result.accounts_matched == 2
    assert result.accounts_created == 1
    assert len(result.snapshot_ids) == 10
    assert progress == [10]

    # snapshot ids come back in file order: each id's timestamp is its line's.
    stamps = [json.loads(text)["snapshot_timestamp"] for text in lines if text]
    for snapshot_id, stamp in zip(result.snapshot_ids, stamps, strict=True):
        record = snapshots.get(session, customer_id=tenant.customer_id, snapshot_id=snapshot_id)
        assert record["snapshot_timestamp"] == datetime.fromisoformat(stamp)
        assert record["snapshot_type"] == "imported"
        assert record["created_at"] == NOW

    a = account_history(session, tenant, alpha.account_id)
    assert [r["snapshot_sequence_number"] for r in a] == [1, 2, 3, 4]
    assert [r["days_since_last_snapshot"] for r in a] == [None, 10, 30, 1]
    assert [r["health_score_change_from_last"] for r in a] == [
        None,
        Decimal("1.00"),
        Decimal("9.00"),
        Decimal("-1.00"),
    ]
    assert [r["health_score_trend"] for r in a] == ["stable", "stable", "improving", "improving"]
    assert [r["is_significant_change"] for r in a] == [False, False, True, False]
    assert [r["revenue_change_percent"] for r in a] == [
        None,
        Decimal("0.00"),
        Decimal("25.00"),
        Decimal("-4.00"),
    ]
    assert [r["account_name"] for r in a] == [
        "Alpha Industries",
        "Alpha Inc (old name)",
        "Alpha Industries",
        "Alpha Industries",
    ]
    assert {r["external_account_id"] for r in a} == {"EXT-A"}
    assert a[0]["snapshot_reason"] == "Monthly export"
    assert a[3]["trigger_event"] == "legacy_export"
    # Fields a line does not give are null, not taken from the live account.
    assert a[0]["total_kpis"] is None
    assert a[0]["support_score"] is None

    b = account_history(session, tenant, beta.account_id)
    assert [r["overall_health_score"] for r in b] == [Decimal(56), Decimal(50), Decimal(55)]
    assert [r["health_score_trend"] for r in b] == ["stable", "declining", "stable"]
    assert [r["is_significant_change"] for r in b] == [False, True, False]
    assert [r["account_name"] for r in b] == ["Beta Labs", "beta labs", "Beta Labs"]

    gamma = only_account(session, tenant, "Gamma GmbH")
    g = account_history(session, tenant, gamma.account_id)
    assert [r["snapshot_sequence_number"] for r in g] == [1, 2, 3]
    assert [r["revenue_change_percent"] for r in g] == [None, Decimal("10.00"), Decimal("81.82")]
    assert [r["is_significant_change"] for r in g] == [False, True, True]
    assert [r["account_name"] for r in g] == ["Gamma GmbH", "GAMMA GMBH", "Gamma GmbH"]
    # A line without the external id gets the account's, as a live capture would record.
    assert g[0]["external_account_id"] == "EXT-G"
    assert g[2]["products_used"] == ["Core", "Sync"]
    assert g[2]["product_count"] == 2

    # The created account takes its fields from its newest line (day 90), not the last one.
    assert gamma.external_account_id == "EXT-G"
    assert gamma.revenue == Decimal("2000.00")
    assert (gamma.account_status, gamma.industry, gamma.region) == ("at_risk", "Retail", "EMEA")
    assert gamma.created_at == NOW
    assert gamma.profile_metadata == {
        "account_tier": "Mid-Market",
        "assigned_csm": "Jo Park",
        "csm_manager": "Ana Ruiz",
        "account_owner": "Lee Chan",
        "products_used": ["Core", "Sync"],
        "primary_product": "Core",
        "engagement": {
            "lifecycle_stage": "renewal",
            "onboarding_status": "complete",
            "last_qbr_date": "2025-03-01",
            "next_qbr_date": "2025-06-01",
            "score": 77.5,
        },
        "champions": [{"name": "Mia Holt", "status": "active"}],
    }

    # Matched accounts are not modified; heads point at the newest imported snapshot.
    session.refresh(alpha)
    assert (alpha.account_name, alpha.revenue) == ("Alpha Industries", Decimal("100000.00"))
    latest = snapshots.latest(session, customer_id=tenant.customer_id)
    assert {r["account_id"]: r["snapshot_timestamp"] for r in latest} == {
        alpha.account_id: T0 + timedelta(days=41),
        beta.account_id: T0 + timedelta(days=35),
        gamma.account_id: T0 + timedelta(days=90),
    }


def test_a_created_account_is_captured_like_any_other(session: Session) -> None:
    tenant, _ = factories.customer(session)
    result = run(
        session,
        tenant,
        [
            jl(
                account_name="Delta",
                snapshot_timestamp=day(1),
                overall_health_score=60,
                assigned_csm="Jo Park",
                products_used=["Core"],
                primary_champion="Mia Holt",
            )
        ],
    )
    session.commit()
    account_id = snapshots.get(
        session, customer_id=tenant.customer_id, snapshot_id=result.snapshot_ids[0]
    )["account_id"]
    captured = capture_accounts(
        session, customer_id=tenant.customer_id, at=T0 + timedelta(days=8), snapshot_type="manual"
    )
    record = snapshots.get(
        session, customer_id=tenant.customer_id, snapshot_id=captured.snapshot_ids[0]
    )
    assert record["account_id"] == account_id
    assert record["snapshot_sequence_number"] == 2
    assert record["days_since_last_snapshot"] == 7
    assert record["assigned_csm"] == "Jo Park"
    assert record["products_used"] == ["Core"]
    assert record["primary_champion"] == "Mia Holt"


def test_every_importable_field_round_trips(session: Session) -> None:
    tenant, _ = factories.customer(session)
    given: dict[str, Any] = {
        "account_name": THAI,
        "external_account_id": "TH-001",
        "snapshot_timestamp": "2025-02-01T08:00:00+07:00",
        "snapshot_reason": "นำเข้าประวัติ",
        "trigger_event": "migration",
        "revenue": "1234567.89",
        "overall_health_score": 66.25,
        "product_usage_score": 70,
        "support_score": 60.5,
        "customer_sentiment_score": 55,
        "business_outcomes_score": 80,
        "relationship_strength_score": 65.75,
        "account_status": "active",
        "industry": "ค้าปลีก",
        "region": "APAC",
        "account_tier": "Enterprise",
        "assigned_csm": "สมชาย ใจดี",
        "csm_manager": "Ana Ruiz",
        "account_owner": "Lee Chan",
        "products_used": ["Core", "Sync"],
        "product_count": 2,
        "primary_product": "Core",
        "playbooks_running": ["renewal-safeguard"],
        "playbooks_running_count": 1,
        "playbooks_completed_count": 4,
        "playbooks_completed_last_30_days": 1,
        "last_playbook_executed": {"playbook_id": "voc-sprint", "date": "2025-01-20"},
        "playbook_recommendations_active": ["voc-sprint"],
        "total_kpis": 25,
        "account_level_kpis": 20,
        "product_level_kpis": 5,
        "critical_kpis_count": 1,
        "at_risk_kpis_count": 2,
        "healthy_kpis_count": 22,
        "top_critical_kpis": [{"kpi_name": "NPS", "value": "12", "health_status": "Critical"}],
        "lifecycle_stage": "growth",
        "onboarding_status": "complete",
        "last_qbr_date": "2025-01-10",
        "next_qbr_date": "2025-04-10",
        "engagement_score": 81.5,
        "primary_champion": "Mia Holt",
        "champion_status": "active",
        "stakeholder_count": 3,
        "recent_csm_note_ids": [9, 7],
        "recent_playbook_report_ids": [4],
        "snapshot_type": "imported",
    }
    result = run(session, tenant, [jl(**given)])
    session.commit()
    record = snapshots.get(
        session, customer_id=tenant.customer_id, snapshot_id=result.snapshot_ids[0]
    )
    assert record["account_name"] == THAI
    assert record["snapshot_timestamp"] == datetime(2025, 2, 1, 1, 0, tzinfo=UTC)
    assert record["revenue"] == Decimal("1234567.89")
    assert record["overall_health_score"] == Decimal("66.25")
    assert record["relationship_strength_score"] == Decimal("65.75")
    assert record["engagement_score"] == Decimal("81.50")
    assert record["last_qbr_date"].isoformat() == "2025-01-10"
    for name in (
        "snapshot_reason",
        "industry",
        "assigned_csm",
        "products_used",
        "playbooks_running",
        "last_playbook_executed",
        "top_critical_kpis",
        "recent_csm_note_ids",
        "stakeholder_count",
        "playbooks_completed_last_30_days",
        "champion_status",
    ):
        assert record[name] == given[name], name
    account = only_account(session, tenant, THAI)
    assert account.profile_metadata["assigned_csm"] == "สมชาย ใจดี"


def test_a_thai_account_name_round_trips_and_matches_again(session: Session) -> None:
    tenant, _ = factories.customer(session)
    first = run(
        session, tenant, [jl(account_name=THAI, snapshot_timestamp=day(1), overall_health_score=70)]
    )
    session.commit()
    second = run(
        session, tenant, [jl(account_name=THAI, snapshot_timestamp=day(2), overall_health_score=72)]
    )
    session.commit()
    assert (first.accounts_created, second.accounts_created, second.accounts_matched) == (1, 0, 1)
    account = only_account(session, tenant, THAI)
    history = account_history(session, tenant, account.account_id)
    assert [r["account_name"] for r in history] == [THAI, THAI]
    assert history[1]["snapshot_sequence_number"] == 2


# ----------------------------------------------------------------------------- matching


def test_external_id_wins_over_name(session: Session) -> None:
    tenant, _ = factories.customer(session)
    alpha = factories.account(session, tenant, "Alpha", external_account_id="E-1")
    beta = factories.account(session, tenant, "Beta")
    result = run(
        session,
        tenant,
        [
            jl(external_account_id="E-1", account_name="Beta", snapshot_timestamp=day(1)),
            jl(account_name="Beta", snapshot_timestamp=day(1)),
        ],
    )
    owners = [
        snapshots.get(session, customer_id=tenant.customer_id, snapshot_id=i)["account_id"]
        for i in result.snapshot_ids
    ]
    assert owners == [alpha.account_id, beta.account_id]
    assert result.accounts_matched == 2


def test_names_differing_only_in_case_stay_apart_when_both_exist(session: Session) -> None:
    tenant, _ = factories.customer(session)
    upper = factories.account(session, tenant, "ACME")
    lower = factories.account(session, tenant, "Acme")
    result = run(
        session,
        tenant,
        [
            jl(account_name="ACME", snapshot_timestamp=day(1)),
            jl(account_name="Acme", snapshot_timestamp=day(1)),
        ],
    )
    owners = [
        snapshots.get(session, customer_id=tenant.customer_id, snapshot_id=i)["account_id"]
        for i in result.snapshot_ids
    ]
    assert owners == [upper.account_id, lower.account_id]
    with pytest.raises(InvalidInput) as caught:
        run(session, tenant, [jl(account_name="acme", snapshot_timestamp=day(2))])
    assert caught.value.where == "line 1, field account_name"
    assert "several accounts" in caught.value.message


def test_lines_linked_by_external_id_or_name_form_one_new_account(session: Session) -> None:
    tenant, _ = factories.customer(session)
    result = run(
        session,
        tenant,
        [
            jl(external_account_id="N-1", snapshot_timestamp=day(1)),
            jl(account_name="Nova", external_account_id="N-1", snapshot_timestamp=day(2)),
            jl(account_name="NOVA", snapshot_timestamp=day(3)),
            jl(account_name="Nova Group", external_account_id="N-1", snapshot_timestamp=day(4)),
        ],
    )
    assert result.accounts_created == 1
    account = only_account(session, tenant, "Nova Group")  # the newest line's name
    assert account.external_account_id == "N-1"
    history = account_history(session, tenant, account.account_id)
    assert [r["snapshot_sequence_number"] for r in history] == [1, 2, 3, 4]
    assert [r["account_name"] for r in history] == ["Nova Group", "Nova", "NOVA", "Nova Group"]


def test_tenants_do_not_match_each_others_accounts(session: Session) -> None:
    tenant, _ = factories.customer(session)
    other, _ = factories.customer(session, "Other Company")
    theirs = factories.account(session, other, "Shared Name", external_account_id="S-1")
    result = run(
        session,
        tenant,
        [jl(account_name="Shared Name", external_account_id="S-1", snapshot_timestamp=day(1))],
    )
    assert result.accounts_created == 1
    mine = only_account(session, tenant, "Shared Name")
    assert mine.account_id != theirs.account_id


# ----------------------------------------------------------------------------- bad input

GOOD = [
    jl(account_name="Alpha", snapshot_timestamp=day(1), overall_health_score=70),
    jl(account_name="Newco", external_account_id="NEW-1", snapshot_timestamp=day(1)),
    jl(account_name=THAI, snapshot_timestamp=day(2), revenue=10),
]


def huge_line() -> str:
    return '{"account_name": "' + "x" * 10_000_000 + '"}'


BAD_CASES: list[tuple[str, list[str], str, str]] = [
    ("malformed json", [*GOOD, '{"account_name": "Alpha",'], "line 4", "not valid JSON"),
    ("not an object", [*GOOD, "[]"], "line 4", "expected a JSON object"),
    (
        "wrong type",
        [*GOOD, jl(account_name="Alpha", snapshot_timestamp=day(9), total_kpis="25")],
        "line 4, field total_kpis",
        "whole number",
    ),
    (
        "unknown field",
        [*GOOD, jl(account_name="Alpha", snapshot_timestamp=day(9), nps=40)],
        "line 4, field 'nps'",
        "unknown field",
    ),
    (
        "derived field",
        [*GOOD, jl(account_name="Alpha", snapshot_timestamp=day(9), is_significant_change=True)],
        "line 4, field is_significant_change",
        "cannot be imported",
    ),
    (
        "future timestamp",
        [
            *GOOD,
            jl(account_name="Alpha", snapshot_timestamp=(NOW + timedelta(hours=1)).isoformat()),
        ],
        "line 4, field snapshot_timestamp",
        "in the future",
    ),
    (
        "too many digits",
        [*GOOD, jl(account_name="Alpha", snapshot_timestamp=day(9), revenue=1e14)],
        "line 4, field revenue",
        "13 digits",
    ),
    (
        "unknown external id without a name",
        [*GOOD, jl(external_account_id="NOPE", snapshot_timestamp=day(9))],
        "line 4, field account_name",
        "needed to create an account",
    ),
    (
        "duplicate account and time",
        [*GOOD, "", jl(account_name="alpha", snapshot_timestamp=day(1))],
        "line 5, field snapshot_timestamp",
        "line 1",
    ),
    (
        "two external ids for one account",
        [*GOOD, jl(account_name="Newco", external_account_id="NEW-2", snapshot_timestamp=day(9))],
        "line 4, field external_account_id",
        "line 2",
    ),
    (
        "external id contradicts the matched account",
        [*GOOD, jl(account_name="Alpha", external_account_id="OTHER", snapshot_timestamp=day(9))],
        "line 4, field external_account_id",
        "'A-1'",
    ),
    (
        "name too long",
        [*GOOD, jl(account_name="ก" * 256, snapshot_timestamp=day(9))],
        "line 4, field account_name",
        "at most 255",
    ),
]


@pytest.mark.parametrize(
    ("lines", "where", "message"),
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
def test_a_bad_line_fails_the_import_and_writes_nothing(
    session: Session, lines: list[str], where: str, message: str
) -> None:
    tenant, _ = factories.customer(session)
    factories.account(session, tenant, "Alpha", external_account_id="A-1")
    session.commit()
    before = counts(session)

    with pytest.raises(InvalidInput) as caught:
        run(session, tenant, lines)
    assert caught.value.where == where
    assert message in caught.value.message
    assert "\n" not in str(caught.value)
    # Nothing reached the database even inside the failed transaction...
    assert counts(session) == before
    session.rollback()
    # ...and the caller's rollback leaves it as it was.
    assert counts(session) == before


def test_a_ten_megabyte_line_is_refused_quickly_without_reading_on(session: Session) -> None:
    tenant, _ = factories.customer(session)
    session.commit()
    before = counts(session)

    def lines() -> Iterator[str]:
        yield from GOOD
        yield huge_line()
        raise AssertionError("read past the bad line")

    started = time.perf_counter()
    with pytest.raises(InvalidInput) as caught:
        run(session, tenant, lines())
    elapsed = time.perf_counter() - started
    assert str(caught.value) == "line 4: line is longer than 1 MB"
    assert elapsed < 1.0
    session.rollback()
    assert counts(session) == before


def test_a_bad_line_after_many_good_ones_still_writes_nothing(session: Session) -> None:
    tenant, _ = factories.customer(session)
    session.commit()
    before = counts(session)
    lines = [
        jl(
            account_name=f"Account {i % 20}",
            snapshot_timestamp=day(i // 20),
            overall_health_score=50 + i % 7,
        )
        for i in range(400)
    ]
    lines.append(
        jl(account_name="Account 1", snapshot_timestamp=day(300), overall_health_score=140)
    )
    with pytest.raises(InvalidInput) as caught:
        run(session, tenant, lines)
    assert caught.value.where == "line 401, field overall_health_score"
    assert counts(session) == before


def test_an_unknown_customer_is_not_found(session: Session) -> None:
    tenant, _ = factories.customer(session)
    session.commit()
    before = counts(session)
    with pytest.raises(NotFound):
        import_snapshots(session, customer_id=tenant.customer_id + 999, lines=GOOD, now=NOW)
    session.rollback()
    assert counts(session) == before


def test_a_file_read_from_disk_reports_bad_bytes_by_line(session: Session, tmp_path: Path) -> None:
    tenant, _ = factories.customer(session)
    session.commit()
    path = tmp_path / "history.jsonl"
    path.write_bytes(
        "\n".join(GOOD).encode()
        + b'\n{"account_name": "Bad\xff", "snapshot_timestamp": "2025-01-01"}\n'
    )
    with pytest.raises(InvalidInput) as caught:
        import_snapshots(session, customer_id=tenant.customer_id, lines=read_lines(path), now=NOW)
    assert caught.value.where == "line 4, field account_name"
    path.write_text("\n".join(GOOD) + "\n", encoding="utf-8")
    result = import_snapshots(
        session, customer_id=tenant.customer_id, lines=read_lines(path), now=NOW
    )
    assert (result.lines, result.accounts_created, len(result.snapshot_ids)) == (3, 3, 3)


# ----------------------------------------------------------------------------- ordering


def test_history_older_than_stored_snapshots_is_refused(session: Session) -> None:
    tenant, _ = factories.customer(session)
    acct = factories.account(session, tenant, "Alpha", external_account_id="A-1")
    capture_accounts(
        session, customer_id=tenant.customer_id, at=T0 + timedelta(days=30), snapshot_type="manual"
    )
    session.commit()
    before = counts(session)

    for stamp, line_number in ((day(10), 2), (day(30), 2)):
        with pytest.raises(InvalidInput) as caught:
            run(
                session,
                tenant,
                [
                    jl(account_name="Alpha", snapshot_timestamp=day(45)),
                    jl(external_account_id="A-1", snapshot_timestamp=stamp),
                ],
            )
        assert caught.value.where == f"line {line_number}, field snapshot_timestamp"
        assert "only newer history" in caught.value.message
        session.rollback()
        assert counts(session) == before

    result = run(
        session,
        tenant,
        [jl(account_name="Alpha", snapshot_timestamp=day(45), overall_health_score=40)],
    )
    record = snapshots.get(
        session, customer_id=tenant.customer_id, snapshot_id=result.snapshot_ids[0]
    )
    assert record["account_id"] == acct.account_id
    assert record["snapshot_sequence_number"] == 2
    assert record["days_since_last_snapshot"] == 15
    assert record["health_score_change_from_last"] is not None


def test_a_refusal_by_the_writer_still_names_the_line(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, _ = factories.customer(session)
    factories.account(session, tenant, "Alpha")
    capture_accounts(
        session, customer_id=tenant.customer_id, at=T0 + timedelta(days=30), snapshot_type="manual"
    )
    session.commit()
    before = counts(session)
    # Without the up-front check the writer's own ordering guard must still be
    # reported against the line, as a concurrent capture would trigger it.
    monkeypatch.setattr(importer, "_check_heads", lambda *args: None)
    with pytest.raises(InvalidInput) as caught:
        run(
            session,
            tenant,
            [
                jl(account_name="Newco", snapshot_timestamp=day(1)),
                jl(account_name="Alpha", snapshot_timestamp=day(3)),
            ],
        )
    assert caught.value.where == "line 2, field snapshot_timestamp"
    session.rollback()
    assert counts(session) == before


def test_batches_split_an_account_without_breaking_its_derived_fields(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, _ = factories.customer(session)
    monkeypatch.setattr(importer, "WRITE_BATCH", 3)
    scores = [50, 58, 57, 49, 60]
    lines = [
        jl(
            account_name=name,
            snapshot_timestamp=day(7 * i),
            overall_health_score=score,
            revenue=1000 + 100 * i,
        )
        for name in ("One", "Two")
        for i, score in reversed(list(enumerate(scores)))
    ]
    progress: list[int] = []
    result = run(session, tenant, lines, progress=progress.append)
    assert progress == [3, 3, 3, 1]
    assert len(set(result.snapshot_ids)) == 10
    for name in ("One", "Two"):
        history = account_history(session, tenant, only_account(session, tenant, name).account_id)
        assert [r["overall_health_score"] for r in history] == [Decimal(s) for s in scores]
        assert [r["snapshot_sequence_number"] for r in history] == [1, 2, 3, 4, 5]
        assert [r["days_since_last_snapshot"] for r in history] == [None, 7, 7, 7, 7]
        assert [r["health_score_change_from_last"] for r in history] == [
            None,
            Decimal(8),
            Decimal(-1),
            Decimal(-8),
            Decimal(11),
        ]
        assert [r["health_score_trend"] for r in history] == [
            "stable",
            "improving",
            "improving",
            "declining",
            "improving",
        ]
        assert [r["is_significant_change"] for r in history] == [False, True, False, True, True]


def test_an_account_created_meanwhile_is_a_conflict_not_a_crash(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, _ = factories.customer(session)
    factories.account(session, tenant, "Alpha")
    session.commit()
    before = counts(session)
    # As if another writer created "Alpha" between the look-up and the insert.
    monkeypatch.setattr(importer._Directory, "match", lambda self, line: None)
    with pytest.raises(Conflict, match="run it again"):
        run(session, tenant, [jl(account_name="Alpha", snapshot_timestamp=day(1))])
    session.rollback()
    assert counts(session) == before
