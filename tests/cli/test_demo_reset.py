"""Removing one tenant's rows for `tidemark demo --reset`, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests import factories
from tests.cli.conftest import Run, RunJson
from tidemark import demo
from tidemark.db.models import metadata
from tidemark.snapshots.capture import capture_accounts
from tidemark.tenancy import service as tenants


def rows_of(session: Session, customer_id: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in metadata.sorted_tables:
        if "customer_id" in table.c:
            counts[table.name] = session.execute(
                select(func.count()).select_from(table).where(table.c.customer_id == customer_id)
            ).scalar_one()
    return counts


def test_deleting_a_tenant_removes_its_rows_only(session: Session) -> None:
    tenant_ids = []
    for name in ("Test Company", "Other Co"):
        tenant, user = factories.customer(session, name)
        account = factories.account(session, tenant, "Acme Corp", products=("Analytics",))
        factories.note(session, account, user, "kick-off call")
        factories.playbook(session, account, "voc-sprint")
        for at in (factories.T0, factories.T0.replace(month=2)):
            capture_accounts(
                session,
                customer_id=tenant.customer_id,
                at=at,
                snapshot_type="manual",
                created_by=user.user_id,
            )
        tenant_ids.append(tenant.customer_id)
    session.commit()
    demo_id, other_id = tenant_ids
    before = rows_of(session, other_id)
    assert before["account_snapshots"] == 2 and before["snapshot_sections"] > 0

    tenants.delete(session, customer_id=demo_id)
    session.commit()

    assert set(rows_of(session, demo_id).values()) == {0}
    assert rows_of(session, other_id) == before


class FakeSummary:
    def __init__(self, customer_id: int) -> None:
        self.customer_id = customer_id

    def render(self) -> list[str]:
        return [f"Loaded demo customer {self.customer_id}"]


def fake_load_demo(
    session: Session, *, now: datetime, seed: int = 7, progress: Any = None
) -> FakeSummary:
    """A small stand-in for the year-long simulation: one account, one snapshot at ``now``."""
    tenant, user = factories.customer(session, "Test Company")
    factories.account(session, tenant, f"Seed {seed} Account")
    capture_accounts(
        session,
        customer_id=tenant.customer_id,
        at=now,
        snapshot_type="manual",
        created_by=user.user_id,
    )
    if progress is not None:
        progress("accounts", 1, 1)
    return FakeSummary(tenant.customer_id)


def test_demo_refuses_to_load_twice_and_resets_only_itself(
    cli: Run, cli_json: RunJson, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "load_demo", fake_load_demo)
    first = cli("demo")
    assert "Loaded demo customer 1" in first.stdout

    again = cli("demo", code=1)
    assert "already exists" in again.stderr and "tidemark demo --reset" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1

    other, _ = factories.customer(session, "Other Co")
    factories.account(session, other, "Acme Corp")
    session.commit()
    cli("snapshot", "create", "--customer", "Other Co")
    other_before = rows_of(session, other.customer_id)

    cli("demo", "--reset", "--seed", "9")
    customers = {c["customer_name"]: c for c in cli_json("customers", "list")}
    assert set(customers) == {"Other Co", "Test Company"}
    demo_id = customers["Test Company"]["customer_id"]
    assert demo_id != 1
    latest = cli_json("snapshot", "latest", "--customer", "Test Company")
    assert [r["account_name"] for r in latest] == ["Seed 9 Account"]
    assert latest[0]["snapshot_sequence_number"] == 1
    session.rollback()  # end the read transaction: see what others committed
    assert rows_of(session, other.customer_id) == other_before
    assert set(rows_of(session, 1).values()) == {0}


@pytest.mark.slow
def test_demo_loads_the_real_simulation(cli: Run, cli_json: RunJson) -> None:
    loaded = cli("demo")
    assert 'Loaded demo tenant "Test Company"' in loaded.stdout
    latest = cli_json("snapshot", "latest")
    assert len(latest) >= 20
    assert all(r["snapshot_timestamp"] <= "2025-03-01T12:00:00+00:00" for r in latest)
    assert any(r["account_name"] == "TechCorp Solutions" for r in latest)
    history = cli_json("snapshot", "history", "--account", "TechCorp Solutions", "--months", "6")
    assert len(history["snapshots"]) > 6
