"""A snapshot taken after a write path has run shows what it wrote."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api.conftest import Tenant
from tests.success.conftest import add_accounts, set_kpis
from tidemark.clock import FakeClock


def snapshot(client: TestClient, tenant: Tenant, clock: FakeClock, account_id: int) -> Any:
    """Capture the account over HTTP and read the snapshot back; the clock then moves on."""
    created = client.post(
        "/api/account-snapshots/create",
        json={"account_id": account_id},
        headers=tenant.headers("csm"),
    )
    assert created.status_code == 201, created.text
    (snapshot_id,) = created.json()["snapshot_ids"]
    clock.advance(timedelta(hours=1))
    return client.get(
        f"/api/account-snapshots/{snapshot_id}", headers=tenant.headers("viewer")
    ).json()


def test_playbook_runs_and_reports_show_in_snapshots(
    client: TestClient, engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    csm = tenant.headers("csm")
    started = client.post(
        "/api/playbook-executions",
        json={"account_id": account_id, "playbook_id": "voc-sprint"},
        headers=csm,
    ).json()
    clock.advance(timedelta(minutes=1))
    running = snapshot(client, tenant, clock, account_id)
    assert running["playbooks_running"] == ["voc-sprint"]
    assert running["playbooks_running_count"] == 1
    assert running["playbooks_completed_count"] == 0
    assert running["recent_playbook_report_ids"] == [started["report_id"]]
    assert running["last_playbook_executed"]["playbook_id"] == "voc-sprint"

    clock.advance(timedelta(days=10))
    completed = client.post(
        f"/api/playbook-executions/{started['execution_id']}/complete", headers=csm
    ).json()
    clock.advance(timedelta(minutes=1))
    done = snapshot(client, tenant, clock, account_id)
    assert done["playbooks_running"] == []
    assert done["playbooks_completed_count"] == 1
    assert done["playbooks_completed_last_30_days"] == 1
    assert done["recent_playbook_report_ids"] == [completed["report"]["report_id"]]


def test_notes_show_in_snapshots_newest_first(
    client: TestClient, engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    csm = tenant.headers("csm")
    ids = []
    for i in range(6):
        response = client.post(
            f"/api/accounts/{account_id}/notes",
            json={"note_type": "meeting", "note_content": f"Sync {i}"},
            headers=csm,
        )
        ids.append(response.json()["note_id"])
        clock.advance(timedelta(minutes=10))
    first = snapshot(client, tenant, clock, account_id)
    assert first["recent_csm_note_ids"] == ids[::-1][:5]
    assert client.delete(f"/api/notes/{ids[-1]}", headers=csm).status_code == 204
    second = snapshot(client, tenant, clock, account_id)
    assert second["recent_csm_note_ids"] == ids[::-1][1:6]


def test_health_trends_are_what_the_next_snapshot_shows(
    client: TestClient, engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    set_kpis(engine, account_id, {"Net Promoter Score": "-5", "Renewal Rate": "85"})
    computed = snapshot(client, tenant, clock, account_id)
    csm = tenant.headers("csm")
    generated = client.post(
        "/api/health-trends/generate", json={"account_ids": [account_id]}, headers=csm
    ).json()
    trend = client.get("/api/health-trends", params={"account_id": account_id}, headers=csm).json()[
        "items"
    ][0]
    score_fields = [name for name in trend if name.endswith("_score")]
    assert len(score_fields) == 6
    # The generated trend holds exactly what the snapshot computed from KPIs.
    assert {name: trend[name] for name in score_fields} == {
        name: computed[name] for name in score_fields
    }
    assert generated["scores"][0]["overall_health_score"] == computed["overall_health_score"]
    # Set by hand, the trend is what the next snapshot shows.
    replaced = client.put(
        f"/api/health-trends/{trend['trend_id']}",
        json={"overall_health_score": 41.25, "support_score": 30},
        headers=csm,
    )
    assert replaced.status_code == 200
    shown = snapshot(client, tenant, clock, account_id)
    assert shown["overall_health_score"] == "41.25"
    assert shown["support_score"] == "30.00"
    assert shown["product_usage_score"] is None
    assert Decimal(shown["health_score_change_from_last"]) == Decimal("41.25") - Decimal(
        computed["overall_health_score"]
    )
    # Regenerating from KPIs puts the computed scores back.
    client.post("/api/health-trends/generate", headers=csm)
    again = snapshot(client, tenant, clock, account_id)
    assert again["overall_health_score"] == computed["overall_health_score"]


def test_account_updates_and_triggers_show_in_snapshots(
    client: TestClient, engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    client.patch(
        f"/api/accounts/{account_id}",
        json={
            "revenue": "1500000",
            "account_status": "at_risk",
            "external_account_id": "SF-0042",
            "assigned_csm": "Sam Lee",
            "account_tier": "Enterprise",
            "products_used": ["Analytics", "Reporting"],
            "engagement": {"lifecycle_stage": "renewal", "score": 64.5},
            "champions": [{"name": "Jane Doe", "status": "active"}, {"name": "Lee Chan"}],
        },
        headers=tenant.headers("csm"),
    )
    admin = tenant.headers("admin")
    client.put(
        "/api/playbook-triggers/renewal-safeguard",
        json={
            "trigger_conditions": {
                "all": [{"field": "account_status", "op": "==", "value": "at_risk"}]
            }
        },
        headers=admin,
    )
    client.put(
        "/api/playbook-triggers/voc-sprint",
        json={
            "trigger_conditions": {"all": [{"field": "revenue", "op": ">", "value": 1}]},
            "auto_trigger_enabled": False,
        },
        headers=admin,
    )
    shown = snapshot(client, tenant, clock, account_id)
    assert shown["revenue"] == "1500000.00"
    assert shown["account_status"] == "at_risk"
    assert shown["external_account_id"] == "SF-0042"
    assert shown["assigned_csm"] == "Sam Lee"
    assert shown["account_tier"] == "Enterprise"
    assert shown["products_used"] == ["Analytics", "Reporting"]
    assert shown["lifecycle_stage"] == "renewal"
    assert shown["engagement_score"] == "64.50"
    assert (shown["primary_champion"], shown["champion_status"]) == ("Jane Doe", "active")
    assert shown["stakeholder_count"] == 2
    # The disabled trigger recommends nothing, even though its condition holds.
    assert shown["playbook_recommendations_active"] == ["renewal-safeguard"]
