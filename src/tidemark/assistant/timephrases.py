"""Time phrases in questions, resolved against the clock in the tenant's time zone.

A question has at most one time phrase; where several phrases overlap, the
longest wins ("since last month" over "last month", "at the end of last quarter"
over "last quarter"). Matching ignores case. The grammar, by table row:

    phrase  := since | between | edge | prep base | base*        (* standalone rows only)
    since   := "since" base
    between := "between" base "and" base | "from" base ("to"|"until"|"till"|"through") base
    edge    := ["at"|"by"|"as of"] ["the"] ("end"|"close"|"start"|"beginning") "of" base
    prep    := "in" | "during" | "for" | "throughout" | "from" | "on" | "at" | "as of"
               | "over" | "within"                     (a bare year only after in/during/for/
                                                         throughout/from/since)
    base    := "today" | "yesterday" | "now"
             | ("this"|"current"|"last"|"previous"|"prior") ("week"|"month"|"quarter"|"year")
             | ("year"|"quarter"|"month") "to date" | "ytd" | "qtd" | "mtd"
             | "last" MONTH | MONTH [YEAR] | YEAR-MM | "Q"n [YEAR] | YEAR "Q"n
             | ("first".."fourth") "quarter" ["of" YEAR] | YEAR
             | YYYY-MM-DD | D MONTH [YEAR] | MONTH D[,] [YEAR]
             | N UNIT "ago"                           (N: digits, "a", "an", "one".."twenty")
             | ["the"] ("past"|"last"|"previous"|"prior"|"recent") N UNIT
             | ["the"] "past" UNIT
             | a few Thai phrases: วันนี้, เมื่อวาน, สัปดาห์นี้/ที่แล้ว, เดือนนี้/ที่แล้ว,
               ไตรมาสนี้/ที่แล้ว, ปีนี้/ที่แล้ว

What they mean (everything in the tenant's zone; weeks start on Monday,
quarters are calendar quarters):

* A calendar period (a day, week, month, quarter or year) is a PERIOD window
  from its first instant to its last microsecond; the period still running ends
  at ``now``. "last month" is the previous calendar month.
* A month, quarter or day without a year is the most recent one that has begun:
  "in March" is this year's March from 1 March on, else last year's. "last
  March" is the most recent March that has ended.
* "the past N days", "the last 6 months", "over the past week": a RANGE window
  [now − N units, now], counted on the calendar (months clamp to the month's end).
* "N days ago", "a year ago": a MOMENT (``start`` is None, ``end`` the moment).
* "since X": a RANGE from the start of X to now. "between X and Y" / "from X to
  Y": a RANGE from the start of X to the end of Y.
* "at the end of X": the MOMENT X ends (its last microsecond); "at the start of
  X": the MOMENT it begins.

Windows come back as aware UTC datetimes. A phrase wholly after ``now`` is
returned as it is (not capped); the caller reports it as having no history.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tidemark.assistant.plan import Window
from tidemark.clock import ensure_utc, months_before
from tidemark.errors import InvalidInput

_MICROSECOND: Final = timedelta(microseconds=1)


class Shape(StrEnum):
    """What a time phrase denotes."""

    #: One instant ("a year ago", "at the end of last quarter"); ``start`` is None.
    MOMENT = "moment"
    #: A calendar period ("last month", "in March", "on 2025-01-15").
    PERIOD = "period"
    #: A stretch ending at a moment, usually now ("over the past 90 days", "since January").
    RANGE = "range"


@dataclass(frozen=True, slots=True)
class TimePhrase:
    """A time phrase found in a question: its window, its shape and where it stands."""

    window: Window
    shape: Shape
    #: Character offsets of the phrase in the question.
    start: int
    end: int


class TimePhraseError(ValueError):
    """A phrase that reads as a date but is not one ("on 2025-02-30")."""

    def __init__(self, phrase: str, reason: str, start: int = 0, end: int = 0) -> None:
        super().__init__(f'"{phrase}" {reason}')
        self.phrase = phrase
        self.reason = reason
        self.start = start
        self.end = end


def zone_of(timezone: str) -> ZoneInfo:
    """The tenant's time zone, or InvalidInput when the name is not a known zone."""
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("timezone", f"{timezone!r} is not a known time zone") from None


def find_time_phrase(text: str, *, now: datetime, timezone: str = "UTC") -> TimePhrase | None:
    """The time phrase of ``text`` resolved against ``now``, or None when it has none.

    Raises TimePhraseError when the phrase names a day that does not exist.
    """
    context = _Context.at(now, timezone)
    best: tuple[int, int, _Rule, re.Match[str]] | None = None
    for rule in _TOP_RULES:
        for match in rule.regex.finditer(text):
            length = match.end() - match.start()
            if best is None or (length, -match.start()) > (best[1] - best[0], -best[0]):
                best = (match.start(), match.end(), rule, match)
    if best is None:
        return None
    start, end, rule, match = best
    phrase = text[start:end]
    try:
        resolved = rule.resolve(match, context)
    except _NoSuchDate as problem:
        raise TimePhraseError(phrase, str(problem), start, end) from None
    return TimePhrase(_window(resolved, context, phrase), resolved.shape, start, end)


def resolve_time_phrase(phrase: str, *, now: datetime, timezone: str = "UTC") -> Window:
    """The window of a whole time phrase ("last quarter"); InvalidInput when it is not one."""
    found = find_time_phrase(phrase.strip(), now=now, timezone=timezone)
    if found is None or found.end - found.start != len(phrase.strip()):
        raise InvalidInput("phrase", f"{phrase!r} is not a time phrase")
    return found.window


def day_window(moment: datetime, *, timezone: str = "UTC", phrase: str = "") -> Window:
    """The local day (in ``timezone``) that contains ``moment``, as a window."""
    zone = zone_of(timezone)
    day = ensure_utc(moment).astimezone(zone).date()
    start = _midnight(day, zone)
    end = _midnight(day + timedelta(days=1), zone)
    return Window(start.astimezone(UTC), end.astimezone(UTC) - _MICROSECOND, phrase)


# ----------------------------------------------------------------------------- resolution


@dataclass(frozen=True, slots=True)
class _Context:
    now: datetime  # aware UTC
    local: datetime  # now in the tenant's zone
    zone: ZoneInfo

    @classmethod
    def at(cls, now: datetime, timezone: str) -> _Context:
        zone = zone_of(timezone)
        utc = ensure_utc(now)
        return cls(utc, utc.astimezone(zone), zone)


@dataclass(frozen=True, slots=True)
class _Resolved:
    shape: Shape
    #: First instant (PERIOD, RANGE); None for a MOMENT.
    start: datetime | None
    #: PERIOD: the first instant of the next period (exclusive); RANGE: its last
    #: instant; MOMENT: the moment.
    end: datetime


class _NoSuchDate(ValueError):
    pass


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def _period(start: date, stop: date, c: _Context) -> _Resolved:
    return _Resolved(Shape.PERIOD, _midnight(start, c.zone), _midnight(stop, c.zone))


def _moment(at: datetime) -> _Resolved:
    return _Resolved(Shape.MOMENT, None, at)


def _range(start: datetime, end: datetime) -> _Resolved:
    return _Resolved(Shape.RANGE, start, end)


def _lower(r: _Resolved) -> datetime:
    """Where a window starting at ``r`` starts."""
    return r.end if r.start is None else r.start


def _upper(r: _Resolved) -> datetime:
    """The last instant of ``r``."""
    if r.shape is Shape.PERIOD:
        return r.end.astimezone(UTC) - _MICROSECOND
    return r.end


def _window(r: _Resolved, c: _Context, phrase: str) -> Window:
    end = _upper(r).astimezone(UTC)
    if r.start is None:
        return Window(None, end, phrase)
    start = r.start.astimezone(UTC)
    if start <= c.now:
        end = min(end, c.now)
    return Window(start, end, phrase)


def _day(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise _NoSuchDate(
            f"is not a date ({year:04d}-{month:02d}-{day:02d} does not exist)"
        ) from None


def _month_start(year: int, month: int) -> date:
    if not 1 <= year <= 9998:
        raise _NoSuchDate("is out of range")
    return date(year, month, 1)


def _next_month(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1)


def _month_period(year: int, month: int, c: _Context) -> _Resolved:
    return _period(_month_start(year, month), _next_month(year, month), c)


def _quarter_period(year: int, quarter: int, c: _Context) -> _Resolved:
    first = 3 * (quarter - 1) + 1
    return _period(_month_start(year, first), _next_month(year, first + 2), c)


def _year_period(year: int, c: _Context) -> _Resolved:
    return _period(_month_start(year, 1), _month_start(year + 1, 1), c)


def _back(c: _Context, n: int, unit: str) -> datetime:
    """The local wall-clock time ``n`` units before now."""
    try:
        if unit == "day":
            return c.local - timedelta(days=n)
        if unit == "week":
            return c.local - timedelta(weeks=n)
        months = {"month": 1, "quarter": 3, "year": 12}[unit] * n
        return months_before(c.local, months)
    except (ValueError, OverflowError):
        raise _NoSuchDate("is too far back") from None


# ----------------------------------------------------------------------------- vocabulary

_MONTHS: Final[dict[str, int]] = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4,
    "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9,
    "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12,
    "dec": 12,
}  # fmt: skip
_NUMBERS: Final[dict[str, int]] = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "sixty": 60, "ninety": 90,
}  # fmt: skip
_ORDINALS: Final[dict[str, int]] = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
}  # fmt: skip


def _alternation(words: Iterable[str]) -> str:
    return "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))


def _group(m: re.Match[str], name: str) -> str:
    """A named group's text; "" when the row has no such group or it did not take part."""
    return m.groupdict().get(name) or ""


_MONTH = rf"(?:{_alternation(_MONTHS)})\.?"
_YEAR = r"(?:19|20)\d\d"
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_COUNT = rf"(?:\d{{1,4}}|{_alternation(n for n in _NUMBERS if n not in ('a', 'an'))})"
_ANY_COUNT = rf"(?:\d{{1,4}}|{_alternation(_NUMBERS)})"
_UNIT = r"(?:day|week|month|quarter|year)s?"
_END = r"(?!\w)"


def _count(text: str) -> int:
    word = text.lower()
    return _NUMBERS[word] if word in _NUMBERS else int(word)


def _unit(text: str) -> str:
    return text.lower().removesuffix("s")


def _month(text: str) -> int:
    return _MONTHS[text.lower().rstrip(".")]


def _day_number(text: str) -> int:
    return int(re.sub(r"\D", "", text))


# ----------------------------------------------------------------------------- base rows

_Resolver = Callable[[re.Match[str], _Context], _Resolved]


@dataclass(frozen=True, slots=True)
class _Base:
    pattern: str
    resolve: _Resolver
    #: Recognised without a preposition in front ("last month", not bare "March").
    standalone: bool
    #: Allowed after any preposition (a bare year is not: "revenue over 2000").
    any_preposition: bool = True


def _today(m: re.Match[str], c: _Context) -> _Resolved:
    day = c.local.date()
    return _period(day, day + timedelta(days=1), c)


def _yesterday(m: re.Match[str], c: _Context) -> _Resolved:
    day = c.local.date() - timedelta(days=1)
    return _period(day, day + timedelta(days=1), c)


def _now(m: re.Match[str], c: _Context) -> _Resolved:
    return _moment(c.now)


def _relative(which: str, unit: str, c: _Context) -> _Resolved:
    back = 0 if which in ("this", "current") else 1
    today = c.local.date()
    if unit == "week":
        monday = today - timedelta(days=today.weekday() + 7 * back)
        return _period(monday, monday + timedelta(days=7), c)
    if unit == "month":
        index = today.year * 12 + today.month - 1 - back
        return _month_period(index // 12, index % 12 + 1, c)
    if unit == "quarter":
        index = today.year * 4 + (today.month - 1) // 3 - back
        return _quarter_period(index // 4, index % 4 + 1, c)
    return _year_period(today.year - back, c)


def _this_or_last(m: re.Match[str], c: _Context) -> _Resolved:
    which = m["which"].lower().split()[-1]
    return _relative(which, m["unit"].lower(), c)


def _to_date(m: re.Match[str], c: _Context) -> _Resolved:
    unit = _group(m, "unit") or {"y": "year", "q": "quarter", "m": "month"}[m["abbr"][0].lower()]
    return _relative("this", unit.lower(), c)


def _last_named_month(m: re.Match[str], c: _Context) -> _Resolved:
    month = _month(m["month"])
    year = c.local.year if month < c.local.month else c.local.year - 1
    return _month_period(year, month, c)


def _month_year(m: re.Match[str], c: _Context) -> _Resolved:
    return _month_period(int(m["year"]), _month(m["month"]), c)


def _iso_month(m: re.Match[str], c: _Context) -> _Resolved:
    month = int(m["m"])
    if not 1 <= month <= 12:
        raise _NoSuchDate("is not a month")
    return _month_period(int(m["y"]), month, c)


def _bare_month(m: re.Match[str], c: _Context) -> _Resolved:
    month = _month(m["month"])
    year = c.local.year if month <= c.local.month else c.local.year - 1
    return _month_period(year, month, c)


def _quarter_year(m: re.Match[str], c: _Context) -> _Resolved:
    return _quarter_period(int(m["year"]), int(m["q"]), c)


def _bare_quarter(m: re.Match[str], c: _Context) -> _Resolved:
    quarter = int(_group(m, "q") or _ORDINALS[_group(m, "ord").lower()])
    if _group(m, "year"):
        return _quarter_period(int(m["year"]), quarter, c)
    current = (c.local.month - 1) // 3 + 1
    year = c.local.year if quarter <= current else c.local.year - 1
    return _quarter_period(year, quarter, c)


def _year(m: re.Match[str], c: _Context) -> _Resolved:
    return _year_period(int(m["year"]), c)


def _full_date(m: re.Match[str], c: _Context) -> _Resolved:
    month = int(_group(m, "m") or _month(_group(m, "month")))
    if not 1 <= month <= 12:
        raise _NoSuchDate("is not a date")
    day = _day(int(m["y"]), month, _day_number(m["d"]))
    return _period(day, day + timedelta(days=1), c)


def _day_without_year(m: re.Match[str], c: _Context) -> _Resolved:
    month, number = _month(m["month"]), _day_number(m["d"])
    today = c.local.date()
    # The most recent such day: this year's unless it is still ahead; 29 February
    # looks back to the last leap year.
    for year in range(today.year, today.year - 9, -1):
        try:
            day = date(year, month, number)
        except ValueError:
            continue
        if day <= today:
            return _period(day, day + timedelta(days=1), c)
    raise _NoSuchDate("is not a date")


def _ago(m: re.Match[str], c: _Context) -> _Resolved:
    return _moment(_back(c, _count(m["n"]), _unit(m["unit"])))


def _rolling(m: re.Match[str], c: _Context) -> _Resolved:
    n = _count(_group(m, "n") or "1")
    return _range(_back(c, n, _unit(m["unit"])), c.now)


def _thai(which: str, unit: str) -> _Resolver:
    def resolve(m: re.Match[str], c: _Context) -> _Resolved:
        if unit == "day":
            return _today(m, c) if which == "this" else _yesterday(m, c)
        return _relative(which, unit, c)

    return resolve


#: The base rows, most specific first: composite phrases try them in this order.
_BASES: Final[tuple[_Base, ...]] = (
    _Base(r"(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})", _full_date, True),
    _Base(rf"(?P<d>{_DAY})\s+(?:of\s+)?(?P<month>{_MONTH}),?\s+(?P<y>{_YEAR})", _full_date, True),
    _Base(rf"(?P<month>{_MONTH})\s+(?P<d>{_DAY}),?\s+(?P<y>{_YEAR})", _full_date, True),
    _Base(r"(?P<y>\d{4})-(?P<m>\d{1,2})", _iso_month, True),
    _Base(rf"(?P<month>{_MONTH}),?\s+(?P<year>{_YEAR})", _month_year, True),
    _Base(rf"q(?P<q>[1-4])(?:\s+|\s*[-/]\s*)(?P<year>{_YEAR})", _quarter_year, True),
    _Base(rf"(?P<year>{_YEAR})\s*[-/]?\s*q(?P<q>[1-4])", _quarter_year, True),
    _Base(
        r"(?:the\s+)?(?P<ord>first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter"
        rf"(?:\s+of\s+(?P<year>{_YEAR}))?",
        _bare_quarter,
        True,
    ),
    _Base(rf"(?P<d>{_DAY})\s+(?:of\s+)?(?P<month>{_MONTH})", _day_without_year, False),
    _Base(rf"(?P<month>{_MONTH})\s+(?P<d>{_DAY})", _day_without_year, False),
    _Base(rf"last\s+(?P<month>{_MONTH})", _last_named_month, True),
    _Base(
        r"(?P<which>this|current|the\s+current|last|previous|prior|the\s+previous|the\s+prior"
        r"|the\s+last)\s+(?P<unit>week|month|quarter|year)",
        _this_or_last,
        True,
    ),
    _Base(
        r"(?:(?P<unit>year|quarter|month)[\s-]+to[\s-]+date|(?P<abbr>ytd|qtd|mtd))", _to_date, True
    ),
    _Base(r"today", _today, True),
    _Base(r"yesterday", _yesterday, True),
    _Base(r"(?:right\s+)?now", _now, False),
    _Base(rf"(?P<n>{_ANY_COUNT})\s+(?P<unit>{_UNIT})\s+ago", _ago, True),
    _Base(
        rf"(?:the\s+)?(?:past|last|previous|prior|recent|trailing)\s+(?P<n>{_COUNT})\s+(?P<unit>{_UNIT})",
        _rolling,
        True,
    ),
    _Base(r"(?:the\s+)?past\s+(?P<unit>day|week|month|quarter|year)", _rolling, True),
    _Base(rf"(?P<month>{_MONTH})", _bare_month, False),
    _Base(r"q(?P<q>[1-4])", _bare_quarter, True),
    _Base(rf"(?P<year>{_YEAR})", _year, False, any_preposition=False),
)  # fmt: skip

_THAI: Final[tuple[tuple[str, _Resolver], ...]] = (
    ("วันนี้", _thai("this", "day")),
    ("เมื่อวานนี้|เมื่อวาน", _thai("last", "day")),
    ("สัปดาห์นี้|อาทิตย์นี้", _thai("this", "week")),
    ("สัปดาห์ที่แล้ว|สัปดาห์ก่อน|อาทิตย์ที่แล้ว|อาทิตย์ก่อน", _thai("last", "week")),
    ("เดือนนี้", _thai("this", "month")),
    ("เดือนที่แล้ว|เดือนก่อน", _thai("last", "month")),
    ("ไตรมาสนี้", _thai("this", "quarter")),
    ("ไตรมาสที่แล้ว|ไตรมาสก่อน", _thai("last", "quarter")),
    ("ปีนี้", _thai("this", "year")),
    ("ปีที่แล้ว|ปีก่อน", _thai("last", "year")),
)

_GROUP_NAME = re.compile(r"\(\?P<\w+>")


def _unnamed(pattern: str) -> str:
    return _GROUP_NAME.sub("(?:", pattern)


def _inner(bases: tuple[_Base, ...]) -> str:
    return "(?:" + "|".join(f"(?:{_unnamed(b.pattern)}){_END}" for b in bases) + ")"


_INNER_ALL = _inner(_BASES)
_INNER_PREP = _inner(tuple(b for b in _BASES if b.any_preposition))
_INNER_YEAR = _inner(tuple(b for b in _BASES if not b.any_preposition))
_COMPILED_BASES: Final = tuple((re.compile(b.pattern, re.IGNORECASE), b.resolve) for b in _BASES)


def _resolve_inner(text: str, c: _Context) -> _Resolved:
    for regex, resolve in _COMPILED_BASES:
        match = regex.fullmatch(text)
        if match is not None:
            return resolve(match, c)
    raise _NoSuchDate("is not a time phrase")  # unreachable: the inner pattern matched


# ----------------------------------------------------------------------------- top rows


@dataclass(frozen=True, slots=True)
class _Rule:
    regex: re.Pattern[str]
    resolve: _Resolver


def _since(m: re.Match[str], c: _Context) -> _Resolved:
    return _range(_lower(_resolve_inner(m["x"], c)), c.now)


def _between(m: re.Match[str], c: _Context) -> _Resolved:
    first, second = _resolve_inner(m["x"], c), _resolve_inner(m["y"], c)
    start, end = _lower(first), _upper(second)
    if end < start:  # written the other way round
        start, end = _lower(second), _upper(first)
    return _range(start, end)


def _end_of(m: re.Match[str], c: _Context) -> _Resolved:
    return _moment(_upper(_resolve_inner(m["x"], c)).astimezone(UTC))


def _start_of(m: re.Match[str], c: _Context) -> _Resolved:
    return _moment(_lower(_resolve_inner(m["x"], c)))


def _preposition(m: re.Match[str], c: _Context) -> _Resolved:
    return _resolve_inner(m["x"], c)


def _rule(pattern: str, resolve: _Resolver, *, words: bool = True) -> _Rule:
    if words:
        pattern = rf"(?<!\w)(?:{pattern}){_END}"
    return _Rule(re.compile(pattern, re.IGNORECASE), resolve)


_THE = r"(?:the\s+)?"
_EDGE_END = r"(?:the\s+)?(?:end|close)"
_EDGE_START = r"(?:the\s+)?(?:start|beginning)"
_YEAR_PREPOSITION = r"(?:in|during|for|throughout|from)"
_TOP_RULES: Final[tuple[_Rule, ...]] = (
    _rule(rf"since\s+{_THE}(?P<x>{_INNER_ALL})", _since),
    _rule(rf"between\s+{_THE}(?P<x>{_INNER_ALL})\s+and\s+{_THE}(?P<y>{_INNER_ALL})", _between),
    _rule(
        rf"from\s+{_THE}(?P<x>{_INNER_ALL})\s+(?:to|until|till|through|thru)\s+{_THE}"
        rf"(?P<y>{_INNER_ALL})",
        _between,
    ),
    _rule(rf"(?:(?:at|by|as\s+of)\s+)?{_EDGE_END}\s+of\s+{_THE}(?P<x>{_INNER_ALL})", _end_of),
    _rule(rf"(?:(?:at|as\s+of)\s+)?{_EDGE_START}\s+of\s+{_THE}(?P<x>{_INNER_ALL})", _start_of),
    _rule(
        rf"(?:in|during|for|throughout|from|on|at|as\s+of|over|within)\s+{_THE}(?P<x>{_INNER_PREP})",
        _preposition,
    ),
    _rule(rf"{_YEAR_PREPOSITION}\s+(?:the\s+year\s+)?(?P<x>{_INNER_YEAR})", _preposition),
    *(_rule(b.pattern, b.resolve) for b in _BASES if b.standalone),
    *(_rule(pattern, resolve, words=False) for pattern, resolve in _THAI),
)  # fmt: skip
