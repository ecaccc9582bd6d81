"""Injectable time: one clock drives capture times, windows and date phrases."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current time as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to; for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment``."""
        self._now = ensure_utc(moment)

    def advance(self, delta: timedelta) -> None:
        """Move forward by ``delta``."""
        self._now = self._now + delta


def ensure_utc(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime; naive values are taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


#: Environment variable that pins "now" (ISO 8601) for reproducible demos and tests.
NOW_VARIABLE = "TIDEMARK_NOW"


def clock_from_env() -> Clock:
    """The process clock: fixed by ``TIDEMARK_NOW`` when set, else the system clock."""
    pinned = os.environ.get(NOW_VARIABLE, "").strip()
    if not pinned:
        return SystemClock()
    try:
        return FakeClock(datetime.fromisoformat(pinned))
    except ValueError:
        from tidemark.errors import InvalidInput

        raise InvalidInput(NOW_VARIABLE, f"{pinned!r} is not an ISO 8601 datetime") from None


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (clamped to the month's end)."""
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    next_month = date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))
