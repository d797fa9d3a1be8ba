"""Cases: what the municipality does with the signals about one household.

The readable columns are what queues, deadlines and statistics need (status, dates,
codes). Anything a worker writes in words (a contact note) is sealed with the household's
data key, like the identity in a signal.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from exchange.cases.terms import CaseStatus, Composition
from exchange.db import Base, UtcDateTime, new_id, utcnow


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_household_last_signal", "household_id", "last_signal_at"),
        # The work queue: a municipality's cases by status, crisis first, then deadline.
        Index("ix_cases_queue", "municipality_id", "status", "crisis", "deadline_on"),
        Index("uq_cases_number", "number", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # What people call the case: the gemeentecode, the year it opened and a running number
    # (``0599-2026-000123``), given by ``exchange.cases.numbers``. The id is for machines; it
    # is time-ordered, so cases of one day share its first characters.
    number: Mapped[str | None] = mapped_column(String(20))
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"))
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.OPEN.value)
    is_repeat: Mapped[bool] = mapped_column(default=False)
    is_multiple: Mapped[bool] = mapped_column(default=False)
    opened_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_signal_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Set when a closed case was opened again (within the register's period for it).
    reopened_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Deadlines (policies/documents/casework.yaml), kept as columns so the queue can sort
    # and filter on them. ``deadline_on`` is the earliest term not yet met.
    crisis: Mapped[bool] = mapped_column(default=False)
    contact_due_on: Mapped[dt.date | None] = mapped_column(Date)
    conversation_due_on: Mapped[dt.date | None] = mapped_column(Date)
    deadline_on: Mapped[dt.date | None] = mapped_column(Date)
    deadline_kind: Mapped[str | None] = mapped_column(String(32))
    first_attempt_on: Mapped[dt.date | None] = mapped_column(Date)
    first_reached_on: Mapped[dt.date | None] = mapped_column(Date)
    picked_up_on: Mapped[dt.date | None] = mapped_column(Date)
    result_code: Mapped[str | None] = mapped_column(String(40))
    # What the providers of this case's signals may hear, and since when.
    feedback_status: Mapped[str] = mapped_column(String(16), default="received")
    feedback_since: Mapped[dt.date | None] = mapped_column(Date)
    # The day from which the purge removes the case with its household's signals and notes
    # (exchange.cases.expiry): the register's retention after it closes, or after the
    # last signal or outreach while nothing more happens.
    expires_on: Mapped[dt.date | None] = mapped_column(Date, index=True)

    @property
    def composition(self) -> Composition:
        if self.is_repeat:
            return Composition.REPEAT
        return Composition.MULTIPLE if self.is_multiple else Composition.SINGLE


class Assignment(Base):
    """Outreach by a neighbourhood team or a referral to a debt service, for one case.

    At most one live assignment per organisation kind and case: assigning another team ends
    the first team's assignment, and from then on that team no longer sees the case.
    """

    __tablename__ = "case_assignments"
    __table_args__ = (Index("ix_case_assignments_recipient", "organisation_id", "ended_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    organisation_kind: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(64))
    rule_id: Mapped[str] = mapped_column(String(80))
    policy_version: Mapped[str] = mapped_column(String(80))
    assigned_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    assigned_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # ``lead`` works the case; a ``co_worker`` helps alongside it and leaves when it ends.
    role: Mapped[str] = mapped_column(String(16), default="lead")
    # handed_over | ended | reassigned: why the assignment stopped (see cases.terms).
    ended_reason: Mapped[str | None] = mapped_column(String(16))


class CaseNumberCounter(Base):
    """The last case number a municipality gave out in a year."""

    __tablename__ = "case_number_counters"

    municipality_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id"), primary_key=True
    )
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int]


class CaseEvent(Base):
    """One act on a case, by whom and when: the history the case page shows.

    ``client`` is the API client or ``user:<id>`` of the person on a page (resolved to their
    display name when shown, never stored as a name); ``details`` holds only codes and ids
    (the organisation assigned, the result code), never what a worker wrote.
    """

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case", "case_id", "at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    act: Mapped[str] = mapped_column(String(32))
    organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    client: Mapped[str | None] = mapped_column(String(160))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    details: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class ContactAttempt(Base):
    """One attempt to reach the person: how, when, and whether it worked."""

    __tablename__ = "contact_attempts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    attempted_on: Mapped[dt.date] = mapped_column(Date)
    part_of_day: Mapped[str | None] = mapped_column(String(16))
    reached: Mapped[bool]
    # AES-256-GCM under the household's data key, bound to this row's id.
    sealed_note: Mapped[bytes | None] = mapped_column(LargeBinary)
    recorded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    # Who in that organisation: the API client, or ``user:<id>`` of the person on a page.
    recorded_by_client: Mapped[str | None] = mapped_column(String(160))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Escalation(Base):
    """A deadline that passed without being met; recorded once per case and deadline."""

    __tablename__ = "case_escalations"
    __table_args__ = (UniqueConstraint("case_id", "deadline_kind", name="uq_case_escalations"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    deadline_kind: Mapped[str] = mapped_column(String(32))
    deadline_on: Mapped[dt.date] = mapped_column(Date)
    escalated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
