from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from exchange.identity.schemas import Person, Strict


class RightsRequest(Strict):
    """A person's request, as the privacy officer received it; the identity stays in the
    body, never in a URL or a log line."""

    person: Person
    reason: str = Field(default="", max_length=2000, description="Not stored; only whether given")


class Corrections(Strict):
    """What a person may have corrected in what the providers sent (AVG art. 16).

    Not the BSN, the postcode or the house number: those are what the person and the
    household are recognised by, and a wrong one is a different person or address; the
    provider sends a corrected signal for those.
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


class RectificationRequest(RightsRequest):
    corrections: Corrections


class RectificationOut(BaseModel):
    status: str
    signals_corrected: int
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
