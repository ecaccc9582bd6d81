"""POST /api/upload: KPI files applied whole, or refused whole with every bad row listed."""

from __future__ import annotations

import io
import time
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import Engine, select

from tests.uploads.conftest import Tenant, counts, office_file
from tidemark.api import create_app
from tidemark.clock import FakeClock
from tidemark.db.engine import unit_of_work
from tidemark.errors import InvalidRows
from tidemark.settings import Settings
from tidemark.success.models import KPI, Account, KPITimeSeries, KPIUpload, Product
from tidemark.success.uploads import upload_kpis

HEADER = "account_name,external_account_id,category,kpi_parameter,data,product,month,year\n"


def post(
    client: TestClient,
    tenant: Tenant,
    content: bytes,
    name: str = "kpis.csv",
    role: str = "csm",
    **form: Any,
) -> Any:
    return client.post(
        "/api/upload",
        files={"file": (name, content)},
        data={k: str(v) for k, v in form.items()},
        headers=tenant.headers(role),
    )


def kpis_of(engine: Engine, customer_id: int) -> dict[tuple[str, str | None, str], KPI]:
    with unit_of_work(engine) as session:
        names = dict(
            session.execute(
                select(Account.account_id, Account.account_name).where(
                    Account.customer_id == customer_id
                )
            ).all()
        )
        products = dict(
            session.execute(
                select(Product.product_id, Product.product_name).where(
                    Product.customer_id == customer_id
                )
            ).all()
        )
        rows = session.execute(select(KPI).where(KPI.customer_id == customer_id)).scalars().all()
        return {(names[k.account_id], products.get(k.product_id), k.kpi_parameter): k for k in rows}


def series_of(engine: Engine, customer_id: int) -> list[KPITimeSeries]:
    with unit_of_work(engine) as session:
        return list(
            session.execute(
                select(KPITimeSeries)
                .where(KPITimeSeries.customer_id == customer_id)
                .order_by(KPITimeSeries.series_id)
            )
            .scalars()
            .all()
        )


def test_a_csv_creates_accounts_products_kpis_and_graded_series(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    content = (
        HEADER
        + "TechCorp Solutions,CRM-0001,Product Usage,Product Adoption Rate,85%,Analytics,5,2025\n"
        + "TechCorp Solutions,CRM-0001,Support,First Response Time,12 hours,,5,2025\n"
        + "TechCorp Solutions,CRM-0001,Support,Escalation Rate,20%,,5,2025\n"
        + 'TechCorp Solutions,CRM-0001,Business Outcomes,Pipeline,"$1,200,000",,5,2025\n'
    ).encode()
    response = post(client, tenant, content)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["version"] == 1
    assert body["rows"] == 4
    assert body["accounts_created"] == 1 and body["accounts_matched"] == 0
    assert body["products_created"] == 1
    assert body["kpis_created"] == 4 and body["kpis_updated"] == 0
    assert body["series_created"] == 4
    assert body["months"] == ["2025-05"]
    kpis = kpis_of(engine, tenant.customer_id)
    adoption = kpis[("TechCorp Solutions", "Analytics", "Product Adoption Rate")]
    assert adoption.data == "85%" and adoption.value == Decimal(85)
    assert adoption.impact_level == "Medium" and adoption.weight == Decimal(1)
    pipeline = kpis[("TechCorp Solutions", None, "Pipeline")]
    assert pipeline.data == "$1,200,000" and pipeline.value == Decimal(1200000)
    assert body["account_id"] == adoption.account_id
    graded = {
        s.kpi_parameter: (s.health_status, s.health_score)
        for s in series_of(engine, tenant.customer_id)
    }
    # Default ranges: adoption higher 40/60; first response lower 24/8; escalation lower 15/5.
    assert graded == {
        "Product Adoption Rate": ("Healthy", Decimal(100)),
        "First Response Time": ("Risk", Decimal(50)),
        "Escalation Rate": ("Critical", Decimal(0)),
        "Pipeline": (None, None),
    }
    with unit_of_work(engine) as session:
        upload = session.execute(select(KPIUpload)).scalar_one()
        assert upload.raw_file == content
        assert upload.original_filename == "kpis.csv"
        assert upload.user_id == tenant.user_id
        assert upload.account_id == adoption.account_id
        assert upload.row_count == 4
        assert upload.parsed_data[0]["row"] == 2
        assert upload.parsed_data[0]["value"] == "85"
        assert upload.parsed_data[0]["data"] == "85%"


def test_a_libreoffice_workbook_with_thai_text_is_applied(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    response = post(client, tenant, office_file("kpis_office.xlsx"), name="kpis_office.xlsx")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["rows"] == 8 and body["accounts_created"] == 2 and body["account_id"] is None
    kpis = kpis_of(engine, tenant.customer_id)
    values = {key[2]: (kpi.data, kpi.value) for key, kpi in kpis.items()}
    assert values == {
        "Product Adoption Rate": ("85%", Decimal(85)),
        "First Response Time": ("12 hours", Decimal(12)),
        "Sentiment Score": ("4.5/5", Decimal("4.5")),
        "ROI Achieved": ("1234.5", Decimal("1234.5")),
        "Revenue Growth": ("-3.5", Decimal("-3.5")),
        "ความถี่การประชุม": ("2 per month", Decimal(2)),
        "Annual Contract Value": ("1200000", Decimal(1200000)),
        "Pipeline": ("1.2M", Decimal(1200000)),
    }
    thai = kpis[("บริษัท ไทยเทค จำกัด", None, "ความถี่การประชุม")]
    assert thai.impact_level == "Low" and thai.weight == Decimal("0.5")
    assert thai.measurement_frequency == "Monthly"
    with unit_of_work(engine) as session:
        external = session.execute(
            select(Account.external_account_id).where(Account.account_name == "บริษัท ไทยเทค จำกัด")
        ).scalar_one()
    assert external == "CRM-0002"


def test_a_viewer_cannot_upload(client: TestClient, engine: Engine, tenant: Tenant) -> None:
    before = counts(engine)
    content = (HEADER + "A,,Support,Escalation Rate,5%,,,\n").encode()
    response = post(client, tenant, content, role="viewer")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert counts(engine) == before


def test_uploading_again_updates_kpis_and_the_version_increments(
    client: TestClient, engine: Engine, tenant: Tenant, other_tenant: Tenant
) -> None:
    first = (HEADER + "Acme,,Support,Escalation Rate,20%,,5,2025\n").encode()
    assert post(client, tenant, first).json()["version"] == 1
    # The other tenant's versions are its own.
    assert post(client, other_tenant, first).json()["version"] == 1
    again = (HEADER + "acme,,support,escalation rate,4%,,5,2025\n").encode()
    body = post(client, tenant, again).json()
    assert body["version"] == 2
    assert body["accounts_matched"] == 1 and body["accounts_created"] == 0
    assert body["kpis_created"] == 0 and body["kpis_updated"] == 1
    assert body["series_created"] == 0 and body["series_updated"] == 1
    kpis = kpis_of(engine, tenant.customer_id)
    assert list(kpis) == [("Acme", None, "Escalation Rate")]
    assert kpis[("Acme", None, "Escalation Rate")].value == Decimal(4)
    series = series_of(engine, tenant.customer_id)
    assert [(s.value, s.health_status) for s in series] == [(Decimal(4), "Healthy")]
    june = (HEADER + "Acme,,Support,Escalation Rate,9%,,6,2025\n").encode()
    body = post(client, tenant, june).json()
    assert body["version"] == 3 and body["series_created"] == 1 and body["kpis_updated"] == 1
    assert len(series_of(engine, tenant.customer_id)) == 2
    with unit_of_work(engine) as session:
        versions = (
            session.execute(
                select(KPIUpload.version).where(KPIUpload.customer_id == tenant.customer_id)
            )
            .scalars()
            .all()
        )
    assert sorted(versions) == [1, 2, 3]


def test_a_past_month_adds_history_without_turning_back_the_current_value(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    post(client, tenant, (HEADER + "Acme,,Support,Escalation Rate,4%,,6,2025\n").encode())
    body = post(client, tenant, (HEADER + "Acme,,Support,Escalation Rate,30%,,1,2025\n").encode())
    assert body.json()["series_created"] == 1 and body.json()["kpis_updated"] == 0
    assert kpis_of(engine, tenant.customer_id)[("Acme", None, "Escalation Rate")].value == 4
    # In one file, the newest month is the current value.
    two_months = (
        HEADER
        + "Beta,,Support,Escalation Rate,7%,,3,2025\n"
        + "Beta,,Support,Escalation Rate,2%,,4,2025\n"
    ).encode()
    post(client, tenant, two_months)
    assert kpis_of(engine, tenant.customer_id)[("Beta", None, "Escalation Rate")].value == 2


def test_the_form_gives_the_account_and_month_of_a_file_without_them(
    client: TestClient, engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    content = b"Category,KPI Parameter,Data\nSupport,First Response Time,6 hours\n"
    response = post(client, tenant, content, account_name="บริษัท ไทยเทค จำกัด", month=3, year=2025)
    assert response.status_code == 201, response.text
    assert response.json()["months"] == ["2025-03"]
    no_month = post(client, tenant, content, account_name="บริษัท ไทยเทค จำกัด")
    now = clock.now()
    assert no_month.json()["months"] == [f"{now.year}-{now.month:02d}"]
    assert no_month.json()["accounts_matched"] == 1
    missing = post(client, tenant, content)
    assert missing.status_code == 422
    assert "account_name or external_account_id" in missing.json()["errors"][0]["message"]


def test_an_external_id_finds_its_account_and_fills_a_missing_one(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    post(client, tenant, (HEADER + "Acme,,Support,Escalation Rate,4%,,5,2025\n").encode())
    named = (HEADER + "Acme,CRM-9,Support,Support CSAT,90%,,5,2025\n").encode()
    assert post(client, tenant, named).json()["accounts_matched"] == 1
    by_id = (HEADER + ",CRM-9,Support,Support CSAT,91%,,5,2025\n").encode()
    body = post(client, tenant, by_id).json()
    assert body["accounts_matched"] == 1 and body["kpis_updated"] == 1
    unknown = (HEADER + ",CRM-404,Support,Support CSAT,91%,,5,2025\n").encode()
    response = post(client, tenant, unknown)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "where": "row 2, column external_account_id",
            "row": 2,
            "column": "external_account_id",
            "message": "no account has external id 'CRM-404'; add account_name to create it",
        }
    ]


BAD_FILES: dict[str, tuple[str, bytes, dict[str, Any], list[str]]] = {
    "empty file": ("k.csv", b"", {}, ["file: the file is empty"]),
    "header only": ("k.csv", HEADER.encode(), {}, ["file: the file has a header but no data rows"]),
    "missing column": (
        "k.csv",
        b"account_name,category,data\nA,Support,1\n",
        {},
        ["header: missing required column(s): kpi_parameter"],
    ),
    "unknown column": (
        "k.csv",
        b"account_name,category,kpi_parameter,data,colour\nA,Support,X,1,red\n",
        {},
        ["header: unknown column(s) 'colour'"],
    ),
    "abc as a value": (
        "k.csv",
        (HEADER + "A,,Support,X,12,,5,2025\nA,,Support,Y,abc,,5,2025\n").encode(),
        {},
        ["row 3, column data: 'abc' is not a number"],
    ),
    "non-Excel file named .xlsx": (
        "k.xlsx",
        (HEADER + "A,,Support,X,12,,5,2025\n").encode(),
        {},
        ["file: the file is not an Excel workbook (.xlsx)"],
    ),
    "formula cells": (
        "kpis_formula.xlsx",
        office_file("kpis_formula.xlsx"),
        {},
        [
            "row 2, column data: cell D2 holds a formula (=4*3); upload values, not formulas",
            "row 4, column data: cell D4 holds a formula (=SUM(40,45)); upload values, "
            "not formulas",
        ],
    ),
    "wrong month and year": (
        "k.csv",
        (
            HEADER
            + "A,,Support,X,1,,13,2025\n"
            + "A,,Support,Y,1,,5,1850\n"
            + "A,,Support,Z,1,,12,2025\n"
            + "A,,Support,W,1,,May,twenty\n"
        ).encode(),
        {},
        [
            "row 2, column month: 13 is not a month (1-12 or a month name)",
            "row 3, column year: 1850 is not a year from 2000 to 2025",
            "row 4, column month: 2025-12 is after the current month",
            "row 5, column year: 'twenty' is not a year",
        ],
    ),
    "wrong form month": (
        "k.csv",
        (HEADER + "A,,Support,X,1,,,\n").encode(),
        {"month": 13},
        ["body.month"],
    ),
    "future form month": (
        "k.csv",
        (HEADER + "A,,Support,X,1,,,\n").encode(),
        {"month": 12},
        ["month: 2025-12 is after the current month"],
    ),
    "every bad row": (
        "k.csv",
        (
            HEADER
            + "A,,Support,X,1,,5,2025\n"
            + "A,,Nope,X2,1,,5,2025\n"
            + ",,Support,X3,1,,5,2025\n"
            + "A,,Support,,1,,5,2025\n"
            + "A,,Support,X4,,,5,2025\n"
            + "A,,Support,X,2,,5,2025\n"
        ).encode(),
        {},
        [
            "row 3, column category: 'Nope' is not a category; use one of Product Usage, "
            "Support, Customer Sentiment, Business Outcomes, Relationship Strength",
            "row 4, column account_name: is empty: give account_name or external_account_id "
            "(or the account_name form field)",
            "row 5, column kpi_parameter: is empty",
            "row 6, column data: is empty",
            "row 7, column kpi_parameter: repeats row 2: the same account, product, KPI and month",
        ],
    ),
    "duplicate rows": (
        "k.csv",
        (HEADER + "A,,Support,X,1,,5,2025\nA,,Support,x,2,,5,2025\n").encode(),
        {},
        ["row 3, column kpi_parameter: repeats row 2: the same account, product, KPI and month"],
    ),
    "conflicting external ids": (
        "k.csv",
        (HEADER + "A,E-1,Support,X,1,,5,2025\nB,E-1,Support,X,1,,5,2025\n").encode(),
        {},
        [
            "row 3, column external_account_id: external id 'E-1' belongs to account 'A' "
            "(row 2), not 'B'"
        ],
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_are_refused_whole_and_write_nothing(
    client: TestClient, engine: Engine, tenant: Tenant, case: str
) -> None:
    post(client, tenant, (HEADER + "Existing,,Support,Escalation Rate,4%,,5,2025\n").encode())
    name, content, form, expected = BAD_FILES[case]
    before = counts(engine)
    response = post(client, tenant, content, name=name, **form)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    shown = [f"{e['where']}: {e['message']}" for e in errors]
    assert len(shown) == len(expected), shown
    for text, want in zip(shown, expected, strict=True):
        assert text.startswith(want), shown
    assert counts(engine) == before


def test_thai_rows_with_a_bad_value_are_listed_by_row(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    content = (
        HEADER
        + "บริษัท ไทยเทค จำกัด,,Customer Sentiment,ความพึงพอใจ,ดีมาก,,5,2025\n"
        + "บริษัท ไทยเทค จำกัด,,Customer Sentiment,คะแนน NPS,45,,5,2025\n"
    ).encode()
    before = counts(engine)
    response = post(client, tenant, content)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "where": "row 2, column data",
            "row": 2,
            "column": "data",
            "message": "'ดีมาก' is not a number",
        }
    ]
    assert counts(engine) == before


def test_a_file_over_the_request_limit_is_refused(
    engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    app = create_app(engine=engine, clock=clock, settings=Settings(max_request_bytes=4096))
    content = HEADER.encode() + b"A,,Support,X,1,,5,2025\n" * 400
    before = counts(engine)
    with TestClient(app) as small:
        response = post(small, tenant, content)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert counts(engine) == before


def test_the_row_cap_refuses_a_longer_file(
    engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    content = (HEADER + "A,,Support,X,1,,5,2025\n" * 3).encode()
    before = counts(engine)
    with pytest.raises(Exception, match="more than 2 data rows"), unit_of_work(engine) as session:
        upload_kpis(
            session,
            customer_id=tenant.customer_id,
            user_id=tenant.user_id,
            filename="k.csv",
            content=content,
            now=clock.now(),
            max_rows=2,
        )
    assert counts(engine) == before


def workbook_of(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_xlsx_numbers_months_and_a_formula_among_good_rows(
    client: TestClient, engine: Engine, tenant: Tenant
) -> None:
    header = ["Account Name", "Category", "KPI Parameter", "Data", "Month", "Year"]
    good = workbook_of([header, ["Acme", "Support", "Support CSAT", 91, 5, 2025]])
    response = post(client, tenant, good, name="k.xlsx")
    assert response.status_code == 201, response.text
    assert kpis_of(engine, tenant.customer_id)[("Acme", None, "Support CSAT")].data == "91"
    before = counts(engine)
    bad = workbook_of(
        [
            header,
            ["Acme", "Support", "Support CSAT", 91, 5, 2025],
            ["Acme", "Support", "X", "=B2", 5, 2025],
        ]
    )
    response = post(client, tenant, bad, name="k.xlsx")
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == (
        "cell D3 holds a formula (=B2); upload values, not formulas"
    )
    assert counts(engine) == before


def bench_file(rows: int) -> bytes:
    from bench.upload import kpi_file

    return kpi_file(rows, month=5, year=2025, seed=3)


@pytest.mark.slow
def test_a_100000_row_file_is_accepted_within_30_seconds(
    engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    content = bench_file(100_000)
    start = time.perf_counter()
    with unit_of_work(engine) as session:
        result = upload_kpis(
            session,
            customer_id=tenant.customer_id,
            user_id=tenant.user_id,
            filename="big.csv",
            content=content,
            now=clock.now(),
        )
    seconds = time.perf_counter() - start
    assert result.rows == 100_000
    assert result.accounts_created == 4_000
    assert result.kpis_created == 100_000 and result.series_created == 100_000
    assert counts(engine)["kpis"] == 100_000
    assert seconds <= 30, f"took {seconds:.1f} s"


def test_errors_are_listed_for_every_bad_row_of_a_large_file(
    engine: Engine, tenant: Tenant, clock: FakeClock
) -> None:
    content = (
        HEADER.encode()
        + "".join(
            f"A,,Support,X{n},{'abc' if n % 2 else n},,5,2025\n" for n in range(2000)
        ).encode()
    )
    before = counts(engine)
    with pytest.raises(InvalidRows) as caught, unit_of_work(engine) as session:
        upload_kpis(
            session,
            customer_id=tenant.customer_id,
            user_id=tenant.user_id,
            filename="k.csv",
            content=content,
            now=clock.now(),
        )
    assert len(caught.value.errors) == 1000
    assert caught.value.errors[0]["where"] == "row 3, column data"
    assert counts(engine) == before
