"""The life of a case: which moves are possible from which status, and its deadlines.

A move that the table does not list is refused with a 409 that names the current status,
so a worker whose screen is out of date learns what happened instead of overwriting it.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from exchange.cases.terms import CaseStatus
from exchange.errors import Conflict, FieldError
from policies.casework import CaseworkPolicy, DeadlineKind


class Move(enum.StrEnum):
    ASSIGN = "assign"  # outreach to a team, or a referral to a debt service
    ATTEMPT = "attempt"  # a contact attempt that did not reach the person
    REACH = "reach"  # a contact attempt that did
    CLOSE = "close"  # a result code
    END_ASSIGNMENT = "end_assignment"  # a team or debt service stops working on it
    REOPEN = "reopen"  # a closed case opened again, within the casework policy's period


_OPEN, _ASSIGNED, _IN_CONTACT, _CLOSED = (
    CaseStatus.OPEN,
    CaseStatus.ASSIGNED,
    CaseStatus.IN_CONTACT,
    CaseStatus.CLOSED,
)
TRANSITIONS: dict[tuple[CaseStatus, Move], CaseStatus] = {
    (_OPEN, Move.ASSIGN): _ASSIGNED,
    (_OPEN, Move.ATTEMPT): _OPEN,
    (_OPEN, Move.REACH): _IN_CONTACT,
    (_OPEN, Move.CLOSE): _CLOSED,
    (_ASSIGNED, Move.ASSIGN): _ASSIGNED,
    (_ASSIGNED, Move.ATTEMPT): _ASSIGNED,
    (_ASSIGNED, Move.REACH): _IN_CONTACT,
    (_ASSIGNED, Move.CLOSE): _CLOSED,
    # Once in contact, a referral (e.g. to a debt service) does not undo the contact.
    (_IN_CONTACT, Move.ASSIGN): _IN_CONTACT,
    (_IN_CONTACT, Move.ATTEMPT): _IN_CONTACT,
    (_IN_CONTACT, Move.REACH): _IN_CONTACT,
    (_IN_CONTACT, Move.CLOSE): _CLOSED,
    (_ASSIGNED, Move.END_ASSIGNMENT): _ASSIGNED,  # open again when no assignment is left
    (_IN_CONTACT, Move.END_ASSIGNMENT): _IN_CONTACT,
    (_CLOSED, Move.END_ASSIGNMENT): _CLOSED,
    # A closed case takes no further moves but reopening (within the period; then it
    # stands where its contacts and assignments put it): a new signal opens a new case.
    (_CLOSED, Move.REOPEN): _OPEN,
}


def next_status(current: str, move: Move) -> CaseStatus:
    """The status after ``move``, or a 409 naming the current status."""
    status = CaseStatus(current)
    after = TRANSITIONS.get((status, move))
    if after is None:
        raise Conflict(
            f"the case is {status.value}; it cannot {move.value} any more",
            [FieldError("status", f"is {status.value}", code=f"status_{status.value}")],
        )
    return after


@dataclass(frozen=True)
class Schedule:
    """The dates the case columns hold for its deadlines."""

    contact_due_on: dt.date
    conversation_due_on: dt.date
    deadline_on: dt.date | None
    deadline_kind: str | None


def schedule(
    policy: CaseworkPolicy,
    *,
    opened_on: dt.date,
    crisis_on: dt.date | None,
    first_attempt_on: dt.date | None,
    first_reached_on: dt.date | None,
    contact_due_on: dt.date | None = None,
) -> Schedule:
    """Deadlines of a case. ``contact_due_on`` is the term already set (a crisis signal can
    bring it forward, nothing pushes it back)."""
    deadlines = policy.deadlines(opened_on, crisis_on)
    contact = deadlines.first_contact_attempt
    if contact_due_on is not None:
        contact = min(contact, contact_due_on)
    conversation = max(deadlines.first_conversation, contact)
    if first_attempt_on is None:
        return Schedule(contact, conversation, contact, DeadlineKind.FIRST_CONTACT_ATTEMPT.value)
    if first_reached_on is None:
        return Schedule(contact, conversation, conversation, DeadlineKind.FIRST_CONVERSATION.value)
    return Schedule(contact, conversation, None, None)
