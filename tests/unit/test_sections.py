"""Sections encode canonically: equal values give equal bytes, and decode back exactly."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tidemark.snapshots.fields import SECTION_FIELDS, STORED_SECTIONS, FieldSpec, Kind, Section
from tidemark.snapshots.sections import decode_section, encode_section, section_digest

TEXT = st.text(max_size=30)


def value_strategy(spec: FieldSpec) -> st.SearchStrategy[Any]:
    match spec.kind:
        case Kind.INT:
            return st.integers(min_value=0, max_value=10**6)
        case Kind.DECIMAL:
            limit = 10 ** (spec.precision - spec.scale) - 1
            return st.decimals(
                min_value=-limit, max_value=limit, places=spec.scale, allow_nan=False
            )
        case Kind.TEXT:
            return TEXT
        case Kind.DATE:
            return st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1))
        case Kind.TEXT_LIST:
            return st.lists(TEXT, max_size=4)
        case Kind.INT_LIST:
            return st.lists(st.integers(min_value=1, max_value=10**9), max_size=5)
        case _:
            return st.one_of(st.none(), st.dictionaries(TEXT, st.integers(), max_size=3))


def section_values(section: Section) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {spec.name: st.one_of(st.none(), value_strategy(spec)) for spec in SECTION_FIELDS[section]}
    )


@given(st.sampled_from(STORED_SECTIONS).flatmap(lambda s: st.tuples(st.just(s), section_values(s))))
def test_sections_round_trip(case: tuple[Section, dict[str, Any]]) -> None:
    section, values = case
    body = encode_section(section, values)
    decoded = decode_section(section, body)
    for spec in SECTION_FIELDS[section]:
        expected = values[spec.name]
        if spec.kind is Kind.JSON and expected == {}:
            assert decoded[spec.name] == {}
            continue
        assert decoded[spec.name] == expected
    assert encode_section(section, decoded) == body


def test_key_order_does_not_change_the_digest() -> None:
    values = {"account_name": "บริษัท ไทยเทค จำกัด", "industry": "Retail", "product_count": 2}
    reordered = dict(reversed(list(values.items())))
    a = encode_section(Section.PROFILE, values)
    b = encode_section(Section.PROFILE, reordered)
    assert a == b
    assert section_digest(Section.PROFILE, a) == section_digest(Section.PROFILE, b)
    assert "ไทยเทค" in a


def test_the_same_body_in_another_section_has_another_digest() -> None:
    assert section_digest(Section.HEALTH, "{}") != section_digest(Section.KPIS, "{}")


def test_decimals_keep_their_scale() -> None:
    body = encode_section(Section.HEALTH, {"support_score": Decimal("70.50")})
    assert decode_section(Section.HEALTH, body)["support_score"] == Decimal("70.50")
