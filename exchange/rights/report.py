"""Reading the log for a privacy officer: searches and the GDPR art. 15 access report."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from exchange.auditlog.models import AuditEntry, subject_keys
from exchange.auditlog.schemas import AccessReport, Disclosure
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
OVERSIGHT_PURPOSE = "privacy-oversight"
RECORDING_ACTIONS = frozenset({"case.contact_attempt", "case.close"})


def search(
    session: Session,
    *,
    subject: str | Sequence[str] | None = None,
    organisation: uuid.UUID | None = None,
    purpose: str | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    after: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Entries in leaf order matching every filter given, after a leaf index (a cursor)."""
    query = select(AuditEntry.entry).order_by(AuditEntry.leaf_index).limit(min(limit, MAX_PAGE))
    if subject is not None:
        stages = _stages(subject)
        query = query.where(
            AuditEntry.subject_key.in_(subject_keys(stages)), AuditEntry.subject.in_(stages)
        )
    if organisation is not None:
        query = query.where(
            or_(
                AuditEntry.actor_org_id == organisation, AuditEntry.recipient_org_id == organisation
            )
        )
    if purpose is not None:
        query = query.where(AuditEntry.purpose == purpose)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if since is not None:
        query = query.where(AuditEntry.recorded_at >= since)
    if until is not None:
        query = query.where(AuditEntry.recorded_at < until)
    if after is not None:
        query = query.where(AuditEntry.leaf_index > after)
    return [orjson.loads(data) for (data,) in session.execute(query)]


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
