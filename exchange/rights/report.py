"""Reading the log for a privacy officer: searches and the GDPR art. 15 access report."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from exchange.auditlog.models import AuditEntry, subject_keys
from exchange.auditlog.schemas import AccessReport, Disclosure
from exchange.disclosures.oversight import OVERSIGHT_PURPOSE
from exchange.organisations.models import Organisation
from exchange.rights.held import held_data
from policies.engine import Register

LEGAL_BASES = {
    "eu-gdpr:A6-1-a": ("toestemming (AVG art. 6 lid 1 sub a)", "consent (GDPR art. 6(1)(a))"),
    "eu-gdpr:A6-1-c": (
        "wettelijke verplichting (AVG art. 6 lid 1 sub c)",
        "legal obligation (GDPR art. 6(1)(c))",
    ),
    "eu-gdpr:A6-1-e": ("publieke taak (AVG art. 6 lid 1 sub e)", "public task (GDPR art. 6(1)(e))"),
    "eu-gdpr:A6-1-f": (
        "gerechtvaardigd belang (AVG art. 6 lid 1 sub f)",
        "legitimate interest (GDPR art. 6(1)(f))",
    ),
}
MAX_PAGE = 1000
RECORDING_ACTIONS = frozenset({"case.contact_attempt", "case.close"})


SEARCH_WINDOW = 100_000
"""Leaves a newest-first page looks through at most, when no person narrows the search: a
page comes back in bounded time on a log of any size, with a cursor to look further back
(measured in ``bench/audit_search.py``). No index is added for the filters: each would cost
every append, and the rare filter that matches little is what a window bounds."""


@dataclass(frozen=True)
class Found:
    """One page of a search, newest first: the entries, and where to go on (``before``:
    the leaf index to pass back; None once the log's first entry was looked at)."""

    entries: list[dict[str, Any]]
    before: int | None
    looked_from: int
    looked_to: int
    """The lowest and the highest leaf index this page looked at (on an empty log, 0 and
    -1)."""


@dataclass(frozen=True)
class Filters:
    """What a search asks for; every field given must match. ``subject``: a person's
    pseudonym, or every pseudonym they had through the key rotations."""

    subject: str | Sequence[str] | None = None
    organisation: uuid.UUID | None = None  # as the actor or the recipient
    purpose: str | None = None
    action: str | None = None
    decision: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def search(
    session: Session, filters: Filters, *, after: int | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Entries in leaf order matching every filter given, after a leaf index (a cursor)."""
    query = (
        select(AuditEntry.entry)
        .where(*_conditions(filters))
        .order_by(AuditEntry.leaf_index)
        .limit(min(limit, MAX_PAGE))
    )
    if after is not None:
        query = query.where(AuditEntry.leaf_index > after)
    return [orjson.loads(data) for (data,) in session.execute(query)]


def search_newest(
    session: Session,
    tree_size: int,
    filters: Filters,
    *,
    before: int | None = None,
    limit: int = 100,
    window: int = SEARCH_WINDOW,
) -> Found:
    """Entries matching every filter, newest first, below leaf index ``before`` (the log's
    size when None).

    A person's pseudonyms narrow the search through their index, so such a page holds up to
    ``limit`` entries from anywhere in the log. Without one the page looks through at most
    ``window`` leaves: it may hold fewer than ``limit`` entries, or none, and still say
    where to go on.
    """
    top = tree_size if before is None else min(before, tree_size)
    limit = min(limit, MAX_PAGE)
    conditions = _conditions(filters)
    bottom = 0 if filters.subject is not None else max(top - window, 0)
    rows = session.execute(
        select(AuditEntry.leaf_index, AuditEntry.entry)
        .where(AuditEntry.leaf_index < top, AuditEntry.leaf_index >= bottom, *conditions)
        .order_by(AuditEntry.leaf_index.desc())
        .limit(limit)
    ).all()
    entries = [orjson.loads(data) for _, data in rows]
    if len(rows) == limit:
        # Full: the next page goes on below the last entry on this one.
        lowest = rows[-1].leaf_index
        return Found(entries, lowest if lowest > 0 else None, lowest, top - 1)
    return Found(entries, bottom if bottom > 0 else None, bottom, top - 1)


def _conditions(filters: Filters) -> list[ColumnElement[bool]]:
    subject, organisation, since, until = (
        filters.subject,
        filters.organisation,
        filters.since,
        filters.until,
    )
    conditions: list[ColumnElement[bool]] = []
    if subject is not None:
        stages = _stages(subject)
        conditions += [
            AuditEntry.subject_key.in_(subject_keys(stages)),
            AuditEntry.subject.in_(stages),
        ]
    if organisation is not None:
        conditions.append(
            or_(
                AuditEntry.actor_org_id == organisation, AuditEntry.recipient_org_id == organisation
            )
        )
    if filters.purpose is not None:
        conditions.append(AuditEntry.purpose == filters.purpose)
    if filters.action is not None:
        conditions.append(AuditEntry.action == filters.action)
    if filters.decision is not None:
        conditions.append(AuditEntry.decision == filters.decision)
    if since is not None:
        conditions.append(AuditEntry.recorded_at >= since)
    if until is not None:
        conditions.append(AuditEntry.recorded_at < until)
    return conditions


def access_report(
    session: Session,
    register: Register,
    subject: str | Sequence[str],
    tree_size: int,
    now: dt.datetime,
) -> AccessReport:
    """Every disclosure about one person: to whom, when, why, on which basis, what; and what
    is held about them now, by purpose and category, with the day it expires.

    ``subject`` is the person's pseudonym, or every pseudonym they had through the pseudonym
    key rotations (oldest first, the current last): entries keep the one of their time.
    """
    stages = _stages(subject)
    rows = session.execute(
        select(AuditEntry.entry)
        .where(
            AuditEntry.subject_key.in_(subject_keys(stages)),
            AuditEntry.subject.in_(stages),
            AuditEntry.recipient_org_id.is_not(None),
        )
        .order_by(AuditEntry.leaf_index)
    )
    entries = [orjson.loads(data) for (data,) in rows]
    # A worker recording a contact attempt or a result writes to the case; that is not a
    # disclosure to them, so it is not listed as "received your data". Nor is the privacy
    # officer's own review of the log (answering this very request, say): that is the
    # controller accounting for what it did (AVG art. 5(2)), not a recipient.
    entries = [
        e
        for e in entries
        if e["action"] not in RECORDING_ACTIONS and e["purpose"] != OVERSIGHT_PURPOSE
    ]
    permitted = [e for e in entries if e["decision"] == "permit"]
    names = _organisations(session, {e["recipient"] for e in permitted})
    purposes = {p.id: p for p in register.purposes}
    categories = {c.id: c for c in register.categories}
    disclosures = []
    for entry in permitted:
        recipient_name, recipient_kind = names.get(entry["recipient"], ("(removed)", None))
        purpose = purposes.get(entry["purpose"] or "")
        purpose_name = (
            dict(purpose.name)
            if purpose
            else {"nl": entry["purpose"] or "", "en": entry["purpose"] or ""}
        )
        day = dt.date.fromisoformat(entry["timestamp"][:10])
        what_nl = ", ".join(
            categories[c].name.get("nl", c) if c in categories else c for c in entry["categories"]
        )
        what_en = ", ".join(
            categories[c].name.get("en", c) if c in categories else c for c in entry["categories"]
        )
        bases = entry["legal_basis"]
        disclosures.append(
            Disclosure(
                leaf_index=entry["leaf_index"],
                date=day,
                recipient=recipient_name,
                recipient_kind=recipient_kind,
                purpose=entry["purpose"],
                purpose_name=purpose_name,
                legal_basis=bases,
                legal_basis_text=[LEGAL_BASES.get(b, (b, b))[1] for b in bases],
                categories=entry["categories"],
                rule_id=entry["rule_id"],
                sentence_nl=(
                    f"Op {day.strftime('%d-%m-%Y')} ontving {recipient_name} uw gegevens "
                    f"({what_nl}) voor '{purpose_name.get('nl')}', op grond van "
                    f"{' en '.join(LEGAL_BASES.get(b, (b, b))[0] for b in bases)}."
                ),
                sentence_en=(
                    f"On {day.isoformat()} {recipient_name} received your data ({what_en}) for "
                    f"'{purpose_name.get('en')}', on the basis of "
                    f"{' and '.join(LEGAL_BASES.get(b, (b, b))[1] for b in bases)}."
                ),
            )
        )
    recipients = sorted({d.recipient for d in disclosures})
    held = held_data(session, register, stages[-1])
    return AccessReport(
        subject=stages[-1],
        held=held,
        generated_at=now,
        tree_size=tree_size,
        disclosures=disclosures,
        refusals=len(entries) - len(permitted),
        summary_nl=(
            f"Uw gegevens zijn {len(disclosures)} keer verstrekt, aan: {', '.join(recipients)}."
            if disclosures
            else "Er zijn via de signalenuitwisseling geen gegevens over u verstrekt."
        ),
        summary_en=(
            f"Your data was disclosed {len(disclosures)} time(s), to: {', '.join(recipients)}."
            if disclosures
            else "No data about you was disclosed through the signal exchange."
        ),
    )


def _stages(subject: str | Sequence[str]) -> list[str]:
    return [subject] if isinstance(subject, str) else list(subject)


def _organisations(session: Session, ids: set[str]) -> dict[str, tuple[str, str]]:
    wanted = [uuid.UUID(i) for i in ids if i]
    if not wanted:
        return {}
    rows = session.execute(
        select(Organisation.id, Organisation.name, Organisation.kind).where(
            Organisation.id.in_(wanted)
        )
    )
    return {str(org_id): (name, kind) for org_id, name, kind in rows}
