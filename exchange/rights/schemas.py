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


class NoticeOut(BaseModel):
    id: uuid.UUID
    event: str
    resources: dict[str, list[str]]
    created_at: dt.datetime


class NoticeList(BaseModel):
    items: list[NoticeOut]
