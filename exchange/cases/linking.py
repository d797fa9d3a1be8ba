"""Case linking: each arriving signal joins its household's open case or opens a new one.

Intake (``exchange.intake.service``) calls this in its own transaction for a whole batch at
once: one query for the households' cases, one for the senders of the cases joined, one
insert of the new cases and one update per shape of change, never a round trip per signal.
Deadlines come from the casework policy (``exchange.cases.states.schedule``), retention
from the register (``exchange.cases.expiry``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from exchange import clock
from exchange.cases.expiry import CASE_PURPOSE, expiry_after
from exchange.cases.models import Case
from exchange.cases.numbers import give_numbers
from exchange.cases.states import schedule
from exchange.cases.terms import CaseStatus
from exchange.db import CHUNK, insert_rows, new_id, one_of
from exchange.signals.models import Signal
from policies.casework import CaseworkPolicy, FeedbackCode
from policies.engine import Register
from policies.intake import IntakePolicy


@dataclass(frozen=True, slots=True)
class Arrival:
    """A signal that intake accepted, as far as its case is concerned."""

    index: int
    household_id: uuid.UUID
    municipality_id: uuid.UUID
    kind: str
    crisis: bool


_HOUSEHOLD_CASES = (
    select(
        Case.id,
        Case.household_id,
        Case.municipality_id,
        Case.status,
        Case.is_repeat,
        Case.last_signal_at,
        Case.opened_at,
        Case.crisis,
        Case.contact_due_on,
        Case.first_attempt_on,
        Case.first_reached_on,
    )
    .where(one_of(Case.household_id, "household_ids"))
    .order_by(Case.last_signal_at)
)
_CASE_SENDERS = (
    select(Signal.case_id, Signal.provider_id, Signal.kind)
    .where(one_of(Signal.case_id, "case_ids"))
    .distinct()
)
_CASE_UPDATE = update(Case).where(Case.id == bindparam("case_id"))


@dataclass(slots=True)
class _OpenCase:
    id: uuid.UUID
    household_id: uuid.UUID
    municipality_id: uuid.UUID
    is_repeat: bool
    opened_on: dt.date
    crisis: bool = False
    contact_due_on: dt.date | None = None
    first_attempt_on: dt.date | None = None
    first_reached_on: dt.date | None = None
    crisis_now: bool = False  # a signal in this intake is a crisis


def link_cases(
    session: Session,
    arrivals: Sequence[Arrival],
    provider_id: uuid.UUID,
    *,
    policy: IntakePolicy,
    casework: CaseworkPolicy,
    register: Register,
    now: dt.datetime,
    today: dt.date,
) -> dict[int, uuid.UUID]:
    """Join each arriving signal to its household's open case, or open a new one; return
    the case of each signal by its index.

    A case stays joinable while its last signal is within the link window. A new case is a
    repeat when the household had any case whose last signal falls in the repeat window.
    """
    household_ids = list(dict.fromkeys(a.household_id for a in arrivals))
    latest_open: dict[uuid.UUID, _OpenCase] = {}
    latest_any: dict[uuid.UUID, dt.datetime] = {}
    connection = session.connection()
    for start in range(0, len(household_ids), CHUNK):
        chunk = household_ids[start : start + CHUNK]
        for row in connection.execute(_HOUSEHOLD_CASES, {"household_ids": chunk}):
            household_id, last = row.household_id, row.last_signal_at
            latest_any[household_id] = last
            # Any case not yet closed takes new signals, whoever is working on it.
            if row.status != CaseStatus.CLOSED and now - last <= policy.link_window:
                latest_open[household_id] = _OpenCase(
                    row.id,
                    household_id,
                    row.municipality_id,
                    row.is_repeat,
                    opened_on=clock.local_date(row.opened_at),
                    crisis=row.crisis,
                    contact_due_on=row.contact_due_on,
                    first_attempt_on=row.first_attempt_on,
                    first_reached_on=row.first_reached_on,
                )
            else:
                latest_open.pop(household_id, None)

    joined = {case.id: case for case in latest_open.values()}
    senders: dict[uuid.UUID, set[tuple[uuid.UUID, str]]] = {case_id: set() for case_id in joined}
    joined_ids = list(joined)
    for start in range(0, len(joined_ids), CHUNK):
        for case_id, sender, kind in connection.execute(
            _CASE_SENDERS, {"case_ids": joined_ids[start : start + CHUNK]}
        ):
            senders[case_id].add((sender, kind))

    new_cases: dict[uuid.UUID, _OpenCase] = {}
    case_for_signal: dict[int, uuid.UUID] = {}
    for a in arrivals:
        open_case = latest_open.get(a.household_id)
        if open_case is not None:
            case = open_case
        else:
            previous = latest_any.get(a.household_id)
            case = _OpenCase(
                id=new_id(),
                household_id=a.household_id,
                municipality_id=a.municipality_id,
                is_repeat=previous is not None and now - previous <= policy.repeat_window,
                opened_on=today,
            )
            latest_open[a.household_id] = case
            new_cases[case.id] = case
            senders[case.id] = set()
        senders[case.id].add((provider_id, a.kind))
        case.crisis_now = case.crisis_now or a.crisis
        case_for_signal[a.index] = case.id

    # Retention runs from the latest signal while the case is not closed; the purge works
    # out the rest (assignments, results) again before anything goes.
    expires_on = expiry_after(register, today, [CASE_PURPOSE])
    new_rows: list[dict[str, Any]] = []
    updates = []
    for case_id, pairs in senders.items():
        providers = {p for p, _ in pairs}
        kinds = {k for _, k in pairs}
        is_multiple = len(providers) > 1 or len(kinds) > 1
        if case_id in new_cases:
            case = new_cases[case_id]
            plan = schedule(
                casework,
                opened_on=today,
                crisis_on=today if case.crisis_now else None,
                first_attempt_on=None,
                first_reached_on=None,
            )
            new_rows.append(
                {
                    "id": case.id,
                    "household_id": case.household_id,
                    "municipality_id": case.municipality_id,
                    "status": CaseStatus.OPEN.value,
                    "is_repeat": case.is_repeat,
                    "is_multiple": is_multiple,
                    "opened_at": now,
                    "last_signal_at": now,
                    "closed_at": None,
                    "crisis": case.crisis_now,
                    "contact_due_on": plan.contact_due_on,
                    "conversation_due_on": plan.conversation_due_on,
                    "deadline_on": plan.deadline_on,
                    "deadline_kind": plan.deadline_kind,
                    "feedback_status": FeedbackCode.RECEIVED.value,
                    "feedback_since": today,
                    "expires_on": expires_on,
                }
            )
        else:
            case = joined[case_id]
            change: dict[str, Any] = {
                "case_id": case_id,
                "is_multiple": is_multiple,
                "last_signal_at": now,
                "expires_on": expires_on,
            }
            if case.crisis_now and not case.crisis:
                # A crisis signal joins a running case: its shorter term applies from today.
                plan = schedule(
                    casework,
                    opened_on=case.opened_on,
                    crisis_on=today,
                    first_attempt_on=case.first_attempt_on,
                    first_reached_on=case.first_reached_on,
                    contact_due_on=case.contact_due_on,
                )
                change.update(
                    crisis=True,
                    contact_due_on=plan.contact_due_on,
                    conversation_due_on=plan.conversation_due_on,
                    deadline_on=plan.deadline_on,
                    deadline_kind=plan.deadline_kind,
                )
            updates.append(change)
    if new_rows:
        opening = [case.municipality_id for case in new_cases.values()]
        given = give_numbers(session, opening, today.year)
        numbers = {municipality: iter(them) for municipality, them in given.items()}
        for new_row in new_rows:
            new_row["number"] = next(numbers[new_row["municipality_id"]])
        insert_rows(session, Case, new_rows)
    # Grouped by their keys: an executemany needs the same columns in every row. The SET
    # clause is taken from the other keys of the rows.
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in updates:
        by_shape.setdefault(tuple(change), []).append(change)
    for rows in by_shape.values():
        connection.execute(_CASE_UPDATE, rows)
    return case_for_signal
