"""CSM notes over HTTP: create, list newest first, read, update and delete."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api.conftest import Tenant
from tests.success.conftest import add_accounts, table_state
from tidemark.clock import FakeClock

QBR = {
    "note_type": "qbr",
    "note_title": "Q2 2025 QBR",
    "note_content": "Discussed the NPS improvement plan; committed to three feature requests.",
    "meeting_date": "2025-06-12",
    "participants": ["Sam Lee (CSM)", "Jane Doe (Customer)"],
    "tags": ["qbr", "nps"],
    "is_important": True,
    "related_playbook_id": "voc-sprint",
}


def test_a_note_is_written_read_changed_and_deleted(
    client: TestClient, engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    csm = tenant.headers("csm")
    created = client.post(f"/api/accounts/{account_id}/notes", json=QBR, headers=csm)
    assert created.status_code == 201, created.text
    note = created.json()
    assert {key: note[key] for key in QBR} == QBR
    assert note["account_id"] == account_id
    assert note["created_by"] == tenant.user_id
    assert note["created_at"] == "2025-06-15T12:00:00Z"
    assert note["updated_at"] is None
    note_id = note["note_id"]
    assert client.get(f"/api/notes/{note_id}", headers=tenant.headers("viewer")).json() == note

    clock.advance(timedelta(hours=2))
    changed = client.patch(
        f"/api/notes/{note_id}",
        json={"note_content": "Thai follow-up: ลูกค้าพอใจกับแผนงาน", "tags": None},
        headers=csm,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["note_content"] == "Thai follow-up: ลูกค้าพอใจกับแผนงาน"
    assert changed.json()["tags"] is None
    assert changed.json()["note_title"] == "Q2 2025 QBR"
    assert changed.json()["updated_at"] == "2025-06-15T14:00:00Z"

    deleted = client.delete(f"/api/notes/{note_id}", headers=csm)
    assert deleted.status_code == 204
    assert client.get(f"/api/notes/{note_id}", headers=csm).status_code == 404
    assert client.delete(f"/api/notes/{note_id}", headers=csm).status_code == 404


def test_notes_are_listed_newest_first_a_page_at_a_time(
    client: TestClient, engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    mine, other = add_accounts(engine, tenant, "TechCorp Solutions", "Acme Corp")
    csm = tenant.headers("csm")
    ids = []
    for i, note_type in enumerate(("meeting", "call", "email", "call")):
        response = client.post(
            f"/api/accounts/{mine}/notes",
            json={"note_type": note_type, "note_content": f"Note {i}"},
            headers=csm,
        )
        ids.append(response.json()["note_id"])
        clock.advance(timedelta(minutes=5))
    client.post(
        f"/api/accounts/{other}/notes",
        json={"note_type": "general", "note_content": "Elsewhere"},
        headers=csm,
    )
    viewer = tenant.headers("viewer")
    page = client.get(f"/api/accounts/{mine}/notes", params={"limit": 3}, headers=viewer).json()
    assert page["total"] == 4
    assert [n["note_id"] for n in page["items"]] == ids[::-1][:3]
    rest = client.get(
        f"/api/accounts/{mine}/notes", params={"limit": 3, "offset": 3}, headers=viewer
    ).json()
    assert [n["note_id"] for n in rest["items"]] == [ids[0]]
    calls = client.get(
        f"/api/accounts/{mine}/notes", params={"note_type": "call"}, headers=viewer
    ).json()
    assert [n["note_id"] for n in calls["items"]] == [ids[3], ids[1]]


INVALID_NOTES: list[tuple[dict[str, Any], str]] = [
    ({**QBR, "note_type": "memo"}, "body.note_type"),
    ({**QBR, "note_content": ""}, "body.note_content"),
    ({**QBR, "note_content": "   "}, "note_content"),
    ({**QBR, "note_content": "x" * 50_001}, "body.note_content"),
    ({key: value for key, value in QBR.items() if key != "note_content"}, "body.note_content"),
    ({**QBR, "meeting_date": "next Tuesday"}, "body.meeting_date"),
    ({**QBR, "participants": "Sam"}, "body.participants"),
    ({**QBR, "note_title": "t" * 256}, "body.note_title"),
    ({**QBR, "is_important": "very"}, "body.is_important"),
    ({**QBR, "author": "Sam"}, "body.author"),
]


def test_invalid_notes_name_the_field_and_write_nothing(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    before = table_state(engine)
    for body, where in INVALID_NOTES:
        response = client.post(
            f"/api/accounts/{account_id}/notes", json=body, headers=tenant.headers("csm")
        )
        assert response.status_code == 422, (where, response.text[:300])
        assert response.json()["errors"][0]["where"] == where
    assert table_state(engine) == before


def test_the_longest_note_is_accepted(client: TestClient, engine: Engine, tenant: Tenant) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    response = client.post(
        f"/api/accounts/{account_id}/notes",
        json={"note_type": "general", "note_content": "ก" * 50_000},
        headers=tenant.headers("csm"),
    )
    assert response.status_code == 201
    assert len(response.json()["note_content"]) == 50_000


def test_an_update_cannot_blank_required_fields(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    (account_id,) = add_accounts(engine, tenant, "TechCorp Solutions")
    csm = tenant.headers("csm")
    note_id = client.post(f"/api/accounts/{account_id}/notes", json=QBR, headers=csm).json()[
        "note_id"
    ]
    before = table_state(engine)
    for body, where in [
        ({"note_content": None}, "note_content"),
        ({"note_type": None}, "note_type"),
        ({"note_type": "memo"}, "body.note_type"),
        ({"is_important": None}, "is_important"),
    ]:
        response = client.patch(f"/api/notes/{note_id}", json=body, headers=csm)
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["where"] == where
    assert table_state(engine) == before
