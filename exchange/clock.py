"""Time as the broker sees it: instants in UTC, calendar dates in the Netherlands."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

NETHERLANDS = ZoneInfo("Europe/Amsterdam")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def today() -> dt.date:
    """The calendar date in the Netherlands, against which 'in the future' is judged."""
    return dt.datetime.now(NETHERLANDS).date()


def local_date(instant: dt.datetime) -> dt.date:
    """The Dutch calendar date of an instant: terms and reports count in local days."""
    return instant.astimezone(NETHERLANDS).date()
