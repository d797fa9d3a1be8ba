"""Working days under the Algemene termijnenwet (the Dutch act on statutory time limits).

A deadline "within 3 working days" skips Saturdays, Sundays and the holidays that act
recognises (art. 3): New Year's Day, Easter Monday, Ascension Day, Whit Monday, Christmas
Day and Boxing Day, King's Day (27 April, or 26 April when the 27th is a Sunday) and
Liberation Day (5 May, every year: the act counts it even in years it is no day off).
Good Friday is not among them. Pure functions, no I/O.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

_DAY = dt.timedelta(days=1)


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter (the anonymous algorithm of Meeus, Jones and Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@cache
def holidays(year: int) -> frozenset[dt.date]:
    """The holidays of the Algemene termijnenwet art. 3 in one year."""
    easter = easter_sunday(year)
    kings_day = dt.date(year, 4, 27)
    if kings_day.weekday() == 6:
        kings_day = dt.date(year, 4, 26)
    return frozenset(
        {
            dt.date(year, 1, 1),
            easter + _DAY,  # Easter Monday
            kings_day,
            dt.date(year, 5, 5),
            easter + dt.timedelta(days=39),  # Ascension Day
            easter + dt.timedelta(days=50),  # Whit Monday
            dt.date(year, 12, 25),
            dt.date(year, 12, 26),
        }
    )


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in holidays(day.year)


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The date ``days`` working days after ``start`` (``start`` itself does not count).

    A signal received on a Friday with a 3-working-day term is due on Wednesday.
    """
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    remaining = days
    while remaining:
        day += _DAY
        if is_working_day(day):
            remaining -= 1
    return day


def working_days_between(start: dt.date, end: dt.date) -> int:
    """How many working days after ``start`` up to and including ``end`` (0 if end <= start)."""
    count = 0
    day = start
    while day < end:
        day += _DAY
        if is_working_day(day):
            count += 1
    return count
