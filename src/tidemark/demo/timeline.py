"""The demo's calendar: which twelve months are simulated, and when each upload runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

MONTHS: Final = 12
#: The monthly KPI cycle runs on the 3rd at 09:00 UTC and takes under two hours.
CYCLE_DAY: Final = 3
CYCLE_HOUR: Final = 9
CYCLE_SPAN: Final = timedelta(hours=2)
#: Nothing but the final manual snapshot happens in the last hour before ``now``.
QUIET_BEFORE_NOW: Final = timedelta(hours=1)


def add_months(year: int, month: int, delta: int) -> tuple[int, int]:
    """The (year, month) ``delta`` months away."""
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def cycle_time(year: int, month: int) -> datetime:
    """When the monthly KPI upload of that month starts."""
    return datetime(year, month, CYCLE_DAY, CYCLE_HOUR, tzinfo=UTC)


def history_months(now: datetime) -> list[tuple[int, int]]:
    """The twelve months simulated: the last is the latest whose cycle finished by ``now``."""
    last = (now.year, now.month)
    if cycle_time(*last) + CYCLE_SPAN + QUIET_BEFORE_NOW > now:
        last = add_months(*last, -1)
    return [add_months(*last, k - (MONTHS - 1)) for k in range(MONTHS)]
