"""KPI upload benchmark: a 100,000-row file, first into an empty tenant, then uploaded again.

    python -m bench.upload                              # 100,000 rows, CSV, SQLite
    python -m bench.upload --rows 20000 --format xlsx
    python -m bench.upload --http                       # through POST /api/upload as well
    python -m bench.upload --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

The file has 25 standard KPIs per account (``rows / 25`` accounts, each with a
CRM id and three products; the five Product Usage KPIs are per product) and
values written the ways people write them (``85%``, ``12 hours``, ``4.5/5``,
``$1,200,000``). Three uploads are timed, each from reading the bytes to the
commit:

1. the file into an empty tenant: every account, product, KPI and series row
   is created;
2. the same accounts and KPIs for the next month: every KPI is updated and a
   new series row added;
3. the second file again: every KPI and series row is updated in place.

With ``--format xlsx`` the files are workbooks stored as office suites store
them (shared strings, number cells, percent formats). With ``--postgres`` the
same runs on a database ``tidemark_bench_upload`` that the benchmark drops and
creates on that server.

Every statement sent to the database is counted, to show the work is
set-based (a fixed number of statements per thousands of rows, not per row).
The target is 30 seconds for 100,000 rows.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import Engine, func, select

from bench.common import (
    counting,
    create_tenant,
    describe_engine,
    fresh_postgres,
    fresh_sqlite,
    machine,
    say,
    table,
)
from tidemark.db import unit_of_work
from tidemark.success.catalog import STANDARD_KPIS
from tidemark.success.models import KPI, KPITimeSeries
from tidemark.success.uploads import upload_kpis

TARGET_SECONDS = 30.0
NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
PRODUCTS = ("Analytics", "Platform", "Mobile")
HEADER = (
    "Account Name",
    "External Account ID",
    "Category",
    "KPI Parameter",
    "Data",
    "Impact Level",
    "Weight",
    "Measurement Frequency",
    "Product",
    "Month",
    "Year",
)


def written(rng: random.Random, unit: str, value: float) -> str:
    """A value as a person types it, by the KPI's unit."""
    if unit == "%":
        return f"{value:.0f}%"
    if unit == "/5":
        return f"{min(value, 5):.1f}/5"
    if unit == "score":
        return f"{value:.0f}"
    if rng.random() < 0.05:
        return f"${value * 10_000:,.0f}"
    return f"{value:.1f} {unit}"


def kpi_file(rows: int, *, month: int, year: int, seed: int) -> bytes:
    """A CSV of ``rows`` KPI rows (rounded down to whole accounts of 25 KPIs)."""
    rng = random.Random(seed)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for number in range(max(1, rows // len(STANDARD_KPIS))):
        name = f"Account {number + 1:06d}"
        external = f"CRM-{number + 1:07d}"
        for index, kpi in enumerate(STANDARD_KPIS):
            low, high = float(kpi.critical), float(kpi.risk)
            span = max(abs(high - low), 1.0)
            value = rng.uniform(min(low, high) - span, max(low, high) + span)
            if kpi.unit in ("%", "/5", "per week", "per month", "days", "hours", "contacts"):
                value = abs(value)
            product = PRODUCTS[index % 3] if kpi.category == "Product Usage" else ""
            writer.writerow(
                (
                    name,
                    external,
                    kpi.category,
                    kpi.name,
                    written(rng, kpi.unit, value),
                    kpi.impact_level,
                    1 + index % 3,
                    "Monthly",
                    product,
                    month,
                    year,
                )
            )
    return buffer.getvalue().encode()


def as_xlsx(content: bytes) -> bytes:
    """The same rows as a workbook stored the way office suites store one.

    Text goes to the shared-string table, numbers are number cells, and
    ``85%`` is the number 0.85 with a percent format, as LibreOffice and Excel
    save them (openpyxl's streaming writer would write every text cell inline,
    which no office suite does and which reads several times slower).
    """
    strings: dict[str, int] = {}
    rows: list[str] = []
    for number, record in enumerate(csv.reader(io.StringIO(content.decode())), start=1):
        cells = []
        for column, text in enumerate(record):
            ref = f"{_letter(column)}{number}"
            numeric = _number(text)
            if numeric is not None:
                value, style = numeric
                cells.append(f'<c r="{ref}"{style}><v>{value}</v></c>')
            elif text:
                index = strings.setdefault(text, len(strings))
                cells.append(f'<c r="{ref}" t="s"><v>{index}</v></c>')
        rows.append(f'<row r="{number}">{"".join(cells)}</row>')
    shared = "".join(f"<si><t>{escape(text)}</t></si>" for text in strings)
    parts = {
        "[Content_Types].xml": _CONTENT_TYPES,
        "_rels/.rels": _ROOT_RELS,
        "xl/workbook.xml": _WORKBOOK,
        "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS,
        "xl/styles.xml": _STYLES,
        "xl/sharedStrings.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_MAIN}" '
            f'count="{len(strings)}" uniqueCount="{len(strings)}">{shared}</sst>'
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_MAIN}">'
            f'<dimension ref="A1:{_letter(len(HEADER) - 1)}{len(rows)}"/>'
            f"<sheetData>{''.join(rows)}</sheetData></worksheet>"
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return out.getvalue()


def _letter(column: int) -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[column]


def _number(text: str) -> tuple[str, str] | None:
    """A cell value and style for text an office suite would store as a number."""
    percent = text.endswith("%")
    body = text[:-1] if percent else text
    try:
        value = Decimal(body)
    except ArithmeticError:
        return None
    if not body or not value.is_finite():
        return None
    if percent:
        return str(value / 100), ' s="1"'
    return str(value), ""


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_OFFICE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    + "".join(
        f'<Override PartName="/xl/{part}" ContentType="{_OFFICE}.{kind}+xml"/>'
        for part, kind in (
            ("workbook.xml", "sheet.main"),
            ("worksheets/sheet1.xml", "worksheet"),
            ("styles.xml", "styles"),
            ("sharedStrings.xml", "sharedStrings"),
        )
    )
    + "</Types>"
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
    '<sheets><sheet name="KPIs" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/>'
    f'<Relationship Id="rId3" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)
_STYLES = (
    f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{_MAIN}">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
    '<borders count="1"><border/></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="9" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


@dataclass
class Run:
    """One timed upload."""

    label: str
    rows: int
    seconds: float
    queries: int
    result: dict[str, Any]

    def row(self) -> list[Any]:
        """The run as a table row."""
        return [
            self.label,
            self.rows,
            round(self.seconds, 2),
            round(self.rows / self.seconds) if self.seconds else 0,
            self.queries,
            self.result.get("accounts_created", 0),
            self.result.get("kpis_created", 0),
            self.result.get("kpis_updated", 0),
            self.result.get("series_created", 0),
            self.result.get("series_updated", 0),
        ]


HEADERS = (
    "upload",
    "rows",
    "seconds",
    "rows/s",
    "queries",
    "accounts new",
    "KPIs new",
    "KPIs upd",
    "series new",
    "series upd",
)

HEADER_FIELDS = (
    "accounts_created",
    "kpis_created",
    "kpis_updated",
    "series_created",
    "series_updated",
)


def timed_upload(
    engine: Engine, label: str, customer_id: int, user_id: int, name: str, content: bytes
) -> Run:
    """Upload ``content`` in one unit of work, timed through the commit."""
    with counting(engine) as counter:
        start = time.perf_counter()
        with unit_of_work(engine) as session:
            result = upload_kpis(
                session,
                customer_id=customer_id,
                user_id=user_id,
                filename=name,
                content=content,
                now=NOW,
            )
        seconds = time.perf_counter() - start
    summary = {key: getattr(result, key) for key in HEADER_FIELDS}
    return Run(label, result.rows, seconds, counter.count, summary)


def timed_http(engine: Engine, customer_id: int, name: str, content: bytes) -> Run:
    """Upload ``content`` through POST /api/upload (in-process ASGI client), timed."""
    from fastapi.testclient import TestClient

    from tidemark.api import create_app
    from tidemark.clock import FakeClock
    from tidemark.settings import Settings
    from tidemark.tenancy import keys

    with unit_of_work(engine) as session:
        _, key = keys.create(session, customer_id=customer_id, role="csm", now=NOW)
    settings = Settings(max_request_bytes=max(64 * 1024 * 1024, len(content) * 2))
    app = create_app(engine=engine, clock=FakeClock(NOW), settings=settings)
    with TestClient(app) as client, counting(engine) as counter:
        start = time.perf_counter()
        response = client.post(
            "/api/upload",
            files={"file": (name, content)},
            headers={"Authorization": f"Bearer {key}"},
        )
        seconds = time.perf_counter() - start
    if response.status_code != 201:
        raise SystemExit(f"HTTP upload failed: {response.status_code} {response.text[:500]}")
    body = response.json()
    return Run("3b. same file, over HTTP", body["rows"], seconds, counter.count, body)


def bench_backend(engine: Engine, args: argparse.Namespace) -> list[Run]:
    """The three uploads (and the HTTP one) on one database; prints the table."""
    say(f"\n== {describe_engine(engine)}")
    customer_id, user_id = create_tenant(engine, "Upload Bench")
    suffix = ".xlsx" if args.format == "xlsx" else ".csv"
    start = time.perf_counter()
    first = kpi_file(args.rows, month=5, year=2025, seed=args.seed)
    second = kpi_file(args.rows, month=6, year=2025, seed=args.seed + 1)
    if args.format == "xlsx":
        first, second = as_xlsx(first), as_xlsx(second)
    say(
        f"files: {len(first):,} and {len(second):,} bytes ({args.format}), "
        f"made in {time.perf_counter() - start:.1f} s"
    )
    runs = [
        timed_upload(engine, "1. new tenant", customer_id, user_id, f"may{suffix}", first),
        timed_upload(engine, "2. next month", customer_id, user_id, f"june{suffix}", second),
        timed_upload(engine, "3. same file again", customer_id, user_id, f"june{suffix}", second),
    ]
    if args.http:
        runs.append(timed_http(engine, customer_id, f"june{suffix}", second))
    with unit_of_work(engine) as session:
        kpis = session.execute(
            select(func.count()).select_from(KPI).where(KPI.customer_id == customer_id)
        ).scalar_one()
        series = session.execute(
            select(func.count())
            .select_from(KPITimeSeries)
            .where(KPITimeSeries.customer_id == customer_id)
        ).scalar_one()
    say(table([run.row() for run in runs], HEADERS))
    say(f"stored: {kpis:,} KPIs, {series:,} series rows")
    return runs


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 when an upload misses the target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    parser.add_argument("--http", action="store_true", help="also upload through the API")
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL server")
    parser.add_argument("--database", default="tidemark_bench_upload")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    say(f"KPI upload benchmark: {args.rows:,} rows, {machine()}")
    results: list[Run] = []
    with tempfile.TemporaryDirectory() as folder:
        engine = fresh_sqlite(Path(folder) / "upload.db")
        results += bench_backend(engine, args)
        engine.dispose()
    if args.postgres:
        engine = fresh_postgres(args.postgres, args.database)
        results += bench_backend(engine, args)
        engine.dispose()
    slowest = max(run.seconds for run in results)
    verdict = "met" if slowest <= TARGET_SECONDS else "MISSED"
    say(f"\nslowest upload: {slowest:.1f} s; target {TARGET_SECONDS:.0f} s {verdict}")
    return 0 if slowest <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
