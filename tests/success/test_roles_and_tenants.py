"""Roles and the tenant wall on every endpoint of the source-data write paths.

A viewer reads but never writes; a csm writes but does not run admin operations;
another tenant's ids answer 404 on every endpoint and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api.conftest import Tenant
from tests.success.conftest import add_accounts, table_state


@dataclass
class Rows:
    """One of each row a tenant can own, made through the API."""

    account_id: int
    trend_id: int
    execution_id: str
    report_id: int
    note_id: int


def make_rows(client: TestClient, engine: Engine, tenant: Tenant, name: str) -> Rows:
    (account_id,) = add_accounts(engine, tenant, name)
    csm = tenant.headers("csm")
    trend = client.post(
        "/api/health-trends",
        json={"account_id": account_id, "year": 2025, "month": 5, "overall_health_score": 70},
        headers=csm,
    ).json()
    execution = client.post(
        "/api/playbook-executions",
        json={"account_id": account_id, "playbook_id": "voc-sprint"},
        headers=csm,
    ).json()
    note = client.post(
        f"/api/accounts/{account_id}/notes",
        json={"note_type": "call", "note_content": "Weekly call"},
        headers=csm,
    ).json()
    client.put(
        "/api/playbook-triggers/voc-sprint",
        json={"trigger_conditions": {"all": [{"field": "support_score", "op": "<", "value": 40}]}},
        headers=tenant.headers("admin"),
    )
    return Rows(
        account_id,
        trend["trend_id"],
        execution["execution_id"],
        execution["report_id"],
        note["note_id"],
    )


def reads(rows: Rows) -> list[tuple[str, str, dict[str, Any]]]:
    """Every read endpoint, aimed at ``rows``."""
    return [
        ("GET", f"/api/accounts/{rows.account_id}", {}),
        ("GET", "/api/health-trends", {"params": {"account_id": rows.account_id}}),
        ("GET", f"/api/health-trends/{rows.trend_id}", {}),
        ("GET", "/api/playbook-executions", {"params": {"account_id": rows.account_id}}),
        ("GET", f"/api/playbook-executions/{rows.execution_id}", {}),
        ("GET", "/api/playbook-reports", {"params": {"account_id": rows.account_id}}),
        ("GET", f"/api/playbook-reports/{rows.report_id}", {}),
        ("GET", f"/api/accounts/{rows.account_id}/notes", {}),
        ("GET", f"/api/notes/{rows.note_id}", {}),
    ]


def csm_writes(rows: Rows) -> list[tuple[str, str, dict[str, Any]]]:
    """Every write a csm may make, aimed at ``rows``."""
    return [
        ("PATCH", f"/api/accounts/{rows.account_id}", {"json": {"region": "APAC"}}),
        (
            "POST",
            "/api/health-trends",
            {
                "json": {
                    "account_id": rows.account_id,
                    "year": 2025,
                    "month": 4,
                    "overall_health_score": 50,
                }
            },
        ),
        ("PUT", f"/api/health-trends/{rows.trend_id}", {"json": {"overall_health_score": 10}}),
        ("POST", "/api/health-trends/generate", {"json": {"account_ids": [rows.account_id]}}),
        (
            "POST",
            "/api/playbook-executions",
            {"json": {"account_id": rows.account_id, "playbook_id": "expansion-timing"}},
        ),
        ("POST", f"/api/playbook-executions/{rows.execution_id}/advance", {"json": {}}),
        ("POST", f"/api/playbook-executions/{rows.execution_id}/complete", {"json": {}}),
        (
            "POST",
            f"/api/accounts/{rows.account_id}/notes",
            {"json": {"note_type": "email", "note_content": "Hello"}},
        ),
        ("PATCH", f"/api/notes/{rows.note_id}", {"json": {"is_important": True}}),
        ("DELETE", f"/api/notes/{rows.note_id}", {}),
    ]


ADMIN_WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/corporate/rollup", {}),
    (
        "PUT",
        "/api/playbook-triggers/voc-sprint",
        {
            "json": {
                "trigger_conditions": {"all": [{"field": "support_score", "op": "<", "value": 1}]}
            }
        },
    ),
    ("DELETE", "/api/playbook-triggers/voc-sprint", {}),
]


def test_a_viewer_reads_everything_and_writes_nothing(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    rows = make_rows(client, engine, tenant, "TechCorp Solutions")
    viewer = tenant.headers("viewer")
    for method, url, kwargs in [
        *reads(rows),
        ("GET", "/api/accounts", {}),
        ("GET", "/api/playbooks", {}),
        ("GET", "/api/playbook-triggers", {}),
    ]:
        response = client.request(method, url, headers=viewer, **kwargs)
        assert response.status_code == 200, (url, response.text)
    before = table_state(engine)
    for method, url, kwargs in csm_writes(rows) + ADMIN_WRITES:
        response = client.request(method, url, headers=viewer, **kwargs)
        assert response.status_code == 403, (method, url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert table_state(engine) == before


def test_a_csm_cannot_run_admin_operations(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    make_rows(client, engine, tenant, "TechCorp Solutions")
    before = table_state(engine)
    for method, url, kwargs in ADMIN_WRITES:
        response = client.request(method, url, headers=tenant.headers("csm"), **kwargs)
        assert response.status_code == 403, (method, url, response.text)
    assert table_state(engine) == before


@pytest.mark.parametrize("role", ["csm", "admin"])
def test_every_endpoint_answers_404_for_another_tenants_ids_and_changes_nothing(
    client: TestClient, engine: Engine, tenant: Tenant, other_tenant: Tenant, role: str
) -> None:
    theirs = make_rows(client, engine, other_tenant, "Their Account")
    make_rows(client, engine, tenant, "Our Account")
    headers = tenant.headers(role)
    before = table_state(engine)
    for method, url, kwargs in reads(theirs) + csm_writes(theirs):
        response = client.request(method, url, headers=headers, **kwargs)
        assert response.status_code == 404, (method, url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert table_state(engine) == before


def test_lists_and_bulk_operations_stay_inside_the_tenant(
    client: TestClient, engine: Engine, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = make_rows(client, engine, other_tenant, "Their Account")
    ours = make_rows(client, engine, tenant, "Our Account")
    viewer = tenant.headers("viewer")
    lists = {
        "/api/accounts": "account_id",
        "/api/health-trends": "trend_id",
        "/api/playbook-executions": "execution_id",
        "/api/playbook-reports": "report_id",
    }
    for url, key in lists.items():
        body = client.get(url, headers=viewer).json()
        assert body["total"] == 1, url
        assert body["items"][0][key] == getattr(ours, key), url
    triggers = client.get("/api/playbook-triggers", headers=viewer).json()
    assert len(triggers) == 1
    their_trends = client.get(
        "/api/health-trends",
        params={"account_id": theirs.account_id},
        headers=other_tenant.headers(),
    ).json()
    before = table_state(engine)
    rollup = client.post("/api/corporate/rollup", headers=tenant.headers("admin")).json()
    assert rollup["accounts_recalculated"] == 1
    deleted = client.delete("/api/playbook-triggers/voc-sprint", headers=tenant.headers("admin"))
    assert deleted.status_code == 204
    after = table_state(engine)
    assert after != before
    # The other tenant's trends and trigger are untouched.
    assert (
        client.get(
            "/api/health-trends",
            params={"account_id": theirs.account_id},
            headers=other_tenant.headers(),
        ).json()
        == their_trends
    )
    assert len(client.get("/api/playbook-triggers", headers=other_tenant.headers()).json()) == 1
