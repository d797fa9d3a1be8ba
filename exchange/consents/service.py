"""The consent ledger: recording consents and objections, and the state the engine needs.

A consent's history is appended to (given, withdrawn, ...), never rewritten. A withdrawal
or an objection is read by the very next disclosure decision: the engine is asked inside
the disclosing transaction with the state loaded in that same transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange import clock
from exchange.auditlog.links import link_records
from exchange.auditlog.service import AuditRecord, AuditTrail
from exchange.auth.tokens import Principal
from exchange.clock import local_date
from exchange.consents.models import Consent, ConsentEvent, Objection
from exchange.consents.schemas import (
    ConsentEventOut,
    ConsentIn,
    ConsentOut,
    ConsentTerms,
    ObjectionIn,
)
from exchange.consents.terms import RECORD_SCHEMA, CollectionMethod, ConsentStatus, ConsentType
from exchange.db import CHUNK
from exchange.errors import Conflict, FieldError, InvalidInput, NotFound
from exchange.identity.models import Subject
from exchange.identity.pseudonyms import for_recipient
from exchange.identity.service import attach
from exchange.organisations.models import Organisation
from exchange.organisations.terms import OrganisationKind
from exchange.vault import envelope
from exchange.vault.keyring import Keyring
from policies.engine import Register


@dataclass(frozen=True)
class LedgerContext:
    keyring: Keyring
    register: Register
    audit: AuditTrail
    today: dt.date
    now: dt.datetime


def give_consent(
    session: Session, context: LedgerContext, principal: Principal, request: ConsentIn
) -> Consent:
    """Record a consent collected by the calling organisation; its first event is 'given'."""
    _check_terms(session, context, request)
    return _give(session, context, principal, _subject_id(session, context, request), request)


def give_consent_to(
    session: Session,
    context: LedgerContext,
    principal: Principal,
    subject_id: uuid.UUID,
    request: ConsentTerms,
) -> Consent:
    """Record a consent for a person the caller knows by subject row already (the people of
    a case it works on), on the same terms as :func:`give_consent`."""
    _check_terms(session, context, request)
    return _give(session, context, principal, subject_id, request)


def _check_terms(session: Session, context: LedgerContext, request: ConsentTerms) -> None:
    _known_purposes(context.register, request.purposes)
    _known_recipients(session, request.recipients)
    valid_from = request.valid_from or context.today
    if request.valid_until is not None and request.valid_until < context.today:
        raise InvalidInput(
            "the consent period has already ended",
            [FieldError("valid_until", "lies in the past: the consent would be expired")],
        )
    if request.valid_until is not None and request.valid_until < valid_from:
        raise InvalidInput(
            "the consent ends before it starts",
            [FieldError("valid_until", "must be on or after valid_from")],
        )


def _give(
    session: Session,
    context: LedgerContext,
    principal: Principal,
    subject_id: uuid.UUID,
    request: ConsentTerms,
) -> Consent:
    valid_from = request.valid_from or context.today
    consent = Consent(
        id=uuid.uuid4(),
        subject_id=subject_id,
        collected_by_id=principal.organisation_id,
        purposes=sorted(set(request.purposes)),
        recipients=sorted({str(r) for r in request.recipients}),
        collection_method=request.collection_method.value,
        notice_version=request.notice_version,
        language=request.language,
        notice_url=str(request.notice_url) if request.notice_url else None,
        consent_type=request.consent_type.value,
        withdrawal_method=request.withdrawal_method,
        valid_from=valid_from,
        valid_until=request.valid_until,
        status=ConsentStatus.GIVEN.value,
        policy_version=context.register.version_hash,
        created_at=context.now,
    )
    session.add(consent)
    session.flush()
    _append(session, consent, ConsentStatus.GIVEN, valid_from, principal, context.now)
    _audit(
        session,
        context,
        principal,
        "consent.give",
        consent.subject_id,
        {"consent": str(consent.id), "purposes": ",".join(consent.purposes)},
    )
    return consent


def withdraw_consent(
    session: Session,
    context: LedgerContext,
    principal: Principal,
    consent_id: uuid.UUID,
    effective_on: dt.date | None,
) -> Consent:
    """Withdraw a consent from a date (today by default); every later decision denies."""
    consent = visible_consent(session, principal, consent_id)
    current = current_status(consent, context.today)
    if current is not ConsentStatus.GIVEN:
        raise Conflict(
            f"the consent is {current.value}; only a given consent can be withdrawn",
            [FieldError("status", f"is {current.value}")],
        )
    when = effective_on or context.today
    if when > context.today:
        raise InvalidInput(
            "a withdrawal takes effect today or earlier",
            [FieldError("effective_on", "lies in the future")],
        )
    recorded_on = local_date(consent.created_at)
    if when < recorded_on:
        # Backdated to before the ledger had the consent, a withdrawal would rewrite what
        # the decisions made under it could rely on.
        raise InvalidInput(
            "a withdrawal cannot take effect before the consent was recorded",
            [FieldError("effective_on", f"lies before {recorded_on.isoformat()}")],
        )
    consent.status = ConsentStatus.WITHDRAWN.value
    _append(session, consent, ConsentStatus.WITHDRAWN, when, principal, context.now)
    _audit(
        session,
        context,
        principal,
        "consent.withdraw",
        consent.subject_id,
        {"consent": str(consent.id), "purposes": ",".join(consent.purposes)},
    )
    return consent


def record_objection(
    session: Session, context: LedgerContext, principal: Principal, request: ObjectionIn
) -> tuple[Objection, str]:
    """Record an objection (AVG art. 21); it overrides every permit for its purposes."""
    _known_purposes(context.register, request.purposes)
    subject_id = _subject_id(session, context, request)
    objection = Objection(
        id=uuid.uuid4(),
        subject_id=subject_id,
        purposes=sorted(set(request.purposes)),
        made_on=context.today,
        recorded_by_id=principal.organisation_id,
        recorded_at=context.now,
    )
    if request.reason:
        objection.sealed_reason = envelope.seal(
            context.keyring.kek.active, request.reason.encode(), b"objection:" + objection.id.bytes
        )
        objection.kek_id = context.keyring.kek.active_id
    session.add(objection)
    session.flush()
    _audit(
        session,
        context,
        principal,
        "objection.record",
        subject_id,
        {"objection": str(objection.id), "purposes": ",".join(objection.purposes)},
    )
    return objection, _pseudonym_of(session, subject_id)


def consents_for(
    session: Session,
    context: LedgerContext,
    principal: Principal,
    *,
    subject_ids: Collection[uuid.UUID] | None = None,
    purpose: str | None = None,
) -> list[Consent]:
    """Consents the caller collected or is a recipient of, optionally of one person (every
    subject row of theirs: ``exchange.identity.service.identify``)."""
    query = select(Consent).order_by(Consent.created_at)
    if subject_ids is not None:
        query = query.where(Consent.subject_id.in_(sorted(subject_ids)))
    found = [c for c in session.scalars(query) if _may_see(principal, c)]
    if purpose is not None:
        found = [c for c in found if purpose in c.purposes]
    return found


def objections_of(session: Session, subject_ids: Collection[uuid.UUID]) -> list[Objection]:
    """Every objection one person made, under any of their identifiers (for the privacy
    officer's view of the ledger)."""
    return list(
        session.scalars(
            select(Objection)
            .where(Objection.subject_id.in_(sorted(subject_ids)))
            .order_by(Objection.recorded_at)
        )
    )


def visible_consent(session: Session, principal: Principal, consent_id: uuid.UUID) -> Consent:
    """A consent the caller collected or receives data under; any other is not found."""
    consent = session.get(Consent, consent_id)
    if consent is None or not _may_see(principal, consent):
        raise NotFound(f"consent {consent_id} not found")
    return consent


def events_of(
    session: Session, consent_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ConsentEvent]]:
    events: dict[uuid.UUID, list[ConsentEvent]] = defaultdict(list)
    ids = list(consent_ids)
    for start in range(0, len(ids), CHUNK):
        for event in session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.consent_id.in_(ids[start : start + CHUNK]))
            .order_by(ConsentEvent.recorded_at, ConsentEvent.id)
        ):
            events[event.consent_id].append(event)
    return events


def current_status(consent: Consent, today: dt.date) -> ConsentStatus:
    """The status on a day: a given consent past its end date reads as expired."""
    status = ConsentStatus(consent.status)
    ended = consent.valid_until is not None and consent.valid_until < today
    if status is ConsentStatus.GIVEN and ended:
        return ConsentStatus.EXPIRED
    return status


def _audit(
    session: Session,
    context: LedgerContext,
    principal: Principal,
    action: str,
    subject_id: uuid.UUID,
    resources: dict[str, str],
) -> None:
    context.audit.append(
        session,
        [
            AuditRecord(
                action=action,
                decision="recorded",
                actor_org=principal.organisation_id,
                actor_client=principal.client_id,
                policy_version=context.register.version_hash,
                subject=_pseudonym_of(session, subject_id),
                resources=resources,
            )
        ],
        context.now,
    )


def _may_see(principal: Principal, consent: Consent) -> bool:
    return (
        consent.collected_by_id == principal.organisation_id
        or str(principal.organisation_id) in consent.recipients
        or principal.organisation_kind.value == "privacy_officer"
    )


def _append(
    session: Session,
    consent: Consent,
    event: ConsentStatus,
    effective_on: dt.date,
    principal: Principal,
    now: dt.datetime,
) -> None:
    session.add(
        ConsentEvent(
            consent_id=consent.id,
            event=event.value,
            effective_on=effective_on,
            recorded_by_id=principal.organisation_id,
            recorded_at=now,
        )
    )
    session.flush()


def _subject_id(
    session: Session, context: LedgerContext, request: ConsentIn | ObjectionIn
) -> uuid.UUID:
    """The row the record goes on; a BSN and a name given together are linked (and the
    link is on the log), so the record reaches signals that carry either."""
    subject_id, links = attach(session, context.keyring, request.person, context.now)
    if links:
        context.audit.append(session, link_records(links, "exchange-ledger"), context.now)
    return subject_id


def _pseudonym_of(session: Session, subject_id: uuid.UUID) -> str:
    pseudonym = session.scalar(select(Subject.pseudonym).where(Subject.id == subject_id))
    assert pseudonym is not None
    return pseudonym


def _known_purposes(register: Register, purposes: list[str]) -> None:
    known = {p.id for p in register.purposes}
    errors = [
        FieldError(
            f"purposes[{i}]", f"is not a purpose of the register ({', '.join(sorted(known))})"
        )
        for i, purpose in enumerate(purposes)
        if purpose not in known
    ]
    if errors:
        raise InvalidInput("unknown purpose in the request", errors)


def _known_recipients(session: Session, recipients: list[uuid.UUID]) -> None:
    existing = set(session.scalars(select(Organisation.id).where(Organisation.id.in_(recipients))))
    errors = [
        FieldError(f"recipients[{i}]", "is not a registered organisation")
        for i, recipient in enumerate(recipients)
        if recipient not in existing
    ]
    if errors:
        raise InvalidInput("unknown recipient in the request", errors)


def consents_out(
    session: Session, keyring: Keyring, principal: Principal, consents: Sequence[Consent]
) -> list[ConsentOut]:
    """Consents as the API and the pages show them to ``principal``: with their events and
    the person under the pseudonym this organisation knows them by."""
    events = events_of(session, [c.id for c in consents])
    pseudonyms = dict(
        session.execute(
            select(Subject.id, Subject.pseudonym).where(
                Subject.id.in_([c.subject_id for c in consents])
            )
        ).all()
    )
    today = clock.today()
    return [
        ConsentOut(
            id=c.id,
            status=current_status(c, today),
            subject=as_seen_by(keyring, principal, pseudonyms[c.subject_id]),
            purposes=c.purposes,
            recipients=[uuid.UUID(r) for r in c.recipients],
            collected_by=c.collected_by_id,
            collection_method=CollectionMethod(c.collection_method),
            notice_version=c.notice_version,
            valid_from=c.valid_from,
            valid_until=c.valid_until,
            policy_version=c.policy_version,
            events=[_event(e) for e in events.get(c.id, [])],
            schema_version=RECORD_SCHEMA,
            language=c.language,
            notice_url=c.notice_url,
            consent_type=ConsentType(c.consent_type),
            withdrawal_method=c.withdrawal_method,
        )
        for c in consents
    ]


def _event(event: ConsentEvent) -> ConsentEventOut:
    return ConsentEventOut(
        event=event.event,
        effective_on=event.effective_on,
        recorded_by=event.recorded_by_id,
        recorded_at=event.recorded_at,
    )


def as_seen_by(keyring: Keyring, principal: Principal, pseudonym: str) -> str:
    """Each organisation sees its own pseudonym of the person; a privacy officer the broker's."""
    if principal.organisation_kind is OrganisationKind.PRIVACY_OFFICER:
        return pseudonym
    return for_recipient(keyring.pseudonym.active, pseudonym, str(principal.organisation_id))
