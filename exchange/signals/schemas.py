"""The public signal contract: what providers send and what they get back."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
)

from exchange.fields import PastDay
from exchange.identity.schemas import Person, Strict
from exchange.signals.terms import SignalKind

MAX_AMOUNT_CENTS = 100_000_000  # one million euros: above this a typo is likelier than arrears

_POSTCODE = re.compile(r"^[1-9][0-9]{3} ?[A-Za-z]{2}$")
_HOUSE_NUMBER = re.compile(r"^[0-9]{1,5}$")
_ADDITION = re.compile(r"^[A-Za-z0-9 -]{1,6}$")
_PHONE = re.compile(r"^\+?[0-9 ()-]{6,20}$")
# Dot-separated labels cannot overlap, so the pattern never backtracks over long input.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(?:\.[^@\s.]+)+$")
MAX_EMAIL_LENGTH = 254  # RFC 5321
_EXTERNAL_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")


def postcode(value: str) -> str:
    """A Dutch postcode, written without the space and in capitals (a signal's and a
    rectification's alike)."""
    if not _POSTCODE.match(value):
        raise ValueError("must be a Dutch postcode like 3011AB")
    return value.replace(" ", "").upper()


def house_number(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _HOUSE_NUMBER.match(value.strip()):
        raise ValueError("must be a house number of 1 to 5 digits")
    return value.strip()


def addition(value: str | None) -> str | None:
    if value and not _ADDITION.match(value):
        raise ValueError("must be up to 6 letters or digits")
    return value or None


def documented(pattern: re.Pattern[str], description: str) -> dict[str, Any]:
    """A field's rule as the OpenAPI document states it. The validator below the field
    decides, with its own message; the pattern tells a client (and a generated client, and
    Schemathesis) what passes before it sends."""
    return {"pattern": pattern.pattern, "description": description}


class Address(Strict):
    postcode: str = Field(json_schema_extra=documented(_POSTCODE, "e.g. 3011AB or 3011 AB"))
    house_number: str = Field(json_schema_extra=documented(_HOUSE_NUMBER, "1 to 5 digits"))
    house_number_addition: str | None = Field(
        default=None, json_schema_extra=documented(_ADDITION, "e.g. A, 2-hoog")
    )
    street: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=200)

    @field_validator("postcode")
    @classmethod
    def _postcode(cls, value: str) -> str:
        return postcode(value)

    @field_validator("house_number", mode="before")
    @classmethod
    def _house_number(cls, value: object) -> object:
        return house_number(value)

    @field_validator("house_number_addition")
    @classmethod
    def _addition(cls, value: str | None) -> str | None:
        return addition(value)

    @property
    def pc4(self) -> int:
        return int(self.postcode[:4])


class Contact(Strict):
    phone: str | None = Field(
        default=None, json_schema_extra=documented(_PHONE, "e.g. +31612345678")
    )
    email: str | None = Field(
        default=None,
        json_schema_extra=documented(_EMAIL, "an e-mail address") | {"maxLength": MAX_EMAIL_LENGTH},
    )

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not _PHONE.match(value):
            raise ValueError("must be a phone number like +31612345678")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) > MAX_EMAIL_LENGTH:
            raise ValueError(f"must be at most {MAX_EMAIL_LENGTH} characters")
        if not _EMAIL.match(value):
            raise ValueError("must be an e-mail address")
        return value


class Preconditions(Strict):
    """Evidence of what the provider did before signalling (Besluit art. 2)."""

    contact_attempted_on: PastDay | None = None
    debt_help_offered_on: PastDay | None = None
    reminder_sent_on: PastDay | None = None
    reminder_offered_transfer: StrictBool = False
    subject_refused: StrictBool = False


class SignalIn(Strict):
    external_ref: str = Field(
        json_schema_extra=documented(
            _EXTERNAL_REF, "Your own reference: sending it again is answered as a duplicate"
        )
    )
    kind: SignalKind
    amount_cents: StrictInt = Field(
        json_schema_extra={
            "minimum": 1,
            "maximum": MAX_AMOUNT_CENTS,
            "description": "The arrears in euro cents",
        }
    )
    arrears_since: PastDay
    crisis: StrictBool = False
    warm_handover: StrictBool = False
    person: Person
    address: Address
    contact: Contact | None = None
    preconditions: Preconditions = Preconditions()

    @field_validator("external_ref")
    @classmethod
    def _external_ref(cls, value: str) -> str:
        if not _EXTERNAL_REF.match(value):
            raise ValueError("must be 1 to 64 letters, digits or . _ : / -")
        return value

    @field_validator("amount_cents")
    @classmethod
    def _amount(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("must be a positive number of cents")
        if value > MAX_AMOUNT_CENTS:
            raise ValueError("is implausibly large (over one million euros)")
        return value


class SignalOut(BaseModel):
    """What a provider may know about its own signal."""

    id: uuid.UUID
    external_ref: str
    kind: SignalKind
    status: str
    case_id: uuid.UUID
    received_at: dt.datetime


class FeedbackOut(BaseModel):
    """Where the case behind a signal stands, in the codes the provider's rule permits."""

    status: str = Field(description="received, in_contact, help_accepted, not_picked_up or closed")
    collection_paused_until: dt.date | None = Field(
        default=None, description="please pause collection until this date"
    )


class SignalWithFeedback(SignalOut):
    """A provider's own signal with the feedback its rule permits (never a reason)."""

    feedback: FeedbackOut | None = None


class BatchItemResult(BaseModel):
    index: int
    external_ref: str | None
    outcome: str = Field(description="created, duplicate or rejected")
    status: int = Field(description="the HTTP status this item would have had on its own")
    signal: SignalOut | None = None
    problem: dict[str, object] | None = None


class BatchSummary(BaseModel):
    created: int
    duplicate: int
    rejected: int


class BatchResult(BaseModel):
    summary: BatchSummary
    results: list[BatchItemResult]
