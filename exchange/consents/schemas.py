"""The consent ledger's public contract."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field, field_validator

from exchange.consents.terms import CollectionMethod, ConsentStatus
from exchange.fields import Day
from exchange.identity.schemas import Person, Strict


class ConsentIn(Strict):
    person: Person
    purposes: list[str] = Field(min_length=1, max_length=20)
    recipients: list[uuid.UUID] = Field(min_length=1, max_length=50)
    collection_method: CollectionMethod
    notice_version: str = Field(min_length=1, max_length=64)
    valid_from: Day | None = None
    valid_until: Day | None = None


class ConsentEventOut(BaseModel):
    event: str
    effective_on: dt.date
    recorded_by: uuid.UUID
    recorded_at: dt.datetime


class ConsentOut(BaseModel):
    id: uuid.UUID
    status: ConsentStatus
    subject: str = Field(description="The person's pseudonym as the calling organisation sees it")
    purposes: list[str]
    recipients: list[uuid.UUID]
    collected_by: uuid.UUID
    collection_method: CollectionMethod
    notice_version: str
    valid_from: dt.date
    valid_until: dt.date | None
    policy_version: str
    events: list[ConsentEventOut]


class ConsentList(BaseModel):
    consents: list[ConsentOut]


class ConsentSearch(Strict):
    person: Person


class WithdrawalIn(Strict):
    effective_on: Day | None = None


class ObjectionIn(Strict):
    person: Person
    purposes: list[str] = Field(min_length=1, max_length=20)
    reason: str | None = Field(default=None, max_length=2000)

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str | None) -> str | None:
        return value or None


class ObjectionOut(BaseModel):
    id: uuid.UUID
    status: str = Field(description="in_force: every later disclosure for these purposes is denied")
    subject: str
    purposes: list[str]
    made_on: dt.date
    recorded_by: uuid.UUID
