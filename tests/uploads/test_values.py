"""The KPI value parser: the styles people write numbers in, and clear refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidemark.success.values import ValueSyntaxError, parse_value, plain


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("85", "85"),
        ("85%", "85"),
        ("85 %", "85"),
        ("$1,200,000", "1200000"),
        ("1.2M", "1200000"),
        ("1.2 million", "1200000"),
        ("$5m", "5000000"),
        ("250k", "250000"),
        ("3bn", "3000000000"),
        ("4.5/5", "4.5"),
        ("4.5 / 5", "4.5"),
        ("12 hours", "12"),
        ("3 per week", "3"),
        ("5 months", "5"),
        ("-3.5", "-3.5"),
        ("−3.5", "-3.5"),
        ("+7", "7"),
        ("1,234.5", "1234.5"),
        (".5", "0.5"),
        ("(1,200)", "-1200"),
        ("USD 1,200", "1200"),
        ("1,200 €", "1200"),
        ("฿500", "500"),
        ("1.2E+06", "1200000"),
        ("  42  ", "42"),
        ("12 ชั่วโมง", "12"),
        ("-0", "0"),
        ("0.00001", "0"),
        ("3.14159", "3.1416"),
    ],
)
def test_accepted_styles(text: str, expected: str) -> None:
    assert parse_value(text) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "'abc' is not a number"),
        ("", "is empty"),
        ("   ", "is empty"),
        ("1,2", "commas separate thousands"),
        ("1234,5", "commas separate thousands"),
        ("--5", "two signs"),
        ("(-5)", "sign inside parentheses"),
        ("4/0", "out of zero"),
        ("4.5/x", "not a rating"),
        ("85%x", "after the percent sign"),
        ("12 h2", "digits in its unit"),
        ("nan", "is not a number"),
        ("inf", "is not a number"),
        ("1e999", "too large"),
        ("100000000000000", "too large"),
        ("5-", "is not a number"),
        ("=4*3", "is not a number"),
    ],
)
def test_refusals_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueSyntaxError, match=message.replace("(", r"\(")):
        parse_value(text)


# Values the store keeps exactly: 4 decimal places, 14 digits before the point.
stored_values = st.decimals(
    min_value=Decimal("-99999999999999.9999"),
    max_value=Decimal("99999999999999.9999"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)
small_values = st.decimals(min_value=Decimal("-99999"), max_value=Decimal("99999"), places=4)


def grouped(number: Decimal) -> str:
    """``1,234,567.5`` style."""
    text = plain(abs(number))
    whole, _, fraction = text.partition(".")
    groups = f"{int(whole):,}"
    body = f"{groups}.{fraction}" if fraction else groups
    return f"-{body}" if number < 0 else body


@given(stored_values)
def test_plain_numbers_read_back(number: Decimal) -> None:
    assert parse_value(plain(number)) == number


@given(stored_values)
def test_thousands_separators_read_back(number: Decimal) -> None:
    assert parse_value(grouped(number)) == number


@given(stored_values, st.sampled_from(["{}%", "{} %", "{}/5", "{} / 10", "{} hours", "{} ชั่วโมง"]))
def test_suffixes_keep_the_number(number: Decimal, template: str) -> None:
    assert parse_value(template.format(grouped(number))) == number


@given(stored_values.filter(lambda n: n >= 0), st.sampled_from(["${}", "$ {}", "{} €", "USD {}"]))
def test_currencies_keep_the_number(number: Decimal, template: str) -> None:
    assert parse_value(template.format(grouped(number))) == number


@given(stored_values.filter(lambda n: n > 0))
def test_negative_styles(number: Decimal) -> None:
    text = grouped(number)
    assert parse_value(f"-{text}") == -number
    assert parse_value(f"({text})") == -number
    assert parse_value(f"-${text}") == -number


@given(
    small_values, st.sampled_from([("K", 1000), ("M", 10**6), ("B", 10**9), (" million", 10**6)])
)
def test_multipliers_scale(number: Decimal, suffix: tuple[str, int]) -> None:
    word, factor = suffix
    assert parse_value(f"{plain(number)}{word}") == (number * factor).quantize(Decimal("0.0001"))


@given(st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=12))
def test_words_alone_are_not_numbers(word: str) -> None:
    with pytest.raises(ValueSyntaxError):
        parse_value(word)


@given(st.text(max_size=30))
def test_any_text_parses_or_is_refused(text: str) -> None:
    try:
        number = parse_value(text)
    except ValueSyntaxError as exc:
        assert str(exc)
    else:
        assert number.is_finite()
        assert abs(number) < Decimal(10) ** 14
