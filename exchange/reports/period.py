"""The reporting period: calendar days in the Netherlands, first and last day included."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from exchange.clock import NETHERLANDS
from exchange.errors import FieldError, InvalidInput
from exchange.fields import within_window

# A delivery covers at most a (leap) year; longer periods are split by the caller.
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    @property
    def first_instant(self) -> dt.datetime:
        """Midnight in the Netherlands at the start of the first day, as a UTC instant."""
        return _midnight(self.start)

    @property
    def after_last_instant(self) -> dt.datetime:
        """Midnight in the Netherlands after the last day: the period ends just before it."""
        return _midnight(self.end + dt.timedelta(days=1))

    def as_resources(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def period(start: dt.date, end: dt.date) -> Period:
    """A checked period, or a 422 naming the field at fault (``from`` or ``to``)."""
    # Within the broker's window of days: at year 1 or 9999 the midnights below would fall
    # outside what Python's datetime holds. The API's query parameters check this already;
    # the command line comes here directly.
    for name, day in (("from", start), ("to", end)):
        try:
            within_window(day)
        except ValueError as error:
            raise InvalidInput(f"{name} {error}", [FieldError(name, str(error))]) from None
    if start > end:
        raise InvalidInput(
            "the period ends before it starts",
            [FieldError("from", f"{start.isoformat()} is after to ({end.isoformat()})")],
        )
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise InvalidInput(
            f"a report covers at most {MAX_DAYS} days; this period has {days}",
            [FieldError("to", f"at most {MAX_DAYS} days after from; split the period")],
        )
    return Period(start, end)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=NETHERLANDS).astimezone(dt.UTC)
