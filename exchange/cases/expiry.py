"""When stored data expires: the retention period of its purpose in the register in force.

A case, its household's signals and the workers' notes on it leave together: they are one
household's file, sealed under one data key. The case expires the retention period of the
longest of its purposes after it closed, or, while it is not closed, after the last signal,
assignment or contact attempt (so a case nobody works on leaves six months after its last
signal, and one in progress is kept while work goes on). A consent expires the retention
period of its purposes after it ended (withdrawn, or past its end date); it has no expiry
while it runs.

``expires_on`` is the first day the purge removes the data.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from exchange.cases.models import Assignment, Case, ContactAttempt
from exchange.cases.terms import CaseStatus
from exchange.clock import local_date
from exchange.consents.models import Consent, ConsentEvent
from exchange.consents.terms import ConsentStatus
from exchange.db import CHUNK
from policies.engine import Register

# Under which purpose a case's data is held, by the kind of organisation it was assigned to.
CASE_PURPOSE = "early-signal"
ASSIGNMENT_PURPOSES = {
    "neighbourhood_team": "outreach",
    "debt_service": "debt-service-referral",
}
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


def add_period(day: dt.date, period: str) -> dt.date:
    """``day`` plus an ISO 8601 duration in years, months, weeks and days (``P6M``).

    A month added to the 31st lands on the last day of a shorter month.
    """
    match = _DURATION.match(period)
    if match is None:
        raise ValueError(f"not an ISO 8601 period of years, months, weeks, days: {period!r}")
    years, months, weeks, days = (int(part or 0) for part in match.groups())
    month_index = day.month - 1 + months + 12 * years
    year, month = day.year + month_index // 12, month_index % 12 + 1
    moved = day.replace(year=year, month=month, day=min(day.day, _days_in(year, month)))
    return moved + dt.timedelta(weeks=weeks, days=days)


def expiry_after(register: Register, day: dt.date, purposes: Iterable[str]) -> dt.date:
    """The day data held for these purposes expires, counting from ``day``: the longest
    retention among them decides (data held for two purposes stays for the longer one)."""
    return max(add_period(day, register.purpose(p).retention_period) for p in set(purposes))


@dataclass(frozen=True)
class HeldFor:
    """A case's expiry and the purposes its data is held for."""

    expires_on: dt.date
    purposes: tuple[str, ...]


def case_expiries(
    session: Session, register: Register, case_ids: Sequence[uuid.UUID] | None = None
) -> dict[uuid.UUID, HeldFor]:
    """The expiry of each case (every case when ``case_ids`` is ``None``), from its state now."""
    activity: dict[uuid.UUID, dt.datetime] = {}
    purposes: dict[uuid.UUID, set[str]] = defaultdict(lambda: {CASE_PURPOSE})
    found: dict[uuid.UUID, HeldFor] = {}
    for chunk in _chunks(session, case_ids):
        ids = [row.id for row in chunk]
        for case_id, latest in session.execute(
            select(ContactAttempt.case_id, func.max(ContactAttempt.recorded_at))
            .where(ContactAttempt.case_id.in_(ids))
            .group_by(ContactAttempt.case_id)
        ):
            activity[case_id] = latest
        for case_id, kind, latest in session.execute(
            select(
                Assignment.case_id, Assignment.organisation_kind, func.max(Assignment.assigned_at)
            )
            .where(Assignment.case_id.in_(ids))
            .group_by(Assignment.case_id, Assignment.organisation_kind)
        ):
            purposes[case_id].add(ASSIGNMENT_PURPOSES.get(kind, CASE_PURPOSE))
            activity[case_id] = max(latest, activity.get(case_id, latest))
        for row in chunk:
            if row.status == CaseStatus.CLOSED.value and row.closed_at is not None:
                anchor = row.closed_at
            else:
                anchor = max(row.last_signal_at, activity.get(row.id, row.last_signal_at))
            held = tuple(sorted(purposes[row.id]))
            found[row.id] = HeldFor(expiry_after(register, local_date(anchor), held), held)
    return found


def refresh_cases(session: Session, register: Register, case_ids: Sequence[uuid.UUID]) -> None:
    """Store the expiry of these cases after a change to them (a signal, assignment, attempt
    or result), in the caller's transaction."""
    session.flush()
    expiries = case_expiries(session, register, case_ids)
    if expiries:
        session.execute(
            update(Case),
            [{"id": case_id, "expires_on": held.expires_on} for case_id, held in expiries.items()],
        )


def consent_expiries(
    session: Session, register: Register, today: dt.date
) -> dict[uuid.UUID, dt.date | None]:
    """The expiry of every consent: ``None`` while it runs."""
    withdrawn: dict[uuid.UUID, dt.date] = {}
    for consent_id, effective_on in session.execute(
        select(ConsentEvent.consent_id, func.max(ConsentEvent.effective_on))
        .where(ConsentEvent.event == ConsentStatus.WITHDRAWN.value)
        .group_by(ConsentEvent.consent_id)
    ):
        withdrawn[consent_id] = effective_on
    found: dict[uuid.UUID, dt.date | None] = {}
    for consent_id, valid_until, purposes in session.execute(
        select(Consent.id, Consent.valid_until, Consent.purposes)
    ):
        ended = withdrawn.get(consent_id)
        if ended is None and valid_until is not None and valid_until < today:
            ended = valid_until
        known = [p for p in purposes if p in {q.id for q in register.purposes}]
        found[consent_id] = (
            expiry_after(register, ended, known or [CASE_PURPOSE]) if ended is not None else None
        )
    return found


def _chunks(session: Session, case_ids: Sequence[uuid.UUID] | None) -> Iterator[list[_CaseRow]]:
    query = select(Case.id, Case.status, Case.closed_at, Case.last_signal_at)
    if case_ids is None:
        rows = [_CaseRow(*row) for row in session.execute(query.order_by(Case.id))]
        for start in range(0, len(rows), CHUNK):
            yield rows[start : start + CHUNK]
        return
    wanted = sorted(set(case_ids))
    for start in range(0, len(wanted), CHUNK):
        chunk = query.where(Case.id.in_(wanted[start : start + CHUNK]))
        yield [_CaseRow(*row) for row in session.execute(chunk)]


@dataclass(frozen=True)
class _CaseRow:
    id: uuid.UUID
    status: str
    closed_at: dt.datetime | None
    last_signal_at: dt.datetime


def _days_in(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]
