"""The tenant's configuration over HTTP: weights, upload mode, debounce window, time zone."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, select

from tests.api.conftest import NOW, Tenant
from tests.success.conftest import add_accounts
from tidemark.clock import FakeClock
from tidemark.db.engine import session_factory, unit_of_work
from tidemark.events.models import OutboxEvent, SnapshotSchedule
from tidemark.tenancy.models import CATEGORIES, CustomerConfig

PATH = "/api/customer-config"
EVEN = dict.fromkeys(CATEGORIES, 0.2)
LEANING = {
    "Product Usage": 0.4,
    "Support": 0.15,
    "Customer Sentiment": 0.15,
    "Business Outcomes": 0.2,
    "Relationship Strength": 0.1,
}


def events_of(engine: Engine, customer_id: int) -> list[tuple[int, str, object]]:
    with session_factory(engine)() as session:
        rows = session.execute(
            select(OutboxEvent.account_id, OutboxEvent.event_type, OutboxEvent.payload)
            .where(OutboxEvent.customer_id == customer_id)
            .order_by(OutboxEvent.account_id)
        ).all()
    return [tuple(row) for row in rows]


def test_a_new_tenant_reads_the_defaults(client: TestClient, tenant: Tenant) -> None:
    answer = client.get(PATH, headers=tenant.headers("viewer"))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "customer_id": tenant.customer_id,
        "timezone": "UTC",
        "category_weights": EVEN,
        "kpi_upload_mode": "account_rollup",
        "snapshot_window_seconds": 300,
        "master_file_name": None,
        "updated_at": None,
    }


def test_new_weights_are_kept_and_every_account_is_captured_again(
    client: TestClient, engine: Engine, tenant: Tenant, other_tenant: Tenant, clock: FakeClock
) -> None:
    first, second = add_accounts(engine, tenant, "TechCorp Solutions", "Acme Corp")
    add_accounts(engine, other_tenant, "Elsewhere Ltd")
    clock.advance(timedelta(minutes=3))
    answer = client.put(PATH, json={"category_weights": LEANING}, headers=tenant.headers())
    assert answer.status_code == 200, answer.text
    assert answer.json()["category_weights"] == LEANING
    assert answer.json()["updated_at"] == "2025-06-15T12:03:00Z"
    assert answer.json()["kpi_upload_mode"] == "account_rollup"
    change = {"change": "category_weights"}
    assert events_of(engine, tenant.customer_id) == [
        (first, "account_data_changed", change),
        (second, "account_data_changed", change),
    ]
    assert events_of(engine, other_tenant.customer_id) == []
    assert client.get(PATH, headers=tenant.headers("viewer")).json() == answer.json()
    assert client.get(PATH, headers=other_tenant.headers()).json()["category_weights"] == EVEN
    # The same weights again change no score: no new events.
    client.put(PATH, json={"category_weights": LEANING}, headers=tenant.headers())
    assert len(events_of(engine, tenant.customer_id)) == 2


def test_the_other_settings_change_one_at_a_time(
    client: TestClient, engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    add_accounts(engine, tenant, "TechCorp Solutions")
    admin = tenant.headers()
    window = client.put(PATH, json={"snapshot_window_seconds": 0}, headers=admin)
    assert window.status_code == 200, window.text
    assert window.json()["snapshot_window_seconds"] == 0
    mode = client.put(PATH, json={"kpi_upload_mode": "corporate"}, headers=admin).json()
    assert (mode["kpi_upload_mode"], mode["snapshot_window_seconds"]) == ("corporate", 0)
    zone = client.put(PATH, json={"timezone": "Asia/Bangkok"}, headers=admin).json()
    assert zone["timezone"] == "Asia/Bangkok"
    assert zone["category_weights"] == EVEN
    # None of these changes a health score.
    assert events_of(engine, tenant.customer_id) == []


def test_a_new_time_zone_moves_the_schedules(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    admin = tenant.headers()
    schedule = client.put(
        "/api/snapshot-schedules/nightly", json={"frequency": "daily"}, headers=admin
    ).json()
    assert schedule["next_run_at"] == "2025-06-16T02:00:00Z"  # 02:00 UTC
    client.put(PATH, json={"timezone": "Asia/Bangkok"}, headers=admin)
    moved = client.get(f"/api/snapshot-schedules/{schedule['schedule_id']}", headers=admin).json()
    assert moved["timezone"] == "Asia/Bangkok"
    assert moved["next_run_at"] == "2025-06-15T19:00:00Z"  # 02:00 in Bangkok


def test_the_configuration_row_is_created_when_missing(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    with unit_of_work(engine) as session:
        session.execute(
            delete(CustomerConfig).where(CustomerConfig.customer_id == tenant.customer_id)
        )
    assert client.get(PATH, headers=tenant.headers()).json()["category_weights"] == EVEN
    answer = client.put(PATH, json={"snapshot_window_seconds": 60}, headers=tenant.headers())
    assert answer.status_code == 200, answer.text
    with session_factory(engine)() as session:
        row = session.execute(
            select(CustomerConfig).where(CustomerConfig.customer_id == tenant.customer_id)
        ).scalar_one()
        assert (row.snapshot_window_seconds, row.kpi_upload_mode) == (60, "account_rollup")
        assert row.category_weights == EVEN


BAD_BODIES: list[tuple[dict[str, object], str]] = [
    ({"category_weights": {**EVEN, "Support": 0.1}}, "category_weights"),
    (
        {"category_weights": {**EVEN, "Support": -0.2, "Product Usage": 0.6}},
        "category_weights.Support",
    ),
    ({"category_weights": {**EVEN, "Price": 0.0}}, "category_weights.Price"),
    (
        {"category_weights": {k: v for k, v in LEANING.items() if k != "Support"}},
        "category_weights.Support",
    ),
    ({"category_weights": None}, "category_weights"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"kpi_upload_mode": "sideways"}, "body.kpi_upload_mode"),
    ({"snapshot_window_seconds": 86_401}, "body.snapshot_window_seconds"),
    ({"snapshot_window_seconds": -1}, "body.snapshot_window_seconds"),
    ({"snapshot_window_seconds": None}, "snapshot_window_seconds"),
    ({"colour": "blue"}, "body.colour"),
]


def test_bad_input_is_a_problem_naming_the_field_and_changes_nothing(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    add_accounts(engine, tenant, "TechCorp Solutions")
    before = client.get(PATH, headers=tenant.headers()).json()
    for body, where in BAD_BODIES:
        # A good field beside the bad one is not kept either.
        answer = client.put(
            PATH, json={"kpi_upload_mode": "corporate", **body}, headers=tenant.headers()
        )
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert [error["where"] for error in answer.json()["errors"]] == [where], body
    assert client.get(PATH, headers=tenant.headers()).json() == before
    assert events_of(engine, tenant.customer_id) == []


def test_only_admins_change_the_configuration(client: TestClient, tenant: Tenant) -> None:
    for role in ("viewer", "csm"):
        assert client.get(PATH, headers=tenant.headers(role)).status_code == 200
        answer = client.put(PATH, json={"timezone": "Asia/Bangkok"}, headers=tenant.headers(role))
        assert answer.status_code == 403
    assert client.get(PATH).status_code == 401
    assert client.get(PATH, headers=tenant.headers()).json()["timezone"] == "UTC"


def test_every_tenant_has_its_own_schedules_after_a_zone_change(
    client: TestClient, engine: Engine, tenant: Tenant, other_tenant: Tenant
) -> None:
    for owner in (tenant, other_tenant):
        client.put(
            "/api/snapshot-schedules/nightly", json={"frequency": "daily"}, headers=owner.headers()
        )
    client.put(PATH, json={"timezone": "Asia/Tokyo"}, headers=tenant.headers())
    with session_factory(engine)() as session:
        times = dict(
            session.execute(
                select(SnapshotSchedule.customer_id, SnapshotSchedule.next_run_at)
            ).all()
        )
    assert times[tenant.customer_id] == NOW.replace(hour=17)  # 02:00 in Tokyo
    assert times[other_tenant.customer_id] == NOW.replace(hour=2) + timedelta(days=1)
