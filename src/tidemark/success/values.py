"""Numbers as people write them in KPI files: ``85%``, ``$1,200,000``, ``1.2M``, ``4.5/5``.

The grammar (also in ``docs/UPLOADS.md``), around one number:

* an optional sign (``-``, ``+`` or the typographic minus), or parentheses
  around the whole value for a negative amount: ``(1,200)`` is -1200;
* an optional currency: a symbol (``$ € £ ¥ ฿ ₹``) before or after the
  number, or a three-letter code before it (``USD 1,200``);
* the number: digits with an optional decimal point; commas are thousands
  separators only (``1,234.5``; ``1,2`` is refused), and an exponent
  (``1.2E+06``, as spreadsheets show large numbers) is allowed;
* an optional multiplier: ``k`` thousand, ``m``/``mm``/``mn``/``million``,
  ``b``/``bn``/``billion`` (any case, attached or after a space);
* then at most one of: ``%`` (the number is kept in percent: ``85%`` is 85,
  the unit reference ranges use), ``/N`` (a rating: ``4.5/5`` is 4.5, on the
  scale of its range), or a unit label that starts with a letter and holds no
  digits (``12 hours``, ``3 per week``, ``5 ชั่วโมง``), which is ignored.

Anything else is refused with a message that says why.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Final

#: Values are stored as numeric(18, 4): 14 digits before the point.
MAX_ABS: Final = Decimal(10) ** 14
SCALE: Final = Decimal("0.0001")

_CURRENCY_SYMBOLS: Final = "$€£¥฿₹"
_MULTIPLIERS: Final[dict[str, Decimal]] = {
    "k": Decimal(1000),
    "thousand": Decimal(1000),
    "m": Decimal(1_000_000),
    "mm": Decimal(1_000_000),
    "mn": Decimal(1_000_000),
    "million": Decimal(1_000_000),
    "b": Decimal(1_000_000_000),
    "bn": Decimal(1_000_000_000),
    "billion": Decimal(1_000_000_000),
}
_MINUSES: Final = str.maketrans({"\u2212": "-", "\u2013": "-", "\u00a0": " ", "\u202f": " "})

_NUMBER: Final = re.compile(
    r"""
    (?P<sign>[+-])?\s*
    (?:(?P<code>[A-Z]{3})\s*|(?P<symbol>[$€£¥฿₹])\s*)?
    (?P<sign2>[+-])?\s*
    (?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)
    (?:[eE](?P<exp>[+-]?\d{1,3})(?![\w.]))?
    """,
    re.VERBOSE,
)
_WORD: Final = re.compile(r"\s*([^\W\d_]+)")
_DENOMINATOR: Final = re.compile(r"\s*/\s*(\d+(?:\.\d+)?)")


class ValueSyntaxError(ValueError):
    """A value that is not a number in any of the accepted styles."""


def _show(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def parse_value(text: str) -> Decimal:
    """The number a KPI value means; ValueSyntaxError with the reason when it is none."""
    original = text
    clean = text.translate(_MINUSES).strip()
    if not clean:
        raise ValueSyntaxError("is empty")
    negative = False
    if clean.startswith("(") and clean.endswith(")"):
        negative = True
        clean = clean[1:-1].strip()
    match = _NUMBER.match(clean)
    if match is None:
        raise ValueSyntaxError(f"{_show(original)} is not a number")
    if match["sign"] and match["sign2"]:
        raise ValueSyntaxError(f"{_show(original)} has two signs")
    sign = match["sign"] or match["sign2"]
    if negative and sign:
        raise ValueSyntaxError(f"{_show(original)} has a sign inside parentheses")
    try:
        number = Decimal(match["digits"].replace(",", ""))
        if match["exp"] is not None:
            number = number.scaleb(int(match["exp"]))
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        raise ValueSyntaxError(f"{_show(original)} is not a number") from None
    factor, rest = _multiplier(clean[match.end() :])
    number *= factor
    _check_rest(rest, original, has_currency=bool(match["code"] or match["symbol"]))
    if negative or sign == "-":
        number = -number
    if abs(number) >= MAX_ABS:
        raise ValueSyntaxError(
            f"{_show(original)} is too large (at most 14 digits before the point)"
        )
    if not number:
        return Decimal(0)
    return number.quantize(SCALE)


def _multiplier(rest: str) -> tuple[Decimal, str]:
    """The multiplier word right after the number, if any, and what follows it."""
    word = _WORD.match(rest)
    if word is None:
        return Decimal(1), rest
    factor = _MULTIPLIERS.get(word[1].casefold())
    after = rest[word.end() :]
    # "5 months" is a unit, "5m" and "5 M" a multiplier: the word must stand alone.
    if factor is None or (after and (after[0].isalpha() or after[0].isdigit())):
        return Decimal(1), rest
    return factor, after


def _check_rest(rest: str, original: str, *, has_currency: bool) -> None:
    rest = rest.strip()
    if not rest:
        return
    if rest[0] in _CURRENCY_SYMBOLS and not has_currency:
        rest = rest[1:].strip()
        if not rest:
            return
    if rest.startswith("%"):
        if rest[1:].strip():
            raise ValueSyntaxError(f"{_show(original)} has text after the percent sign")
        return
    if rest.startswith("/"):
        denominator = _DENOMINATOR.fullmatch(rest)
        if denominator is None:
            raise ValueSyntaxError(f"{_show(original)} is not a rating like 4.5/5")
        if Decimal(denominator[1]) == 0:
            raise ValueSyntaxError(f"{_show(original)} is a rating out of zero")
        return
    if not rest[0].isalpha():
        if rest[0] == ",":
            raise ValueSyntaxError(
                f"{_show(original)} is not a number (commas separate thousands, "
                "in groups of three; the decimal mark is a point)"
            )
        raise ValueSyntaxError(f"{_show(original)} is not a number")
    if any(ch.isdigit() for ch in rest):
        raise ValueSyntaxError(f"{_show(original)} has digits in its unit")


def plain(number: Decimal) -> str:
    """The number without trailing zeros or an exponent: ``60``, ``4.5``, ``-0.25``."""
    if number == number.to_integral_value():
        return str(number.quantize(Decimal(1)))
    return format(number.normalize(), "f")
