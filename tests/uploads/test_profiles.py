"""POST /api/customer-profile/upload: CRM fields of many accounts, all rows or none."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from tests import factories
from tests.uploads.conftest import Tenant, counts, office_file
from tidemark.db.engine import unit_of_work
from tidemark.success.models import Account, Product
from tidemark.tenancy.models import Customer

URL = "/api/customer-profile/upload"


def post(
    client: TestClient, tenant: Tenant, content: bytes, name: str = "p.csv", role: str = "csm"
) -> Any:
    return client.post(URL, files={"file": (name, content)}, headers=tenant.headers(role))


def accounts_of(engine: Engine, customer_id: int) -> dict[str, Account]:
    with unit_of_work(engine) as session:
        rows = session.execute(select(Account).where(Account.customer_id == customer_id))
        return {a.account_name: a for a in rows.scalars().all()}


def products_of(engine: Engine, account_id: int) -> list[str]:
    with unit_of_work(engine) as session:
        return sorted(
            session.execute(
                select(Product.product_name).where(Product.account_id == account_id)
            ).scalars()
        )


def add_account(engine: Engine, tenant: Tenant, name: str, **fields: Any) -> int:
    with unit_of_work(engine) as session:
        customer = session.get_one(Customer, tenant.customer_id)
        return factories.account(session, customer, name, **fields).account_id


def test_a_libreoffice_workbook_updates_and_creates_accounts(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    techcorp = add_account(
        engine,
        tenant,
        "TechCorp Solutions",
        profile_metadata={"account_tier": "Growth", "engagement": {"score": 50, "custom": "kept"}},
    )
    response = post(client, tenant, office_file("profiles_office.xlsx"), "profiles_office.xlsx")
    assert response.status_code == 201, response.text
    assert response.json() == {
        "rows": 2,
        "accounts_created": 1,
        "accounts_updated": 1,
        "accounts_unchanged": 0,
        "products_created": 3,
    }
    accounts = accounts_of(engine, tenant.customer_id)
    tech = accounts["TechCorp Solutions"]
    assert tech.account_id == techcorp
    assert tech.revenue == Decimal("1200000.00")
    assert (tech.industry, tech.region, tech.account_status) == (
        "Technology",
        "North America",
        "active",
    )
    assert tech.external_account_id == "CRM-0001"
    assert tech.updated_at is not None
    assert tech.profile_metadata == {
        "assigned_csm": "Jo Park",
        "csm_manager": "Laura Chen",
        "account_owner": "David Miller",
        "account_tier": "Enterprise",
        "products_used": ["Analytics Suite", "Data Connect"],
        "engagement": {
            "lifecycle_stage": "renewal",
            "onboarding_status": "complete",
            "last_qbr_date": "2025-03-01",
            "next_qbr_date": "2025-06-01",
            "score": 82.5,
            "custom": "kept",
        },
        "champions": [
            {"name": "Jane Doe", "status": "active"},
            {"name": "Mike Brown", "status": "at_risk"},
        ],
    }
    assert products_of(engine, techcorp) == ["Analytics Suite", "Data Connect"]
    thai = accounts["บริษัท ไทยเทค จำกัด"]
    assert thai.account_status == "at_risk" and thai.revenue == Decimal(410000)
    assert thai.profile_metadata["assigned_csm"] == "สมชาย ใจดี"
    assert thai.profile_metadata["champions"] == [{"name": "วิภา ศรีสุข", "status": "active"}]
    assert products_of(engine, thai.account_id) == ["Engagement Hub"]


def test_json_profiles_and_blank_cells_keep_stored_values(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    add_account(
        engine,
        tenant,
        "Acme Corp",
        industry="Manufacturing",
        external_account_id="SF-1",
        profile_metadata={"assigned_csm": "Maria Santos"},
    )
    profiles = [
        {
            "external_account_id": "SF-1",
            "revenue": "$2.5M",
            "account_tier": "Strategic",
            "products_used": ["Data Connect", "data connect", "Insights API"],
            "champions": [{"name": "Sofia Rossi", "status": "active", "title": "VP Ops"}],
            "engagement_score": 77,
            "industry": None,
        },
        {"account_name": "Nimbus Cloud", "region": "APAC", "account_status": "Inactive"},
    ]
    response = post(client, tenant, json.dumps(profiles).encode(), "p.json")
    assert response.status_code == 201, response.text
    assert response.json()["accounts_created"] == 1 and response.json()["accounts_updated"] == 1
    accounts = accounts_of(engine, tenant.customer_id)
    acme = accounts["Acme Corp"]
    assert acme.industry == "Manufacturing"  # null keeps the stored value
    assert acme.revenue == Decimal(2500000)
    assert acme.profile_metadata["assigned_csm"] == "Maria Santos"
    assert acme.profile_metadata["products_used"] == ["Data Connect", "Insights API"]
    assert acme.profile_metadata["champions"][0]["title"] == "VP Ops"
    assert acme.profile_metadata["engagement"] == {"score": 77.0}
    assert accounts["Nimbus Cloud"].account_status == "inactive"
    again = post(client, tenant, json.dumps(profiles[:1]).encode(), "p.json")
    assert again.json()["accounts_unchanged"] == 1 and again.json()["accounts_updated"] == 0


def test_an_external_id_renames_and_a_name_fills_the_external_id(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    first = add_account(engine, tenant, "Old Name", external_account_id="SF-7")
    second = add_account(engine, tenant, "Beta Ltd")
    content = b"external_account_id,account_name,region\nSF-7,New Name,EMEA\n,beta ltd,LATAM\n"
    response = post(client, tenant, content)
    assert response.status_code == 201, response.text
    accounts = accounts_of(engine, tenant.customer_id)
    assert accounts["New Name"].account_id == first
    # Matched by name in another case: the stored spelling stays.
    assert accounts["Beta Ltd"].account_id == second and accounts["Beta Ltd"].region == "LATAM"
    filled = post(client, tenant, b"account_name,external_account_id\nBeta Ltd,SF-8\n")
    assert filled.status_code == 201
    assert accounts_of(engine, tenant.customer_id)["Beta Ltd"].external_account_id == "SF-8"


def test_a_viewer_cannot_upload_profiles(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    before = counts(engine)
    response = post(client, tenant, b"account_name,region\nAcme,EMEA\n", role="viewer")
    assert response.status_code == 403
    assert counts(engine) == before


def test_the_other_tenants_account_of_the_same_name_is_not_touched(
    client: TestClient, engine: Engine, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = add_account(engine, other_tenant, "Shared Name", external_account_id="X-1")
    response = post(
        client, tenant, b"account_name,external_account_id,region\nShared Name,X-1,EMEA\n"
    )
    assert response.status_code == 201, response.text
    assert response.json()["accounts_created"] == 1
    assert accounts_of(engine, other_tenant.customer_id)["Shared Name"].region is None
    mine = accounts_of(engine, tenant.customer_id)["Shared Name"]
    assert mine.account_id != theirs and mine.region == "EMEA"


BAD: dict[str, tuple[str, bytes, list[str]]] = {
    "empty": ("p.csv", b"", ["file: the file is empty"]),
    "header only": ("p.csv", b"account_name,region\n", ["file: the file has a header"]),
    "no account column": ("p.csv", b"region\nEMEA\n", ["header: missing required column"]),
    "unknown column": ("p.csv", b"account_name,shoe_size\nA,42\n", ["header: unknown column(s)"]),
    "not excel": ("p.xlsx", b"account_name\nA\n", ["file: the file is not an Excel workbook"]),
    "bad json": ("p.json", b'[{"account_name": "A", ', ["line 1, column"]),
    "bad cells": (
        "p.csv",
        (
            b"account_name,revenue,account_status,last_qbr_date,engagement_score,champions\n"
            b"Good,100,active,2025-01-01,50,Jane (active)\n"
            b"Bad Revenue,abc,active,,,\n"
            b"Negative,-5,,,,\n"
            b"Bad Status,,closed,,,\n"
            b"Bad Date,,,01/02/2025,,\n"
            b"Bad Score,,,,150,\n"
            b",,,,,\n"
            b"Too Precise,1.234,,,,\n"
            b"good,5,,,,\n"
        ),
        [
            "row 3, column revenue: 'abc' is not a number",
            "row 4, column revenue: -5 is negative",
            "row 5, column account_status: 'closed' is not one of",
            "row 6, column last_qbr_date: '01/02/2025' is not a date",
            "row 7, column engagement_score: 150 is not a score from 0 to 100",
            "row 9, column revenue: 1.234 has more than two decimal places",
            "row 10, column account_name: repeats the name of row 2",
        ],
    ),
    "json champions": (
        "p.json",
        json.dumps(
            [
                {"account_name": "A", "champions": [{"status": "active"}]},
                {"account_name": "B", "champions": [{"name": "X", "shoe": "42"}]},
                {"account_name": "C", "products_used": [1, 2]},
                "not an object",
            ]
        ).encode(),
        ["item 4: is not an object"],
    ),
    "json cells": (
        "p.json",
        json.dumps(
            [
                {"account_name": "A", "champions": [{"status": "active"}]},
                {"account_name": "B", "champions": [{"name": "X", "shoe": "42"}]},
                {"account_name": "C", "products_used": [1, 2]},
                {"account_name": ["D"]},
            ]
        ).encode(),
        [
            "item 1, field champions: champion 1 has no name",
            "item 2, field champions: champion 1 has the field 'shoe'",
            "item 3, field products_used: expected product names as text",
            "item 4, field account_name: expected text",
        ],
    ),
    "unknown external id": (
        "p.csv",
        b"external_account_id,region\nNOPE-1,EMEA\n",
        ["row 2, column external_account_id: no account has external id 'NOPE-1'"],
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_profile_files_write_nothing(
    client: TestClient, engine: Engine, tenant: Tenant, case: str
) -> None:
    add_account(engine, tenant, "Existing")
    name, content, expected = BAD[case]
    before = counts(engine)
    accounts_before = {
        n: (a.revenue, a.profile_metadata)
        for n, a in accounts_of(engine, tenant.customer_id).items()
    }
    response = post(client, tenant, content, name)
    assert response.status_code == 422, response.text
    shown = [f"{e['where']}: {e['message']}" for e in response.json()["errors"]]
    assert len(shown) == len(expected), shown
    for text, want in zip(shown, expected, strict=True):
        assert text.startswith(want), shown
    assert counts(engine) == before
    after = {
        n: (a.revenue, a.profile_metadata)
        for n, a in accounts_of(engine, tenant.customer_id).items()
    }
    assert after == accounts_before


def test_renaming_onto_another_accounts_name_is_refused(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    add_account(engine, tenant, "Alpha", external_account_id="A-1")
    add_account(engine, tenant, "Beta")
    before = counts(engine)
    response = post(client, tenant, b"external_account_id,account_name\nA-1,beta\n")
    assert response.status_code == 422
    assert "another account has that name" in response.json()["errors"][0]["message"]
    assert counts(engine) == before
