"""Erasure (AVG art. 17) and restriction (art. 18) for a privacy officer, and the notices
to the recipients that received the data (art. 19).

Erasure is crypto-shredding (``exchange.retention.shred``): a household that is only the
person's loses its data key and its rows; a household shared with others gets a new key
with the person's signals gone. The audit log keeps every entry (pseudonyms only), so it
still verifies and still shows that disclosures happened.

The register says which purposes rest on a legal duty that overrides erasure
(``erasure.refused_while`` of a purpose): then the answer is a 409 with that ground in
plain language, and nothing is erased.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange.auditlog.links import link_records
from exchange.auditlog.models import AuditEntry, subject_keys
from exchange.auditlog.service import AuditRecord, AuditTrail
from exchange.auth.tokens import Principal
from exchange.cases.models import Case
from exchange.cases.terms import CaseStatus
from exchange.consents.models import Consent, Objection, Restriction
from exchange.disclosures import Disclosures, Party
from exchange.disclosures import service as disclosure
from exchange.disclosures.oversight import OVERSIGHT_PURPOSE
from exchange.errors import Conflict, FieldError, InvalidInput, NotFound
from exchange.identity.models import Household
from exchange.identity.pseudonyms import household_of
from exchange.identity.schemas import Person
from exchange.identity.sealed import household_keys, open_identity
from exchange.identity.service import Identified, adopt_names, attach, identify
from exchange.organisations.models import Organisation
from exchange.organisations.service import RoutingTable
from exchange.organisations.terms import PROVIDER_KINDS
from exchange.retention import shred
from exchange.rights.models import RecipientNotice
from exchange.rights.report import RECORDING_ACTIONS, log_pseudonyms
from exchange.signals.models import Signal
from exchange.vault import envelope
from exchange.vault.keyring import Keyring
from exchange.webhooks.models import WebhookDelivery, WebhookSubscription
from policies.engine import Register

ERASED_EVENT = "signal.erased"
WEBHOOK_EVENTS = {
    "erasure": ERASED_EVENT,
    "restriction": "signal.restricted",
    "rectification": "signal.rectified",
    "restriction_lifted": "signal.restriction_lifted",
}


@dataclass(frozen=True)
class RightsContext:
    keyring: Keyring
    register: Register
    audit: AuditTrail
    today: dt.date
    now: dt.datetime


class ErasureRefused(Conflict):
    """Erasure is refused on a legal ground the register names; the ground is in the answer."""

    title = "Erasure is refused on a legal ground"
    slug = "erasure-refused"

    def __init__(self, purpose: str, ground: dict[str, str]) -> None:
        super().__init__(ground.get("en", "a legal obligation overrides erasure"))
        self.purpose = purpose
        self.ground = ground

    def as_problem(self, instance: str | None = None) -> dict[str, Any]:
        problem = super().as_problem(instance)
        problem["purpose"] = self.purpose
        problem["legal_ground"] = self.ground
        return problem


@dataclass(frozen=True)
class Held:
    """What the broker holds about one person, counted: shown to the privacy officer before
    an erasure is carried out, and the way to tell "nothing found" from "done"."""

    pseudonym: str
    signals: int
    cases: int
    open_cases: int
    consents: int
    objections: int
    restricted: bool
    searched: tuple[str, ...] = ()  # the identifiers the request gave: bsn, name
    ambiguous: bool = False  # the name given came with more than one BSN

    @property
    def anything(self) -> bool:
        return bool(
            self.signals or self.cases or self.consents or self.objections or self.restricted
        )


def held_about(session: Session, context: RightsContext, person: Person) -> Held:
    """Count what is held about the person, under any identifier linked to the one given
    and any pseudonym key; nothing is opened or changed."""
    found = identify(session, context.keyring, person)
    subject_ids = sorted(found.subject_ids)
    case_ids = set(
        session.scalars(select(Signal.case_id).where(Signal.subject_id.in_(subject_ids)))
    )
    signals = session.scalar(
        select(func.count()).select_from(Signal).where(Signal.subject_id.in_(subject_ids))
    )
    open_cases = session.scalar(
        select(func.count())
        .select_from(Case)
        .where(Case.id.in_(case_ids), Case.status != CaseStatus.CLOSED.value)
    )

    def count(model: type[Consent] | type[Objection]) -> int:
        found = session.scalar(
            select(func.count()).select_from(model).where(model.subject_id.in_(subject_ids))
        )
        return int(found or 0)

    restricted = session.scalar(
        select(Restriction.id)
        .where(Restriction.subject_id.in_(subject_ids), Restriction.lifted_at.is_(None))
        .limit(1)
    )
    return Held(
        pseudonym=found.primary,
        signals=int(signals or 0),
        cases=len(case_ids),
        open_cases=int(open_cases or 0),
        consents=count(Consent),
        objections=count(Objection),
        restricted=restricted is not None,
        searched=found.searched,
        ambiguous=found.ambiguous,
    )


def erase(
    session: Session, context: RightsContext, principal: Principal, person: Person, reason: str
) -> dict[str, Any]:
    """Erase everything held about the person, under any identifier linked to the one given,
    unless a legal duty overrides erasure."""
    found = identify(session, context.keyring, person)
    # Read before anything goes: the older pseudonyms of linked identifiers are in the signals.
    stages = log_pseudonyms(session, context.keyring, found)
    subject_ids = set(found.subject_ids)
    signals = session.execute(
        select(Signal.id, Signal.household_id, Signal.case_id, Signal.provider_id).where(
            Signal.subject_id.in_(subject_ids)
        )
    ).all()
    case_ids = {s.case_id for s in signals}
    refusal = _override(session, context.register, case_ids)
    if refusal is not None:
        # The refused request stays on record, and nothing else this transaction did.
        disclosures = Disclosures(
            session, context.register, context.audit, context.now, context.today
        )
        disclosures.refuse_request(
            Party.of(principal),
            "subject.erasure",
            disclosure.Person(found.primary),
            refusal.purpose,
            refusal,
        )

    notified = notify_recipients(
        session, context, found, stages, "erasure", {s.id for s in signals}
    )
    removed = shred.Removed()
    households: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for household_id, subject_id in session.execute(
        select(Signal.household_id, Signal.subject_id)
        .where(Signal.household_id.in_({s.household_id for s in signals}))
        .distinct()
    ):
        households[household_id].add(subject_id)
    only_theirs = [h for h, people in households.items() if people <= subject_ids]
    shared = [h for h, people in households.items() if not people <= subject_ids]
    removed.add(shred.remove_households(session, only_theirs))
    for household_id in sorted(shared):
        removed.add(
            shred.remove_person_from_household(session, context.keyring, household_id, subject_ids)
        )
    removed.add(shred.remove_subjects(session, subject_ids, keep_wishes=False))
    resources = {"reason_given": "yes" if reason.strip() else "no", **removed.as_resources()}
    _record(
        session,
        context,
        principal,
        "subject.erasure",
        found.primary,
        None,
        resources,
    )
    return {
        "status": "erased",
        "erased": vars(removed),
        "recipients_notified": notified,
        "detail": (
            "Everything held about the person was erased: the data keys of their households "
            "were destroyed (or, in a household shared with others, their data was removed "
            "and the rest sealed under a new key). The audit log keeps its entries, which "
            "hold pseudonyms only."
            if subject_ids
            else "Nothing was held about the person."
        ),
    }


def restrict(
    session: Session, context: RightsContext, principal: Principal, person: Person, reason: str
) -> dict[str, Any]:
    """Restrict the person's data: kept, disclosed to nobody, from this very decision on,
    under every identifier linked to the one given (a BSN and a name given together are
    linked first)."""
    subject_id, links = attach(session, context.keyring, person, context.now)
    if links:
        context.audit.append(session, link_records(links, "exchange-rights"), context.now)
    found = identify(session, context.keyring, person)
    stages = log_pseudonyms(session, context.keyring, found)
    existing = session.scalar(
        select(Restriction)
        .where(
            Restriction.subject_id.in_(sorted(found.subject_ids)), Restriction.lifted_at.is_(None)
        )
        .order_by(Restriction.made_on)
        .limit(1)
    )
    if existing is None:
        existing = Restriction(
            id=uuid.uuid4(),
            subject_id=subject_id,
            made_on=context.today,
            recorded_by_id=principal.organisation_id,
            recorded_at=context.now,
        )
        session.add(existing)
        session.flush()
        signal_ids = set(
            session.scalars(select(Signal.id).where(Signal.subject_id.in_(found.subject_ids)))
        )
        notified = notify_recipients(session, context, found, stages, "restriction", signal_ids)
    else:
        notified = 0
    _record(
        session,
        context,
        principal,
        "subject.restriction",
        found.primary,
        None,
        {"restriction": str(existing.id), "reason_given": "yes" if reason.strip() else "no"},
    )
    return {
        "status": "restricted",
        "restricted_since": existing.made_on.isoformat(),
        "recipients_notified": notified,
        "detail": (
            "The person's data stays stored, but every disclosure is refused while the "
            "restriction lasts."
        ),
    }


class NoRestriction(NotFound):
    """No restriction is in force for the person: there is nothing to lift."""

    title = "No restriction in force"
    slug = "no-restriction"


def lift_restriction(
    session: Session, context: RightsContext, principal: Principal, person: Person, reason: str
) -> dict[str, Any]:
    """Lift the person's restriction (AVG art. 18(3)): disclosures are decided by the
    register again from this very decision on, and every organisation that received the
    person's data is told, as it was told of the restriction (art. 19)."""
    found = identify(session, context.keyring, person)
    stages = log_pseudonyms(session, context.keyring, found)
    restrictions = list(
        session.scalars(
            select(Restriction)
            .where(
                Restriction.subject_id.in_(sorted(found.subject_ids)),
                Restriction.lifted_at.is_(None),
            )
            .order_by(Restriction.made_on)
        )
    )
    if not restrictions:
        raise NoRestriction("no restriction is in force for this person")
    for restriction in restrictions:
        restriction.lifted_at = context.now
    session.flush()
    signal_ids = set(
        session.scalars(select(Signal.id).where(Signal.subject_id.in_(found.subject_ids)))
    )
    notified = notify_recipients(session, context, found, stages, "restriction_lifted", signal_ids)
    _record(
        session,
        context,
        principal,
        "subject.restriction_lifted",
        found.primary,
        None,
        {
            "restriction": str(restrictions[0].id),
            "reason_given": "yes" if reason.strip() else "no",
        },
    )
    return {
        "status": "lifted",
        "restricted_since": restrictions[0].made_on.isoformat(),
        "lifted_on": context.today.isoformat(),
        "recipients_notified": notified,
        "detail": (
            "The restriction is lifted: the register decides every disclosure of the "
            "person's data again, and the organisations that received it have a notice."
        ),
    }


# Where each correctable field lives in a signal's sealed identity.
CORRECTABLE = {
    "initials": ("person", "initials"),
    "surname_prefix": ("person", "surname_prefix"),
    "surname": ("person", "surname"),
    "street": ("address", "street"),
    "city": ("address", "city"),
    "phone": ("contact", "phone"),
    "email": ("contact", "email"),
    "postcode": ("address", "postcode"),
    "house_number": ("address", "house_number"),
    "house_number_addition": ("address", "house_number_addition"),
}
# What a person is recognised by without a BSN: correcting one gives a new identifier.
NAME_KEYS = frozenset({"initials", "surname_prefix", "surname"})
# What a household is recognised by: correcting one moves the signals to another household.
ADDRESS_KEYS = frozenset({"postcode", "house_number", "house_number_addition"})


class AddressNotMovable(Conflict):
    """A corrected address that the broker cannot move the signals to by itself."""

    title = "The signals cannot be moved to the corrected address"
    slug = "address-not-movable"

    def __init__(self, detail: str, errors: list[FieldError], *, why: str) -> None:
        super().__init__(detail, errors)
        self.why = why  # elsewhere | shared: what a page says in its own language


def rectify(
    session: Session,
    context: RightsContext,
    principal: Principal,
    person: Person,
    corrections: dict[str, Any],
    reason: str,
) -> dict[str, Any]:
    """Correct the person's details in every signal held about them (AVG art. 16) and tell
    every recipient that received them (art. 19). The pseudonyms stay: they name the person
    as first signalled, and the audit log refers to them."""
    if not corrections:
        raise InvalidInput(
            "name at least one field to correct", [FieldError("corrections", "is empty")]
        )
    found = identify(session, context.keyring, person)
    stages = log_pseudonyms(session, context.keyring, found)
    signals = list(
        session.scalars(select(Signal).where(Signal.subject_id.in_(sorted(found.subject_ids))))
    )
    keys = household_keys(session, context.keyring, {s.household_id for s in signals})
    documents = {}
    for signal in signals:
        document = open_identity(keys[signal.household_id], signal.id, signal.sealed_identity)
        for name, value in corrections.items():
            part, field = CORRECTABLE[name]
            document.setdefault(part, {})[field] = value
        documents[signal.id] = document
    moved = (
        _rehouse(session, context, found, signals, documents, keys)
        if ADDRESS_KEYS & corrections.keys()
        else 0
    )
    if NAME_KEYS & corrections.keys():
        # The corrected name is how the next provider will write it: it becomes an
        # identifier of the person too (the old one stays: the log refers to it).
        links = adopt_names(
            session,
            context.keyring,
            [(s.subject_id, documents[s.id].get("person") or {}) for s in signals],
            context.now,
        )
        if links:
            context.audit.append(session, link_records(links, "exchange-rights"), context.now)
    for signal in signals:
        signal.sealed_identity = envelope.seal(
            keys[signal.household_id], orjson.dumps(documents[signal.id]), signal.id.bytes
        )
    session.flush()
    notified = notify_recipients(
        session, context, found, stages, "rectification", {s.id for s in signals}
    )
    _record(
        session,
        context,
        principal,
        "subject.rectification",
        found.primary,
        None,
        {
            "fields": ",".join(sorted(corrections)),
            "signals": str(len(signals)),
            "signals_moved": str(moved),
            "reason_given": "yes" if reason.strip() else "no",
        },
    )
    return {
        "status": "rectified" if signals else "nothing_held",
        "signals_corrected": len(signals),
        "signals_moved": moved,
        "fields": sorted(corrections),
        "recipients_notified": notified,
        "detail": (
            "The details were corrected in every signal held about the person; the "
            "organisations that received them have a notice."
            if signals
            else "Nothing is held about the person."
        ),
    }


def _rehouse(
    session: Session,
    context: RightsContext,
    person: Identified,
    signals: list[Signal],
    documents: dict[uuid.UUID, dict[str, Any]],
    keys: dict[uuid.UUID, bytes],
) -> int:
    """Move the person's signals to the household of their corrected address; the number
    moved. ``keys`` gains the data key of each household moved to.

    A household that holds only the person's signals is the person's address: it takes the
    corrected address's pseudonym, its cases with it, and nothing is sealed again. When a
    household at the corrected address is already known (the person's own other signals,
    say), the signals and their cases join it, sealed again under its data key, and the
    empty household goes. Refused, with nothing changed: an address that lies in another
    municipality than the one that has the case (the provider sends a new signal there),
    and a household shared with other people's signals (their address is not wrong).
    """
    routing = RoutingTable.load(session)
    moved = 0
    for household_id in sorted({s.household_id for s in signals}):
        theirs = [s for s in signals if s.household_id == household_id]
        household = session.get(Household, household_id, with_for_update=True)
        assert household is not None
        address = documents[theirs[0].id]["address"]
        pseudonym = household_of(
            context.keyring.pseudonym_keys,
            address["postcode"],
            address["house_number"],
            address.get("house_number_addition"),
        )
        if pseudonym == household.pseudonym:
            continue
        pc4 = int(address["postcode"][:4])
        if routing.municipality_for(pc4) != household.municipality_id:
            raise AddressNotMovable(
                "the corrected address lies outside the municipality that has the case; "
                "the provider sends a new signal for it",
                [FieldError("corrections.postcode", "lies in another municipality")],
                why="elsewhere",
            )
        shared = session.scalar(
            select(Signal.id)
            .where(
                Signal.household_id == household_id,
                Signal.subject_id.not_in(sorted(person.subject_ids)),
            )
            .limit(1)
        )
        if shared is not None:
            raise AddressNotMovable(
                "other people's signals share this household; their address is not wrong, "
                "so the provider sends a new signal with the corrected address",
                [FieldError("corrections.postcode", "the household is shared with others")],
                why="shared",
            )
        target = session.scalar(
            select(Household).where(Household.pseudonym == pseudonym).with_for_update()
        )
        if target is None:
            household.pseudonym = pseudonym
            household.pseudonym_key_id = context.keyring.pseudonym.active_id
            household.pc4 = pc4
        else:
            _join_household(session, context.keyring, household, target, keys)
            for signal in theirs:
                signal.household_id = target.id
        moved += len(theirs)
    session.flush()
    return moved


def _join_household(
    session: Session,
    keyring: Keyring,
    household: Household,
    target: Household,
    keys: dict[uuid.UUID, bytes],
) -> None:
    """The household's cases and their notes join ``target``, under its data key; the
    household, empty then, goes (its data key with it)."""
    old_key = keys[household.id]
    new_key = envelope.unwrap_data_key(
        keyring.kek.get(target.kek_id), target.wrapped_data_key, target.id.bytes
    )
    keys[target.id] = new_key
    case_ids = list(session.scalars(select(Case.id).where(Case.household_id == household.id)))
    shred.reseal_notes(session, case_ids, old_key, new_key)
    for case in session.scalars(select(Case).where(Case.id.in_(case_ids))):
        case.household_id = target.id
    for signal in session.scalars(select(Signal).where(Signal.household_id == household.id)):
        signal.household_id = target.id
    session.flush()
    session.delete(household)


def notify_recipients(
    session: Session,
    context: RightsContext,
    person: Identified,
    stages: Sequence[str],
    event: str,
    signal_ids: set[uuid.UUID],
) -> int:
    """Tell every organisation that received the person's data (AVG art. 19), per the log.

    Each gets a notice naming only the case and signal ids it already knows; a provider with
    a webhook also gets a ``signal.erased`` delivery for each of its signals. One audit entry
    per recipient. Returns the number of recipients told.
    """
    received: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for (data,) in session.execute(
        select(AuditEntry.entry).where(
            AuditEntry.subject_key.in_(subject_keys(stages)),
            AuditEntry.subject.in_(stages),
            AuditEntry.decision == "permit",
            AuditEntry.recipient_org_id.is_not(None),
        )
    ):
        entry = orjson.loads(data)
        if entry["action"] in RECORDING_ACTIONS:
            continue
        for name in ("case", "signal"):
            if entry["resources"].get(name):
                received[entry["recipient"]][name + "s"].add(entry["resources"][name])
        received[entry["recipient"]].setdefault("cases", set())
    # The providers that sent the signals hear of them too, on their feedback channel.
    for signal_id, provider_id in session.execute(
        select(Signal.id, Signal.provider_id).where(Signal.id.in_(signal_ids))
    ):
        received[str(provider_id)]["signals"].add(str(signal_id))
    if not received:
        return 0
    organisations = {
        str(org.id): org
        for org in session.scalars(
            select(Organisation).where(Organisation.id.in_([uuid.UUID(r) for r in received]))
        )
    }
    subscribed = set(
        session.scalars(
            select(WebhookSubscription.organisation_id).where(
                WebhookSubscription.organisation_id.in_([o.id for o in organisations.values()])
            )
        )
    )
    occurred_at = context.now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    records = []
    for recipient, what in sorted(received.items()):
        organisation = organisations.get(recipient)
        if organisation is None:
            continue
        resources = {name: sorted(ids) for name, ids in what.items() if ids}
        notice = RecipientNotice(
            id=uuid.uuid4(),
            organisation_id=organisation.id,
            event=event,
            resources=resources,
            created_at=context.now,
        )
        session.add(notice)
        if organisation.id in subscribed and organisation.kind in {k.value for k in PROVIDER_KINDS}:
            for erased_signal in resources.get("signals", []):
                delivery_id = uuid.uuid4()
                payload = {
                    "type": WEBHOOK_EVENTS.get(event, f"signal.{event}"),
                    "id": str(delivery_id),
                    "signal_id": erased_signal,
                    "occurred_at": occurred_at,
                }
                session.add(
                    WebhookDelivery(
                        id=delivery_id,
                        organisation_id=organisation.id,
                        event_type=payload["type"],
                        payload=orjson.dumps(payload).decode(),
                        state="pending",
                        attempts=0,
                        created_at=context.now,
                        next_attempt_at=context.now,
                    )
                )
        records.append(
            AuditRecord(
                action=f"subject.{event}_notice",
                decision="recorded",
                actor_org=None,
                actor_client="exchange-rights",
                purpose=OVERSIGHT_PURPOSE,
                recipient_org=organisation.id,
                subject=person.primary,
                resources={"notice": str(notice.id)},
            )
        )
    session.flush()
    context.audit.append(session, records, context.now)
    return len(records)


def notices_for(session: Session, organisation_id: uuid.UUID, limit: int = 100) -> list[Any]:
    """The newest notices for one recipient organisation."""
    return list(
        session.scalars(
            select(RecipientNotice)
            .where(RecipientNotice.organisation_id == organisation_id)
            .order_by(RecipientNotice.created_at.desc(), RecipientNotice.id)
            .limit(limit)
        )
    )


def _override(
    session: Session, register: Register, case_ids: set[uuid.UUID]
) -> ErasureRefused | None:
    """The first purpose whose legal duty overrides erasure of these cases now, if any."""
    if not case_ids:
        return None
    open_cases = session.scalar(
        select(Case.id)
        .where(Case.id.in_(case_ids), Case.status != CaseStatus.CLOSED.value)
        .limit(1)
    )
    for purpose in register.purposes:
        if purpose.erasure_refused_while == "case_open" and open_cases is not None:
            return ErasureRefused(purpose.id, dict(purpose.erasure_ground))
    return None


def _record(
    session: Session,
    context: RightsContext,
    principal: Principal,
    action: str,
    pseudonym: str,
    purpose: str | None,
    resources: dict[str, str] | None = None,
) -> None:
    """Put a request carried out on record (``recorded``: no disclosure was decided)."""
    record = AuditRecord(
        action=action,
        decision="recorded",
        actor_org=principal.organisation_id,
        actor_client=principal.client_id,
        purpose=purpose or OVERSIGHT_PURPOSE,
        policy_version=context.register.version_hash,
        subject=pseudonym,
        resources=resources or {},
    )
    context.audit.append(session, [record], context.now)
