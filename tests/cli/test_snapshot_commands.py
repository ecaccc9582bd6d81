"""`tidemark snapshot ...` on SQLite and PostgreSQL: capture, read, compare, errors."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tests import factories
from tests.cli.conftest import Run, RunJson
from tidemark.snapshots.fields import FIELDS
from tidemark.snapshots.models import AccountSnapshot
from tidemark.success.models import KPI, Account

THAI = "บริษัท ไทยเทค จำกัด"


@pytest.fixture
def tenant(session: Session) -> int:
    """One tenant with three accounts, one of them with a Thai name."""
    customer, _user = factories.customer(session)
    factories.account(session, customer, "TechCorp Solutions", revenue="1200000", kpi_value="30")
    factories.account(session, customer, "Acme Corp", revenue="50000")
    factories.account(session, customer, THAI, revenue="750000")
    session.commit()
    return customer.customer_id


def snapshot_count(session: Session) -> int:
    session.rollback()  # end the read transaction: see what others committed
    return session.execute(select(func.count()).select_from(AccountSnapshot)).scalar_one()


def test_create_all_accounts(cli: Run, cli_json: RunJson, tenant: int, session: Session) -> None:
    result = cli("snapshot", "create", "--reason", "baseline")
    assert "Captured 3 snapshot(s)" in result.stdout
    assert snapshot_count(session) == 3
    created = cli_json("snapshot", "create", "--type", "scheduled")
    assert created["count"] == 3
    assert len(created["snapshot_ids"]) == 3
    assert created["snapshot_timestamp"] == "2025-03-01T12:00:00+00:00"
    page = cli_json("snapshot", "list", "--type", "manual")
    assert page["total"] == 3
    assert {item["snapshot_reason"] for item in page["items"]} == {"baseline"}
    # The tenant's first user is named as the creator.
    assert {item["created_by"] for item in page["items"]} == {1}


def test_create_one_account_by_id_name_and_any_case(
    cli: Run, cli_json: RunJson, tenant: int, session: Session
) -> None:
    acme = session.execute(select(Account).where(Account.account_name == "Acme Corp")).scalar_one()
    by_id = cli_json("snapshot", "create", "--account", str(acme.account_id))
    by_name = cli_json("snapshot", "create", "--account", "Acme Corp")
    any_case = cli("snapshot", "create", "--account", "acme CORP")
    assert "of Acme Corp" in any_case.stdout
    assert by_id["count"] == by_name["count"] == 1
    latest = cli_json("snapshot", "latest", "--account", "ACME corp")
    assert [r["account_name"] for r in latest] == ["Acme Corp"]
    assert latest[0]["snapshot_sequence_number"] == 3


def test_thai_account_name(cli: Run, cli_json: RunJson, tenant: int) -> None:
    created = cli_json("snapshot", "create", "--account", THAI)
    record = cli_json("snapshot", "show", str(created["snapshot_ids"][0]))
    assert record["account_name"] == THAI
    assert record["revenue"] == "750000.00"
    table = cli("snapshot", "latest", "--account", THAI)
    assert THAI in table.stdout
    history = cli_json("snapshot", "history", "--account", THAI, "--months", "1")
    assert history["account_name"] == THAI
    assert len(history["snapshots"]) == 1


def test_unknown_account_is_one_clear_error_and_writes_nothing(
    cli: Run, tenant: int, session: Session
) -> None:
    result = cli("snapshot", "create", "--account", "Nobody Inc", code=1)
    assert result.stdout == ""
    assert result.stderr.strip() == "Error: account 'Nobody Inc' not found"
    assert snapshot_count(session) == 0
    cli("snapshot", "history", "--account", "999", "--months", "2", code=1)
    cli("snapshot", "list", "--account", "Nobody Inc", code=1)


def test_bad_type_and_dates(cli: Run, tenant: int) -> None:
    assert "snapshot_type" in cli("snapshot", "create", "--type", "hourly", code=1).stderr
    bad = cli("snapshot", "list", "--since", "last tuesday", code=1)
    assert "--since" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    cli("snapshot", "list", "--since", "2025-03-02", "--until", "2025-03-01", code=1)
    # Typer's own usage errors keep exit code 2.
    cli("snapshot", "list", "--limit", "0", code=2)


def test_list_filters_and_pages(
    cli: Run, cli_json: RunJson, tenant: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("snapshot", "create")
    monkeypatch.setenv("TIDEMARK_NOW", "2025-03-05T08:00:00Z")
    cli("snapshot", "create", "--account", "TechCorp Solutions")
    everything = cli_json("snapshot", "list")
    assert everything["total"] == 4
    stamps = [item["snapshot_timestamp"] for item in everything["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert cli_json("snapshot", "list", "--since", "2025-03-02")["total"] == 1
    assert cli_json("snapshot", "list", "--until", "2025-03-01")["total"] == 3
    assert cli_json("snapshot", "list", "--account", "TechCorp Solutions")["total"] == 2
    page = cli_json("snapshot", "list", "--limit", "2", "--offset", "1")
    assert (page["total"], len(page["items"]), page["offset"]) == (4, 2, 1)
    table = cli("snapshot", "list")
    assert "Showing 1–4 of 4" in table.stdout


def test_latest_table_and_json(cli: Run, cli_json: RunJson, tenant: int) -> None:
    assert "No snapshots yet" in cli("snapshot", "latest").stdout
    cli("snapshot", "create")
    records = cli_json("snapshot", "latest")
    assert [r["account_name"] for r in records] == ["TechCorp Solutions", "Acme Corp", THAI]
    techcorp = records[0]
    assert techcorp["revenue"] == "1200000.00"
    assert Decimal(techcorp["overall_health_score"]) >= 0
    assert techcorp["critical_kpis_count"] > 0
    table = cli("snapshot", "latest").stdout
    for heading in ("Account", "Time", "Health", "Trend", "Revenue", "Status", "Critical KPIs"):
        assert heading in table
    assert "TechCorp Solutions" in table
    assert techcorp["top_critical_kpis"][0]["kpi_name"] in table
    assert "1200000.00" in table


def test_show_every_field(cli: Run, cli_json: RunJson, tenant: int) -> None:
    created = cli_json("snapshot", "create", "--account", "TechCorp Solutions")
    snapshot_id = str(created["snapshot_ids"][0])
    record = cli_json("snapshot", "show", snapshot_id)
    assert list(record) == [spec.name for spec in FIELDS]
    assert record["snapshot_timestamp"] == "2025-03-01T12:00:00+00:00"
    assert isinstance(record["top_critical_kpis"], list)
    table = cli("snapshot", "show", snapshot_id).stdout
    for spec in FIELDS:
        assert spec.name in table


def test_compare_changed_and_all(
    cli: Run,
    cli_json: RunJson,
    tenant: int,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = cli_json("snapshot", "create", "--account", "TechCorp Solutions")["snapshot_ids"][0]
    account_id = session.execute(
        select(Account.account_id).where(Account.account_name == "TechCorp Solutions")
    ).scalar_one()
    session.execute(update(KPI).where(KPI.account_id == account_id).values(value=Decimal(90)))
    session.execute(
        update(Account).where(Account.account_id == account_id).values(revenue=Decimal("1500000"))
    )
    session.commit()
    monkeypatch.setenv("TIDEMARK_NOW", "2025-04-01T12:00:00+00:00")
    second = cli_json("snapshot", "create", "--account", "TechCorp Solutions")["snapshot_ids"][0]

    changed = cli_json("snapshot", "compare", str(first), str(second))
    fields = {f["field"]: f for f in changed["fields"]}
    assert all(f["changed"] for f in changed["fields"])
    assert fields["revenue"] == {
        "field": "revenue",
        "old": "1200000.00",
        "new": "1500000.00",
        "delta": "300000.00",
        "changed": True,
    }
    assert "overall_health_score" in fields
    assert "account_name" not in fields
    assert changed["changed_count"] == len(changed["fields"])

    everything = cli_json("snapshot", "compare", str(first), str(second), "--all")
    assert len(everything["fields"]) == sum(spec.compared for spec in FIELDS)
    assert "account_name" in {f["field"] for f in everything["fields"]}

    table = cli("snapshot", "compare", str(first), str(second)).stdout
    assert "+300000.00" in table
    assert "compared fields changed" in table
    same = cli("snapshot", "compare", str(second), str(second)).stdout
    assert "No field changed" in same


def test_history_window(
    cli: Run, cli_json: RunJson, tenant: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    for moment in ("2024-10-15T00:00:00Z", "2025-01-15T00:00:00Z", "2025-02-20T00:00:00Z"):
        monkeypatch.setenv("TIDEMARK_NOW", moment)
        cli("snapshot", "create", "--account", "Acme Corp")
    monkeypatch.setenv("TIDEMARK_NOW", "2025-03-01T12:00:00Z")
    recent = cli_json("snapshot", "history", "--account", "Acme Corp", "--months", "2")
    assert recent["since"] == "2025-01-01T12:00:00+00:00"
    assert [r["snapshot_timestamp"][:10] for r in recent["snapshots"]] == [
        "2025-01-15",
        "2025-02-20",
    ]
    longer = cli_json("snapshot", "history", "--account", "Acme Corp", "--months", "6")
    assert [r["snapshot_sequence_number"] for r in longer["snapshots"]] == [1, 2, 3]
    assert (
        "Acme Corp: last 6 month(s)"
        in cli("snapshot", "history", "--account", "Acme Corp", "--months", "6").stdout
    )


def test_tenants_are_walls(cli: Run, cli_json: RunJson, tenant: int, session: Session) -> None:
    other, _ = factories.customer(session, "Other Co")
    factories.account(session, other, "Acme Corp")
    session.commit()
    theirs = cli_json("snapshot", "create", "--customer", "Other Co")["snapshot_ids"][0]
    ours = cli_json("snapshot", "create", "--customer", "test company")["snapshot_ids"]

    missing = cli("snapshot", "show", str(theirs), "--customer", "Test Company", code=1)
    assert missing.stderr.strip() == f"Error: snapshot {theirs} not found"
    cli("snapshot", "compare", str(ours[0]), str(theirs), "--customer", "Test Company", code=1)
    assert (
        cli_json("snapshot", "show", str(theirs), "--customer", "Other Co")["snapshot_id"] == theirs
    )
    assert cli_json("snapshot", "list", "--customer", "Other Co")["total"] == 1

    several = cli("snapshot", "latest", code=1)
    assert "2 customers exist; name one" in several.stderr
    unknown = cli("snapshot", "list", "--customer", "Nope Ltd", code=1)
    assert unknown.stderr.strip() == "Error: customer 'Nope Ltd' not found"


def test_no_customer_yet(cli: Run) -> None:
    result = cli("snapshot", "create", code=1)
    assert "no customers exist yet" in result.stderr
