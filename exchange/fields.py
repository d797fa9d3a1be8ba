"""Bounded types for what clients send: every request field and query parameter that takes a
number or a date uses one of these, and every text is checked by ``no_nul`` (request bodies
through their base model, ``Strict``; query parameters as ``Text``), so that a value the
database or Python cannot hold is a 422 naming the field and the bound, never a 500 from
deep inside a query.

- Numbers that reach SQL (offsets, cursors, leaf indexes, tree sizes) fit a signed 64-bit
  integer: PostgreSQL's BIGINT and SQLite's INTEGER both stop at 2^63 - 1.
- Dates of events the broker deals with (arrears, reminders, contact attempts, consents,
  withdrawals, report periods, the log's own instants) lie between 2000-01-01 and
  2099-12-31: arrears before 2000 were already refused, and the window keeps every day and
  midnight the broker derives from one (the next day, an instant in UTC) inside what
  Python's ``datetime`` holds, which ends at 9999-12-31.
- Birth dates lie between 1900-01-01 and today.
- Instants carry a UTC offset (RFC 3339) and are handed on in UTC: a naive time would be
  read in some unknown zone, and the database columns hold UTC.
- Text holds no NUL character: PostgreSQL refuses it in any text value, SQLite would store
  it, so it is refused on every backend alike.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from exchange.clock import today

MAX_BIGINT = 2**63 - 1
EARLIEST_DAY = dt.date(2000, 1, 1)
LATEST_DAY = dt.date(2099, 12, 31)
OLDEST_BIRTH_DAY = dt.date(1900, 1, 1)
_ONE_DAY = dt.timedelta(days=1)


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character (U+0000)")
    return value


def no_nul_in(value: Any) -> Any:
    """``value`` as it is, unless it is text with a NUL, or a list holding such text."""
    if isinstance(value, str):
        no_nul(value)
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, str):
                no_nul(item)
    return value


def within_window(value: dt.date) -> dt.date:
    """A day of an event the broker deals with, or ``ValueError`` naming the bound."""
    return _between(value, EARLIEST_DAY, LATEST_DAY)


def not_in_future(value: dt.date) -> dt.date:
    if value > today():
        raise ValueError("lies in the future")
    return value


def utc_instant(value: dt.datetime) -> dt.datetime:
    """An instant with a UTC offset inside the window, converted to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must have a UTC offset, like 2026-09-01T12:00:00Z")
    # The day as written first, give or take the day an offset can move it: converting
    # 0001-01-01T00:00+01:00 or 9999-12-31T23:00-01:00 to UTC would overflow Python's
    # datetime. Then exactly, the day in UTC, which the columns hold.
    _between(value.date(), EARLIEST_DAY, LATEST_DAY, leeway=_ONE_DAY)
    instant = value.astimezone(dt.UTC)
    _between(instant.date(), EARLIEST_DAY, LATEST_DAY)
    return instant


def _between(
    value: dt.date, earliest: dt.date, latest: dt.date, *, leeway: dt.timedelta = dt.timedelta()
) -> dt.date:
    # "after 1900" is the wording signals have always had for the lower bound.
    if value < earliest - leeway:
        raise ValueError(f"must be after {earliest.year}")
    if value > latest + leeway:
        raise ValueError(f"must be before {latest.year + 1}")
    return value


def _birth_date(value: dt.date) -> dt.date:
    if value < OLDEST_BIRTH_DAY:
        raise ValueError(f"must be after {OLDEST_BIRTH_DAY.year}")
    return not_in_future(value)


Text = Annotated[str, AfterValidator(no_nul)]
"""Text in a query parameter. (In a body, ``Strict`` checks every field: a length limit
given at the field then keeps pydantic's own message.)"""

Offset = Annotated[int, Field(ge=0, le=MAX_BIGINT)]
"""How many items of a list to skip."""

Cursor = Annotated[int, Field(ge=-1, le=MAX_BIGINT)]
"""A leaf index to continue after; -1 starts at the first leaf."""

LeafIndex = Annotated[int, Field(ge=0, le=MAX_BIGINT)]
TreeSize = Annotated[int, Field(ge=1, le=MAX_BIGINT)]

Day = Annotated[dt.date, AfterValidator(within_window)]
"""A day between 2000-01-01 and 2099-12-31."""

PastDay = Annotated[dt.date, AfterValidator(within_window), AfterValidator(not_in_future)]
"""A day between 2000-01-01 and today."""

BirthDate = Annotated[dt.date, AfterValidator(_birth_date)]
"""A day between 1900-01-01 and today."""

Instant = Annotated[dt.datetime, AfterValidator(utc_instant)]
"""A date and time with a UTC offset, between 2000-01-01 and 2099-12-31, handed on in UTC."""
