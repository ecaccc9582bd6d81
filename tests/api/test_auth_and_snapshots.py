"""Authentication, roles, problem details and the snapshot endpoints over HTTP."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests import factories
from tests.api.conftest import Tenant
from tidemark.clock import FakeClock
from tidemark.db.engine import unit_of_work
from tidemark.snapshots.models import AccountSnapshot
from tidemark.tenancy.models import Customer


def add_accounts(engine: Engine, tenant: Tenant, *names: str) -> list[int]:
    with unit_of_work(engine) as session:
        customer = session.get_one(Customer, tenant.customer_id)
        return [factories.account(session, customer, name).account_id for name in names]


def test_requests_without_a_valid_key_are_refused(client: TestClient, tenant: Tenant) -> None:
    response = client.get("/api/account-snapshots/latest")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401
    bad = client.get(
        "/api/account-snapshots/latest", headers={"Authorization": "Bearer tmk_abc_def"}
    )
    assert bad.status_code == 401
    spoofed = client.get("/api/account-snapshots/latest", headers={"X-Customer-ID": "1"})
    assert spoofed.status_code == 401


def test_a_viewer_cannot_create_and_the_creator_is_the_keys_user(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    add_accounts(engine, tenant, "TechCorp Solutions")
    denied = client.post("/api/account-snapshots/create", json={}, headers=tenant.headers("viewer"))
    assert denied.status_code == 403
    created = client.post(
        "/api/account-snapshots/create",
        json={"reason": "Pre-QBR snapshot"},
        headers=tenant.headers("csm"),
    )
    assert created.status_code == 201, created.text
    snapshot_id = created.json()["snapshot_ids"][0]
    shown = client.get(f"/api/account-snapshots/{snapshot_id}", headers=tenant.headers("viewer"))
    assert shown.json()["created_by"] == tenant.user_id
    assert shown.json()["snapshot_reason"] == "Pre-QBR snapshot"


def test_snapshot_endpoints_answer_for_one_account(
    client: TestClient, engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    headers = tenant.headers("csm")
    ids = []
    for _ in range(3):
        response = client.post(
            "/api/account-snapshots/create", json={"account_id": account_id}, headers=headers
        )
        ids.extend(response.json()["snapshot_ids"])
        clock.advance(timedelta(days=20))
    listed = client.get(
        "/api/account-snapshots", params={"account_id": account_id, "limit": 2}, headers=headers
    ).json()
    assert listed["total"] == 3
    assert [item["snapshot_id"] for item in listed["items"]] == [ids[2], ids[1]]
    latest = client.get(
        "/api/account-snapshots/latest", params={"account_id": account_id}, headers=headers
    ).json()
    assert [s["snapshot_id"] for s in latest] == [ids[2]]
    history = client.get(
        "/api/account-snapshots/history",
        params={"account_id": account_id, "months": 1},
        headers=headers,
    ).json()
    assert [s["snapshot_id"] for s in history] == [ids[2]]  # now is 60 days on
    as_of = client.get(
        "/api/account-snapshots/as-of",
        params={"account_id": account_id, "at": "2025-07-10"},
        headers=headers,
    ).json()
    assert as_of["snapshot_id"] == ids[1]
    compared = client.get(
        "/api/account-snapshots/compare",
        params={"snapshot_id_1": ids[0], "snapshot_id_2": ids[1]},
        headers=headers,
    ).json()
    days = next(c for c in compared["changes"] if c["field"] == "days_since_last_snapshot")
    assert days["new"] == 20
    too_early = client.get(
        "/api/account-snapshots/as-of",
        params={"account_id": account_id, "at": "2020-01-01"},
        headers=headers,
    )
    assert too_early.status_code == 422
    assert too_early.json()["errors"][0]["where"] == "at"


def test_another_tenants_ids_answer_404_and_change_nothing(
    client: TestClient, engine: Engine, tenant: Tenant, other_tenant: Tenant
) -> None:
    (theirs,) = add_accounts(engine, other_tenant, "Secret Co")
    created = client.post(
        "/api/account-snapshots/create", json={}, headers=other_tenant.headers("csm")
    )
    their_snapshot = created.json()["snapshot_ids"][0]
    mine = tenant.headers("admin")
    for method, url, kwargs in [
        ("GET", f"/api/account-snapshots/{their_snapshot}", {}),
        ("GET", "/api/account-snapshots/latest", {"params": {"account_id": theirs}}),
        ("GET", "/api/account-snapshots", {"params": {"account_id": theirs}}),
        ("GET", "/api/account-snapshots/history", {"params": {"account_id": theirs}}),
        (
            "GET",
            "/api/account-snapshots/as-of",
            {"params": {"account_id": theirs, "at": "2030-01-01"}},
        ),
        (
            "GET",
            "/api/account-snapshots/compare",
            {"params": {"snapshot_id_1": their_snapshot, "snapshot_id_2": their_snapshot}},
        ),
        ("POST", "/api/account-snapshots/create", {"json": {"account_id": theirs}}),
    ]:
        response = client.request(method, url, headers=mine, **kwargs)
        assert response.status_code == 404, (method, url, response.text)
    with unit_of_work(engine) as session:
        count = session.execute(select(func.count()).select_from(AccountSnapshot)).scalar_one()
    assert count == 1


def test_import_over_http_is_all_or_nothing(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    good = "\n".join(
        json.dumps(
            {
                "account_name": "บริษัท ไทยเทค จำกัด",
                "snapshot_timestamp": f"2025-0{m}-01",
                "revenue": 1000 * m,
            }
        )
        for m in (1, 2, 3)
    )
    response = client.post(
        "/api/account-snapshots/import",
        files={"file": ("history.jsonl", good.encode(), "application/x-ndjson")},
        headers=tenant.headers("admin"),
    )
    assert response.status_code == 201, response.text
    assert len(response.json()["snapshot_ids"]) == 3
    bad = good + "\n{not json"
    refused = client.post(
        "/api/account-snapshots/import",
        files={"file": ("history.jsonl", bad.replace("ไทยเทค", "อื่น").encode(), "text/plain")},
        headers=tenant.headers("admin"),
    )
    assert refused.status_code == 422
    assert "line 4" in refused.json()["detail"]
    with unit_of_work(engine) as session:
        count = session.execute(select(func.count()).select_from(AccountSnapshot)).scalar_one()
    assert count == 3


def test_oversized_bodies_are_refused(client: TestClient, tenant: Tenant) -> None:
    app = client.app
    limit = 1024
    for middleware in app.user_middleware:  # type: ignore[attr-defined]
        if middleware.cls.__name__ == "BodyLimit":
            limit = middleware.kwargs["max_bytes"]
    response = client.post(
        "/api/account-snapshots/create",
        content=b"x" * (limit + 1),
        headers={**tenant.headers("csm"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
