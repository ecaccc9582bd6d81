"""Health trends over HTTP: create, update, list, bulk generate and the corporate rollup."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests.api.conftest import Tenant
from tests.success.conftest import add_accounts, set_kpis, table_state
from tidemark.db.engine import unit_of_work
from tidemark.success.models import Account, HealthTrend

SCORES = {
    "overall_health_score": 72.5,
    "product_usage_score": 80,
    "support_score": 65.25,
    "customer_sentiment_score": 70,
    "business_outcomes_score": 75,
    "relationship_strength_score": 72,
}


def test_create_read_list_and_replace_a_trend(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    csm = tenant.headers("csm")
    created = client.post(
        "/api/health-trends",
        json={"account_id": account_id, "year": 2025, "month": 5, **SCORES},
        headers=csm,
    )
    assert created.status_code == 201, created.text
    trend = created.json()
    assert trend["overall_health_score"] == "72.50"
    assert trend["support_score"] == "65.25"
    assert (trend["year"], trend["month"]) == (2025, 5)
    april = client.post(
        "/api/health-trends",
        json={"account_id": account_id, "year": 2025, "month": 4, "overall_health_score": 60},
        headers=csm,
    )
    assert april.status_code == 201
    viewer = tenant.headers("viewer")
    listed = client.get(
        "/api/health-trends", params={"account_id": account_id}, headers=viewer
    ).json()
    assert listed["total"] == 2
    assert [(t["year"], t["month"]) for t in listed["items"]] == [(2025, 5), (2025, 4)]
    shown = client.get(f"/api/health-trends/{trend['trend_id']}", headers=viewer).json()
    assert shown == trend
    replaced = client.put(
        f"/api/health-trends/{trend['trend_id']}",
        json={"product_usage_score": 90, "support_score": 50},
        headers=csm,
    )
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    # No overall given: the tenant's equal-weight mean of the categories given.
    assert body["overall_health_score"] == "70.00"
    assert body["customer_sentiment_score"] is None
    assert body["updated_at"] == "2025-06-15T12:00:00Z"
    before = table_state(engine)
    for scores, where in [
        ({"support_score": 120}, "body.support_score"),
        ({}, "overall_health_score"),
        ({"account_id": account_id}, "body.account_id"),
    ]:
        refused = client.put(f"/api/health-trends/{trend['trend_id']}", json=scores, headers=csm)
        assert refused.status_code == 422, scores
        assert refused.json()["errors"][0]["where"] == where
    assert table_state(engine) == before


def test_a_second_trend_for_the_same_month_is_a_conflict(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    body = {"account_id": account_id, "year": 2025, "month": 5, **SCORES}
    csm = tenant.headers("csm")
    assert client.post("/api/health-trends", json=body, headers=csm).status_code == 201
    before = table_state(engine)
    again = client.post("/api/health-trends", json={**body, "support_score": 10}, headers=csm)
    assert again.status_code == 409
    assert table_state(engine) == before


INVALID_TRENDS: list[tuple[dict[str, Any], str]] = [
    ({"overall_health_score": 100.01}, "body.overall_health_score"),
    ({"support_score": -1}, "body.support_score"),
    ({"support_score": "high"}, "body.support_score"),
    ({"month": 13}, "body.month"),
    ({"year": 1999}, "body.year"),
    ({"year": 2025, "month": 7}, "month"),
    ({"account_id": "abc"}, "body.account_id"),
    ({"mood": 3}, "body.mood"),
]


def test_invalid_trends_name_the_field_and_write_nothing(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    before = table_state(engine)
    for change, where in INVALID_TRENDS:
        body = {"account_id": account_id, "year": 2025, "month": 5, **SCORES, **change}
        response = client.post("/api/health-trends", json=body, headers=tenant.headers("csm"))
        assert response.status_code == 422, (change, response.text)
        assert response.json()["errors"][0]["where"] == where, change
    assert table_state(engine) == before


def test_a_trend_needs_some_score(client: TestClient, engine: Engine, tenant: Tenant) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    response = client.post(
        "/api/health-trends",
        json={"account_id": account_id, "year": 2025, "month": 5},
        headers=tenant.headers("csm"),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["where"] == "overall_health_score"


def test_generate_scores_this_month_from_kpis_and_updates_on_rerun(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    healthy, mixed = add_accounts(engine, tenant, "Healthy Co", "Mixed Co")
    set_kpis(engine, healthy, {"First Response Time": "2", "Escalation Rate": "1"})
    set_kpis(engine, healthy, {"Ticket Resolution Time": "4", "Support Ticket Volume": "3"})
    with unit_of_work(engine) as session:
        empty = Account(customer_id=tenant.customer_id, account_name="No KPIs Yet")
        session.add(empty)
        session.flush()
        empty_id = empty.account_id
    csm = tenant.headers("csm")
    first = client.post("/api/health-trends/generate", headers=csm)
    assert first.status_code == 200, first.text
    result = first.json()
    assert (result["year"], result["month"]) == (2025, 6)
    assert (result["created"], result["updated"], result["recalculated"]) == (2, 0, 2)
    assert result["skipped_account_ids"] == [empty_id]
    scores = {s["account_id"]: Decimal(s["overall_health_score"]) for s in result["scores"]}
    assert scores[healthy] > scores[mixed]
    # KPIs change; generating again updates the month's trend in place.
    set_kpis(engine, mixed, dict.fromkeys(("Net Promoter Score", "Support CSAT"), "100"))
    second = client.post(
        "/api/health-trends/generate", json={"account_ids": [mixed]}, headers=csm
    ).json()
    assert (second["created"], second["updated"]) == (0, 1)
    with unit_of_work(engine) as session:
        rows = session.execute(
            select(HealthTrend.account_id, HealthTrend.overall_health_score).where(
                HealthTrend.customer_id == tenant.customer_id
            )
        ).all()
    assert len(rows) == 2
    assert dict(rows)[mixed] == Decimal(second["scores"][0]["overall_health_score"])
    assert dict(rows)[mixed] > scores[mixed]


def test_rollup_recalculates_every_account(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    add_accounts(engine, tenant, "Alpha Inc", "Bravo plc", "Charlie Ltd")
    refused = client.post("/api/corporate/rollup", headers=tenant.headers("csm"))
    assert refused.status_code == 403
    response = client.post("/api/corporate/rollup", headers=tenant.headers("admin"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accounts_recalculated"] == 3
    assert body["accounts_skipped"] == 0
    assert body["average_health_score"] == "70.00"
    listed = client.get("/api/health-trends", headers=tenant.headers("viewer")).json()
    assert listed["total"] == 3
    assert {t["overall_health_score"] for t in listed["items"]} == {"70.00"}
