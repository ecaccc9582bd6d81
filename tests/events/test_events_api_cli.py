"""The outbox and coverage over HTTP and on the command line; the worker inside the server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from tests import factories
from tests.api.conftest import Tenant, make_tenant
from tests.cli.conftest import invoke
from tidemark import console
from tidemark.api import create_app
from tidemark.clock import FakeClock, SystemClock
from tidemark.db.engine import unit_of_work
from tidemark.events.models import OutboxEvent
from tidemark.events.outbox import EventType, emit
from tidemark.events.worker import Worker, WorkerConfig
from tidemark.settings import get_settings
from tidemark.tenancy.models import Customer


def add_account(engine: Engine, tenant: Tenant, name: str) -> int:
    with unit_of_work(engine) as session:
        customer = session.get(Customer, tenant.customer_id)
        assert customer is not None
        return factories.account(session, customer, name).account_id


def drain(engine: Engine, clock: FakeClock) -> None:
    Worker(engine, clock=clock, config=WorkerConfig(schedules=False)).drain()


def write_note(client: TestClient, tenant: Tenant, account_id: int) -> None:
    response = client.post(
        f"/api/accounts/{account_id}/notes",
        json={"note_type": "meeting", "note_title": "QBR", "note_content": "ต่ออายุสัญญาแล้ว"},
        headers=tenant.headers("csm"),
    )
    assert response.status_code == 201, response.text


def test_a_note_becomes_an_event_then_a_snapshot_seen_over_http(
    client: TestClient, engine: Engine, clock: FakeClock, tenant: Tenant
) -> None:
    account_id = add_account(engine, tenant, "TechCorp Solutions")
    write_note(client, tenant, account_id)
    page = client.get("/api/events", headers=tenant.headers("viewer")).json()
    assert page["total"] == 1
    [event] = page["items"]
    assert (event["event_type"], event["state"], event["account_id"]) == (
        "account_data_changed",
        "pending",
        account_id,
    )
    clock.advance(timedelta(seconds=2))
    drain(engine, clock)
    done = client.get(f"/api/events/{event['event_id']}", headers=tenant.headers("viewer"))
    assert done.status_code == 200
    body = done.json()
    assert body["state"] == "done" and body["snapshot_id"] is not None
    snapshot = client.get(
        f"/api/account-snapshots/{body['snapshot_id']}", headers=tenant.headers("viewer")
    ).json()
    assert snapshot["snapshot_type"] == "event_driven"
    assert snapshot["trigger_event"] == "account_data_changed"
    coverage = client.get("/api/snapshot-coverage", headers=tenant.headers("viewer")).json()
    assert coverage["accounts"] == 1 and coverage["coverage_percent"] == 100.0
    assert coverage["events_processed_last_day"] == 1
    assert coverage["delay_median_seconds"] == pytest.approx(2.0)
    filtered = client.get(
        "/api/events", params={"state": "pending"}, headers=tenant.headers("viewer")
    ).json()
    assert filtered["total"] == 0


def kill(engine: Engine, event_id: int, error: str = "RuntimeError: broken") -> None:
    with unit_of_work(engine) as session:
        session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.event_id == event_id)
            .values(state="dead", attempts=5, last_error=error)
        )


def test_dead_events_are_listed_and_retried_by_an_admin_only(
    client: TestClient, engine: Engine, clock: FakeClock, tenant: Tenant, other_tenant: Tenant
) -> None:
    account_id = add_account(engine, tenant, "Acme Corp")
    write_note(client, tenant, account_id)
    [event] = client.get("/api/events", headers=tenant.headers()).json()["items"]
    event_id = event["event_id"]
    not_dead = client.post(f"/api/events/{event_id}/retry", headers=tenant.headers())
    assert not_dead.status_code == 422
    assert "not dead" in not_dead.json()["detail"]
    kill(engine, event_id)
    dead = client.get("/api/events", params={"state": "dead"}, headers=tenant.headers()).json()
    assert [e["last_error"] for e in dead["items"]] == ["RuntimeError: broken"]
    assert client.get("/api/snapshot-coverage", headers=tenant.headers()).json()["events_dead"] == 1

    assert (
        client.post(f"/api/events/{event_id}/retry", headers=tenant.headers("csm")).status_code
        == 403
    )
    # Another tenant's event does not exist for this one.
    for method, path in (
        ("get", f"/api/events/{event_id}"),
        ("post", f"/api/events/{event_id}/retry"),
    ):
        response = client.request(method, path, headers=other_tenant.headers())
        assert response.status_code == 404, path
    assert client.post("/api/events/retry-dead", headers=other_tenant.headers()).json() == {
        "queued": 0
    }

    retried = client.post(f"/api/events/{event_id}/retry", headers=tenant.headers())
    assert retried.json() == {"queued": 1}
    again = client.get(f"/api/events/{event_id}", headers=tenant.headers()).json()
    assert (again["state"], again["attempts"]) == ("pending", 0)
    drain(engine, clock)
    assert client.get(f"/api/events/{event_id}", headers=tenant.headers()).json()["state"] == "done"


def test_the_server_runs_a_worker_that_captures_within_a_second(engine: Engine) -> None:
    clock = SystemClock()
    tenant = make_tenant(engine, "Live Co", FakeClock(clock.now()))
    account_id = add_account(engine, tenant, "Live Account")
    app = create_app(
        engine=engine,
        clock=clock,
        worker=WorkerConfig(schedules=False, poll_seconds=0.05),
    )
    with TestClient(app) as client:
        started = time.monotonic()
        write_note(client, tenant, account_id)
        snapshots: list[Any] = []
        while time.monotonic() - started < 10 and not snapshots:
            time.sleep(0.05)
            snapshots = client.get(
                "/api/account-snapshots/latest",
                params={"account_id": account_id},
                headers=tenant.headers("viewer"),
            ).json()
        waited = time.monotonic() - started
    assert snapshots and snapshots[0]["trigger_event"] == "account_data_changed"
    assert waited < 5


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TIDEMARK_DATABASE_URL", database_url)
    monkeypatch.setenv("TIDEMARK_NOW", "2025-03-01T12:00:00+00:00")
    monkeypatch.setattr(console.out, "width", 200)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_worker_events_and_status_commands(engine: Engine, cli_env: None) -> None:
    at = datetime.fromisoformat("2025-03-01T11:59:00+00:00")
    with unit_of_work(engine) as session:
        customer, _ = factories.customer(session, name="Cli Co")
        first = factories.account(session, customer, "TechCorp Solutions").account_id
        second = factories.account(session, customer, "Acme Corp").account_id
        emit(
            session,
            customer_id=customer.customer_id,
            event_type=EventType.KPI_DATA_UPLOADED,
            account_ids=[first, second],
            at=at,
        )
    drained = invoke("worker", "--drain", "--no-schedules")
    assert "2 event(s) claimed, 2 snapshot(s)" in drained.stdout
    listed = json.loads(invoke("events", "list", "--customer", "Cli Co", "--json").stdout)
    assert listed["total"] == 2 and {e["state"] for e in listed["items"]} == {"done"}
    event_id = listed["items"][0]["event_id"]
    kill(engine, event_id, "Conflict: a newer snapshot exists")
    dead = invoke("events", "list", "--customer", "Cli Co", "--state", "dead")
    assert "Conflict: a newer snapshot exists" in dead.stdout
    figures = json.loads(invoke("events", "coverage", "--customer", "Cli Co", "--json").stdout)
    assert figures["events_dead"] == 1 and figures["coverage_percent"] == 100.0
    assert figures["delay_median_seconds"] == pytest.approx(60.0)
    status = json.loads(invoke("status", "--json").stdout)
    assert status["coverage"]["Cli Co"]["events_dead"] == 1
    assert "dead 1" in invoke("status").stdout
    assert "Queued 1 event(s) again." in invoke("events", "retry", "--customer", "Cli Co").stdout
    assert "1 event(s) claimed" in invoke("worker", "--drain", "--no-schedules").stdout
    unknown = invoke("events", "list", "--customer", "Cli Co", "--state", "lost", code=1)
    assert "state" in unknown.stderr
