"""Reading the log for a privacy officer: searches and the GDPR art. 15 access report."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from exchange.auditlog.models import AuditEntry, subject_keys
from exchange.auditlog.schemas import (
    AccessReport,
    DataSource,
    Disclosure,
    DisclosureGroup,
    LogCheckpoint,
)
from exchange.auditlog.service import AuditTrail
from exchange.clock import local_date
from exchange.disclosures.oversight import OVERSIGHT_PURPOSE
from exchange.identity.models import Subject
from exchange.identity.pseudonyms import identifiers
from exchange.identity.schemas import Person
from exchange.identity.sealed import household_keys, open_identity
from exchange.identity.service import Identified, identify
from exchange.organisations.models import Organisation
from exchange.rights.held import held_data
from exchange.signals.models import Signal
from exchange.vault.keyring import Keyring
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
    person: Identified,
    stages: Sequence[str],
    checkpoint: LogCheckpoint,
    now: dt.datetime,
) -> AccessReport:
    """Every disclosure about one person: to whom, when, why, on which basis, what (each,
    and grouped per recipient, purpose and legal basis); where the data came from; what is
    held about them now, by purpose and category, with the day it expires.

    ``person``: whom the request names, with every subject row of theirs; ``stages``: every
    pseudonym the log may hold for them (:func:`log_pseudonyms`): entries keep the one of
    their time and of the identifier their signal came by. ``checkpoint``: the log's size
    and root the report is made from; only entries below that size are read, so the report
    can be checked against the checkpoint signed at it.
    """
    stages = list(stages)
    tree_size = checkpoint.tree_size
    # The checkpoint's bound is kept out of the query: it holds for nearly every row, and a
    # planner without statistics (a freshly loaded or restored log) ANDed it, as a scan of
    # the whole primary key, with the person's few rows (250 ms at 3,000,000 entries, 0.8 ms
    # without; BENCHMARKS.md). The entries appended since the checkpoint are few.
    rows = session.execute(
        select(AuditEntry.leaf_index, AuditEntry.entry)
        .where(
            AuditEntry.subject_key.in_(subject_keys(stages)),
            AuditEntry.subject.in_(stages),
            AuditEntry.recipient_org_id.is_not(None),
        )
        .order_by(AuditEntry.leaf_index)
    )
    entries = [orjson.loads(data) for index, data in rows if index < tree_size]
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
    groups = _groups(
        disclosures,
        [e["recipient"] for e in permitted],
        {c: dict(categories[c].name) for c in categories},
    )
    held = held_data(session, register, person.subject_ids)
    searched_nl, searched_en = _searched(person.searched, person.ambiguous)
    return AccessReport(
        subject=person.primary,
        identifiers_searched=list(person.searched),
        ambiguous=person.ambiguous,
        searched_nl=searched_nl,
        searched_en=searched_en,
        held=held,
        generated_at=now,
        tree_size=tree_size,
        checkpoint=checkpoint,
        disclosures=disclosures,
        groups=groups,
        sources=_sources(session, person.subject_ids),
        refusals=len(entries) - len(permitted),
        **_summary(groups),
    )


def log_checkpoint(tree_size: int, root: bytes, note: str | None = None) -> LogCheckpoint:
    """The log's state a report is made from, as the report gives it: the root in base64,
    as the signed checkpoint writes it (``broker.audit.checkpoint`` signs one at the head)."""
    return LogCheckpoint(
        tree_size=tree_size, root_hash=base64.b64encode(root).decode("ascii"), note=note
    )


KIND_NAMES: dict[str, tuple[str, str]] = {
    "housing_corporation": ("woningcorporatie", "housing corporation"),
    "energy_supplier": ("energieleverancier", "energy supplier"),
    "water_company": ("drinkwaterbedrijf", "water company"),
    "health_insurer": ("zorgverzekeraar", "health insurer"),
    "other_creditor": ("schuldeiser", "creditor"),
    "municipality": ("gemeente", "municipality"),
    "neighbourhood_team": ("wijkteam", "neighbourhood team"),
    "debt_service": ("schuldhulpverlening", "debt counselling service"),
    "privacy_officer": ("functionaris gegevensbescherming", "data protection officer"),
}
"""The kinds of organisation in the words a letter to the person uses."""

MONTHS: dict[str, tuple[str, ...]] = {
    "nl": (
        "januari", "februari", "maart", "april", "mei", "juni",
        "juli", "augustus", "september", "oktober", "november", "december",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}  # fmt: skip


def long_date(day: dt.date, lang: str) -> str:
    """A day written out, as a letter writes it: 3 februari 2026, 3 February 2026."""
    return f"{day.day} {MONTHS['en' if lang == 'en' else 'nl'][day.month - 1]} {day.year}"


def _period(first: dt.date, last: dt.date, lang: str) -> str:
    if first == last:
        return f"op {long_date(first, 'nl')}" if lang == "nl" else f"on {long_date(first, 'en')}"
    if lang == "nl":
        return f"van {long_date(first, 'nl')} tot en met {long_date(last, 'nl')}"
    return f"from {long_date(first, 'en')} to {long_date(last, 'en')}"


def _groups(
    disclosures: Sequence[Disclosure],
    recipient_ids: Sequence[str],
    category_names: dict[str, dict[str, str]],
) -> list[DisclosureGroup]:
    """The disclosures per recipient (by id: two organisations may share a name), purpose
    and legal basis, in order of each group's first."""
    together: dict[tuple[str, str | None, tuple[str, ...]], list[Disclosure]] = {}
    for recipient_id, d in zip(recipient_ids, disclosures, strict=True):
        key = (recipient_id, d.purpose, tuple(d.legal_basis))
        together.setdefault(key, []).append(d)
    groups = []
    for (_, purpose, bases), members in together.items():
        recipient, kind = members[0].recipient, members[0].recipient_kind
        cats = list(dict.fromkeys(c for d in members for c in d.categories))
        what = {
            lang: [category_names.get(c, {}).get(lang, c) for c in cats] for lang in ("nl", "en")
        }
        first, last, count = members[0].date, members[-1].date, len(members)
        name = members[0].purpose_name
        basis_nl = " en ".join(LEGAL_BASES.get(b, (b, b))[0] for b in bases)
        basis_en = " and ".join(LEGAL_BASES.get(b, (b, b))[1] for b in bases)
        times_nl = "1 keer" if count == 1 else f"{count} keer"
        times_en = "once" if count == 1 else f"{count} times"
        groups.append(
            DisclosureGroup(
                recipient=recipient,
                recipient_kind=kind,
                purpose=purpose,
                purpose_name=name,
                legal_basis=list(bases),
                legal_basis_text={
                    "nl": [LEGAL_BASES.get(b, (b, b))[0] for b in bases],
                    "en": [LEGAL_BASES.get(b, (b, b))[1] for b in bases],
                },
                categories=cats,
                category_names=what,
                first=first,
                last=last,
                count=count,
                leaf_indexes=[d.leaf_index for d in members],
                sentence_nl=(
                    f"{recipient} kreeg uw gegevens {times_nl}, {_period(first, last, 'nl')}. "
                    f"Het ging om: {', '.join(what['nl'])}. "
                    f"Dat was voor '{name.get('nl')}'. Dat mag op grond van {basis_nl}."
                ),
                sentence_en=(
                    f"{recipient} received your data {times_en}, {_period(first, last, 'en')}. "
                    f"This was: {', '.join(what['en'])}. "
                    f"It was for '{name.get('en')}'. This is allowed on the basis of {basis_en}."
                ),
            )
        )
    return groups


def _sources(session: Session, subject_ids: Collection[uuid.UUID]) -> list[DataSource]:
    """The providers whose signals about the person are held, with how many and when."""
    if not subject_ids:
        return []
    rows = session.execute(
        select(
            Organisation.name,
            Organisation.kind,
            func.count(Signal.id),
            func.min(Signal.received_at),
            func.max(Signal.received_at),
        )
        .join(Organisation, Organisation.id == Signal.provider_id)
        .where(Signal.subject_id.in_(sorted(subject_ids)))
        .group_by(Organisation.id, Organisation.name, Organisation.kind)
        .order_by(func.min(Signal.received_at), Organisation.name)
    ).all()
    sources = []
    for name, kind, count, first_at, last_at in rows:
        first, last = local_date(first_at), local_date(last_at)
        kind_nl, kind_en = KIND_NAMES.get(kind, (kind, kind))
        signals_nl = "1 signaal" if count == 1 else f"{count} signalen"
        signals_en = "1 signal" if count == 1 else f"{count} signals"
        sources.append(
            DataSource(
                organisation=name,
                kind=kind,
                kind_name={"nl": kind_nl, "en": kind_en},
                signals=count,
                first_received=first,
                last_received=last,
                sentence_nl=(
                    f"{name} ({kind_nl}) gaf ons {signals_nl} over een betalingsachterstand, "
                    f"{_period(first, last, 'nl')}."
                ),
                sentence_en=(
                    f"{name} ({kind_en}) sent us {signals_en} about payment arrears, "
                    f"{_period(first, last, 'en')}."
                ),
            )
        )
    return sources


def _searched(kinds: Sequence[str], ambiguous: bool) -> tuple[str, str]:
    """What the report was searched by, and what an ambiguous name leaves out, in words."""
    if "bsn" in kinds and "name" in kinds:
        nl = "Wij zochten op uw burgerservicenummer (BSN) en op uw naam en geboortedatum."
        en = "We searched by your citizen service number (BSN) and by your name and birth date."
    elif "bsn" in kinds:
        nl = "Wij zochten op uw burgerservicenummer (BSN)."
        en = "We searched by your citizen service number (BSN)."
    else:
        nl = "Wij zochten op uw naam en geboortedatum."
        en = "We searched by your name and birth date."
    nl += " Gegevens die bij u horen, maar via een ander nummer of een andere naam kwamen, "
    nl += "staan er ook in."
    en += " Data that belongs to you but came with your other identifier is included too."
    if ambiguous:
        nl += (
            " Let op: uw naam en geboortedatum horen bij meer dan één persoon die wij kennen "
            "met een BSN. Daarom staat hier alleen wat wij kregen met uw naam en geboortedatum, "
            "zonder BSN. Wilt u alles zien? Geef ons dan uw BSN."
        )
        en += (
            " Please note: your name and birth date belong to more than one person we know "
            "by a BSN. So this only shows what we received with your name and birth date, "
            "without a BSN. Do you want to see everything? Then give us your BSN."
        )
    return nl, en


def _summary(groups: Sequence[DisclosureGroup]) -> dict[str, str]:
    if not groups:
        return {
            "summary_nl": "Er zijn via de signalenuitwisseling geen gegevens over u verstrekt.",
            "summary_en": "No data about you was disclosed through the signal exchange.",
        }
    counts: dict[str, int] = {}
    for g in groups:
        counts[g.recipient] = counts.get(g.recipient, 0) + g.count
    many = len(counts) > 1
    return {
        "summary_nl": (
            f"Uw gegevens gingen naar {len(counts)} organisatie{'s' if many else ''}: "
            + ", ".join(f"{name} ({n} keer)" for name, n in counts.items())
            + "."
        ),
        "summary_en": (
            f"Your data went to {len(counts)} organisation{'s' if many else ''}: "
            + ", ".join(
                f"{name} ({'once' if n == 1 else f'{n} times'})" for name, n in counts.items()
            )
            + "."
        ),
    }


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


def report_for(
    session: Session,
    keyring: Keyring,
    audit: AuditTrail,
    register: Register,
    person: Person,
    now: dt.datetime,
) -> tuple[Identified, AccessReport]:
    """The access report for the person a request names, as the API and the page make it:
    found by any identifier given, from a checkpoint signed at the log's size now, so the
    answer can be verified later."""
    found, stages = in_log(session, keyring, person)
    signed = audit.checkpoint(session, now)
    made = access_report(
        session,
        register,
        found,
        stages,
        log_checkpoint(signed.tree_size, signed.root, signed.note),
        now,
    )
    return found, made


def in_log(
    session: Session, keyring: Keyring, person: Person
) -> tuple[Identified, tuple[str, ...]]:
    """Whom a request names, and every pseudonym the log may hold for them: what a search
    or an access report about one person looks for."""
    found = identify(session, keyring, person)
    return found, log_pseudonyms(session, keyring, found)


def log_pseudonyms(session: Session, keyring: Keyring, person: Identified) -> tuple[str, ...]:
    """Every pseudonym the audit log may hold for the person: each identifier's pseudonym
    under every pseudonym key it had, the linked ones included.

    The stages of an identifier the request gave are computed from it; a linked identifier
    is stored under today's key only, so its older stages are computed from the person's
    sealed signals, which carry it (opened here, never shown). Only identifiers still
    linked to the person count: an ambiguous name's older entries are not theirs.
    """
    if len(keyring.pseudonym_keys) < 2 or not person.subject_ids:
        return person.pseudonyms
    linked = set(
        session.scalars(select(Subject.pseudonym).where(Subject.id.in_(person.subject_ids)))
    )
    found = dict.fromkeys(person.pseudonyms)
    signals = session.execute(
        select(Signal.id, Signal.household_id, Signal.sealed_identity).where(
            Signal.subject_id.in_(sorted(person.subject_ids))
        )
    ).all()
    keys = household_keys(session, keyring, {s.household_id for s in signals})
    for signal_id, household_id, sealed in signals:
        document = open_identity(keys[household_id], signal_id, sealed)
        carried = identifiers(keyring.pseudonym_keys, document.get("person") or {})
        for stages in (carried.bsn, carried.name):
            if stages and stages[-1] in linked:
                found.update(dict.fromkeys(stages))
    return tuple(found)
