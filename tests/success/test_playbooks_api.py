"""Playbooks over HTTP: catalogue, executions step by step, reports, and triggers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api.conftest import Tenant
from tests.success.conftest import add_accounts, set_kpis, table_state
from tidemark.clock import FakeClock
from tidemark.success.playbooks import CATALOGUE
from tidemark.success.triggers import check_condition

SENTIMENT_KPIS = (
    "Net Promoter Score",
    "Customer Satisfaction Score",
    "Survey Response Rate",
    "Sentiment Score",
    "Complaint Rate",
)


def start(client: TestClient, tenant: Tenant, account_id: int, playbook_id: str) -> Any:
    response = client.post(
        "/api/playbook-executions",
        json={"account_id": account_id, "playbook_id": playbook_id},
        headers=tenant.headers("csm"),
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_the_catalogue_has_the_seed_playbooks_and_more(client: TestClient, tenant: Tenant) -> None:
    listed = client.get("/api/playbooks", headers=tenant.headers("viewer")).json()
    names = {p["playbook_id"]: p["name"] for p in listed}
    assert names["voc-sprint"] == "VoC Sprint"
    assert names["expansion-timing"] == "Expansion Timing"
    assert names["renewal-safeguard"] == "Renewal Safeguard"
    assert len(names) >= 5
    for playbook in listed:
        assert len(playbook["steps"]) >= 4
        assert playbook["exit_criteria"]
        check_condition(playbook["default_trigger"])
    for definition in CATALOGUE.values():
        for criterion in definition.exit_criteria:
            assert criterion.metric is None or criterion.metric in definition.metrics


def test_an_execution_runs_step_by_step_to_a_report(
    client: TestClient, engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    csm = tenant.headers("csm")
    client.patch(
        f"/api/accounts/{account_id}",
        json={
            "assigned_csm": "Sam Lee",
            "csm_manager": "Pat Kim",
            "account_owner": "Alex Morgan",
            "champions": [{"name": "Jane Doe"}],
        },
        headers=csm,
    )
    execution = start(client, tenant, account_id, "renewal-safeguard")
    assert execution["status"] == "in-progress"
    assert execution["current_step"] == 1
    assert execution["total_steps"] == 6
    assert execution["started_at"] == "2025-06-15T12:00:00Z"
    assert execution["created_by"] == tenant.user_id
    execution_id = execution["execution_id"]
    report = client.get(
        f"/api/playbook-reports/{execution['report_id']}", headers=tenant.headers("viewer")
    ).json()
    assert report["status"] == "in-progress"
    assert report["steps_completed"] == 0
    assert report["report_data"]["raci"]["responsible"] == "Sam Lee (CSM)"

    for step in range(1, 6):
        clock.advance(timedelta(days=3))
        advanced = client.post(
            f"/api/playbook-executions/{execution_id}/advance",
            json={"outcome": f"Step {step} done"},
            headers=csm,
        )
        assert advanced.status_code == 200, advanced.text
        assert advanced.json()["current_step"] == step + 1
    steps = advanced.json()["execution_data"]["steps"]
    assert [s["status"] for s in steps] == ["done"] * 5 + ["pending"]
    assert steps[0]["outcome"] == "Step 1 done"
    progress = client.get(
        f"/api/playbook-reports/{execution['report_id']}", headers=tenant.headers("viewer")
    ).json()
    assert progress["steps_completed"] == 5
    before = table_state(engine)
    past_last = client.post(f"/api/playbook-executions/{execution_id}/advance", headers=csm)
    assert past_last.status_code == 409
    assert table_state(engine) == before

    clock.advance(timedelta(days=5))
    completed = client.post(
        f"/api/playbook-executions/{execution_id}/complete",
        json={
            "outcome": "Renewal signed for two years",
            "outcomes_achieved": {
                "overall_health_score": {"before": 62, "after": 74.5},
                "Open escalations": {"before": 6, "after": 1, "improvement": "5 closed"},
            },
            "exit_criteria": [{"criterion": "Renewal terms confirmed in writing", "met": True}],
        },
        headers=csm,
    )
    assert completed.status_code == 200, completed.text
    body = completed.json()
    assert body["execution"]["status"] == "completed"
    assert body["execution"]["completed_at"] == "2025-07-05T12:00:00Z"
    final = body["report"]
    assert final["report_id"] == execution["report_id"]
    assert final["status"] == "completed"
    assert final["steps_completed"] == 6
    assert final["report_generated_at"] == "2025-07-05T12:00:00Z"
    data = final["report_data"]
    assert data["outcomes_achieved"]["overall_health_score"] == {
        "before": 62,
        "after": 74.5,
        "improvement": "+12.5 pts",
    }
    assert data["outcomes_achieved"]["Open escalations"]["improvement"] == "5 closed"
    assert data["raci"] == {
        "responsible": "Sam Lee (CSM)",
        "accountable": "Pat Kim (CS Manager)",
        "consulted": ["Alex Morgan (Account Owner)", "Product Management", "Support"],
        "informed": ["Jane Doe (TechCorp Solutions)", "Executive sponsor"],
    }
    criteria = {c["criterion"]: c["met"] for c in data["exit_criteria"]}
    assert criteria == {
        "Overall health at or above 70": True,
        "Relationship strength score at or above 70": False,  # not measured: not met
        "Renewal terms confirmed in writing": True,
    }
    assert "Renewal Safeguard for TechCorp Solutions ran 20 days" in data["executive_summary"]
    assert "2 of 3 exit criteria met" in data["executive_summary"]
    assert data["recommendations"] == list(CATALOGUE["renewal-safeguard"].recommendations_unmet)

    before = table_state(engine)
    for action in ("advance", "complete"):
        again = client.post(f"/api/playbook-executions/{execution_id}/{action}", headers=csm)
        assert again.status_code == 409, action
    assert table_state(engine) == before


def test_outcomes_are_measured_from_snapshots_when_not_given(
    client: TestClient, engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    set_kpis(engine, account_id, dict.fromkeys(SENTIMENT_KPIS[:4], "1"))
    csm = tenant.headers("csm")
    baseline = client.post(
        "/api/account-snapshots/create", json={"account_id": account_id}, headers=csm
    )
    assert baseline.status_code == 201
    clock.advance(timedelta(hours=1))
    execution = start(client, tenant, account_id, "voc-sprint")
    assert execution["execution_data"]["baseline_snapshot_id"] == baseline.json()["snapshot_ids"][0]
    clock.advance(timedelta(days=30))
    set_kpis(engine, account_id, {"Net Promoter Score": "45", "Sentiment Score": "4.5"})
    set_kpis(engine, account_id, {"Customer Satisfaction Score": "90"})
    set_kpis(engine, account_id, {"Survey Response Rate": "30", "Complaint Rate": "1"})
    client.post("/api/account-snapshots/create", json={"account_id": account_id}, headers=csm)
    clock.advance(timedelta(hours=1))
    completed = client.post(
        f"/api/playbook-executions/{execution['execution_id']}/complete", headers=csm
    )
    assert completed.status_code == 200, completed.text
    data = completed.json()["report"]["report_data"]
    sentiment = data["outcomes_achieved"]["Customer sentiment score"]
    assert sentiment["before"] < sentiment["after"]
    assert sentiment["after"] == 100
    assert sentiment["improvement"] == f"{sentiment['after'] - sentiment['before']:+.1f} pts"
    assert "Overall health score" in data["outcomes_achieved"]
    criteria = {c["criterion"]: c["met"] for c in data["exit_criteria"]}
    assert criteria["Customer sentiment score at or above 60"] is True
    # Only step 1 of 6 was done, so the plain fact criterion is not taken as met.
    assert criteria["Action plan agreed with the executive sponsor"] is False
    assert "Customer sentiment score moved from" in data["executive_summary"]
    steps = completed.json()["execution"]["execution_data"]["steps"]
    assert [s["status"] for s in steps] == ["done"] + ["skipped"] * 5
    assert completed.json()["report"]["steps_completed"] == 1


def test_starting_checks_the_playbook_and_refuses_a_second_run(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    csm = tenant.headers("csm")
    before = table_state(engine)
    unknown = client.post(
        "/api/playbook-executions",
        json={"account_id": account_id, "playbook_id": "world-domination"},
        headers=csm,
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["where"] == "playbook_id"
    missing = client.post("/api/playbook-executions", json={"account_id": account_id}, headers=csm)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["where"] == "body.playbook_id"
    assert table_state(engine) == before
    start(client, tenant, account_id, "voc-sprint")
    before = table_state(engine)
    twice = client.post(
        "/api/playbook-executions",
        json={"account_id": account_id, "playbook_id": "voc-sprint"},
        headers=csm,
    )
    assert twice.status_code == 409
    assert table_state(engine) == before
    start(client, tenant, account_id, "expansion-timing")


INVALID_COMPLETIONS: list[tuple[dict[str, Any], str]] = [
    (
        {"outcomes_achieved": {"NPS": {"before": "x", "after": 1}}},
        "body.outcomes_achieved.NPS.before",
    ),
    ({"exit_criteria": [{"criterion": "Done"}]}, "body.exit_criteria.0.met"),
    ({"raci": {"owner": "Sam"}}, "body.raci.owner"),
    ({"recommendations": "do more"}, "body.recommendations"),
]


def test_invalid_completions_name_the_field_and_write_nothing(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    execution = start(client, tenant, account_id, "voc-sprint")
    before = table_state(engine)
    for body, where in INVALID_COMPLETIONS:
        response = client.post(
            f"/api/playbook-executions/{execution['execution_id']}/complete",
            json=body,
            headers=tenant.headers("csm"),
        )
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["where"] == where
    assert table_state(engine) == before


def test_executions_and_reports_are_listed_by_account_and_status(
    client: TestClient, engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    first, second = add_accounts(engine, tenant, "Alpha Inc", "Bravo plc")
    voc = start(client, tenant, first, "voc-sprint")
    clock.advance(timedelta(days=1))
    start(client, tenant, first, "expansion-timing")
    clock.advance(timedelta(days=1))
    other = start(client, tenant, second, "renewal-safeguard")
    client.post(
        f"/api/playbook-executions/{voc['execution_id']}/complete", headers=tenant.headers("csm")
    )
    viewer = tenant.headers("viewer")
    mine = client.get(
        "/api/playbook-executions", params={"account_id": first}, headers=viewer
    ).json()
    assert mine["total"] == 2
    assert [e["playbook_id"] for e in mine["items"]] == ["expansion-timing", "voc-sprint"]
    done = client.get(
        "/api/playbook-executions", params={"status": "completed"}, headers=viewer
    ).json()
    assert [e["execution_id"] for e in done["items"]] == [voc["execution_id"]]
    assert done["items"][0]["report_id"] == voc["report_id"]
    one = client.get(f"/api/playbook-executions/{other['execution_id']}", headers=viewer).json()
    assert one["account_id"] == second
    assert one["report_id"] == other["report_id"]
    reports = client.get(
        "/api/playbook-reports", params={"account_id": first}, headers=viewer
    ).json()
    assert reports["total"] == 2
    # The completed report was regenerated last, so it is the newest.
    assert reports["items"][0]["report_id"] == voc["report_id"]
    everything = client.get("/api/playbook-reports", headers=viewer).json()
    assert everything["total"] == 3
    bad = client.get("/api/playbook-executions", params={"status": "paused"}, headers=viewer)
    assert bad.status_code == 422


def test_triggers_are_set_checked_listed_and_removed(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    admin = tenant.headers("admin")
    condition = {"any": [{"field": "overall_health_score", "op": "<", "value": 65}]}
    created = client.put(
        "/api/playbook-triggers/renewal-safeguard",
        json={"trigger_conditions": condition},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.json()["auto_trigger_enabled"] is True
    updated = client.put(
        "/api/playbook-triggers/renewal-safeguard",
        json={"trigger_conditions": condition, "auto_trigger_enabled": False},
        headers=admin,
    )
    assert updated.status_code == 200
    assert updated.json()["trigger_id"] == created.json()["trigger_id"]
    assert updated.json()["auto_trigger_enabled"] is False
    before = table_state(engine)
    for bad, where in [
        ({"all": [{"field": "mood", "op": "<", "value": 1}]}, "trigger_conditions.all[0].field"),
        (
            {"all": [{"field": "support_score", "op": "~", "value": 1}]},
            "trigger_conditions.all[0].op",
        ),
        ({"all": []}, "trigger_conditions.all"),
        ({"field": "support_score"}, "trigger_conditions"),
    ]:
        response = client.put(
            "/api/playbook-triggers/renewal-safeguard",
            json={"trigger_conditions": bad},
            headers=admin,
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["where"] == where
    deep: dict[str, Any] = {"field": "support_score", "op": "<", "value": 1}
    for _ in range(20):
        deep = {"all": [deep]}
    too_deep = client.put(
        "/api/playbook-triggers/renewal-safeguard",
        json={"trigger_conditions": deep},
        headers=admin,
    )
    assert too_deep.status_code == 422
    assert too_deep.json()["errors"][0]["where"] == "trigger_conditions"
    unknown = client.put(
        "/api/playbook-triggers/world-domination",
        json={"trigger_conditions": condition},
        headers=admin,
    )
    assert unknown.status_code == 404
    assert table_state(engine) == before
    listed = client.get("/api/playbook-triggers", headers=tenant.headers("viewer")).json()
    assert [t["playbook_type"] for t in listed] == ["renewal-safeguard"]
    assert listed[0]["trigger_conditions"] == condition
    removed = client.delete("/api/playbook-triggers/renewal-safeguard", headers=admin)
    assert removed.status_code == 204
    assert client.get("/api/playbook-triggers", headers=admin).json() == []
    gone = client.delete("/api/playbook-triggers/renewal-safeguard", headers=admin)
    assert gone.status_code == 404
