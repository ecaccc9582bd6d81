"""Every write path of the source data writes its outbox events in its own transaction.

Each test drives a write path over HTTP (or through its service) and reads
``outbox_events``: the right event types, accounts, tenant and payload for a
change; nothing for a request that is refused; the significance thresholds of
health (more than 5 points) and revenue (more than 10 %) at their edges; and a
fixed number of statements whatever the number of accounts an upload touches.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select

from tests import factories
from tests.api.conftest import NOW, Tenant, client, clock, other_tenant, tenant
from tidemark.clock import FakeClock
from tidemark.db.engine import unit_of_work
from tidemark.events.models import OutboxEvent
from tidemark.events.outbox import EventType
from tidemark.success import health
from tidemark.success.models import Account
from tidemark.tenancy.models import Customer

__all__ = ["client", "clock", "other_tenant", "tenant"]

DATA = EventType.ACCOUNT_DATA_CHANGED.value
KPI_HEADER = "account_name,category,kpi_parameter,data,month,year\n"


@dataclass(frozen=True)
class Row:
    """One outbox event as a test reads it."""

    event_id: int
    customer_id: int
    account_id: int
    event_type: str
    payload: dict[str, Any] | None
    created_at: datetime
    state: str


def last_event_id(engine: Engine) -> int:
    """The newest event's id (0 when there is none): later events have larger ids."""
    with unit_of_work(engine) as session:
        return int(session.execute(select(func.max(OutboxEvent.event_id))).scalar_one() or 0)


def events_since(engine: Engine, since: int = 0) -> list[Row]:
    """Every event written after ``since``, oldest first."""
    with unit_of_work(engine) as session:
        rows = session.execute(
            select(OutboxEvent).where(OutboxEvent.event_id > since).order_by(OutboxEvent.event_id)
        ).scalars()
        return [
            Row(
                e.event_id,
                e.customer_id,
                e.account_id,
                e.event_type,
                e.payload,
                e.created_at,
                e.state,
            )
            for e in rows
        ]


def by_type(rows: list[Row]) -> dict[str, list[int]]:
    """Account ids of the events, by event type, sorted."""
    found: dict[str, list[int]] = {}
    for row in rows:
        found.setdefault(row.event_type, []).append(row.account_id)
    return {name: sorted(ids) for name, ids in found.items()}


def add_accounts(engine: Engine, tenant: Tenant, *names: str, **fields: Any) -> list[int]:
    """Accounts of ``tenant`` with the 25 standard KPIs (revenue 100,000 unless given)."""
    with unit_of_work(engine) as session:
        customer = session.get_one(Customer, tenant.customer_id)
        return [factories.account(session, customer, name, **fields).account_id for name in names]


def account_ids(engine: Engine, customer_id: int) -> list[int]:
    with unit_of_work(engine) as session:
        return sorted(
            session.execute(
                select(Account.account_id).where(Account.customer_id == customer_id)
            ).scalars()
        )


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements sent to the database inside the block (an executemany is one)."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def outbox_inserts(sent: list[str]) -> int:
    return sum(1 for sql in sent if sql.lstrip().upper().startswith("INSERT INTO OUTBOX_EVENTS"))


def upload_kpis(client: TestClient, tenant: Tenant, content: str) -> Any:
    return client.post(
        "/api/upload",
        files={"file": ("kpis.csv", content.encode())},
        headers=tenant.headers("csm"),
    )


def upload_profiles(client: TestClient, tenant: Tenant, content: str) -> Any:
    return client.post(
        "/api/customer-profile/upload",
        files={"file": ("profiles.csv", content.encode())},
        headers=tenant.headers("csm"),
    )


# -- KPI upload ----------------------------------------------------------------------------


def test_a_kpi_upload_emits_one_event_per_account_that_received_rows(
    client: TestClient, engine: Engine, tenant: Tenant, other_tenant: Tenant
) -> None:
    (techcorp, untouched) = add_accounts(engine, tenant, "TechCorp Solutions", "Untouched Co")
    add_accounts(engine, other_tenant, "TechCorp Solutions")
    response = upload_kpis(
        client,
        tenant,
        KPI_HEADER
        + "TechCorp Solutions,Support,First Response Time,12,5,2025\n"
        + "TechCorp Solutions,Support,Escalation Rate,20,5,2025\n"
        + "บริษัท ไทยเทค จำกัด,Product Usage,Product Adoption Rate,85,5,2025\n",
    )
    assert response.status_code == 201, response.text
    upload_id = response.json()["upload_id"]
    created = sorted(set(account_ids(engine, tenant.customer_id)) - {techcorp, untouched})
    rows = events_since(engine)
    assert by_type(rows) == {EventType.KPI_DATA_UPLOADED.value: sorted([techcorp, *created])}
    assert {row.customer_id for row in rows} == {tenant.customer_id}
    assert {row.state for row in rows} == {"pending"}
    assert {row.created_at for row in rows} == {NOW}
    assert all(row.payload and row.payload["upload_id"] == upload_id for row in rows)
    assert all(row.payload and row.payload["rows"] == 3 for row in rows)


def test_a_refused_kpi_upload_leaves_no_event(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    add_accounts(engine, tenant, "TechCorp Solutions")
    response = upload_kpis(
        client,
        tenant,
        KPI_HEADER
        + "TechCorp Solutions,Support,First Response Time,12,5,2025\n"
        + "TechCorp Solutions,Support,Escalation Rate,not a number,5,2025\n",
    )
    assert response.status_code == 422, response.text
    assert events_since(engine) == []


def test_a_kpi_upload_writes_its_events_in_one_statement_whatever_its_size(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    def upload(names: list[str]) -> list[str]:
        content = KPI_HEADER + "".join(
            f"{name},Support,First Response Time,12,5,2025\n" for name in names
        )
        with statements(engine) as sent:
            assert upload_kpis(client, tenant, content).status_code == 201
        return sent

    small = upload([f"Small {i}" for i in range(3)])
    large = upload([f"Large {i}" for i in range(40)])
    assert outbox_inserts(small) == outbox_inserts(large) == 1
    assert len(small) == len(large)
    assert len(events_since(engine)) == 43


# -- customer profiles and account updates -------------------------------------------------


def test_a_profile_upload_emits_data_status_and_revenue_changes(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    tenth, more, same = add_accounts(
        engine, tenant, "Tenth Co", "More Co", "Same Co", revenue="100000"
    )
    response = upload_profiles(
        client,
        tenant,
        "account_name,revenue,account_status,assigned_csm\n"
        "Tenth Co,110000,active,\n"  # exactly 10 %: a data change, not a revenue change
        "More Co,110010,at_risk,\n"  # 10.01 % and a new status
        "Same Co,100000,active,\n"  # nothing changes
        "New Co,5000,churn,Sarah Johnson\n",
    )
    assert response.status_code == 201, response.text
    assert response.json()["accounts_unchanged"] == 1
    new = next(a for a in account_ids(engine, tenant.customer_id) if a not in (tenth, more, same))
    rows = events_since(engine)
    assert by_type(rows) == {
        DATA: sorted([tenth, more, new]),
        EventType.ACCOUNT_STATUS_CHANGED.value: [more],
        EventType.REVENUE_CHANGED.value: [more],
    }
    payloads = {(row.event_type, row.account_id): row.payload for row in rows}
    assert payloads[(EventType.ACCOUNT_STATUS_CHANGED.value, more)] == {
        "from": "active",
        "to": "at_risk",
    }
    assert payloads[(EventType.REVENUE_CHANGED.value, more)] == {
        "from": "100000.00",
        "to": "110010.00",
    }
    assert payloads[(DATA, more)] == {
        "change": "updated",
        "fields": ["account_status", "revenue"],
    }
    assert payloads[(DATA, tenth)] == {"change": "updated", "fields": ["revenue"]}
    assert payloads[(DATA, new)] == {"change": "created"}
    assert {row.customer_id for row in rows} == {tenant.customer_id}


def test_profile_fields_and_new_products_are_data_changes(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    response = upload_profiles(
        client,
        tenant,
        "account_name,assigned_csm,products_used\nTechCorp Solutions,Sarah Johnson,Analytics\n",
    )
    assert response.status_code == 201, response.text
    (row,) = events_since(engine)
    assert (row.event_type, row.account_id) == (DATA, account_id)
    assert row.payload == {"change": "updated", "fields": ["assigned_csm", "products_used"]}


def test_a_refused_profile_upload_leaves_no_event(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    add_accounts(engine, tenant, "TechCorp Solutions")
    response = upload_profiles(
        client,
        tenant,
        "account_name,revenue,account_status\n"
        "TechCorp Solutions,200000,at_risk\n"
        "Acme Corp,-5,active\n",
    )
    assert response.status_code == 422, response.text
    assert events_since(engine) == []


def test_a_profile_upload_writes_its_events_in_a_fixed_number_of_statements(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    names = [f"Account {i:02d}" for i in range(40)]
    add_accounts(engine, tenant, *names, revenue="1000")

    def upload(part: list[str], step: int) -> list[str]:
        # Every account changes revenue (by more than 10 %), status and one profile field,
        # each by its own amount, so every event has its own payload.
        content = "account_name,revenue,account_status,assigned_csm\n" + "".join(
            f"{name},{2000 + i + step},at_risk,CSM {i}\n" for i, name in enumerate(part)
        )
        with statements(engine) as sent:
            assert upload_profiles(client, tenant, content).status_code == 201
        return sent

    small = upload(names[:3], 0)
    large = upload(names[3:], 0)
    assert outbox_inserts(small) == outbox_inserts(large) == 3
    assert len(small) == len(large)
    assert by_type(events_since(engine)) == {
        DATA: account_ids(engine, tenant.customer_id),
        EventType.ACCOUNT_STATUS_CHANGED.value: account_ids(engine, tenant.customer_id),
        EventType.REVENUE_CHANGED.value: account_ids(engine, tenant.customer_id),
    }


def test_an_account_update_emits_its_changes_at_the_thresholds(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions", revenue="100000")
    url = f"/api/accounts/{account_id}"
    csm = tenant.headers("csm")

    def patch(body: dict[str, Any]) -> list[Row]:
        since = last_event_id(engine)
        response = client.patch(url, json=body, headers=csm)
        assert response.status_code == 200, response.text
        return events_since(engine, since)

    # Exactly 10 % down: a data change, no revenue change.
    rows = patch({"revenue": 90000, "account_status": "at_risk"})
    assert by_type(rows) == {
        DATA: [account_id],
        EventType.ACCOUNT_STATUS_CHANGED.value: [account_id],
    }
    assert rows[-1].payload == {"from": "active", "to": "at_risk"}
    # 9009.01 on 90000 is 10.01 %.
    rows = patch({"revenue": "99009.01"})
    assert by_type(rows) == {DATA: [account_id], EventType.REVENUE_CHANGED.value: [account_id]}
    assert rows[-1].payload == {"from": "90000.00", "to": "99009.01"}
    assert rows[0].payload == {"change": "updated", "fields": ["revenue"]}
    # The values it already has: nothing changed, nothing to capture.
    assert patch({"revenue": "99009.01", "account_status": "at_risk"}) == []
    rows = patch({"engagement": {"lifecycle_stage": "adoption"}})
    assert [(row.event_type, row.payload) for row in rows] == [
        (DATA, {"change": "updated", "fields": ["engagement"]})
    ]


def test_a_refused_account_update_leaves_no_event(
    client: TestClient, engine: Engine, tenant: Tenant, other_tenant: Tenant
) -> None:
    first, _acme = add_accounts(engine, tenant, "TechCorp Solutions", "Acme Corp")
    (theirs,) = add_accounts(engine, other_tenant, "Their Co")
    csm = tenant.headers("csm")
    for url, body, status in (
        (f"/api/accounts/{first}", {"account_status": "sleeping"}, 422),
        (f"/api/accounts/{first}", {"account_name": "Acme Corp", "revenue": 1}, 409),
        (f"/api/accounts/{theirs}", {"revenue": 1}, 404),
    ):
        response = client.patch(url, json=body, headers=csm)
        assert response.status_code == status, response.text
    assert events_since(engine) == []


# -- health trends -------------------------------------------------------------------------


def test_health_trends_emit_updates_and_changes_of_more_than_five_points(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    csm = tenant.headers("csm")
    updated = EventType.HEALTH_SCORES_UPDATED.value
    changed = EventType.HEALTH_SCORE_CHANGED.value

    def write(method: str, url: str, body: dict[str, Any]) -> tuple[int, list[Row]]:
        since = last_event_id(engine)
        response = client.request(method, url, json=body, headers=csm)
        assert response.status_code in (200, 201), response.text
        return response.json()["trend_id"], events_since(engine, since)

    def create(month: int, overall: str) -> tuple[int, list[Row]]:
        body = {"account_id": account_id, "year": 2025, "month": month}
        return write("POST", "/api/health-trends", {**body, "overall_health_score": overall})

    # The first trend: no score before it, so no change to tell.
    march, rows = create(3, "70")
    assert [(r.event_type, r.account_id) for r in rows] == [(updated, account_id)]
    assert rows[0].payload == {"trend_id": march, "year": 2025, "month": 3, "change": "created"}
    # Exactly 5 points: not significant.
    april, rows = create(4, "75")
    assert by_type(rows) == {updated: [account_id]}
    # 5.01 points against the newest trend before it (April).
    may, rows = create(5, "80.01")
    assert by_type(rows) == {updated: [account_id], changed: [account_id]}
    assert rows[-1].payload == {"from": "75.00", "to": "80.01"}
    # An update compares with the trend's own score before the update.
    _, rows = write("PUT", f"/api/health-trends/{may}", {"overall_health_score": "74.99"})
    assert by_type(rows) == {updated: [account_id], changed: [account_id]}
    assert rows[-1].payload == {"from": "80.01", "to": "74.99"}
    _, rows = write("PUT", f"/api/health-trends/{may}", {"overall_health_score": "79.99"})
    assert by_type(rows) == {updated: [account_id]}
    # Older months do not move the account's score, which is its newest trend's.
    _, rows = create(1, "10")
    assert by_type(rows) == {updated: [account_id]}
    _, rows = write("PUT", f"/api/health-trends/{april}", {"overall_health_score": "20"})
    assert by_type(rows) == {updated: [account_id]}
    assert {row.customer_id for row in events_since(engine)} == {tenant.customer_id}


def test_refused_health_trends_leave_no_event(
    client: TestClient, engine: Engine, tenant: Tenant, other_tenant: Tenant
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    (theirs,) = add_accounts(engine, other_tenant, "Their Co")
    csm = tenant.headers("csm")
    body = {"account_id": account_id, "year": 2025, "month": 5, "overall_health_score": 70}
    assert client.post("/api/health-trends", json=body, headers=csm).status_code == 201
    since = last_event_id(engine)
    for refused, status in (
        (body, 409),
        ({**body, "month": 4, "overall_health_score": 101}, 422),
        ({**body, "month": 7}, 422),
        ({**body, "account_id": theirs}, 404),
    ):
        response = client.post("/api/health-trends", json=refused, headers=csm)
        assert response.status_code == status, response.text
    assert events_since(engine, since) == []


def test_generate_and_rollup_emit_for_the_accounts_they_scored(
    client: TestClient, engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    exact, beyond = add_accounts(engine, tenant, "Exact Co", "Beyond Co")
    with unit_of_work(engine) as session:
        empty = Account(customer_id=tenant.customer_id, account_name="No KPIs Yet")
        session.add(empty)
        session.flush()
        empty_id = empty.account_id
    csm = tenant.headers("csm")
    generated = client.post("/api/health-trends/generate", headers=csm)
    assert generated.status_code == 200, generated.text
    rows = events_since(engine)
    # No trend before: the accounts' scores are new, not changed.
    assert by_type(rows) == {EventType.HEALTH_SCORES_UPDATED.value: sorted([exact, beyond])}
    assert rows[0].payload == {"year": 2025, "month": 6, "change": "generated"}
    scores = {
        s["account_id"]: Decimal(s["overall_health_score"]) for s in generated.json()["scores"]
    }
    # Move each account's score away from what its KPIs say: by exactly 5 and by 5.01.
    trends = client.get("/api/health-trends", headers=csm).json()["items"]
    trend_of = {t["account_id"]: t["trend_id"] for t in trends}
    for account_id, distance in ((exact, Decimal(5)), (beyond, Decimal("5.01"))):
        score = scores[account_id]
        moved = score - distance if score >= 50 else score + distance
        response = client.put(
            f"/api/health-trends/{trend_of[account_id]}",
            json={"overall_health_score": str(moved)},
            headers=csm,
        )
        assert response.status_code == 200, response.text
    # A month later the rollup scores every account again from its KPIs.
    clock.set(datetime(2025, 7, 1, 8, 0, tzinfo=UTC))
    since = last_event_id(engine)
    rollup = client.post("/api/corporate/rollup", headers=tenant.headers("admin"))
    assert rollup.status_code == 200, rollup.text
    rows = events_since(engine, since)
    assert by_type(rows) == {
        EventType.HEALTH_ROLLUP_COMPLETED.value: sorted([exact, beyond]),
        EventType.HEALTH_SCORE_CHANGED.value: [beyond],
    }
    assert empty_id not in {row.account_id for row in rows}
    (change,) = [
        r.payload or {} for r in rows if r.event_type == EventType.HEALTH_SCORE_CHANGED.value
    ]
    assert Decimal(change["to"]) == scores[beyond]
    assert abs(Decimal(change["from"]) - scores[beyond]) == Decimal("5.01")
    assert {row.created_at for row in rows} == {datetime(2025, 7, 1, 8, 0, tzinfo=UTC)}


def test_generate_on_the_service_emits_in_the_callers_transaction(
    engine: Engine, tenant: Tenant
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    with unit_of_work(engine, write=True) as session:
        result = health.generate(session, customer_id=tenant.customer_id, now=NOW)
        assert result.recalculated == 1
        session.rollback()
    # Rolled back with the trends: no event outlives its change.
    assert events_since(engine) == []
    with unit_of_work(engine, write=True) as session:
        health.generate(session, customer_id=tenant.customer_id, now=NOW)
    assert by_type(events_since(engine)) == {EventType.HEALTH_SCORES_UPDATED.value: [account_id]}


# -- playbooks -----------------------------------------------------------------------------


def test_a_playbook_execution_emits_start_steps_and_completion(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    csm = tenant.headers("csm")
    started = client.post(
        "/api/playbook-executions",
        json={"account_id": account_id, "playbook_id": "voc-sprint"},
        headers=csm,
    )
    assert started.status_code == 201, started.text
    execution_id = started.json()["execution_id"]
    rows = events_since(engine)
    assert [(r.event_type, r.account_id) for r in rows] == [
        (EventType.PLAYBOOK_EXECUTION_STARTED.value, account_id)
    ]
    assert rows[0].payload and rows[0].payload["execution_id"] == execution_id
    # A second start of the running playbook is refused, without an event.
    since = last_event_id(engine)
    again = client.post(
        "/api/playbook-executions",
        json={"account_id": account_id, "playbook_id": "voc-sprint"},
        headers=csm,
    )
    assert again.status_code == 409
    assert events_since(engine, since) == []
    advanced = client.post(
        f"/api/playbook-executions/{execution_id}/advance",
        json={"outcome": "Detractors listed"},
        headers=csm,
    )
    assert advanced.status_code == 200, advanced.text
    (step,) = events_since(engine, since)
    assert (step.event_type, step.account_id) == (DATA, account_id)
    assert step.payload and step.payload["execution_id"] == execution_id
    assert step.payload["step"] == 1
    since = step.event_id
    completed = client.post(f"/api/playbook-executions/{execution_id}/complete", headers=csm)
    assert completed.status_code == 200, completed.text
    (done,) = events_since(engine, since)
    assert (done.event_type, done.account_id) == (
        EventType.PLAYBOOK_EXECUTION_COMPLETED.value,
        account_id,
    )
    assert done.payload == {
        "execution_id": execution_id,
        "playbook_id": "voc-sprint",
        "report_id": completed.json()["report"]["report_id"],
    }
    # A completed execution cannot be advanced: refused, no event.
    since = done.event_id
    refused = client.post(f"/api/playbook-executions/{execution_id}/advance", headers=csm)
    assert refused.status_code == 409
    assert events_since(engine, since) == []


def test_playbook_triggers_change_every_account_of_the_tenant(
    client: TestClient, engine: Engine, tenant: Tenant, other_tenant: Tenant
) -> None:
    ours = add_accounts(engine, tenant, "TechCorp Solutions", "Acme Corp")
    add_accounts(engine, other_tenant, "Their Co")
    admin = tenant.headers("admin")
    url = "/api/playbook-triggers/renewal-safeguard"
    body = {
        "trigger_conditions": {"all": [{"field": "overall_health_score", "op": "<", "value": 60}]}
    }
    assert client.put(url, json=body, headers=admin).status_code == 201
    rows = events_since(engine)
    assert by_type(rows) == {DATA: sorted(ours)}
    assert {row.customer_id for row in rows} == {tenant.customer_id}
    assert rows[0].payload and rows[0].payload["change"] == "playbook_triggers"
    since = last_event_id(engine)
    bad = {"trigger_conditions": {"all": [{"field": "no_such_field", "op": "<", "value": 1}]}}
    assert client.put(url, json=bad, headers=admin).status_code == 422
    assert events_since(engine, since) == []
    assert client.delete(url, headers=admin).status_code == 204
    rows = events_since(engine, since)
    assert by_type(rows) == {DATA: sorted(ours)}
    assert rows[0].payload and rows[0].payload["trigger"] == "deleted"
    since = last_event_id(engine)
    assert client.delete(url, headers=admin).status_code == 404
    assert events_since(engine, since) == []


# -- notes and reference ranges ------------------------------------------------------------


def test_notes_emit_a_data_change_of_their_account(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    (account_id, _other) = add_accounts(engine, tenant, "TechCorp Solutions", "Acme Corp")
    csm = tenant.headers("csm")
    created = client.post(
        f"/api/accounts/{account_id}/notes",
        json={"note_type": "qbr", "note_content": "Renewal looks likely."},
        headers=csm,
    )
    assert created.status_code == 201, created.text
    note_id = created.json()["note_id"]
    assert (
        client.patch(f"/api/notes/{note_id}", json={"is_important": True}, headers=csm).status_code
        == 200
    )
    assert client.delete(f"/api/notes/{note_id}", headers=csm).status_code == 204
    rows = events_since(engine)
    assert [(r.event_type, r.account_id, r.payload) for r in rows] == [
        (DATA, account_id, {"note_id": note_id, "change": change})
        for change in ("created", "updated", "deleted")
    ]
    since = rows[-1].event_id
    refused = client.post(
        f"/api/accounts/{account_id}/notes",
        json={"note_type": "gossip", "note_content": "x"},
        headers=csm,
    )
    assert refused.status_code == 422
    assert client.delete(f"/api/notes/{note_id}", headers=csm).status_code == 404
    assert events_since(engine, since) == []


def test_reference_ranges_change_every_account_of_the_tenant(
    client: TestClient, engine: Engine, tenant: Tenant, other_tenant: Tenant
) -> None:
    ours = add_accounts(engine, tenant, "TechCorp Solutions", "Acme Corp")
    add_accounts(engine, other_tenant, "Their Co")
    admin = tenant.headers("admin")
    put = client.put(
        "/api/reference-ranges/First Response Time",
        json={"direction": "lower", "critical_threshold": 48, "risk_threshold": 24},
        headers=admin,
    )
    assert put.status_code == 200, put.text
    rows = events_since(engine)
    assert by_type(rows) == {DATA: sorted(ours)}
    assert {row.customer_id for row in rows} == {tenant.customer_id}
    assert rows[0].payload and rows[0].payload["change"] == "reference_ranges"
    since = last_event_id(engine)
    header = "kpi_parameter,direction,critical_threshold,risk_threshold\n"
    uploaded = client.post(
        "/api/reference-ranges/upload",
        files={"file": ("ranges.csv", (header + "Escalation Rate,lower,30,15\n").encode())},
        headers=admin,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert by_type(events_since(engine, since)) == {DATA: sorted(ours)}
    since = last_event_id(engine)
    refused = client.post(
        "/api/reference-ranges/upload",
        files={
            "file": (
                "ranges.csv",
                (header + "Escalation Rate,lower,30,15\nSupport CSAT,higher,90,60\n").encode(),
            )
        },
        headers=admin,
    )
    assert refused.status_code == 422, refused.text
    wrong = client.put(
        "/api/reference-ranges/First Response Time",
        json={"direction": "lower", "critical_threshold": 10, "risk_threshold": 24},
        headers=admin,
    )
    assert wrong.status_code == 422
    assert events_since(engine, since) == []
