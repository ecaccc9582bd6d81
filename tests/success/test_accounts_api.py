"""Accounts over HTTP: list with pagination and filter, read, and update with profile merge."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api.conftest import Tenant
from tests.success.conftest import add_accounts, table_state


def test_list_pages_through_accounts_by_name_and_filters_by_status(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    add_accounts(engine, tenant, "Charlie Ltd", "Alpha Inc", "Bravo plc")
    viewer = tenant.headers("viewer")
    first = client.get("/api/accounts", params={"limit": 2}, headers=viewer).json()
    assert first["total"] == 3
    assert [a["account_name"] for a in first["items"]] == ["Alpha Inc", "Bravo plc"]
    second = client.get("/api/accounts", params={"limit": 2, "offset": 2}, headers=viewer).json()
    assert [a["account_name"] for a in second["items"]] == ["Charlie Ltd"]
    bravo = first["items"][1]["account_id"]
    changed = client.patch(
        f"/api/accounts/{bravo}", json={"account_status": "at_risk"}, headers=tenant.headers("csm")
    )
    assert changed.status_code == 200, changed.text
    at_risk = client.get("/api/accounts", params={"status": "at_risk"}, headers=viewer).json()
    assert at_risk["total"] == 1
    assert at_risk["items"][0]["account_id"] == bravo
    wrong = client.get("/api/accounts", params={"status": "closed"}, headers=viewer)
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["where"] == "query.status"


def test_read_one_account(client: TestClient, engine: Engine, tenant: Tenant) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions", revenue="1200000")
    response = client.get(f"/api/accounts/{account_id}", headers=tenant.headers("viewer"))
    assert response.status_code == 200
    body = response.json()
    assert body["account_name"] == "TechCorp Solutions"
    assert body["revenue"] == "1200000.00"
    assert body["account_status"] == "active"
    assert client.get("/api/accounts/999999", headers=tenant.headers("viewer")).status_code == 404


def test_update_sets_columns_and_merges_profile_fields(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    csm = tenant.headers("csm")
    first = client.patch(
        f"/api/accounts/{account_id}",
        json={
            "account_name": "TechCorp Solutions Inc",
            "revenue": "1250000.50",
            "industry": "Software",
            "region": "EMEA",
            "account_status": "at_risk",
            "external_account_id": "SF-0042",
            "assigned_csm": "Sam Lee",
            "csm_manager": "Pat Kim",
            "account_owner": "Alex Morgan",
            "account_tier": "Enterprise",
            "products_used": ["Analytics", "Reporting"],
            "engagement": {
                "lifecycle_stage": "renewal",
                "last_qbr_date": "2025-04-10",
                "score": 71.5,
            },
            "champions": [{"name": "Jane Doe", "status": "active", "title": "VP Ops"}],
        },
        headers=csm,
    )
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["account_name"] == "TechCorp Solutions Inc"
    assert body["revenue"] == "1250000.50"
    assert (body["industry"], body["region"]) == ("Software", "EMEA")
    assert body["account_status"] == "at_risk"
    assert body["external_account_id"] == "SF-0042"
    assert body["updated_at"] == "2025-06-15T12:00:00Z"
    assert body["profile_metadata"] == {
        "assigned_csm": "Sam Lee",
        "csm_manager": "Pat Kim",
        "account_owner": "Alex Morgan",
        "account_tier": "Enterprise",
        "products_used": ["Analytics", "Reporting"],
        "engagement": {"lifecycle_stage": "renewal", "last_qbr_date": "2025-04-10", "score": 71.5},
        "champions": [{"name": "Jane Doe", "status": "active", "title": "VP Ops"}],
    }
    second = client.patch(
        f"/api/accounts/{account_id}",
        json={
            "engagement": {"next_qbr_date": "2025-07-10", "lifecycle_stage": None},
            "account_owner": None,
            "champions": [{"name": "Lee Chan"}],
        },
        headers=csm,
    )
    assert second.status_code == 200, second.text
    profile = second.json()["profile_metadata"]
    assert profile["engagement"] == {
        "last_qbr_date": "2025-04-10",
        "next_qbr_date": "2025-07-10",
        "score": 71.5,
    }
    assert "account_owner" not in profile
    assert profile["champions"] == [{"name": "Lee Chan"}]
    assert profile["assigned_csm"] == "Sam Lee"
    shown = client.get(f"/api/accounts/{account_id}", headers=tenant.headers("viewer")).json()
    assert shown == second.json()


INVALID_UPDATES: list[tuple[dict[str, Any], str]] = [
    ({"revenue": -1}, "body.revenue"),
    ({"revenue": "lots"}, "body.revenue"),
    ({"revenue": "10.001"}, "body.revenue"),
    ({"account_status": "closed"}, "body.account_status"),
    ({"account_status": None}, "account_status"),
    ({"account_name": None}, "account_name"),
    ({"account_name": "   "}, "account_name"),
    ({"industry": 42}, "body.industry"),
    ({"engagement": {"score": 120}}, "body.engagement.score"),
    ({"engagement": {"last_qbr_date": "last spring"}}, "body.engagement.last_qbr_date"),
    ({"engagement": {"mood": "good"}}, "body.engagement.mood"),
    ({"champions": [{"status": "active"}]}, "body.champions.0.name"),
    ({"products_used": "Analytics"}, "body.products_used"),
    ({"favourite_colour": "blue"}, "body.favourite_colour"),
    ({"region": "x" * 101}, "body.region"),
    ({"region": "nul\u0000byte"}, "body.region"),
]


def test_invalid_updates_name_the_field_and_write_nothing(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    before = table_state(engine)
    for body, where in INVALID_UPDATES:
        response = client.patch(
            f"/api/accounts/{account_id}", json=body, headers=tenant.headers("csm")
        )
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["where"] == where, body
    assert table_state(engine) == before


def test_a_name_or_external_id_in_use_is_a_conflict(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    first, second = add_accounts(engine, tenant, "Alpha Inc", "Bravo plc")
    csm = tenant.headers("csm")
    assert (
        client.patch(
            f"/api/accounts/{first}", json={"external_account_id": "EXT-1"}, headers=csm
        ).status_code
        == 200
    )
    before = table_state(engine)
    taken_id = client.patch(
        f"/api/accounts/{second}",
        json={"external_account_id": "EXT-1", "region": "APAC"},
        headers=csm,
    )
    assert taken_id.status_code == 409
    assert "external_account_id" in taken_id.json()["detail"]
    taken_name = client.patch(
        f"/api/accounts/{second}", json={"account_name": "Alpha Inc"}, headers=csm
    )
    assert taken_name.status_code == 409
    assert table_state(engine) == before
    # Setting an account's own values again is not a conflict.
    same = client.patch(
        f"/api/accounts/{first}",
        json={"external_account_id": "EXT-1", "account_name": "Alpha Inc"},
        headers=csm,
    )
    assert same.status_code == 200
