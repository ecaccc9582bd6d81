"""Read an uploaded CSV, XLSX or JSON file into rows, keeping the spreadsheet's row numbers.

Every upload goes through here before any of its values are looked at: the
format is decided from the file name, the header is checked against the
columns the upload knows (case-insensitive; spaces, underscores and hyphens are
the same), and each data row keeps the number a spreadsheet shows for it (the
header is row 1). Problems with the file as a whole are an ``InvalidInput``;
problems with cells are collected and raised together as ``InvalidRows``.
The cell converters (``text_cell``, ``number_cell``) turn what a CSV, a
workbook or a JSON file holds into text and numbers the same way for every
upload.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Final

from tidemark.errors import InvalidInput, InvalidRows
from tidemark.success.values import SCALE, ValueSyntaxError, parse_value, plain

#: The most data rows one upload may carry.
MAX_ROWS: Final = 1_000_000
#: The most cell errors an answer lists; a file that is wrong everywhere says so once.
MAX_LISTED_ERRORS: Final = 10_000

CSV: Final = "csv"
XLSX: Final = "xlsx"
JSON: Final = "json"
_SUFFIXES: Final[dict[str, str]] = {
    ".csv": CSV,
    ".txt": CSV,
    ".tsv": CSV,
    ".xlsx": XLSX,
    ".xlsm": XLSX,
    ".json": JSON,
}
_ZIP_MAGIC: Final = b"PK\x03\x04"
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

#: What a cell can hold once read: text from CSV, numbers and dates from XLSX, lists from JSON.
CellValue = str | Decimal | int | bool | date | datetime | time | list[Any] | dict[str, Any] | None

_SEPARATORS: Final = re.compile(r"[\s_\-]+")


def canonical(header: str) -> str:
    """A header as a column name: ``Account Name``, ``account-name`` -> ``account_name``."""
    return _SEPARATORS.sub("_", header.strip().casefold()).strip("_")


@dataclass(frozen=True, slots=True)
class Columns:
    """The columns an upload accepts, and other spellings of them."""

    known: tuple[str, ...]
    aliases: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, header: str) -> str | None:
        """The column a header names, or None when it names none."""
        name = canonical(header)
        name = self.aliases.get(name, name)
        return name if name in self.known else None


@dataclass(slots=True)
class Sheet:
    """An upload's data rows: cells aligned with ``columns``, and their row numbers."""

    kind: str
    columns: tuple[str, ...]
    numbers: list[int]
    rows: list[tuple[CellValue, ...]]

    def __len__(self) -> int:
        return len(self.rows)

    def has(self, column: str) -> bool:
        """Whether the file has this column."""
        return column in self.columns

    def index(self, column: str) -> int | None:
        """The position of a column in each row, or None when the file lacks it."""
        try:
            return self.columns.index(column)
        except ValueError:
            return None

    def where(self, number: int, column: str | None = None) -> str:
        """``row 7, column data`` (``item 3, field revenue`` in JSON)."""
        unit, part = ("item", "field") if self.kind == JSON else ("row", "column")
        return f"{unit} {number}" if column is None else f"{unit} {number}, {part} {column}"

    def error(self, number: int, column: str | None, message: str) -> dict[str, Any]:
        """One entry of an InvalidRows list."""
        return {
            "where": self.where(number, column),
            "row": number,
            "column": column,
            "message": message,
        }


def raise_if_errors(errors: list[dict[str, Any]]) -> None:
    """Raise InvalidRows with every error, in row order, when there is any."""
    if not errors:
        return
    errors.sort(key=lambda e: (e["row"], e["column"] or ""))
    if len(errors) > MAX_LISTED_ERRORS:
        left = len(errors) - MAX_LISTED_ERRORS
        last = errors[MAX_LISTED_ERRORS - 1]
        errors = errors[:MAX_LISTED_ERRORS]
        errors.append(
            {
                "where": "file",
                "row": last["row"],
                "column": None,
                "message": f"and {left:,} more errors after {last['where']}",
            }
        )
    raise InvalidRows(errors)


# --------------------------------------------------------------------------- cells


class CellError(ValueError):
    """A cell whose content this upload cannot accept; the message says why."""


# --------------------------------------------------------------------------- cells


def text_cell(cell: CellValue, limit: int) -> str | None:
    """A cell as trimmed text (None when empty); CellError when too long or not text."""
    if cell is None:
        return None
    if isinstance(cell, str):
        text = cell.strip()
    elif isinstance(cell, bool):
        text = "TRUE" if cell else "FALSE"
    elif isinstance(cell, Decimal):
        text = plain(cell)
    elif isinstance(cell, datetime):
        text = cell.date().isoformat() if cell.time() == time() else cell.isoformat()
    elif isinstance(cell, date | time):
        text = cell.isoformat()
    else:
        raise CellError("expected text, not a list or an object")
    if not text:
        return None
    if "\x00" in text:
        raise CellError("contains a NUL character")
    if len(text) > limit:
        raise CellError(f"is longer than {limit} characters")
    return text


def number_cell(cell: CellValue) -> Decimal | None:
    """A cell as a number in the KPI value syntax (None when empty)."""
    if cell is None:
        return None
    if isinstance(cell, bool):
        raise CellError(f"{cell} is not a number")
    if isinstance(cell, Decimal | int):
        number = Decimal(cell)
        if abs(number) >= Decimal(10) ** 14:
            raise CellError(f"{plain(number)} is too large (at most 14 digits before the point)")
        return number.quantize(SCALE)
    if isinstance(cell, datetime | date | time):
        raise CellError(f"{cell.isoformat()} is a date, not a number")
    if not isinstance(cell, str):
        raise CellError("expected a number")
    if not cell.strip():
        return None
    try:
        return parse_value(cell)
    except ValueSyntaxError as exc:
        raise CellError(str(exc)) from None


# --------------------------------------------------------------------------- formats


def kind_of(filename: str, content: bytes, *, allowed: Sequence[str]) -> str:
    """The format of an upload from its name (its content when the name has no suffix)."""
    suffix = PurePath(filename or "").suffix.casefold()
    if suffix == ".xls":
        raise InvalidInput(
            "file", "Excel 97-2003 workbooks (.xls) are not read; save the sheet as .xlsx"
        )
    kind = _SUFFIXES.get(suffix)
    if kind is None and not suffix:
        head = content[:64].lstrip()
        if content.startswith(_ZIP_MAGIC):
            kind = XLSX
        elif head.startswith(b"[") and JSON in allowed:
            kind = JSON
        else:
            kind = CSV
    if kind is None or kind not in allowed:
        names = ", ".join(f".{k}" for k in allowed)
        raise InvalidInput("file", f"{filename!r} is not a file this upload reads ({names})")
    return kind


def read_table(
    content: bytes,
    filename: str,
    columns: Columns,
    *,
    allowed: Sequence[str] = (CSV, XLSX),
    max_rows: int = MAX_ROWS,
) -> Sheet:
    """The data rows of an uploaded file, its header checked against ``columns``."""
    if not content.strip():
        raise InvalidInput("file", "the file is empty")
    kind = kind_of(filename, content, allowed=allowed)
    if kind == JSON:
        return _read_json(content, columns, max_rows)
    if kind == XLSX:
        records: Iterator[tuple[int, list[CellValue]]] = _xlsx_records(content, columns)
    else:
        records = _csv_records(content)
    return _tabulate(kind, records, columns, max_rows)


def _tabulate(
    kind: str,
    records: Iterator[tuple[int, list[CellValue]]],
    columns: Columns,
    max_rows: int,
) -> Sheet:
    header: list[CellValue] | None = None
    for _number, cells in records:
        if not _blank(cells):
            header = cells
            break
    if header is None:
        raise InvalidInput("file", "the file is empty")
    names, keep, unnamed = _check_header(header, columns)
    width = len(header)
    numbers: list[int] = []
    rows: list[tuple[CellValue, ...]] = []
    stray: list[dict[str, Any]] = []
    sheet = Sheet(kind, tuple(names), numbers, rows)
    for number, cells in records:
        if _blank(cells):
            continue
        if len(cells) > width and not _blank(cells[width:]):
            stray.append(
                sheet.error(
                    number, None, f"has {len(cells)} cells but the header has {width} columns"
                )
            )
            continue
        if len(numbers) >= max_rows:
            raise InvalidInput(
                "file",
                f"the file has more than {max_rows:,} data rows; split it into smaller files",
            )
        padded = cells + [None] * (width - len(cells)) if len(cells) < width else cells
        for position in unnamed:
            if not _blank((padded[position],)):
                stray.append(
                    sheet.error(
                        number, None, f"has a value in column {position + 1}, which has no header"
                    )
                )
        numbers.append(number)
        rows.append(tuple(padded[i] for i in keep))
    raise_if_errors(stray)
    if not rows:
        raise InvalidInput("file", "the file has a header but no data rows")
    return sheet


def _blank(cells: Iterable[CellValue]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _check_header(
    header: list[CellValue], columns: Columns
) -> tuple[list[str], list[int], list[int]]:
    """Canonical names and positions of the named columns, and positions of unnamed ones."""
    names: list[str] = []
    keep: list[int] = []
    unknown: list[str] = []
    unnamed: list[int] = []
    seen: dict[str, str] = {}
    for position, cell in enumerate(header):
        text = _header_text(cell)
        if not text:
            unnamed.append(position)
            continue
        name = columns.resolve(text)
        if name is None:
            unknown.append(text)
            continue
        if name in seen:
            raise InvalidInput(
                "header", f"columns {seen[name]!r} and {text!r} both name the column {name}"
            )
        seen[name] = text
        names.append(name)
        keep.append(position)
    if unknown:
        listed = ", ".join(repr(u) for u in unknown)
        raise InvalidInput(
            "header",
            f"unknown column(s) {listed}; the columns are: {', '.join(columns.known)}",
        )
    return names, keep, unnamed


def _header_text(cell: CellValue) -> str:
    if cell is None:
        return ""
    if isinstance(cell, Decimal):
        return plain(cell)
    return str(cell).strip()


# --------------------------------------------------------------------------- CSV


def _decode(content: bytes) -> str:
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return content.decode("utf-16")
    if content.startswith(_ZIP_MAGIC):
        raise InvalidInput("file", "this is an Excel workbook or other zip file, not CSV text")
    if content.startswith(_OLE_MAGIC):
        raise InvalidInput("file", "this is an Excel 97-2003 workbook, not CSV text")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "file",
            f"the file is not UTF-8 text (byte {exc.start + 1}); save it as 'CSV UTF-8'",
        ) from None


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {sep: first.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _csv_records(content: bytes) -> Iterator[tuple[int, list[CellValue]]]:
    text = _decode(content)
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InvalidInput(f"line {line}", "the file contains a NUL character")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=False)
    number = 0
    try:
        for record in reader:
            number += 1
            yield number, list(record)
    except csv.Error as exc:
        raise InvalidInput(f"row {number + 1}", f"the CSV cannot be read: {exc}") from None


# --------------------------------------------------------------------------- XLSX


def _xlsx_records(content: bytes, columns: Columns) -> Iterator[tuple[int, list[CellValue]]]:
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    if content.startswith(_OLE_MAGIC):
        raise InvalidInput(
            "file", "this is an Excel 97-2003 workbook (.xls); save the sheet as .xlsx"
        )
    if not content.startswith(_ZIP_MAGIC):
        raise InvalidInput("file", "the file is not an Excel workbook (.xlsx)")
    try:
        # data_only=False: a formula cell shows its formula, so it can be refused.
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except Exception as exc:  # zipfile, XML and openpyxl's own errors for broken parts
        raise InvalidInput(
            "file", f"the file is not a readable Excel workbook (.xlsx): {type(exc).__name__}"
        ) from None
    try:
        if not workbook.worksheets:
            raise InvalidInput("file", "the workbook has no sheets")
        sheet = workbook.worksheets[0]
        # Some writers store wrong sheet dimensions; read every cell that is there.
        sheet.reset_dimensions()
        bad: list[tuple[int, int, str]] = []
        header: list[CellValue] | None = None
        try:
            for cells in sheet.iter_rows():
                number: int | None = None
                values: list[CellValue] = []
                for position, cell in enumerate(cells):
                    if number is None:
                        number = getattr(cell, "row", None)
                    kind = getattr(cell, "data_type", None)
                    if kind in ("f", "e"):
                        bad.append((number or 0, position, kind + str(cell.value)))
                        values.append(None)
                        continue
                    values.append(_xlsx_value(cell.value, getattr(cell, "number_format", "")))
                if number is None:
                    continue
                if header is None and not _blank(values):
                    header = values
                if not bad:
                    yield number, values
        except (InvalidInput, InvalidRows):
            raise
        except Exception as exc:  # a damaged sheet part
            raise InvalidInput(
                "file", f"the workbook cannot be read: {type(exc).__name__}"
            ) from None
        if bad:
            raise _cell_errors(bad, header, columns)
    finally:
        workbook.close()


def _cell_errors(
    bad: list[tuple[int, int, str]], header: list[CellValue] | None, columns: Columns
) -> InvalidRows:
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    errors: list[dict[str, Any]] = []
    for row, position, text in bad:
        name: str | None = None
        if header is not None and position < len(header):
            name = columns.resolve(_header_text(header[position])) or None
        cell = f"{get_column_letter(position + 1)}{row}"
        kind, shown = text[0], text[1:]
        if len(shown) > 60:
            shown = shown[:59] + "…"
        if kind == "e":
            message = f"cell {cell} holds the spreadsheet error {shown}; upload values"
        else:
            message = f"cell {cell} holds a formula ({shown}); upload values, not formulas"
        where = f"row {row}" if name is None else f"row {row}, column {name}"
        errors.append({"where": where, "row": row, "column": name, "message": message})
    errors.sort(key=lambda e: (e["row"], e["column"] or ""))
    return InvalidRows(errors[:MAX_LISTED_ERRORS])


def _xlsx_value(value: Any, number_format: str) -> CellValue:
    if value is None or isinstance(value, str | bool | datetime | date | time):
        return value
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        # repr is the shortest text that reads back as the same float: 0.85, not 0.8499...
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        number = value
    else:
        return str(value)
    if "%" in (number_format or ""):
        return f"{plain(number * 100)}%"
    return number


# --------------------------------------------------------------------------- JSON


def _read_json(content: bytes, columns: Columns, max_rows: int) -> Sheet:
    try:
        data = json.loads(_decode(content), parse_float=Decimal, parse_int=Decimal)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"line {exc.lineno}, column {exc.colno}", f"the file is not JSON: {exc.msg}"
        ) from None
    except RecursionError:
        raise InvalidInput("file", "the JSON is nested too deeply") from None
    if isinstance(data, dict):
        for key in ("accounts", "profiles", "items", "data"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise InvalidInput("file", "the JSON must be a list of objects, one per account")
    if not data:
        raise InvalidInput("file", "the JSON list is empty")
    if len(data) > max_rows:
        raise InvalidInput(
            "file", f"the file has more than {max_rows:,} items; split it into smaller files"
        )
    names: list[str] = []
    unknown: set[str] = set()
    errors: list[dict[str, Any]] = []
    keyed: list[dict[str, CellValue] | None] = []
    probe = Sheet(JSON, (), [], [])
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            errors.append(probe.error(number, None, "is not an object"))
            keyed.append(None)
            continue
        row: dict[str, CellValue] = {}
        for key, value in item.items():
            name = columns.resolve(str(key))
            if name is None:
                unknown.add(str(key))
                continue
            if name in row:
                errors.append(probe.error(number, name, f"is given twice (as {key!r})"))
                continue
            row[name] = value
            if name not in names:
                names.append(name)
        keyed.append(row)
    if unknown:
        listed = ", ".join(repr(u) for u in sorted(unknown))
        raise InvalidInput(
            "file", f"unknown field(s) {listed}; the fields are: {', '.join(columns.known)}"
        )
    raise_if_errors(errors)
    sheet = Sheet(JSON, tuple(names), [], [])
    for number, fields in enumerate(keyed, start=1):
        assert fields is not None
        sheet.numbers.append(number)
        sheet.rows.append(tuple(fields.get(name) for name in names))
    return sheet
