"""Reading uploaded files: formats, headers, row numbers, and what is refused."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from decimal import Decimal

import pytest
from openpyxl import Workbook

from tests.uploads.conftest import office_file
from tidemark.errors import InvalidInput, InvalidRows
from tidemark.success.files import JSON, Columns, canonical, raise_if_errors, read_table

COLUMNS = Columns(known=("account_name", "kpi_parameter", "data"), aliases={"value": "data"})


def xlsx(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_headers_ignore_case_spaces_and_underscores() -> None:
    assert canonical("  Account Name ") == "account_name"
    assert canonical("KPI_Parameter") == "kpi_parameter"
    assert canonical("kpi-parameter") == "kpi_parameter"
    sheet = read_table(b"ACCOUNT NAME,Kpi_Parameter,Value\nAcme,NPS,40\n", "k.csv", COLUMNS)
    assert sheet.columns == ("account_name", "kpi_parameter", "data")
    assert sheet.rows == [("Acme", "NPS", "40")]


def test_row_numbers_are_the_spreadsheets_and_blank_rows_are_skipped() -> None:
    content = b"account_name,kpi_parameter,data\nA,X,1\n,,\nB,Y,2\n\nC,Z,3\n"
    sheet = read_table(content, "k.csv", COLUMNS)
    assert sheet.numbers == [2, 4, 6]
    assert sheet.where(4, "data") == "row 4, column data"


def test_csv_with_bom_semicolons_and_utf16() -> None:
    text = "account_name;kpi_parameter;data\nบริษัท ไทยเทค จำกัด;ความพึงพอใจ;85%\n"
    for content in (b"\xef\xbb\xbf" + text.encode(), text.encode("utf-16")):
        sheet = read_table(content, "k.csv", COLUMNS)
        assert sheet.rows == [("บริษัท ไทยเทค จำกัด", "ความพึงพอใจ", "85%")]


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "k.csv", "the file is empty"),
        (b"  \n\n", "k.csv", "the file is empty"),
        (b"account_name,kpi_parameter,data\n", "k.csv", "a header but no data rows"),
        (b"account_name,kpi_parameter,data\n,,\n", "k.csv", "a header but no data rows"),
        (
            b"account_name,kpi,data,colour\nA,X,1,red\n",
            "k.csv",
            "unknown column(s) 'kpi', 'colour'",
        ),
        (b"account_name,data,value\nA,1,2\n", "k.csv", "both name the column data"),
        (b"\xff\xfeA\x00", "k.xlsx", "not an Excel workbook"),
        (b"account_name,kpi_parameter,data\nA,X,1\n", "k.xlsx", "not an Excel workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "k.xlsx", "Excel 97-2003"),
        (b"whatever", "k.xls", "Excel 97-2003"),
        (b"whatever", "k.pdf", "is not a file this upload reads"),
        (b"account_name,data\n\xe9t\xe9,1\n", "k.csv", "not UTF-8"),
        (b"account_name,data\nA\x00,1\n", "k.csv", "NUL character"),
        (b"PK\x03\x04rest", "k.csv", "not CSV text"),
        (b"[1]", "k.json", "is not a file this upload reads"),
    ],
)
def test_refused_files_say_why(content: bytes, name: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_table(content, name, COLUMNS)
    assert message in str(caught.value)


def test_a_zip_that_is_not_a_workbook_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    with pytest.raises(InvalidInput, match="not a readable Excel workbook"):
        read_table(out.getvalue(), "k.xlsx", COLUMNS)


def test_values_under_a_missing_header_are_refused_but_empty_columns_are_fine() -> None:
    fine = read_table(b"account_name,,data\nA,,1\n", "k.csv", COLUMNS)
    assert fine.rows == [("A", "1")]
    with pytest.raises(InvalidRows) as caught:
        read_table(b"account_name,,data\nA,x,1\nB,,2\nC,1,3,extra\n", "k.csv", COLUMNS)
    assert [(e["row"], e["message"]) for e in caught.value.errors] == [
        (2, "has a value in column 2, which has no header"),
        (4, "has 4 cells but the header has 3 columns"),
    ]


def test_the_row_cap_is_enforced() -> None:
    content = b"account_name,data\n" + b"A,1\n" * 11
    assert len(read_table(content, "k.csv", COLUMNS, max_rows=11)) == 11
    with pytest.raises(InvalidInput, match="more than 10 data rows"):
        read_table(content, "k.csv", COLUMNS, max_rows=10)


def test_xlsx_cells_become_text_numbers_and_dates() -> None:
    content = xlsx(
        [
            ["Account Name", "KPI Parameter", "Data"],
            ["Acme", "NPS", 40],
            ["Acme", "CSAT", 0.85],
            [None, None, None],
            ["Acme", "QBR", datetime(2025, 3, 1)],
        ]
    )
    sheet = read_table(content, "k.xlsx", COLUMNS)
    assert sheet.numbers == [2, 3, 5]
    assert sheet.rows[0] == ("Acme", "NPS", Decimal(40))
    assert sheet.rows[1][2] == Decimal("0.85")
    assert sheet.rows[2][2] == datetime(2025, 3, 1)


def test_libreoffice_workbook_keeps_percent_and_currency_cells() -> None:
    columns = Columns(
        known=(
            "account_name",
            "external_account_id",
            "category",
            "kpi_parameter",
            "data",
            "impact_level",
            "weight",
            "measurement_frequency",
            "product",
            "month",
            "year",
        )
    )
    sheet = read_table(office_file("kpis_office.xlsx"), "kpis_office.xlsx", columns)
    data = [row[sheet.columns.index("data")] for row in sheet.rows]
    # The office suite stored "85%" as 0.85 with a percent format and "$1,200,000" as a number.
    assert data == [
        "85%",
        "12 hours",
        "4.5/5",
        Decimal("1234.5"),
        Decimal("-3.5"),
        "2 per month",
        Decimal(1200000),
        "1.2M",
    ]
    assert sheet.numbers == list(range(2, 10))
    assert sheet.rows[5][0] == "บริษัท ไทยเทค จำกัด"


def test_formula_cells_are_refused_naming_each_cell() -> None:
    columns = Columns(known=("account_name", "category", "kpi_parameter", "data"))
    with pytest.raises(InvalidRows) as caught:
        read_table(office_file("kpis_formula.xlsx"), "kpis_formula.xlsx", columns)
    assert caught.value.errors == [
        {
            "where": "row 2, column data",
            "row": 2,
            "column": "data",
            "message": "cell D2 holds a formula (=4*3); upload values, not formulas",
        },
        {
            "where": "row 4, column data",
            "row": 4,
            "column": "data",
            "message": "cell D4 holds a formula (=SUM(40,45)); upload values, not formulas",
        },
    ]


def test_json_is_a_list_of_objects_with_known_fields() -> None:
    content = b'[{"Account Name": "Acme", "value": 1.5}, {"kpi_parameter": "NPS"}]'
    sheet = read_table(content, "p.json", COLUMNS, allowed=(JSON,))
    assert sheet.columns == ("account_name", "data", "kpi_parameter")
    assert sheet.rows == [("Acme", Decimal("1.5"), None), (None, None, "NPS")]
    assert sheet.where(2, "data") == "item 2, field data"
    with pytest.raises(InvalidInput, match="unknown field"):
        read_table(b'[{"colour": "red"}]', "p.json", COLUMNS, allowed=(JSON,))
    with pytest.raises(InvalidInput, match="not JSON"):
        read_table(b'[{"account_name": ', "p.json", COLUMNS, allowed=(JSON,))
    with pytest.raises(InvalidInput, match="list of objects"):
        read_table(b'{"account_name": "A"}', "p.json", COLUMNS, allowed=(JSON,))
    with pytest.raises(InvalidRows) as caught:
        read_table(b'[{"account_name": "A"}, 3]', "p.json", COLUMNS, allowed=(JSON,))
    assert caught.value.errors[0]["where"] == "item 2"


def test_a_file_wrong_everywhere_lists_the_first_ten_thousand_errors() -> None:
    errors = [
        {"where": f"row {n}, column data", "row": n, "column": "data", "message": "bad"}
        for n in range(10_050, 1, -1)
    ]
    with pytest.raises(InvalidRows) as caught:
        raise_if_errors(errors)
    listed = caught.value.errors
    assert len(listed) == 10_001
    assert listed[0]["row"] == 2 and listed[9_999]["row"] == 10_001
    assert listed[-1]["message"] == "and 49 more errors after row 10001, column data"
