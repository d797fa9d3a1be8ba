"""Signal intake: check, deduplicate, route, pseudonymise, seal and link into cases.

One function handles a single signal and a batch of ten thousand alike: the batch is
checked and pseudonymised in memory first, then written with a handful of bulk statements,
never one round trip per signal. Each item gets its own outcome; a bad item never affects
the others.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from exchange.auditlog.links import link_records
from exchange.auditlog.service import AuditSink
from exchange.auth.tokens import Principal
from exchange.cases.feedback import FEEDBACK_PURPOSE, provider_feedback
from exchange.cases.linking import Arrival, link_cases
from exchange.cases.models import Case
from exchange.db import CHUNK, insert_ignoring_conflicts, insert_rows, new_id, one_of
from exchange.disclosures import Ask, Disclosure, Party, Person, Shown
from exchange.disclosures.service import Disclosures
from exchange.errors import (
    Conflict,
    DisclosureDenied,
    ExchangeError,
    FieldError,
    Forbidden,
    NoCoveringMunicipality,
    NotFound,
    SignalNotEligible,
    SubjectRefused,
)
from exchange.identity import pseudonyms
from exchange.identity.models import Household, Subject
from exchange.identity.pseudonyms import Identifiers, identifiers
from exchange.identity.service import ensure_subjects, joinable, link
from exchange.organisations.service import RoutingCache, RoutingTable
from exchange.organisations.terms import OrganisationKind
from exchange.signals.models import Signal
from exchange.signals.schemas import SignalIn
from exchange.vault import envelope
from exchange.vault.keyring import Keyring
from policies.casework import CaseworkPolicy, load_casework_policy
from policies.engine import Decision, Register
from policies.intake import IntakePolicy, SignalFacts

log = structlog.get_logger("exchange.signals")


@dataclass(frozen=True, slots=True)
class StoredSignal:
    """What an intake answer says about a stored signal (no ORM object per batch item)."""

    id: uuid.UUID
    external_ref: str
    kind: str
    status: str
    case_id: uuid.UUID
    received_at: dt.datetime
    content_digest: str


@dataclass
class Outcome:
    """The result for one item of an intake request."""

    index: int
    external_ref: str | None
    outcome: str  # created | duplicate | rejected
    status: int
    signal: StoredSignal | None = None
    problem: ExchangeError | None = None


@dataclass(frozen=True)
class IntakeContext:
    keyring: Keyring
    policy: IntakePolicy
    register: Register
    audit: AuditSink
    today: dt.date
    now: dt.datetime
    actor_client: str | None = None
    casework: CaseworkPolicy = field(default_factory=load_casework_policy)
    # The process's routing table (the broker's); without one it is read for each call.
    routing: RoutingCache | None = None


# Passing a signal on to the municipality is a disclosure like any other: the register
# decides it, and the signal keeps the rule and version that allowed it.
ROUTING_PURPOSE = "early-signal"
ROUTING_ACTION = "receive"
DERIVED_FIELDS = frozenset(
    {"amount_band", "age_band", "days_in_arrears", "subject_pseudonym", "household_pseudonym"}
)

# The intake's statements, built once (see exchange.db on hot paths).
_STORED_SIGNALS = select(
    Signal.id,
    Signal.external_ref,
    Signal.kind,
    Signal.status,
    Signal.case_id,
    Signal.received_at,
    Signal.content_digest,
).where(
    Signal.provider_id == bindparam("provider_id"),
    one_of(Signal.external_ref, "refs"),
)
_HOUSEHOLD_KEYS = (
    select(Household.id, Household.pseudonym, Household.kek_id, Household.wrapped_data_key)
    .where(one_of(Household.pseudonym, "pseudonyms"))
    .order_by(Household.pseudonym)
    .with_for_update()  # PostgreSQL: one replica links a household at a time
)


@dataclass
class _Accepted:
    """A signal that passed every check, with what the writes need."""

    index: int
    item: SignalIn
    digest: str
    municipality_id: uuid.UUID
    identifiers: Identifiers
    household_pseudonym: str
    document: dict[str, Any] = field(default_factory=dict)
    # The name's pseudonym when the signal brings a BSN and a name that join one person.
    linked: tuple[str, ...] = ()
    decision: Decision | None = None
    signal_id: uuid.UUID = field(default_factory=new_id)

    @property
    def subject_pseudonym(self) -> str:
        return self.identifiers.primary


def receive_signals(
    session: Session,
    context: IntakeContext,
    provider_id: uuid.UUID,
    items: Sequence[tuple[int, SignalIn]],
) -> list[Outcome]:
    """Take validated signals from one provider; return one outcome per item."""
    outcomes: dict[int, Outcome] = {}
    # One JSON-ready copy of each signal serves the fingerprint, the sealed identity and the
    # audit's list of fields: dumping a model is a good part of a batch item's cost.
    documents = {index: item.model_dump(mode="json") for index, item in items}
    digests = {index: _digest(context.keyring, documents[index]) for index, _ in items}

    fresh = _resolve_duplicates(session, provider_id, items, digests, outcomes)
    routing = None
    if fresh:
        routing = context.routing.table(session) if context.routing else RoutingTable.load(session)
    accepted: list[_Accepted] = []
    for index, item in fresh:
        problem = _check(context, item)
        municipality = None
        if problem is None:
            assert routing is not None
            municipality = routing.municipality_for(item.address.pc4)
            if municipality is None:
                problem = NoCoveringMunicipality(
                    f"no municipality covers postcode area {item.address.pc4}",
                    [FieldError("address.postcode", "no municipality covers this postcode")],
                )
        if problem is not None or municipality is None:
            assert problem is not None
            outcomes[index] = Outcome(
                index, item.external_ref, "rejected", problem.status, problem=problem
            )
            log.info("signal.rejected", reason=problem.slug, provider_id=str(provider_id))
            continue
        accepted.append(
            _Accepted(
                index=index,
                item=item,
                digest=digests[index],
                document=documents[index],
                municipality_id=municipality,
                identifiers=identifiers(context.keyring.pseudonym_keys, item.person),
                household_pseudonym=_household_pseudonym(context.keyring, item),
            )
        )

    # The decisions, permitted and denied, go into the audit log in this same transaction:
    # if the append fails, no signal reaches the municipality.
    accepted = _route(session, context, accepted, outcomes, provider_id)
    if accepted:
        for index, signal in _store(session, context, provider_id, accepted):
            outcomes[index] = Outcome(index, signal.external_ref, "created", 201, signal=signal)
    _point_repeats_at_their_first(outcomes, items, digests)
    return [outcomes[index] for index, _ in items]


def _route(
    session: Session,
    context: IntakeContext,
    accepted: list[_Accepted],
    outcomes: dict[int, Outcome],
    provider_id: uuid.UUID,
) -> list[_Accepted]:
    """Pass each signal on to the municipality that covers it, as the register decides.

    Returns the permitted ones, each with its decision; a denied one gets its rejection
    outcome. The audit records say which of the signal's fields the municipality receives.
    """
    provider = Party(provider_id, client=context.actor_client)
    # What the person recorded under the name counts for a signal that also has the BSN,
    # when the two will be linked on storing (``exchange.identity.service``).
    pairs = {a.identifiers.pair for a in accepted if a.identifiers.pair}
    will_link = joinable(session, pairs) if pairs else set()
    for a in accepted:
        pair = a.identifiers.pair
        if pair in will_link:
            a.linked = (pair[1],)
    decided = Disclosures(
        session, context.register, context.audit, context.now, context.today
    ).disclose(
        Disclosure(provider, ROUTING_PURPOSE, ROUTING_ACTION, "signal.route"),
        [
            Ask(
                Person(a.subject_pseudonym, linked=a.linked),
                Party(a.municipality_id, OrganisationKind.MUNICIPALITY.value),
                a,
            )
            for a in accepted
        ],
        show=_routed,
    )
    permitted = []
    for one in decided:
        signal: _Accepted = one.ask.item  # type: ignore[assignment]
        signal.decision = one.decision
        if one.permitted:
            permitted.append(signal)
            continue
        problem = DisclosureDenied(
            f"the register does not let this signal reach the municipality: {one.decision.reason}",
            [FieldError("person", one.decision.reason)],
        )
        outcomes[signal.index] = Outcome(
            signal.index, signal.item.external_ref, "rejected", problem.status, problem=problem
        )
        log.info(
            "signal.rejected",
            reason=one.decision.outcome,
            rule_id=one.decision.rule_id,
            policy_version=one.decision.policy_version,
            provider_id=str(provider_id),
        )
    return permitted


def _routed(ask: Ask[_Accepted], decision: Decision) -> Shown[None]:
    # What the municipality receives of this signal: the rule's fields it actually carries.
    signal = ask.item
    return Shown(
        None,
        fields=decision.fields & _present_fields(signal.document),
        resources={"signal": str(signal.signal_id)},
    )


def _present_fields(document: dict[str, Any]) -> frozenset[str]:
    """The dotted names of the fields this signal actually carries, plus the derived ones."""
    present = set(DERIVED_FIELDS)
    for key, value in document.items():
        if isinstance(value, dict):
            present.update(f"{key}.{inner}" for inner, v in value.items() if v is not None)
        elif value is not None:
            present.add(key)
    return frozenset(present)


def read_signal(
    disclosures: Disclosures, principal: Principal, signal_id: uuid.UUID
) -> tuple[StoredSignal, dict[str, Any] | None]:
    """A provider's own signal, and the feedback on it that its rule permits (or None).

    Telling a provider the status of its signal is feedback: a disclosure like any other,
    refused (403) when the register permits none. Another organisation's signal does not
    exist for it (404).
    """
    session = disclosures.session
    row = session.execute(_OWN_SIGNAL, {"id": signal_id, "provider": principal.organisation_id})
    found = row.one_or_none()
    if found is None:
        raise NotFound(f"signal {signal_id} not found")
    signal = StoredSignal(
        found.id,
        found.external_ref,
        found.kind,
        found.status,
        found.case_id,
        found.received_at,
        found.content_digest,
    )
    provider = Party.of(principal)
    [decided] = disclosures.disclose(
        Disclosure(provider, FEEDBACK_PURPOSE, "read", "signal.read"),
        [Ask(Person(found.pseudonym, found.subject_id), provider, None, {"signal": str(found.id)})],
        refuse=lambda reasons: Forbidden(
            f"the register does not permit this feedback: {'; '.join(reasons)}"
        ),
    )
    case = session.get(Case, found.case_id)
    return signal, provider_feedback(load_casework_policy(), decided.decision, case)


_OWN_SIGNAL = (
    select(
        Signal.id,
        Signal.external_ref,
        Signal.kind,
        Signal.status,
        Signal.case_id,
        Signal.received_at,
        Signal.content_digest,
        Signal.subject_id,
        Subject.pseudonym,
    )
    .outerjoin(Subject, Subject.id == Signal.subject_id)
    .where(Signal.id == bindparam("id"), Signal.provider_id == bindparam("provider"))
)


def _check(context: IntakeContext, item: SignalIn) -> ExchangeError | None:
    decision = context.policy.decide(
        SignalFacts(
            kind=item.kind.value,
            arrears_since=item.arrears_since,
            preconditions=item.preconditions.model_dump(),
        ),
        context.today,
    )
    if decision.eligible:
        return None
    errors = [FieldError(f.field, f.reason) for f in decision.failures]
    if decision.refused:
        return SubjectRefused(
            "the person refused to have the details passed on; nothing was stored", errors
        )
    return SignalNotEligible(
        f"the signal does not meet rule {decision.rule_id}; nothing was stored", errors
    )


def _resolve_duplicates(
    session: Session,
    provider_id: uuid.UUID,
    items: Sequence[tuple[int, SignalIn]],
    digests: dict[int, str],
    outcomes: dict[int, Outcome],
) -> list[tuple[int, SignalIn]]:
    """Answer the items already stored (same content: 200; other content: 409)."""
    refs = list({item.external_ref for _, item in items})
    stored: dict[str, StoredSignal] = {}
    connection = session.connection()
    for start in range(0, len(refs), CHUNK):
        chunk = refs[start : start + CHUNK]
        for row in connection.execute(_STORED_SIGNALS, {"provider_id": provider_id, "refs": chunk}):
            stored[row.external_ref] = StoredSignal(*row)
    fresh: list[tuple[int, SignalIn]] = []
    first_in_request: set[str] = set()
    for index, item in items:
        existing = stored.get(item.external_ref)
        if existing is not None:
            if hmac.compare_digest(existing.content_digest, digests[index]):
                outcomes[index] = Outcome(
                    index, item.external_ref, "duplicate", 200, signal=existing
                )
            else:
                outcomes[index] = _conflict(index, item.external_ref)
        elif item.external_ref in first_in_request:
            continue  # a repeat within this request: answered once its first is stored
        else:
            first_in_request.add(item.external_ref)
            fresh.append((index, item))
    return fresh


def _point_repeats_at_their_first(
    outcomes: dict[int, Outcome], items: Sequence[tuple[int, SignalIn]], digests: dict[int, str]
) -> None:
    first: dict[str, int] = {}
    for index, item in items:
        if index in outcomes and item.external_ref not in first:
            first[item.external_ref] = index
    for index, item in items:
        if index in outcomes:
            continue
        original = outcomes[first[item.external_ref]]
        if original.signal is None:
            # The first was rejected; this repeat has the same fate when its content matches.
            if digests[index] == digests[original.index]:
                outcomes[index] = Outcome(
                    index,
                    item.external_ref,
                    original.outcome,
                    original.status,
                    problem=original.problem,
                )
            else:
                outcomes[index] = _conflict(index, item.external_ref)
        elif digests[index] == original.signal.content_digest:
            outcomes[index] = Outcome(
                index, item.external_ref, "duplicate", 200, signal=original.signal
            )
        else:
            outcomes[index] = _conflict(index, item.external_ref)


def _conflict(index: int, external_ref: str) -> Outcome:
    problem = Conflict(
        f"external_ref {external_ref} was already used for a signal with other content",
        [FieldError("external_ref", "already used for a different signal")],
    )
    return Outcome(index, external_ref, "rejected", 409, problem=problem)


def _store(
    session: Session, context: IntakeContext, provider_id: uuid.UUID, accepted: list[_Accepted]
) -> list[tuple[int, StoredSignal]]:
    keyring, now = context.keyring, context.now
    kinds = {p: kind for a in accepted for p, kind in a.identifiers.current.items()}
    pairs = {a.identifiers.pair for a in accepted if a.identifiers.pair}
    subject_ids = ensure_subjects(session, keyring, kinds, now, together=pairs)
    linked = link_records(link(session, pairs), context.actor_client, ROUTING_PURPOSE)
    if linked:
        context.audit.append(session, linked, now)
    households = _households(session, keyring, accepted, now)
    data_keys = {
        h.pseudonym: envelope.unwrap_data_key(
            keyring.kek.get(h.kek_id), h.wrapped_data_key, h.id.bytes
        )
        for h in households.values()
    }
    case_ids = link_cases(
        session,
        [
            Arrival(
                a.index,
                households[a.household_pseudonym].id,
                a.municipality_id,
                a.item.kind.value,
                a.item.crisis,
            )
            for a in accepted
        ],
        provider_id,
        policy=context.policy,
        casework=context.casework,
        register=context.register,
        now=context.now,
        today=context.today,
    )

    rows = []
    signals = []
    for a in accepted:
        household = households[a.household_pseudonym]
        item = a.item
        sealed = envelope.seal(
            data_keys[a.household_pseudonym], _identity_document(a.document), a.signal_id.bytes
        )
        birth_date = item.person.birth_date
        row = {
            "id": a.signal_id,
            "provider_id": provider_id,
            "external_ref": item.external_ref,
            "content_digest": a.digest,
            "kind": item.kind.value,
            "status": "received",
            "received_at": now,
            "days_in_arrears": (context.today - item.arrears_since).days,
            "amount_band": context.policy.amount_band(item.amount_cents),
            "age_band": (
                context.policy.age_band(birth_date, context.today) if birth_date else "unknown"
            ),
            "crisis": item.crisis,
            "warm_handover": item.warm_handover,
            "intake_rule_id": context.policy.rule_for(item.kind.value).id,
            "disclosure_rule_id": a.decision.rule_id if a.decision else "",
            "policy_version": context.register.version_hash,
            "subject_id": subject_ids[a.subject_pseudonym],
            "household_id": household.id,
            "case_id": case_ids[a.index],
            "municipality_id": a.municipality_id,
            "sealed_identity": sealed,
        }
        rows.append(row)
        signals.append(
            (
                a.index,
                StoredSignal(
                    a.signal_id,
                    item.external_ref,
                    item.kind.value,
                    "received",
                    case_ids[a.index],
                    now,
                    a.digest,
                ),
            )
        )
    insert_rows(session, Signal, rows)
    for a in accepted:
        log.info(
            "signal.received",
            signal_id=str(a.signal_id),
            case_id=str(case_ids[a.index]),
            household=a.household_pseudonym[:16],
            provider_id=str(provider_id),
        )
    return signals


def _households(
    session: Session, keyring: Keyring, accepted: list[_Accepted], now: dt.datetime
) -> dict[str, _HouseholdKey]:
    """Find or create each household, locked until commit so that linking is serialised."""
    first_seen: dict[str, _Accepted] = {}
    for a in accepted:
        first_seen.setdefault(a.household_pseudonym, a)
    rows = []
    for pseudonym, a in sorted(first_seen.items()):
        household_id = new_id()
        rows.append(
            {
                "id": household_id,
                "pseudonym": pseudonym,
                "pseudonym_key_id": keyring.pseudonym.active_id,
                "pc4": a.item.address.pc4,
                "municipality_id": a.municipality_id,
                "wrapped_data_key": envelope.wrap_data_key(
                    keyring.kek.active, envelope.new_data_key(), household_id.bytes
                ),
                "kek_id": keyring.kek.active_id,
                "created_at": now,
            }
        )
    insert_ignoring_conflicts(session, Household, rows, ["pseudonym"])
    wanted = sorted(first_seen)
    found: dict[str, _HouseholdKey] = {}
    connection = session.connection()
    for start in range(0, len(wanted), CHUNK):
        keys = connection.execute(_HOUSEHOLD_KEYS, {"pseudonyms": wanted[start : start + CHUNK]})
        found.update(
            (pseudonym, _HouseholdKey(household_id, pseudonym, kek_id, bytes(wrapped)))
            for household_id, pseudonym, kek_id, wrapped in keys
        )
    return found


@dataclass(frozen=True, slots=True)
class _HouseholdKey:
    """What intake needs of a household: its id and its wrapped data key (no ORM entity)."""

    id: uuid.UUID
    pseudonym: str
    kek_id: str
    wrapped_data_key: bytes


def _digest(keyring: Keyring, document: dict[str, Any]) -> str:
    """A keyed fingerprint of the whole signal, to tell a resend from a changed signal.

    Keyed, because a plain hash of a signal could be matched against guessed BSNs.
    """
    canonical = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return hmac.new(keyring.digest.active, canonical, hashlib.sha256).hexdigest()


def _household_pseudonym(keyring: Keyring, item: SignalIn) -> str:
    address = item.address
    return pseudonyms.household_of(
        keyring.pseudonym_keys,
        address.postcode,
        address.house_number,
        address.house_number_addition,
    )


SEALED_PARTS = ("person", "address", "contact", "amount_cents", "arrears_since", "preconditions")


def _identity_document(document: dict[str, Any]) -> bytes:
    """What is kept only as ciphertext: who, where, how to reach them, how much, since when."""
    return orjson.dumps({part: document[part] for part in SEALED_PARTS})
