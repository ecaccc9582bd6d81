"""Parsing of history-file lines: every field kind, every way a line can be bad."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidemark.errors import InvalidInput
from tidemark.snapshots import importer
from tidemark.snapshots.fields import FIELD_BY_NAME, FIELDS, STORED_SECTIONS, FieldSpec, Kind
from tidemark.snapshots.importer import (
    MAX_LINE_BYTES,
    FieldError,
    ImportLine,
    parse_line,
    parse_value,
    read_lines,
)
from tidemark.snapshots.sections import (
    decode_section,
    encode_section,
    encode_value,
    section_digest,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
STAMP = "2025-01-15T09:30:00Z"


def line(**fields: Any) -> str:
    body = {"account_name": "Acme", "snapshot_timestamp": STAMP, **fields}
    return json.dumps(body, ensure_ascii=False)


def parsed(text: str, number: int = 1) -> ImportLine:
    result = parse_line(text, number, now=NOW)
    assert result is not None
    return result


def refused(text: str, number: int = 1) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_line(text, number, now=NOW)
    return caught.value


def spec(name: str) -> FieldSpec:
    return FIELD_BY_NAME[name]


# ----------------------------------------------------------------------------- lines


def test_a_line_gives_identity_time_and_values() -> None:
    result = parsed(
        line(
            external_account_id="EXT-1",
            overall_health_score=72.5,
            snapshot_reason="Export from the old tool",
            trigger_event="migration",
            snapshot_type="imported",
        ),
        number=7,
    )
    assert result.number == 7
    assert result.name == "Acme"
    assert result.external_id == "EXT-1"
    assert result.at == datetime(2025, 1, 15, 9, 30, tzinfo=UTC)
    assert result.reason == "Export from the old tool"
    assert result.trigger_event == "migration"
    assert result.values == {
        "account_name": "Acme",
        "external_account_id": "EXT-1",
        "overall_health_score": Decimal("72.50"),
    }


def test_blank_lines_are_skipped() -> None:
    assert parse_line("", 4, now=NOW) is None
    assert parse_line("   \t \r\n", 4, now=NOW) is None


def test_a_byte_order_mark_on_the_first_line_is_ignored() -> None:
    assert parsed("\ufeff" + line() + "\r\n").name == "Acme"


def test_naive_timestamps_are_utc_and_offsets_are_converted() -> None:
    assert parsed(line(snapshot_timestamp="2025-01-15T09:30:00")).at == datetime(
        2025, 1, 15, 9, 30, tzinfo=UTC
    )
    assert parsed(line(snapshot_timestamp="2025-01-15T16:30:00+07:00")).at == datetime(
        2025, 1, 15, 9, 30, tzinfo=UTC
    )


def test_a_timestamp_after_now_is_refused() -> None:
    error = refused(line(snapshot_timestamp=(NOW + timedelta(seconds=1)).isoformat()), 3)
    assert error.where == "line 3, field snapshot_timestamp"
    assert "in the future" in error.message
    assert parsed(line(snapshot_timestamp=NOW.isoformat())).at == NOW


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ('{"account_name": "Acme", ', "line 5", "not valid JSON"),
        ("[1, 2]", "line 5", "expected a JSON object, got a list"),
        ('"Acme"', "line 5", "expected a JSON object, got text"),
        (line(helth_score=50), "line 5, field 'helth_score'", "unknown field"),
        (line(snapshot_sequence_number=3), "line 5, field snapshot_sequence_number", "set by"),
        (line(health_score_trend="stable"), "line 5, field health_score_trend", "set by"),
        (line(snapshot_id=12), "line 5, field snapshot_id", "set by"),
        (line(created_by=1), "line 5, field created_by", "set by"),
        (line(snapshot_type="manual"), "line 5, field snapshot_type", '"imported"'),
        (line(snapshot_timestamp=None), "line 5, field snapshot_timestamp", "is required"),
        (line(snapshot_timestamp=1736933400), "line 5, field snapshot_timestamp", "ISO 8601"),
        (line(snapshot_timestamp="15/01/2025"), "line 5, field snapshot_timestamp", "ISO 8601"),
        (line(overall_health_score="high"), "line 5, field overall_health_score", "number"),
        (line(overall_health_score=101), "line 5, field overall_health_score", "0 and 100"),
        (line(total_kpis=2.5), "line 5, field total_kpis", "whole number"),
        (line(total_kpis=-1), "line 5, field total_kpis", "negative"),
        (line(region=["APAC"]), "line 5, field region", "expected text"),
        (line(next_qbr_date="next week"), "line 5, field next_qbr_date", "date"),
        (line(products_used="Analytics"), "line 5, field products_used", "list of text"),
        (line(recent_csm_note_ids=[1, "2"]), "line 5, field recent_csm_note_ids", "whole"),
        ('{"account_name": "A", "account_name": "B"}', "line 5", "appears twice"),
        ('{"revenue": NaN}', "line 5", "not valid JSON"),
        ('{"revenue": 1e99999999999999999999}', "line 5", "out of range"),
        ('{"revenue": 1' + "0" * 5000 + "}", "line 5", "too many digits"),
        ('{"snapshot_timestamp": "' + STAMP + '"}', "line 5", "account_name or external"),
    ],
)
def test_bad_lines_name_their_line_and_field(text: str, where: str, message: str) -> None:
    error = refused(text, 5)
    assert error.where == where
    assert message in error.message
    assert "\n" not in str(error)


def test_an_unknown_field_gets_a_suggestion() -> None:
    assert "'overall_health_score'" in refused(line(overall_health_scor=1)).message


def test_a_long_unknown_key_stays_short_in_the_message() -> None:
    error = refused(json.dumps({"x\n" * 5000: 1}))
    assert len(str(error)) < 200
    assert "\n" not in str(error)


def test_deep_nesting_is_refused_not_crashed() -> None:
    assert "JSON" in refused('{"a": ' + "[" * 200_000 + "]" * 200_000 + "}").message
    nested: Any = {}
    for _ in range(40):
        nested = {"x": nested}
    error = refused(line(last_playbook_executed=nested))
    assert error.where == "line 1, field last_playbook_executed"


class NoDecoding:
    def decode(self, text: str) -> Any:
        raise AssertionError("the line was parsed")


def test_a_ten_megabyte_line_is_refused_fast_without_parsing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importer, "_DECODER", NoDecoding())
    huge = '{"account_name": "' + "x" * 10_000_000 + '"}'
    started = time.perf_counter()
    error = refused(huge, 2)
    elapsed = time.perf_counter() - started
    assert str(error) == "line 2: line is longer than 1 MB"
    assert elapsed < 0.5


def test_the_limit_counts_utf8_bytes() -> None:
    thai = "ก" * (MAX_LINE_BYTES // 3)  # three bytes each in UTF-8
    assert refused(line(account_name="a", snapshot_reason=thai)).message == (
        "line is longer than 1 MB"
    )
    padded = line() + " " * (MAX_LINE_BYTES - len(line()))
    assert parsed(padded).name == "Acme"
    assert refused(padded + " ").message == "line is longer than 1 MB"


def test_list_counts_default_to_the_list_length() -> None:
    values = parsed(line(products_used=["A", "B", "C"], playbooks_running=["p1"])).values
    assert values["product_count"] == 3
    assert values["playbooks_running_count"] == 1
    assert parsed(line(products_used=["A"], product_count=4)).values["product_count"] == 4


def test_nulls_and_empty_text_are_absent() -> None:
    values = parsed(line(region=None, industry="  ", overall_health_score=None)).values
    assert values == {"account_name": "Acme"}


# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("revenue", 1200000, Decimal("1200000.00")),
        ("revenue", Decimal("1200000.005"), Decimal("1200000.00")),
        ("revenue", Decimal("1200000.015"), Decimal("1200000.02")),
        ("revenue", "  99.5 ", Decimal("99.50")),
        ("revenue", "1e3", Decimal("1000.00")),
        ("revenue", Decimal("-0.001"), Decimal("0.00")),
        ("overall_health_score", Decimal("99.999"), Decimal("100.00")),
        ("overall_health_score", 0, Decimal("0.00")),
        ("engagement_score", 81.5, Decimal("81.50")),
    ],
)
def test_decimals_are_exact_and_rounded_to_their_scale(
    name: str, raw: Any, expected: Decimal
) -> None:
    value = parse_value(spec(name), raw)
    assert value == expected
    assert value.as_tuple().exponent == -spec(name).scale
    assert not value.is_signed()


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("revenue", Decimal("10000000000000"), "13 digits before"),
        ("revenue", Decimal("9999999999999.995"), "13 digits before"),
        ("revenue", "1e400", "13 digits before"),
        ("revenue", "1e99999999999999999999999", "too large"),
        ("revenue", -5, "negative"),
        ("revenue", True, "true/false"),
        ("revenue", "1_000", "expected a number"),
        ("revenue", "1,000", "expected a number"),
        ("revenue", "", "expected a number"),
        ("revenue", "NaN", "expected a number"),
        ("revenue", Decimal("NaN"), "finite"),
        ("revenue", [1], "got a list"),
        ("support_score", Decimal("100.01"), "0 and 100"),
        ("support_score", -1, "0 and 100"),
    ],
)
def test_bad_decimals(name: str, raw: Any, message: str) -> None:
    with pytest.raises(FieldError, match=message):
        parse_value(spec(name), raw)


def test_integers() -> None:
    count = spec("total_kpis")
    assert parse_value(count, 25) == 25
    assert parse_value(count, Decimal("25.0")) == 25
    assert parse_value(count, 0) == 0
    for bad, message in [
        (True, "true/false"),
        ("25", "got text"),
        (Decimal("2.5"), "whole number"),
        (-1, "negative"),
        (2**31, "at most"),
        (Decimal("1e40"), "at most"),
        (Decimal("-1e40"), "negative"),
    ]:
        with pytest.raises(FieldError, match=message):
            parse_value(count, bad)


def test_text() -> None:
    tier = spec("account_tier")
    assert parse_value(tier, "Enterprise") == "Enterprise"
    assert parse_value(tier, "") is None
    assert parse_value(tier, "  Enterprise \t") == "Enterprise"
    assert parse_value(tier, "x" * 50) == "x" * 50
    for bad, message in [
        ("x" * 51, "at most 50 characters"),
        (5, "expected text"),
        ("a\x00b", "NUL"),
        ("a\udcff", "UTF-8"),
    ]:
        with pytest.raises(FieldError, match=message):
            parse_value(tier, bad)


def test_thai_text_is_kept_as_written() -> None:
    name = "บริษัท ไทยเทค จำกัด"
    assert parsed(line(account_name=name)).name == name


def test_dates_and_lists() -> None:
    assert parse_value(spec("last_qbr_date"), "2024-12-10") == date(2024, 12, 10)
    with pytest.raises(FieldError, match="date"):
        parse_value(spec("last_qbr_date"), "2024-12-10T10:00:00")
    assert parse_value(spec("products_used"), ["A", "บี"]) == ["A", "บี"]
    with pytest.raises(FieldError, match="list of text"):
        parse_value(spec("products_used"), ["A", 1])
    assert parse_value(spec("recent_csm_note_ids"), [3, 2, 1]) == [3, 2, 1]
    for bad in ([0], [True], "1,2", [1.5]):
        with pytest.raises(FieldError):
            parse_value(spec("recent_csm_note_ids"), bad)


def test_json_fields_keep_their_shape() -> None:
    kpis = [{"kpi_name": "NPS", "value": Decimal("12.5"), "health_status": "Critical"}]
    assert parse_value(spec("top_critical_kpis"), kpis) == [
        {"kpi_name": "NPS", "value": 12.5, "health_status": "Critical"}
    ]
    assert parse_value(spec("last_playbook_executed"), {"playbook_id": "voc"}) == {
        "playbook_id": "voc"
    }
    for name, bad in [
        ("top_critical_kpis", {"kpi_name": "NPS"}),
        ("top_critical_kpis", ["NPS"]),
        ("last_playbook_executed", ["voc"]),
        ("last_playbook_executed", {"note": "a\x00"}),
        ("last_playbook_executed", {"value": Decimal("1e400")}),
    ]:
        with pytest.raises(FieldError):
            parse_value(spec(name), bad)


def test_every_importable_field_has_a_parser() -> None:
    for field in FIELDS:
        if field.importable:
            assert parse_value(field, None) is None


# ----------------------------------------------------------------------------- files


def test_read_lines_cuts_a_huge_line_and_keeps_numbering(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(line() + "\n" + "x" * (3 * MAX_LINE_BYTES) + "\n" + line() + "\n")
    pieces = list(read_lines(path))
    assert len(pieces) == 3
    assert len(pieces[1]) <= MAX_LINE_BYTES + 2
    assert refused(pieces[1], 2).message == "line is longer than 1 MB"
    assert parsed(pieces[2], 3).name == "Acme"


def test_bytes_that_are_not_utf8_are_reported_on_their_line(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    good = line().encode()
    path.write_bytes(good + b"\n" + good.replace(b"Acme", b"Ac\xffme") + b"\n")
    pieces = list(read_lines(path))
    assert parsed(pieces[0], 1).name == "Acme"
    error = refused(pieces[1], 2)
    assert error.where == "line 2, field account_name"
    assert "UTF-8" in error.message


# ----------------------------------------------------------------------------- property

SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)
PLAIN_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | SAFE_TEXT,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(SAFE_TEXT, children, max_size=3)
    ),
    max_leaves=8,
)
SECTION_SPECS = [f for f in FIELDS if f.importable and f.section in STORED_SECTIONS]


def raw_strategy(field: FieldSpec) -> st.SearchStrategy[Any]:
    """Values a history file may hold for ``field``, as JSON would carry them."""
    match field.kind:
        case Kind.DECIMAL:
            top = (
                100 if field.name.endswith("_score") else 10 ** (field.precision - field.scale) - 1
            )
            number = st.decimals(min_value=0, max_value=top, places=field.scale + 1)
            return number | number.map(str) | st.integers(min_value=0, max_value=top)
        case Kind.INT:
            return st.integers(min_value=0, max_value=2**31 - 1)
        case Kind.TEXT:
            return SAFE_TEXT.filter(lambda s: len(s) <= field.max_length)
        case Kind.DATE:
            return st.dates().map(date.isoformat)
        case Kind.TEXT_LIST:
            return st.lists(SAFE_TEXT, max_size=4)
        case Kind.INT_LIST:
            return st.lists(st.integers(min_value=1, max_value=2**63 - 1), max_size=5)
        case _ if field.name == "top_critical_kpis":
            return st.lists(st.dictionaries(SAFE_TEXT, PLAIN_JSON, max_size=4), max_size=5)
        case _:
            return st.dictionaries(SAFE_TEXT, PLAIN_JSON, max_size=4)


def as_json(raw: Any) -> str:
    """JSON text for ``raw``; a Decimal becomes a JSON number literal, as a file would hold it."""
    if isinstance(raw, Decimal):
        return str(raw)
    return json.dumps(raw, ensure_ascii=False)


@given(st.sampled_from(SECTION_SPECS).flatmap(lambda f: st.tuples(st.just(f), raw_strategy(f))))
def test_a_valid_value_round_trips_through_parse_and_section_storage(
    case: tuple[FieldSpec, Any],
) -> None:
    field, raw = case
    identity = "account_name" if field.name == "external_account_id" else "external_account_id"
    text = (
        f'{{"{identity}": "X-1", "snapshot_timestamp": "2025-01-01", '
        f'"{field.name}": {as_json(raw)}}}'
    )
    result = parse_line(text, 1, now=NOW)
    assert result is not None
    value = result.values.get(field.name)
    assert value == parse_value(field, json.loads(as_json(raw), parse_float=Decimal))
    if field.kind is Kind.DECIMAL:
        assert value == Decimal(str(raw)).quantize(Decimal(1).scaleb(-field.scale))

    stored = decode_section(field.section, encode_section(field.section, result.values))
    assert stored[field.name] == value
    # What storage hands back parses to the same value again.
    assert parse_value(field, encode_value(field, stored[field.name])) == value


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3)
    ),
    max_leaves=10,
)
KEYS = st.sampled_from([f.name for f in FIELDS] + ["snapshot_type", "helth", ""])


@given(st.dictionaries(KEYS, ANY_JSON, max_size=8), st.booleans())
def test_any_object_is_accepted_whole_or_refused_with_one_line(
    obj: dict[str, Any], with_identity: bool
) -> None:
    if with_identity:
        obj = {"account_name": "Acme", "snapshot_timestamp": STAMP, **obj}
    try:
        result = parse_line(json.dumps(obj, ensure_ascii=False), 9, now=NOW)
    except InvalidInput as error:
        assert error.where.startswith("line 9")
        assert "\n" not in str(error)
        return
    assert result is not None
    # Whatever is accepted can be stored: every section encodes and hashes.
    for section in STORED_SECTIONS:
        section_digest(section, encode_section(section, result.values))


@given(st.text(max_size=200))
def test_any_text_is_accepted_or_refused_without_crashing(text: str) -> None:
    try:
        parse_line(text, 2, now=NOW)
    except InvalidInput as error:
        assert error.where.startswith("line 2")
