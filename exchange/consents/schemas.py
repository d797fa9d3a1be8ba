"""The consent ledger's public contract."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, Field, HttpUrl, UrlConstraints, field_validator

from exchange.consents.terms import CollectionMethod, ConsentStatus, ConsentType
from exchange.fields import Day, Text
from exchange.identity.schemas import Person, Strict

NoticeUrl = Annotated[HttpUrl, UrlConstraints(max_length=500, allowed_schemes=["https"])]


class ConsentTerms(Strict):
    """What a person agreed to, how and with which notice: a consent without the person
    (the case page records it for the people of a case it already knows)."""

    purposes: list[str] = Field(min_length=1, max_length=20)
    recipients: list[uuid.UUID] = Field(min_length=1, max_length=50)
    collection_method: CollectionMethod
    notice_version: str = Field(min_length=1, max_length=64)
    valid_from: Day | None = None
    valid_until: Day | None = None
    # ISO/IEC TS 27560; the defaults are what a consent recorded without them was.
    language: Text = Field(
        default="nl",
        max_length=35,
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$",
        description="The language of the notice the person was given (BCP 47: nl, en, ...)",
    )
    notice_url: NoticeUrl | None = Field(
        default=None, description="Where the notice (notice_version) can be read"
    )
    consent_type: ConsentType = Field(
        default=ConsentType.EXPRESSED,
        description="explicit: agreed in words or writing to the purposes named; expressed: "
        "by another clear affirmative act",
    )
    withdrawal_method: Text | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="How the person can withdraw; by default by telling your organisation",
    )


class ConsentIn(ConsentTerms):
    person: Person


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
    schema_version: str = Field(description="The consent record structure: ISO/IEC TS 27560")
    language: str
    notice_url: str | None
    consent_type: ConsentType
    withdrawal_method: str | None = Field(
        description="Empty: by telling the organisation that collected the consent"
    )


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
