"""Request bodies of the case endpoints. Answers are built from the caller's decision."""

from __future__ import annotations

import uuid

from pydantic import Field

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
