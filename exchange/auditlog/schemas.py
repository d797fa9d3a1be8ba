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


class AccessLetterIn(AccessReportIn):
    format: Literal["pdf", "html"] | None = Field(
        default=None, description="pdf or html; when absent, by the Accept header (pdf first)"
    )
    lang: Literal["nl", "en"] = Field(default="nl", description="The letter's language")


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


class DisclosureGroup(BaseModel):
    """The disclosures to one recipient for one purpose on one legal basis, taken together:
    a case worker's sitting of many page reads is one line, with its count and period."""

    recipient: str
    recipient_kind: str | None
    purpose: str | None
    purpose_name: dict[str, str]
    legal_basis: list[str]
    legal_basis_text: dict[str, list[str]] = Field(description="The legal bases, per language")
    categories: list[str] = Field(description="Every category disclosed, in first-seen order")
    category_names: dict[str, list[str]] = Field(description="The categories, per language")
    first: dt.date
    last: dt.date
    count: int
    leaf_indexes: list[int] = Field(description="The log entries taken together here")
    sentence_nl: str
    sentence_en: str


class DataSource(BaseModel):
    """A provider (a creditor) whose signals about the person are held (AVG art. 15(1)(g))."""

    organisation: str
    kind: str
    kind_name: dict[str, str]
    signals: int
    first_received: dt.date
    last_received: dt.date
    sentence_nl: str
    sentence_en: str


class LogCheckpoint(BaseModel):
    """The state of the log the report was made from: its size and root hash, and the
    checkpoint signed at that size, so the answer can be verified later."""

    tree_size: int
    root_hash: str = Field(description="The RFC 9162 root hash at tree_size, base64")
    note: str | None = Field(
        default=None, description="The signed checkpoint at tree_size (C2SP signed note)"
    )


class AccessReport(BaseModel):
    subject: str
    identifiers_searched: list[str] = Field(
        default_factory=list,
        description="The identifiers the request gave (bsn, name); every record linked to "
        "either is in the report",
    )
    ambiguous: bool = Field(
        default=False,
        description="The name and birth date given came with more than one BSN: the report "
        "holds only what came by that name alone; ask again with the BSN for the rest",
    )
    searched_nl: str = Field(default="", description="What was searched by, in words")
    searched_en: str = ""
    generated_at: dt.datetime
    tree_size: int
    checkpoint: LogCheckpoint | None = Field(
        default=None, description="The log's size and root hash the report was made from"
    )
    held: list[HeldData] = Field(
        default_factory=list, description="What is held about the person now (AVG art. 15(1))"
    )
    disclosures: list[Disclosure]
    groups: list[DisclosureGroup] = Field(
        default_factory=list,
        description="The disclosures per recipient, purpose and legal basis, with first and "
        "last date and count",
    )
    sources: list[DataSource] = Field(
        default_factory=list, description="Where the data held came from (AVG art. 15(1)(g))"
    )
    refusals: int = Field(description="Decisions that denied a disclosure about the person")
    summary_nl: str
    summary_en: str


class InclusionProof(BaseModel):
    """RFC 9162 §2.1.3; hashes in base64."""

    leaf_index: int = Field(ge=0)
    tree_size: int = Field(ge=1)
    leaf_hash: str
    root_hash: str
    proof: list[str]


class ConsistencyProof(BaseModel):
    """RFC 9162 §2.1.4; hashes in base64."""

    first: int = Field(ge=1)
    second: int = Field(ge=1)
    first_root_hash: str
    second_root_hash: str
    proof: list[str]
