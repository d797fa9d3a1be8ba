from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from exchange.fields import Cursor, Instant, LeafIndex
from exchange.identity.schemas import Person, Strict

Decision = Literal["permit", "deny", "recorded"]
Order = Literal["oldest", "newest"]


class EntryPage(BaseModel):
    entries: list[dict[str, Any]]
    next_after: int | None = Field(
        description="order=oldest: pass as ?after= for the next page; null on the last"
    )
    next_before: int | None = Field(
        default=None,
        description=(
            "order=newest: pass as ?before= for the next, older page. A page without a "
            "person looks through at most 100,000 entries, so it may hold fewer than the limit "
            "(or none) and still have a next; null once the first entry was looked at"
        ),
    )
    tree_size: int


class EntrySearch(Strict):
    person: Person
    purpose: str | None = None
    action: str | None = None
    organisation: uuid.UUID | None = None
    since: Instant | None = None
    until: Instant | None = None
    decision: Decision | None = None
    order: Order = "oldest"
    after: Cursor | None = None
    before: LeafIndex | None = None
    limit: int = Field(default=100, ge=1, le=1000)


class AccessReportIn(Strict):
    person: Person


class Disclosure(BaseModel):
    leaf_index: int
    date: dt.date
    recipient: str
    recipient_kind: str | None
    purpose: str | None
    purpose_name: dict[str, str]
    legal_basis: list[str]
    legal_basis_text: list[str]
    categories: list[str]
    rule_id: str | None
    sentence_nl: str
    sentence_en: str


class HeldData(BaseModel):
    """What the broker holds about the person now, for one purpose, until when."""

    purpose: str
    purpose_name: dict[str, str]
    legal_basis: list[str]
    categories: list[str]
    category_names: dict[str, list[str]] = Field(description="The categories, per language")
    items: dict[str, int] = Field(description="How many signals, cases, notes, consents")
    expires_on: dt.date | None = Field(description="Removed from this day; none while running")
    sentence_nl: str
    sentence_en: str


class AccessReport(BaseModel):
    subject: str
    generated_at: dt.datetime
    tree_size: int
    held: list[HeldData] = Field(
        default_factory=list, description="What is held about the person now (AVG art. 15(1))"
    )
    disclosures: list[Disclosure]
    refusals: int = Field(description="Decisions that denied a disclosure about the person")
    summary_nl: str
    summary_en: str
