from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field, field_validator

from exchange.identity.schemas import Person, Strict
from exchange.signals.schemas import addition, house_number, postcode


class RightsRequest(Strict):
    """A person's request, as the privacy officer received it; the identity stays in the
    body, never in a URL or a log line."""

    person: Person
    reason: str = Field(default="", max_length=2000, description="Not stored; only whether given")


class Corrections(Strict):
    """What a person may have corrected in what the providers sent (AVG art. 16).

    Not the BSN: a wrong one is a different person, and the provider sends a corrected
    signal. A corrected postcode or house number moves the person's signals to the household
    at the right address (``exchange.rights.service.rectify``).
    """

    initials: str | None = Field(default=None, min_length=1, max_length=20)
    surname_prefix: str | None = Field(default=None, max_length=20)
    surname: str | None = Field(default=None, min_length=1, max_length=200)
    street: str | None = Field(default=None, min_length=1, max_length=200)
    city: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, min_length=6, max_length=32)
    email: str | None = Field(
        default=None, min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$"
    )
    postcode: str | None = None
    house_number: str | None = None
    house_number_addition: str | None = None

    _postcode = field_validator("postcode")(
        lambda value: None if value is None else postcode(value)
    )
    _house_number = field_validator("house_number", mode="before")(
        lambda value: None if value is None else house_number(value)
    )
    _addition = field_validator("house_number_addition")(addition)


class RectificationRequest(RightsRequest):
    corrections: Corrections


class RectificationOut(BaseModel):
    status: str
    signals_corrected: int
    signals_moved: int = Field(
        default=0, description="Signals moved to the household at the corrected address"
    )
    fields: list[str]
    recipients_notified: int
    detail: str


class ErasureOut(BaseModel):
    status: str
    erased: dict[str, int]
    recipients_notified: int
    detail: str


class RestrictionOut(BaseModel):
    status: str
    restricted_since: dt.date
    recipients_notified: int
    detail: str


class RestrictionLifted(BaseModel):
    status: str
    restricted_since: dt.date
    lifted_on: dt.date
    recipients_notified: int
    detail: str


class NoticeOut(BaseModel):
    id: uuid.UUID
    event: str
    resources: dict[str, list[str]]
    created_at: dt.datetime


class NoticeList(BaseModel):
    items: list[NoticeOut]
