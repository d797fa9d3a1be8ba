"""Request bodies of the case endpoints, and what they answer."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from exchange.cases.terms import ContactChannel, HandOver, PartOfDay
from exchange.fields import Day
from exchange.identity.schemas import Strict
from policies.casework import ResultCode


class AssignmentIn(Strict):
    organisation_id: uuid.UUID = Field(
        description="a neighbourhood team (outreach) or debt service (referral) of the "
        "case's municipality"
    )
    mode: HandOver = Field(
        default=HandOver.HAND_OVER,
        description="hand_over: the organisation takes the case over and every other "
        "assignment ends; co_worker: it works alongside those there are",
    )


class ContactAttemptIn(Strict):
    channel: ContactChannel
    date: Day = Field(description="the day of the attempt: not before the signal, not later")
    part_of_day: PartOfDay | None = None
    reached: bool
    note: str | None = Field(
        default=None,
        max_length=2000,
        description="a short note for colleagues; stored encrypted, never sent to a provider",
    )


class ResultIn(Strict):
    result: ResultCode


# Answers --------------------------------------------------------------------------------
# What the case endpoints answer, for the OpenAPI document. The answers are built from the
# caller's decision (a field appears only where the caller's rule in the register shows it),
# so these models name every field that can appear, mark as required only what every
# caller gets, and let a signal carry the register's fields by their names.


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class QueuePage(_Answer):
    """A page of the work queue, and how many cases match in all."""

    items: list[dict[str, Any]] = Field(
        description="the cases, each cut to your rule: id, number, status, deadline, ..."
    )
    total: int = Field(ge=0)
    limit: int = Field(ge=1)
    offset: int = Field(ge=0)
    sort: str
    descending: bool
    withheld: int = Field(ge=0, description="cases on this page you may not see now")
    withheld_because: dict[str, int] = Field(
        description="why, by cause (objection, restriction, ...)"
    )


class CaseDisclosure(_Answer):
    fields: list[str] = Field(description="the register fields this answer was cut to")
    purpose: str
    rule_id: str
    policy_version: str
    legal_basis: list[str]
    withheld_signals: int = Field(ge=0)


class CaseDocument(_Answer):
    """One case as your rule permits, per person."""

    id: uuid.UUID
    number: str | None = Field(description="e.g. 0599-2026-000123")
    opened_at: str
    closed_at: str | None
    status: str | None = None
    classification: str | None = None
    crisis: bool | None = None
    deadline: str | None = None
    deadline_kind: str | None = None
    overdue: bool | None = None
    result: str | None = None
    history: list[dict[str, Any]]
    my_assignment: dict[str, Any] | None = None
    household_pseudonym: str | None = None
    deadlines: dict[str, Any] | None = None
    assignments: list[dict[str, Any]] | None = None
    contact_attempts: list[dict[str, Any]] | None = None
    signals: list[dict[str, Any]] = Field(
        description="each signal you may see: id, received_at and your rule's fields"
    )
    disclosure: CaseDisclosure


class AssignmentOut(_Answer):
    case_id: uuid.UUID
    number: str | None
    status: str
    assignment: dict[str, Any]


class EndedAssignmentOut(_Answer):
    case_id: uuid.UUID
    status: str
    assignment: uuid.UUID
    ended_at: str


class ContactAttemptOut(_Answer):
    id: uuid.UUID
    case_id: uuid.UUID
    channel: str
    date: dt.date
    part_of_day: str | None
    reached: bool | None
    has_note: bool
    case_status: str
    deadline: dt.date | None
    deadline_kind: str | None


class ResultOut(_Answer):
    id: uuid.UUID
    number: str | None
    status: str
    result: str
    closed_at: str


class ReopenedOut(_Answer):
    id: uuid.UUID
    number: str | None
    status: str


class CaseStory(_Answer):
    """The household's story around this case, cut to your rule."""

    case_id: uuid.UUID
    creditor_names: bool = Field(description="whether your rule shows the creditors' names")
    creditors: list[dict[str, Any]]
    signal_kinds: list[str]
    other_cases: list[dict[str, Any]] | None
    notices: list[dict[str, Any]]
