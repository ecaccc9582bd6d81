"""Snapshot schedules over HTTP: create, read, change, run now, runs, delete; roles and tenants."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.api.conftest import Tenant, make_tenant
from tests.success.conftest import add_accounts
from tidemark.clock import FakeClock
from tidemark.db.engine import session_factory, unit_of_work
from tidemark.snapshots.models import AccountSnapshot
from tidemark.tenancy.models import Customer

# 2025-06-15 12:00 UTC (tests.api.conftest.NOW) is 19:00 in Bangkok.
PATH = "/api/snapshot-schedules"


@pytest.fixture
def tenant(engine: Engine, clock: FakeClock) -> Tenant:
    made = make_tenant(engine, "Test Company", clock)
    with unit_of_work(engine) as session:
        session.get_one(Customer, made.customer_id).timezone = "Asia/Bangkok"
    return made


@pytest.fixture
def other_tenant(engine: Engine, clock: FakeClock) -> Tenant:
    return make_tenant(engine, "Other Company", clock)


def test_a_schedule_is_created_read_changed_run_and_deleted(
    client: TestClient, engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    account_ids = add_accounts(engine, tenant, "TechCorp Solutions", "Acme Corp", "บริษัท ไทยเทค")
    admin, viewer = tenant.headers("admin"), tenant.headers("viewer")

    created = client.put(f"{PATH}/nightly", json={"frequency": "daily"}, headers=admin)
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert {key: schedule[key] for key in ("name", "frequency", "time_of_day", "scope")} == {
        "name": "nightly",
        "frequency": "daily",
        "time_of_day": "02:00",
        "scope": "all",
    }
    assert schedule["description"] == "daily at 02:00"
    assert schedule["timezone"] == "Asia/Bangkok"
    assert schedule["next_run_at"] == "2025-06-15T19:00:00Z"
    assert schedule["next_run_local"] == "2025-06-16 02:00"
    assert schedule["enabled"] is True
    schedule_id = schedule["schedule_id"]

    clock.advance(timedelta(minutes=5))
    changed = client.put(
        f"{PATH}/nightly",
        json={
            "frequency": "weekly",
            "weekday": 2,
            "time_of_day": "06:30",
            "scope": "health_below",
            "health_threshold": 70,
        },
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["schedule_id"] == schedule_id
    assert changed.json()["description"] == "weekly on Wednesday at 06:30"
    assert changed.json()["health_threshold"] == "70.00"
    assert changed.json()["next_run_local"] == "2025-06-18 06:30"
    assert changed.json()["updated_at"] == "2025-06-15T12:05:00Z"
    assert client.get(f"{PATH}/{schedule_id}", headers=viewer).json() == changed.json()
    listed = client.get(PATH, headers=viewer).json()
    assert listed["total"] == 1
    assert listed["items"] == [changed.json()]

    client.put(f"{PATH}/nightly", json={"frequency": "daily"}, headers=admin)
    ran = client.post(f"{PATH}/{schedule_id}/run-now", headers=admin)
    assert ran.status_code == 201, ran.text
    run = ran.json()
    assert (run["state"], run["snapshots_created"], run["accounts_total"]) == ("done", 3, 3)
    assert run["cursor_account_id"] == max(account_ids)
    assert run["due_at"] == run["started_at"] == run["finished_at"] == "2025-06-15T12:05:00Z"
    with session_factory(engine)() as session:
        reasons = session.execute(
            select(AccountSnapshot.snapshot_reason, func.count())
            .where(AccountSnapshot.customer_id == tenant.customer_id)
            .group_by(AccountSnapshot.snapshot_reason)
        ).all()
    assert reasons == [("scheduled daily run 2025-06-15 19:05 Asia/Bangkok", 3)]

    runs = client.get(f"{PATH}/{schedule_id}/runs", headers=viewer).json()
    assert runs["total"] == 1
    assert runs["items"] == [run]

    assert client.delete(f"{PATH}/{schedule_id}", headers=admin).status_code == 204
    assert client.get(f"{PATH}/{schedule_id}", headers=viewer).status_code == 404
    assert client.get(PATH, headers=viewer).json()["total"] == 0


def test_viewers_read_and_only_admins_change_or_run(client: TestClient, tenant: Tenant) -> None:
    schedule = client.put(
        f"{PATH}/nightly", json={"frequency": "daily"}, headers=tenant.headers("admin")
    ).json()
    for role in ("viewer", "csm"):
        headers = tenant.headers(role)
        assert client.get(PATH, headers=headers).status_code == 200
        put = client.put(f"{PATH}/nightly", json={"frequency": "weekly"}, headers=headers)
        assert put.status_code == 403
        assert put.headers["content-type"] == "application/problem+json"
        run = client.post(f"{PATH}/{schedule['schedule_id']}/run-now", headers=headers)
        assert run.status_code == 403
        assert (
            client.delete(f"{PATH}/{schedule['schedule_id']}", headers=headers).status_code == 403
        )
    assert client.get(PATH).status_code == 401


def test_another_tenants_schedule_answers_404(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = client.put(
        f"{PATH}/nightly", json={"frequency": "daily"}, headers=other_tenant.headers("admin")
    ).json()
    schedule_id = theirs["schedule_id"]
    mine = tenant.headers("admin")
    assert client.get(f"{PATH}/{schedule_id}", headers=mine).status_code == 404
    assert client.get(f"{PATH}/{schedule_id}/runs", headers=mine).status_code == 404
    assert client.post(f"{PATH}/{schedule_id}/run-now", headers=mine).status_code == 404
    assert client.delete(f"{PATH}/{schedule_id}", headers=mine).status_code == 404
    assert client.get(PATH, headers=mine).json()["total"] == 0
    # The same name in my tenant is my own schedule, not theirs.
    created = client.put(f"{PATH}/nightly", json={"frequency": "weekly"}, headers=mine)
    assert created.status_code == 201
    assert created.json()["schedule_id"] != schedule_id
    assert client.get(f"{PATH}/{schedule_id}", headers=other_tenant.headers()).json() == theirs
    # Ids beyond any row's are refused before the database.
    assert client.get(f"{PATH}/2147483648", headers=mine).status_code == 422


BAD_BODIES: list[tuple[dict[str, object], str]] = [
    ({"frequency": "daily", "time_of_day": "25:00"}, "time_of_day"),
    ({"frequency": "daily", "scope": "health_below"}, "health_threshold"),
    ({"frequency": "fortnightly"}, "body.frequency"),
    ({"frequency": "weekly", "weekday": 9}, "body.weekday"),
    ({"frequency": "monthly", "day_of_month": 30}, "body.day_of_month"),
    ({"frequency": "daily", "scope": "all", "health_threshold": 60}, "health_threshold"),
    ({"frequency": "daily", "colour": "blue"}, "body.colour"),
]


def test_bad_input_is_a_problem_naming_the_field(client: TestClient, tenant: Tenant) -> None:
    for body, where in BAD_BODIES:
        answer = client.put(f"{PATH}/nightly", json=body, headers=tenant.headers("admin"))
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert [error["where"] for error in answer.json()["errors"]] == [where], body
    assert client.get(PATH, headers=tenant.headers()).json()["total"] == 0
    too_long = client.put(
        f"{PATH}/{'x' * 91}", json={"frequency": "daily"}, headers=tenant.headers()
    )
    assert too_long.status_code == 422
