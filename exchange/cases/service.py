"""Casework: the work queue, reading a case, assignment, contact attempts, results, deadlines.

Every read of a case is a disclosure (``exchange.disclosures``): decided per person in the
household (a consent or an objection is personal), each decision, permitted or denied, in
the audit log in the same transaction. A refused read leaves its deny entries on record
even though the request fails and nothing else it did is kept.

Who sees which case: the municipality its own cases; a neighbourhood team or debt service
only the cases assigned to it while the assignment lasts. Any other case is a 404, so an
organisation cannot learn that a case it may not see exists.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import itertools
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from exchange.auditlog.service import AuditRecord, AuditTrail
from exchange.auth.tokens import Principal
from exchange.cases.expiry import refresh_cases
from exchange.cases.feedback import provider_feedback
from exchange.cases.models import Assignment, Case, CaseEvent, ContactAttempt, Escalation
from exchange.cases.schemas import AssignmentIn, ContactAttemptIn, ResultIn
from exchange.cases.states import Move, next_status, schedule
from exchange.cases.terms import (
    SENT_CHANNELS,
    Act,
    AssignmentRole,
    CaseStatus,
    Ended,
    HandOver,
)
from exchange.clock import local_date
from exchange.db import CHUNK, insert_ignoring_conflicts
from exchange.disclosures import Ask, Disclosure, Disclosures, Party, Person
from exchange.errors import (
    Conflict,
    DisclosureDenied,
    ExchangeError,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
)
from exchange.identity.models import Household, Subject
from exchange.identity.pseudonyms import for_recipient
from exchange.identity.sealed import (
    flatten,
    household_keys,
    open_identity,
    open_text,
    project,
    seal_text,
)
from exchange.organisations.models import Organisation
from exchange.organisations.terms import OrganisationKind
from exchange.signals.models import Signal
from exchange.vault.keyring import Keyring
from policies.casework import CaseworkPolicy, FeedbackCode
from policies.engine import Decision, DecisionRequest, Register
from policies.intake import IntakePolicy

# The purpose under which each kind of organisation works on a case.
PURPOSE_OF_KIND: dict[OrganisationKind, str] = {
    OrganisationKind.MUNICIPALITY: "early-signal",
    OrganisationKind.NEIGHBOURHOOD_TEAM: "outreach",
    OrganisationKind.DEBT_SERVICE: "debt-service-referral",
}
ASSIGNABLE_KINDS = (OrganisationKind.NEIGHBOURHOOD_TEAM, OrganisationKind.DEBT_SERVICE)
OPEN_STATUSES = (CaseStatus.OPEN.value, CaseStatus.ASSIGNED.value, CaseStatus.IN_CONTACT.value)
MAX_PAGE = 200

# A signal's readable columns under the register's field names.
_SIGNAL_COLUMNS = ("kind", "crisis", "warm_handover", "amount_band", "age_band", "days_in_arrears")


@dataclass(frozen=True)
class CaseContext:
    """What a case operation needs besides the session: keys, policies, log, the date."""

    keyring: Keyring
    register: Register
    intake: IntakePolicy
    casework: CaseworkPolicy
    audit: AuditTrail
    today: dt.date
    now: dt.datetime
    # Called with (session, case) after a case's feedback code changed, in the same
    # transaction: the provider webhooks hang here.
    on_feedback_change: Callable[[Session, Case], None] | None = None

    def disclosures(self, session: Session) -> Disclosures:
        return Disclosures(session, self.register, self.audit, self.now, self.today)


# Visibility -------------------------------------------------------------------------------


def _visible(principal: Principal) -> ColumnElement[bool]:
    """The cases this organisation may know of at all."""
    kind = principal.organisation_kind
    if kind is OrganisationKind.MUNICIPALITY:
        return Case.municipality_id == principal.organisation_id
    if kind in ASSIGNABLE_KINDS:
        return exists().where(
            Assignment.case_id == Case.id,
            Assignment.organisation_id == principal.organisation_id,
            Assignment.ended_at.is_(None),
        )
    return Case.id.is_(None)  # nobody else sees a case: always false


def number_of(session: Session, principal: Principal, case_id: uuid.UUID) -> str | None:
    """The number of a case the caller may know of (to name it in an answer), else None."""
    return session.scalar(select(Case.number).where(Case.id == case_id, _visible(principal)))


def visible_case(
    session: Session, principal: Principal, case_id: uuid.UUID, *, for_update: bool = False
) -> Case:
    """The case, if the caller may know of it; otherwise 404, the same as a missing case."""
    query = select(Case).where(Case.id == case_id, _visible(principal))
    if for_update:
        # Serialises two workers recording on one case (PostgreSQL; SQLite has one writer).
        query = query.with_for_update()
    case = session.scalars(query).one_or_none()
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


# Decisions and the audit trail -----------------------------------------------------------


def _people(session: Session, case_id: uuid.UUID) -> list[Person]:
    """The people whose signals make up the case, in the order their entries are logged."""
    rows = session.execute(
        select(Subject.id, Subject.pseudonym)
        .join(Signal, Signal.subject_id == Subject.id)
        .where(Signal.case_id == case_id)
        .distinct()
        .order_by(Subject.pseudonym)
    )
    return [Person(pseudonym, subject_id) for subject_id, pseudonym in rows]


def _people_of_cases(
    session: Session, signals: dict[uuid.UUID, list[_SignalRow]]
) -> dict[uuid.UUID, list[Person]]:
    """:func:`_people` for many cases at once, from their signals already read: one query
    for the pseudonyms instead of one per case."""
    subject_ids = sorted({s.subject_id for rows in signals.values() for s in rows})
    pseudonyms: dict[uuid.UUID, str] = {}
    for start in range(0, len(subject_ids), CHUNK):
        for row in session.execute(
            select(Subject.id, Subject.pseudonym).where(
                Subject.id.in_(subject_ids[start : start + CHUNK])
            )
        ):
            pseudonyms[row.id] = row.pseudonym
    people: dict[uuid.UUID, list[Person]] = defaultdict(list)
    for case_id, rows in signals.items():
        ids = {s.subject_id for s in rows}
        people[case_id] = [
            Person(pseudonyms[i], i) for i in sorted(ids, key=lambda i: pseudonyms[i])
        ]
    return people


def _asks(
    people: Sequence[Person], recipient: Party, resources: dict[str, str]
) -> list[Ask[Person]]:
    return [Ask(person, recipient, person, resources) for person in people]


def _refusal(what: str) -> Callable[[list[str]], ExchangeError]:
    return lambda reasons: Forbidden(f"the register does not permit {what}: {'; '.join(reasons)}")


def _purpose(principal: Principal) -> str:
    purpose = PURPOSE_OF_KIND.get(principal.organisation_kind)
    if purpose is None:  # the route guards keep other kinds out; this is the last line
        raise NotFound("no such case")
    return purpose


# The work queue ---------------------------------------------------------------------------


class Sort(enum.StrEnum):
    """The columns the queue sorts on; ``urgency`` is crisis first, then the deadline."""

    URGENCY = "urgency"
    NUMBER = "number"
    STATUS = "status"
    CLASSIFICATION = "classification"
    KIND = "kind"
    AMOUNT = "amount"
    AGE = "age"
    PC4 = "pc4"
    TEAM = "team"
    DEADLINE = "deadline"
    OPENED = "opened"


# The register field each sort reveals (an order tells what a column holds as much as a
# filter does), as for the filters in ``_FILTER_PARAMS``.
SORT_FIELDS: dict[Sort, str | None] = {
    Sort.URGENCY: None,
    Sort.NUMBER: None,
    Sort.STATUS: "case.status",
    Sort.CLASSIFICATION: "case.composition",
    Sort.KIND: "kind",
    Sort.AMOUNT: "amount_band",
    Sort.AGE: "age_band",
    Sort.PC4: "pc4",
    Sort.TEAM: "case.assignments",
    Sort.DEADLINE: "case.deadline",
    Sort.OPENED: None,
}


@dataclass(frozen=True)
class QueueFilter:
    statuses: tuple[str, ...] = OPEN_STATUSES
    kinds: tuple[str, ...] = ()
    amount_min: int | None = None  # euros
    amount_max: int | None = None
    crisis: bool | None = None
    classifications: tuple[str, ...] = ()
    pc4: tuple[int, ...] = ()
    age_bands: tuple[str, ...] = ()
    overdue: bool | None = None
    # A team or debt service the case is assigned to now (the municipality's filter).
    teams: tuple[uuid.UUID, ...] = ()
    # The kind of organisation that signalled (housing_corporation, energy_supplier, ...).
    creditor_kinds: tuple[str, ...] = ()
    number: str | None = None  # one case, by its number
    sort: Sort = Sort.URGENCY
    descending: bool = False
    limit: int = 50
    offset: int = 0
    # Which register field each filter reveals: a filter on a field the caller's rule does
    # not list would disclose it by elimination.
    used_fields: frozenset[str] = field(default_factory=frozenset)


def paged(wanted: QueueFilter, offset: int, limit: int = MAX_PAGE) -> QueueFilter:
    """The same list, another page of it (an export reads every page)."""
    kept = {name.name: getattr(wanted, name.name) for name in dataclasses.fields(wanted)}
    return QueueFilter(**(kept | {"offset": offset, "limit": limit}))


def queue(
    session: Session,
    context: CaseContext,
    principal: Principal,
    wanted: QueueFilter,
    *,
    action: str = "case.list",
) -> dict[str, Any]:
    """The caller's cases, most urgent first (crisis, then the nearest deadline) or by the
    column asked for; a page of them and how many there are in all."""
    purpose = _purpose(principal)
    rule_fields = _rule_fields(context, principal, purpose, "read")
    sort_field = SORT_FIELDS[wanted.sort]
    used = wanted.used_fields | ({sort_field} if sort_field else set())
    hidden = sorted(used - rule_fields)
    if hidden:
        raise InvalidInput(
            "your rule does not let you see these fields, so you cannot filter or sort on them",
            [
                FieldError(_FILTER_PARAMS.get(name, name), "not in your rule", code="not_in_rule")
                for name in hidden
            ],
        )
    query = _filtered(select(Case), principal, wanted, context)
    total = session.scalar(_filtered(select(func.count(Case.id)), principal, wanted, context))
    cases = list(
        session.scalars(
            query.order_by(*_ordering(context, wanted)).limit(wanted.limit).offset(wanted.offset)
        )
    )
    signals = _signals_of(session, [c.id for c in cases])
    people_of = _people_of_cases(session, signals)
    caller = Party.of(principal)
    asks = [
        ask for case in cases for ask in _asks(people_of[case.id], caller, {"case": str(case.id)})
    ]
    # One disclosure for the page, after every read: the audit head row is the last lock.
    decided = context.disclosures(session).disclose(
        Disclosure(caller, purpose, "read", action), asks
    )
    fields_of: dict[str, frozenset[str]] = {}
    outcomes: dict[str, list[str]] = defaultdict(list)
    for one in decided:
        case_key = one.ask.resources["case"]
        if one.permitted:
            fields_of.setdefault(case_key, one.decision.fields)
        else:
            outcomes[case_key].append(one.decision.outcome)
    shown_cases = [case for case in cases if str(case.id) in fields_of]
    extras = _queue_columns(session, context, shown_cases, signals, fields_of)
    items = [
        _summary(context, case, signals[case.id], fields_of[str(case.id)]) | extras[case.id]
        for case in shown_cases
    ]
    # Why a case is left out, in the register's words (restricted, objected, withdrawn,
    # no_consent): the page says which, not always "an objection".
    because: dict[str, int] = defaultdict(int)
    for case in cases:
        if str(case.id) not in fields_of:
            for outcome in sorted(set(outcomes[str(case.id)])) or ["refused"]:
                because[outcome] += 1
    return {
        "items": items,
        "total": total,
        "limit": wanted.limit,
        "offset": wanted.offset,
        "sort": wanted.sort.value,
        "descending": wanted.descending,
        "withheld": len(cases) - len(items),
        "withheld_because": dict(sorted(because.items())),
    }


_STATUS_ORDER = {status.value: position for position, status in enumerate(CaseStatus)}


def _ordering(context: CaseContext, wanted: QueueFilter) -> list[Any]:
    if wanted.sort is Sort.URGENCY:
        keys: list[Any] = [
            Case.crisis.desc(),
            Case.deadline_on.is_(None),
            Case.deadline_on,
        ]
        return [*keys, Case.opened_at, Case.id]
    column: Any
    if wanted.sort is Sort.NUMBER:
        column = Case.number
    elif wanted.sort is Sort.STATUS:
        column = sql_case(_STATUS_ORDER, value=Case.status, else_=len(_STATUS_ORDER))
    elif wanted.sort is Sort.CLASSIFICATION:
        column = sql_case((Case.is_repeat.is_(True), 2), (Case.is_multiple.is_(True), 1), else_=0)
    elif wanted.sort is Sort.KIND:
        column = select(func.min(Signal.kind)).where(Signal.case_id == Case.id).scalar_subquery()
    elif wanted.sort in (Sort.AMOUNT, Sort.AGE):
        bands = (
            _band_order(context.intake.amount_bands_cents, 100, "0")
            if wanted.sort is Sort.AMOUNT
            else _band_order(context.intake.age_bands_years, 1, "under")
        )
        stored = Signal.amount_band if wanted.sort is Sort.AMOUNT else Signal.age_band
        column = (
            select(func.max(sql_case(bands, value=stored, else_=-1)))
            .where(Signal.case_id == Case.id)
            .scalar_subquery()
        )
    elif wanted.sort is Sort.PC4:
        column = select(Household.pc4).where(Household.id == Case.household_id).scalar_subquery()
    elif wanted.sort is Sort.TEAM:
        column = (
            select(func.min(Organisation.name))
            .join(Assignment, Assignment.organisation_id == Organisation.id)
            .where(Assignment.case_id == Case.id, Assignment.ended_at.is_(None))
            .scalar_subquery()
        )
    elif wanted.sort is Sort.DEADLINE:
        column = Case.deadline_on
    else:
        column = Case.opened_at
    # Empty cells last, whichever way the column runs.
    ordered = column.desc() if wanted.descending else column.asc()
    tie = Case.opened_at.desc() if wanted.descending else Case.opened_at
    return [column.is_(None), ordered, tie, Case.id]


def band_labels(bounds: tuple[int, ...], scale: int, below: str) -> list[str]:
    """The labels intake gives a value's band (``policies.intake``), lowest first."""
    labels = [f"{below}-{bounds[0] // scale}"]
    labels += [f"{low // scale}-{high // scale}" for low, high in itertools.pairwise(bounds)]
    labels.append(f"{bounds[-1] // scale}+")
    return labels


def _band_order(bounds: tuple[int, ...], scale: int, below: str) -> dict[str, int]:
    """Band label to its place, lowest first (``0-500`` before ``500-1000``)."""
    return {label: position for position, label in enumerate(band_labels(bounds, scale, below))}


def _queue_columns(
    session: Session,
    context: CaseContext,
    cases: list[Case],
    signals: dict[uuid.UUID, list[_SignalRow]],
    fields_of: dict[str, frozenset[str]],
) -> dict[uuid.UUID, dict[str, Any]]:
    """The columns a worker finds a case by: street, neighbourhood (PC4), the team on it,
    the kinds of creditor; each only where the caller's rule shows its field."""
    columns: dict[uuid.UUID, dict[str, Any]] = {case.id: {} for case in cases}
    if not cases:
        return columns
    pc4_of = dict(
        session.execute(
            select(Household.id, Household.pc4).where(
                Household.id.in_({case.household_id for case in cases})
            )
        ).all()
    )
    needs_street = [case for case in cases if "address.street" in fields_of[str(case.id)]]
    keys = household_keys(session, context.keyring, {c.household_id for c in needs_street})
    teams: dict[uuid.UUID, list[str]] = defaultdict(list)
    if any("case.assignments" in fields_of[str(case.id)] for case in cases):
        for case_id, name in session.execute(
            select(Assignment.case_id, Organisation.name)
            .join(Organisation, Organisation.id == Assignment.organisation_id)
            .where(
                Assignment.case_id.in_([case.id for case in cases]),
                Assignment.ended_at.is_(None),
            )
            .order_by(Assignment.assigned_at)
        ):
            teams[case_id].append(name)
    creditors: dict[uuid.UUID, set[str]] = defaultdict(set)
    providers = {s.provider_id for rows in signals.values() for s in rows}
    kind_of = dict(
        session.execute(
            select(Organisation.id, Organisation.kind).where(Organisation.id.in_(providers))
        ).all()
    )
    for case in cases:
        for s in signals[case.id]:
            creditors[case.id].add(kind_of.get(s.provider_id, ""))
    for case in cases:
        fields = fields_of[str(case.id)]
        shown = columns[case.id]
        if {"pc4", "address.postcode"} & fields:
            shown["pc4"] = pc4_of.get(case.household_id)
        if "case.assignments" in fields:
            shown["teams"] = teams.get(case.id, [])
        if "kind" in fields:
            shown["creditor_kinds"] = sorted(creditors[case.id] - {""})
        if case in needs_street and signals[case.id]:
            first = signals[case.id][0]
            address = flatten(
                open_identity(keys[case.household_id], first.id, first.sealed_identity)
            )
            street = " ".join(
                str(address.get(name) or "")
                for name in ("address.street", "address.house_number")
                if name == "address.street" or "address.house_number" in fields
            ).strip()
            if "address.house_number_addition" in fields and address.get(
                "address.house_number_addition"
            ):
                street += str(address["address.house_number_addition"])
            shown["street"] = street or None
    return columns


_FILTER_PARAMS = {
    "kind": "kind",
    "amount_band": "amount_min",
    "crisis": "crisis",
    "case.composition": "classification",
    "pc4": "pc4",
    "age_band": "age_band",
    "case.deadline": "overdue",
    "case.status": "status",
    "case.assignments": "team",
}


def readable_fields(context: CaseContext, principal: Principal) -> frozenset[str]:
    """The fields the caller's rule lets it read on a case (which filters and columns a
    page offers it)."""
    return _rule_fields(context, principal, _purpose(principal), "read")


def _rule_fields(
    context: CaseContext, principal: Principal, purpose: str, action: str
) -> frozenset[str]:
    """The fields the caller's rule lists, before any person's consent or objection."""
    decision = context.register.decide(
        DecisionRequest(
            actor_org=str(principal.organisation_id),
            actor_kind=principal.organisation_kind.value,
            action=action,
            purpose=purpose,
            today=context.today,
        )
    )
    if decision.permitted:
        return decision.fields
    # A consent-based rule denies without a person; its listed fields still apply.
    rule = context.register.rule_for(principal.organisation_kind.value, purpose, action)
    return frozenset(rule.fields) if rule is not None else frozenset()


def _filtered(
    query: Select[Any], principal: Principal, wanted: QueueFilter, context: CaseContext
) -> Select[Any]:
    conditions: list[ColumnElement[bool]] = [_visible(principal)]
    if wanted.statuses:
        conditions.append(Case.status.in_(wanted.statuses))
    if wanted.crisis is not None:
        conditions.append(Case.crisis.is_(wanted.crisis))
    if wanted.classifications:
        options: list[ColumnElement[bool]] = []
        if "repeat" in wanted.classifications:
            options.append(Case.is_repeat.is_(True))
        if "multiple" in wanted.classifications:
            options.append(and_(Case.is_repeat.is_(False), Case.is_multiple.is_(True)))
        if "single" in wanted.classifications:
            options.append(and_(Case.is_repeat.is_(False), Case.is_multiple.is_(False)))
        conditions.append(_any(options))
    if wanted.overdue is not None:
        late = and_(
            Case.deadline_on.is_not(None),
            Case.deadline_on < context.today,
            Case.status != CaseStatus.CLOSED.value,
        )
        conditions.append(late if wanted.overdue else ~late)
    if wanted.pc4:
        conditions.append(
            exists().where(Household.id == Case.household_id, Household.pc4.in_(wanted.pc4))
        )
    if wanted.number:
        conditions.append(Case.number == wanted.number)
    if wanted.teams:
        conditions.append(
            exists().where(
                Assignment.case_id == Case.id,
                Assignment.organisation_id.in_(wanted.teams),
                Assignment.ended_at.is_(None),
            )
        )
    if wanted.creditor_kinds:
        conditions.append(
            exists().where(
                Signal.case_id == Case.id,
                Signal.provider_id == Organisation.id,
                Organisation.kind.in_(wanted.creditor_kinds),
            )
        )
    signal_conditions: list[ColumnElement[bool]] = []
    if wanted.kinds:
        signal_conditions.append(Signal.kind.in_(wanted.kinds))
    if wanted.age_bands:
        signal_conditions.append(Signal.age_band.in_(wanted.age_bands))
    if wanted.amount_min is not None or wanted.amount_max is not None:
        bands = amount_bands_between(context.intake, wanted.amount_min, wanted.amount_max)
        signal_conditions.append(Signal.amount_band.in_(bands))
    if signal_conditions:
        conditions.append(exists().where(Signal.case_id == Case.id, *signal_conditions))
    return query.where(*conditions)


def _any(options: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return or_(*options) if options else Case.id.is_(None)


def amount_bands_between(
    policy: IntakePolicy, minimum: int | None, maximum: int | None
) -> list[str]:
    """The amount bands (whole euros) that overlap [minimum, maximum]; the exact amount is
    sealed, so the queue filters on the band the intake stored."""
    bounds = policy.amount_bands_cents
    edges = [0, *bounds]
    labels = []
    for position, low_cents in enumerate(edges):
        high_cents = edges[position + 1] if position + 1 < len(edges) else None
        low, high = low_cents // 100, (high_cents // 100 if high_cents is not None else None)
        if maximum is not None and low > maximum:
            continue
        if minimum is not None and high is not None and high <= minimum:
            continue
        labels.append(policy.amount_band(low_cents))
    return sorted(set(labels))


@dataclass(frozen=True)
class _SignalRow:
    id: uuid.UUID
    subject_id: uuid.UUID
    household_id: uuid.UUID
    provider_id: uuid.UUID
    received_at: dt.datetime
    columns: dict[str, Any]
    sealed_identity: bytes


def _signals_of(session: Session, case_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[_SignalRow]]:
    found: dict[uuid.UUID, list[_SignalRow]] = defaultdict(list)
    for start in range(0, len(case_ids), CHUNK):
        for signal in session.scalars(
            select(Signal)
            .where(Signal.case_id.in_(case_ids[start : start + CHUNK]))
            .order_by(Signal.received_at, Signal.id)
        ):
            found[signal.case_id].append(
                _SignalRow(
                    signal.id,
                    signal.subject_id,
                    signal.household_id,
                    signal.provider_id,
                    signal.received_at,
                    {name: getattr(signal, name) for name in _SIGNAL_COLUMNS}
                    | {"external_ref": signal.external_ref},
                    signal.sealed_identity,
                )
            )
    return found


def _summary(
    context: CaseContext, case: Case, signals: list[_SignalRow], fields: frozenset[str]
) -> dict[str, Any]:
    """One line of the work queue, cut to the caller's rule."""
    item: dict[str, Any] = {
        "id": str(case.id),
        "number": case.number,
        "opened_at": _instant(case.opened_at),
    }
    item.update(_case_state(context, case, fields))
    item["signal_count"] = len(signals)
    if "kind" in fields:
        item["kinds"] = sorted({s.columns["kind"] for s in signals})
    if "amount_band" in fields:
        item["amount_bands"] = sorted({s.columns["amount_band"] for s in signals})
    if "age_band" in fields:
        item["age_bands"] = sorted({s.columns["age_band"] for s in signals})
    return item


def _case_state(context: CaseContext, case: Case, fields: frozenset[str]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    if "case.composition" in fields:
        state["classification"] = case.composition.value
    if "case.status" in fields:
        state["status"] = case.status
    if "crisis" in fields:
        state["crisis"] = case.crisis
    if "case.deadline" in fields:
        state["deadline"] = _day(case.deadline_on)
        state["deadline_kind"] = case.deadline_kind
        state["overdue"] = is_overdue(case, context.today)
    if "case.result_code" in fields:
        state["result"] = case.result_code
    return state


def is_overdue(case: Case, today: dt.date) -> bool:
    return (
        case.status != CaseStatus.CLOSED.value
        and case.deadline_on is not None
        and case.deadline_on < today
    )


# Reading one case ------------------------------------------------------------------------


def read_case(
    session: Session, context: CaseContext, principal: Principal, case_id: uuid.UUID
) -> dict[str, Any]:
    """The case as the caller's rule permits, per person; logged per person."""
    case = visible_case(session, principal, case_id)
    purpose = _purpose(principal)
    people = _people(session, case.id)
    signals = _signals_of(session, [case.id])[case.id]
    caller = Party.of(principal)
    decided = context.disclosures(session).disclose(
        Disclosure(caller, purpose, "read", "case.read"),
        _asks(
            people,
            caller,
            {"case": str(case.id), "signals": ",".join(str(s.id) for s in signals)},
        ),
        refuse=_refusal("this case to you"),
    )
    permitted = {d.ask.person.subject_id: d.decision for d in decided if d.permitted}
    decision = next(iter(permitted.values()))
    fields = decision.fields
    keys = household_keys(session, context.keyring, {case.household_id})
    data_key = keys[case.household_id]
    recipient = str(principal.organisation_id)
    pseudonym_key = context.keyring.pseudonym.active

    document: dict[str, Any] = {
        "id": str(case.id),
        "number": case.number,
        "opened_at": _instant(case.opened_at),
        "closed_at": _instant(case.closed_at),
    }
    document.update(_case_state(context, case, fields))
    document["history"] = _history(session, case.id, fields)
    if principal.organisation_kind in ASSIGNABLE_KINDS:
        # A team or debt service knows its own assignment (to give it back), not the others'.
        own = session.scalars(
            select(Assignment).where(
                Assignment.case_id == case.id,
                Assignment.organisation_id == principal.organisation_id,
                Assignment.ended_at.is_(None),
            )
        ).first()
        if own is not None:
            document["my_assignment"] = {"id": str(own.id), "role": own.role}
    if "household_pseudonym" in fields:
        household = session.get(Household, case.household_id)
        assert household is not None
        document["household_pseudonym"] = _pseudonym_for(
            decision, pseudonym_key, household.pseudonym, recipient
        )
    if "case.deadline" in fields:
        document["deadlines"] = {
            "first_contact_attempt": _day(case.contact_due_on),
            "first_conversation": _day(case.conversation_due_on),
            "escalations": [
                {
                    "deadline_kind": e.deadline_kind,
                    "deadline": _day(e.deadline_on),
                    "escalated_at": _instant(e.escalated_at),
                }
                for e in session.scalars(
                    select(Escalation)
                    .where(Escalation.case_id == case.id)
                    .order_by(Escalation.escalated_at)
                )
            ],
        }
    if "case.assignments" in fields:
        document["assignments"] = [
            {
                "organisation_id": str(a.organisation_id),
                "id": str(a.id),
                "organisation_kind": a.organisation_kind,
                "purpose": a.purpose,
                "role": a.role,
                "assigned_at": _instant(a.assigned_at),
                "ended_at": _instant(a.ended_at) if a.ended_at else None,
                "ended_reason": a.ended_reason,
            }
            for a in session.scalars(
                select(Assignment)
                .where(Assignment.case_id == case.id)
                .order_by(Assignment.assigned_at)
            )
        ]
    if "case.contact_attempts" in fields:
        document["contact_attempts"] = [
            _attempt(a, data_key, show_note="case.notes" in fields)
            for a in session.scalars(
                select(ContactAttempt)
                .where(ContactAttempt.case_id == case.id)
                .order_by(ContactAttempt.attempted_on, ContactAttempt.recorded_at)
            )
        ]
    broker_pseudonyms = {p.subject_id: p.pseudonym for p in people}
    shown = []
    for signal in signals:
        person_decision = permitted.get(signal.subject_id)
        if person_decision is None:
            continue
        flat = flatten(open_identity(data_key, signal.id, signal.sealed_identity))
        flat.update(signal.columns)
        flat["subject_pseudonym"] = _pseudonym_for(
            person_decision, pseudonym_key, broker_pseudonyms[signal.subject_id] or "", recipient
        )
        entry = {"id": str(signal.id), "received_at": _instant(signal.received_at)}
        entry.update(project(flat, person_decision.fields))
        shown.append(entry)
    document["signals"] = shown
    document["disclosure"] = {
        "fields": sorted(fields),
        "purpose": purpose,
        "rule_id": decision.rule_id,
        "policy_version": decision.policy_version,
        "legal_basis": list(context.register.purpose(purpose).legal_basis),
        "withheld_signals": len(signals) - len(shown),
    }
    return document


# Which register field shows which act of a case's history.
_ACT_FIELD = {
    Act.ASSIGNED: "case.assignments",
    Act.CO_WORKER_ADDED: "case.assignments",
    Act.ASSIGNMENT_ENDED: "case.assignments",
    Act.CONSENT_RECORDED: "case.assignments",
    Act.CONSENT_WITHDRAWN: "case.assignments",
    Act.ATTEMPT: "case.contact_attempts",
    Act.CLOSED: "case.result_code",
    Act.REOPENED: "case.result_code",
}


def _history(session: Session, case_id: uuid.UUID, fields: frozenset[str]) -> list[dict[str, Any]]:
    """Who did what on the case and when: acts, never what anyone wrote; each act only
    where the caller's rule shows its field."""
    shown = {act.value for act, name in _ACT_FIELD.items() if name in fields}
    return [
        {
            "act": event.act,
            "at": _instant(event.at),
            "organisation_id": str(event.organisation_id) if event.organisation_id else None,
            "by": event.client,
            **event.details,
        }
        for event in session.scalars(
            select(CaseEvent)
            .where(CaseEvent.case_id == case_id)
            .order_by(CaseEvent.at, CaseEvent.id)
        )
        if event.act in shown
    ]


def _pseudonym_for(decision: Decision, key: bytes, broker_pseudonym: str, recipient: str) -> str:
    if decision.pseudonym == "broker":
        return broker_pseudonym
    # A recipient's own pseudonym: stable for it, useless for joining with anyone else's.
    return for_recipient(key, broker_pseudonym, recipient)


def _attempt(attempt: ContactAttempt, data_key: bytes, *, show_note: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": str(attempt.id),
        "channel": attempt.channel,
        "date": attempt.attempted_on.isoformat(),
        "part_of_day": attempt.part_of_day,
        "reached": attempt.reached,
        "recorded_by": str(attempt.recorded_by_id),
        "recorded_by_client": attempt.recorded_by_client,
        "recorded_at": _instant(attempt.recorded_at),
    }
    if show_note:
        shown["note"] = (
            open_text(data_key, attempt.sealed_note, attempt.id)
            if attempt.sealed_note is not None
            else None
        )
    return shown


# Assignment --------------------------------------------------------------------------------


def assign(
    session: Session,
    context: CaseContext,
    principal: Principal,
    case_id: uuid.UUID,
    request: AssignmentIn,
) -> dict[str, Any]:
    """Hand the case over to a team or debt service of its municipality, or add one as a
    co-worker.

    The recipient receives the case under its own rule; a debt service only with the consent
    of every person in the case for exactly this debt service. A hand-over ends every other
    assignment (the earlier organisation stops seeing the case), on record. The municipality
    assigns to anyone of its own; a neighbourhood team hands over or adds a debt service.
    """
    case = visible_case(session, principal, case_id, for_update=True)
    target = session.get(Organisation, request.organisation_id)
    allowed = (
        ASSIGNABLE_KINDS
        if principal.organisation_kind is OrganisationKind.MUNICIPALITY
        else (OrganisationKind.DEBT_SERVICE,)
    )
    # One answer for every organisation that is not a team or debt service of this case's
    # municipality, whether it exists or not: the caller learns nothing about the others
    # (what kind an id is, which municipality it belongs to).
    if (
        target is None
        or target.parent_id != case.municipality_id
        or OrganisationKind(target.kind) not in allowed
        or target.id == principal.organisation_id
    ):
        raise InvalidInput(
            "a case is assigned to a neighbourhood team or a debt service of its municipality",
            [
                FieldError(
                    "organisation_id",
                    "is not a neighbourhood team or debt service of the case's municipality",
                    code="not_assignable",
                )
            ],
        )
    kind = OrganisationKind(target.kind)
    status = next_status(case.status, Move.ASSIGN)
    purpose = PURPOSE_OF_KIND[kind]
    live = list(
        session.scalars(
            select(Assignment).where(Assignment.case_id == case.id, Assignment.ended_at.is_(None))
        )
    )
    already = next((a for a in live if a.organisation_id == target.id), None)
    sole_lead = already is not None and already.role == AssignmentRole.LEAD and len(live) == 1
    if already is not None and (request.mode is HandOver.CO_WORKER or sole_lead):
        raise Conflict(
            "this organisation works on the case already",
            [FieldError("organisation_id", "is assigned already", code="already_assigned")],
        )

    def refused(reasons: list[str]) -> ExchangeError:
        needs_consent = any("consent" in reason for reason in reasons)
        return DisclosureDenied(
            f"the register does not permit passing this case to the {kind.value}: "
            + "; ".join(reasons),
            [
                FieldError(
                    "organisation_id",
                    reasons[0] if reasons else "no person",
                    code="needs_consent" if needs_consent else "not_permitted",
                )
            ],
        )

    decided = context.disclosures(session).disclose(
        Disclosure(Party.of(principal), purpose, "receive", "case.assign"),
        _asks(
            _people(session, case.id),
            Party(target.id, target.kind),
            {"case": str(case.id), "assignee": str(target.id), "mode": request.mode.value},
        ),
        refuse=refused,
        refuse_when="any_denied",
    )
    ended = []
    if request.mode is HandOver.HAND_OVER:
        # The earlier organisations stop seeing the case from now on.
        for earlier in live:
            if earlier is already:
                continue
            earlier.ended_at = context.now
            earlier.ended_reason = Ended.HANDED_OVER.value
            ended.append(str(earlier.organisation_id))
    decision = decided[0].decision
    role = AssignmentRole.LEAD if request.mode is HandOver.HAND_OVER else AssignmentRole.CO_WORKER
    if already is not None:
        # A co-worker the case is handed over to becomes its lead: one assignment, kept.
        assignment = already
        assignment.role = role.value
    else:
        assignment = Assignment(
            id=uuid.uuid4(),
            case_id=case.id,
            organisation_id=target.id,
            organisation_kind=kind.value,
            purpose=purpose,
            rule_id=decision.rule_id,
            policy_version=decision.policy_version,
            assigned_by_id=principal.organisation_id,
            assigned_at=context.now,
            role=role.value,
        )
        session.add(assignment)
    act = Act.ASSIGNED if role is AssignmentRole.LEAD else Act.CO_WORKER_ADDED
    details = {"organisation": str(target.id)}
    if ended:
        details["ended"] = ",".join(ended)
    _event(session, case, act, principal, context.now, **details)
    case.status = status.value
    case.picked_up_on = _earliest(case.picked_up_on, context.today)
    if kind is OrganisationKind.DEBT_SERVICE:
        _set_feedback(session, context, case, context.casework.referral_feedback, context.today)
    session.flush()
    refresh_cases(session, context.register, [case.id])
    return {
        "case_id": str(case.id),
        "number": case.number,
        "status": case.status,
        "assignment": {
            "id": str(assignment.id),
            "organisation_id": str(target.id),
            "organisation_kind": kind.value,
            "purpose": purpose,
            "role": role.value,
            "rule_id": decision.rule_id,
            "assigned_at": _instant(context.now),
        },
        "ended": ended,
        # After handing over its own assignment the caller no longer sees the case.
        "caller_keeps_access": principal.organisation_kind is OrganisationKind.MUNICIPALITY
        or str(principal.organisation_id) not in ended,
    }


def end_assignment(
    session: Session,
    context: CaseContext,
    principal: Principal,
    case_id: uuid.UUID,
    assignment_id: uuid.UUID,
) -> dict[str, Any]:
    """End one assignment: the municipality ends any on its case; a team or debt service
    gives its own back. From now on that organisation no longer sees the case."""
    case = visible_case(session, principal, case_id, for_update=True)
    assignment = session.get(Assignment, assignment_id)
    if (
        assignment is None
        or assignment.case_id != case.id
        or assignment.ended_at is not None
        or (
            principal.organisation_kind is not OrganisationKind.MUNICIPALITY
            and assignment.organisation_id != principal.organisation_id
        )
    ):
        raise NotFound(f"no running assignment {assignment_id} on this case")
    next_status(case.status, Move.END_ASSIGNMENT)
    caller = Party.of(principal)
    context.disclosures(session).disclose(
        Disclosure(caller, _purpose(principal), "record", "case.assignment_ended"),
        _asks(
            _people(session, case.id),
            caller,
            {"case": str(case.id), "assignee": str(assignment.organisation_id)},
        ),
        refuse=_refusal("ending this assignment"),
    )
    assignment.ended_at = context.now
    assignment.ended_reason = Ended.ENDED.value
    _event(
        session,
        case,
        Act.ASSIGNMENT_ENDED,
        principal,
        context.now,
        organisation=str(assignment.organisation_id),
    )
    session.flush()
    if case.status == CaseStatus.ASSIGNED.value and not _has_live_assignment(session, case.id):
        case.status = CaseStatus.OPEN.value
    session.flush()
    refresh_cases(session, context.register, [case.id])
    return {
        "case_id": str(case.id),
        "status": case.status,
        "assignment": str(assignment.id),
        "ended_at": _instant(context.now),
    }


def _has_live_assignment(session: Session, case_id: uuid.UUID) -> bool:
    return (
        session.scalar(
            select(func.count(Assignment.id)).where(
                Assignment.case_id == case_id, Assignment.ended_at.is_(None)
            )
        )
        or 0
    ) > 0


def _event(
    session: Session, case: Case, act: Act, principal: Principal, at: dt.datetime, **details: str
) -> None:
    """One line of the case's history: who (organisation, and the client or person) did
    what, when. Codes and ids only."""
    session.add(
        CaseEvent(
            id=uuid.uuid4(),
            case_id=case.id,
            act=act.value,
            organisation_id=principal.organisation_id,
            client=principal.client_id,
            at=at,
            details=details,
        )
    )


# Outreach ------------------------------------------------------------------------------------


def record_attempt(
    session: Session,
    context: CaseContext,
    principal: Principal,
    case_id: uuid.UUID,
    request: ContactAttemptIn,
) -> dict[str, Any]:
    case = visible_case(session, principal, case_id, for_update=True)
    opened_on = local_date(case.opened_at)
    if request.date > context.today:
        raise InvalidInput(
            "a contact attempt cannot lie in the future",
            [
                FieldError(
                    "date", f"is after today ({context.today.isoformat()})", code="date_future"
                )
            ],
        )
    if request.date < opened_on:
        raise InvalidInput(
            "a contact attempt cannot come before the signal",
            [
                FieldError(
                    "date",
                    f"is before the case opened on {opened_on.isoformat()}",
                    code="date_before_case",
                )
            ],
        )
    if request.reached and request.channel in SENT_CHANNELS:
        raise InvalidInput(
            f"a {request.channel.value} is sent, not answered: record the reply as an attempt "
            "by the channel it came by",
            [FieldError("reached", "a sent channel cannot reach", code="sent_not_answered")],
        )
    status = next_status(case.status, Move.REACH if request.reached else Move.ATTEMPT)
    purpose = _purpose(principal)
    attempt_id = uuid.uuid4()
    wanted = {"case.contact_attempts"} | ({"case.notes"} if request.note else set())
    caller = Party.of(principal)
    context.disclosures(session).disclose(
        Disclosure(caller, purpose, "record", "case.contact_attempt"),
        _asks(
            _people(session, case.id),
            caller,
            {"case": str(case.id), "contact_attempt": str(attempt_id), "channel": request.channel},
        ),
        refuse=_refusal("recording this contact attempt"),
        refuse_when=lambda decided: (
            not decided or any(not d.permitted or not wanted <= d.decision.fields for d in decided)
        ),
    )
    sealed_note = None
    if request.note:
        data_key = household_keys(session, context.keyring, {case.household_id})
        sealed_note = seal_text(data_key[case.household_id], request.note, attempt_id)
    attempt = ContactAttempt(
        id=attempt_id,
        case_id=case.id,
        channel=request.channel.value,
        attempted_on=request.date,
        part_of_day=request.part_of_day.value if request.part_of_day else None,
        reached=request.reached,
        sealed_note=sealed_note,
        recorded_by_id=principal.organisation_id,
        recorded_by_client=principal.client_id,
        recorded_at=context.now,
    )
    session.add(attempt)
    _event(session, case, Act.ATTEMPT, principal, context.now, attempt=str(attempt_id))
    case.status = status.value
    case.first_attempt_on = _earliest(case.first_attempt_on, request.date)
    case.picked_up_on = _earliest(case.picked_up_on, request.date)
    if request.reached:
        case.first_reached_on = _earliest(case.first_reached_on, request.date)
        if case.feedback_status == FeedbackCode.RECEIVED.value:
            _set_feedback(session, context, case, FeedbackCode.IN_CONTACT, request.date)
    _reschedule(context, case)
    session.flush()
    refresh_cases(session, context.register, [case.id])
    return {
        "id": str(attempt.id),
        "case_id": str(case.id),
        "channel": attempt.channel,
        "date": attempt.attempted_on.isoformat(),
        "part_of_day": attempt.part_of_day,
        "reached": attempt.reached,
        "has_note": sealed_note is not None,
        "case_status": case.status,
        "deadline": _day(case.deadline_on),
        "deadline_kind": case.deadline_kind,
    }


def record_result(
    session: Session,
    context: CaseContext,
    principal: Principal,
    case_id: uuid.UUID,
    request: ResultIn,
) -> dict[str, Any]:
    """Close the case with a national result code; the providers hear the mapped code."""
    case = visible_case(session, principal, case_id, for_update=True)
    status = next_status(case.status, Move.CLOSE)
    needs = context.casework.result_requirements.get(request.result)
    if needs is not None:
        attempts = (
            session.scalar(
                select(func.count(ContactAttempt.id)).where(ContactAttempt.case_id == case.id)
            )
            or 0
        )
        if needs.unmet(attempts, case.first_reached_on is not None):
            raise InvalidInput(
                f"the casework rules do not allow this result yet: {needs.basis}",
                [FieldError("result", needs.basis, code="result_not_yet")],
            )
    purpose = _purpose(principal)
    caller = Party.of(principal)
    context.disclosures(session).disclose(
        Disclosure(caller, purpose, "record", "case.close"),
        _asks(
            _people(session, case.id),
            caller,
            {"case": str(case.id), "result": request.result.value},
        ),
        refuse=_refusal("recording a result on this case"),
        refuse_when=lambda decided: (
            not decided
            or any(not d.permitted or "case.result_code" not in d.decision.fields for d in decided)
        ),
    )
    case.status = status.value
    case.result_code = request.result.value
    case.closed_at = context.now
    case.picked_up_on = (
        _earliest(case.picked_up_on, context.today)
        if request.result.picked_up
        else case.picked_up_on
    )
    case.deadline_on = None
    case.deadline_kind = None
    _set_feedback(
        session, context, case, context.casework.feedback_for_result(request.result), context.today
    )
    _event(session, case, Act.CLOSED, principal, context.now, result=request.result.value)
    session.flush()
    refresh_cases(session, context.register, [case.id])
    return {
        "id": str(case.id),
        "number": case.number,
        "status": case.status,
        "result": case.result_code,
        "closed_at": _instant(context.now),
    }


def reopen(
    session: Session, context: CaseContext, principal: Principal, case_id: uuid.UUID
) -> dict[str, Any]:
    """Open a closed case again, within the casework policy's period after it closed.

    It stands where its contacts and assignments put it (in contact, assigned or open), its
    deadlines run again from where they were, and the providers hear it is running again.
    """
    case = visible_case(session, principal, case_id, for_update=True)
    next_status(case.status, Move.REOPEN)
    term = context.casework.reopen_within
    closed_on = local_date(case.closed_at) if case.closed_at else context.today
    if term is None or (context.today - closed_on).days > term.days:
        raise Conflict(
            "this case closed too long ago to reopen: a new signal opens a new case"
            + (f" ({term.basis})" if term else ""),
            [FieldError("status", term.basis if term else "no reopening", code="reopen_late")],
        )
    caller = Party.of(principal)
    context.disclosures(session).disclose(
        Disclosure(caller, _purpose(principal), "record", "case.reopen"),
        _asks(_people(session, case.id), caller, {"case": str(case.id)}),
        refuse=_refusal("reopening this case"),
        refuse_when=lambda decided: (
            not decided
            or any(not d.permitted or "case.result_code" not in d.decision.fields for d in decided)
        ),
    )
    previous = case.result_code
    if case.first_reached_on is not None:
        case.status = CaseStatus.IN_CONTACT.value
        feedback = FeedbackCode.IN_CONTACT
    elif _has_live_assignment(session, case.id):
        case.status = CaseStatus.ASSIGNED.value
        feedback = FeedbackCode.RECEIVED
    else:
        case.status = CaseStatus.OPEN.value
        feedback = FeedbackCode.RECEIVED
    case.result_code = None
    case.closed_at = None
    case.reopened_at = context.now
    _reschedule(context, case)
    _set_feedback(session, context, case, feedback, context.today)
    _event(session, case, Act.REOPENED, principal, context.now, result=previous or "")
    session.flush()
    refresh_cases(session, context.register, [case.id])
    return {"id": str(case.id), "number": case.number, "status": case.status}


def can_reopen(context: CaseContext, case_document: dict[str, Any]) -> bool:
    """Whether the page offers reopening: closed, and within the period."""
    term = context.casework.reopen_within
    closed = case_document.get("closed_at")
    if term is None or case_document.get("status") != CaseStatus.CLOSED.value or not closed:
        return False
    closed_on = local_date(dt.datetime.fromisoformat(closed.replace("Z", "+00:00")))
    return (context.today - closed_on).days <= term.days


def _set_feedback(
    session: Session, context: CaseContext, case: Case, code: FeedbackCode, since: dt.date
) -> None:
    if case.feedback_status == code.value:
        return
    case.feedback_status = code.value
    case.feedback_since = since
    if context.on_feedback_change is not None:
        session.flush()
        context.on_feedback_change(session, case)


def _reschedule(context: CaseContext, case: Case) -> None:
    plan = schedule(
        context.casework,
        opened_on=local_date(case.opened_at),
        crisis_on=None,
        first_attempt_on=case.first_attempt_on,
        first_reached_on=case.first_reached_on,
        contact_due_on=case.contact_due_on,
    )
    case.contact_due_on = plan.contact_due_on
    case.conversation_due_on = plan.conversation_due_on
    case.deadline_on = plan.deadline_on
    case.deadline_kind = plan.deadline_kind


# Deadlines that passed -------------------------------------------------------------------


def escalate_overdue(session: Session, audit: AuditTrail, today: dt.date, now: dt.datetime) -> int:
    """Record an escalation for each running case whose deadline passed; once per deadline.

    Run by the server every few minutes and by ``exchange cases escalate``. Returns how many
    escalations were new.
    """
    overdue = session.execute(
        select(Case.id, Case.municipality_id, Case.deadline_kind, Case.deadline_on).where(
            Case.status != CaseStatus.CLOSED.value,
            Case.deadline_on.is_not(None),
            Case.deadline_on < today,
            ~exists().where(
                Escalation.case_id == Case.id, Escalation.deadline_kind == Case.deadline_kind
            ),
        )
    ).all()
    if not overdue:
        return 0
    rows = [
        {
            "id": uuid.uuid4(),
            "case_id": case_id,
            "deadline_kind": kind,
            "deadline_on": due,
            "escalated_at": now,
        }
        for case_id, _, kind, due in overdue
    ]
    insert_ignoring_conflicts(session, Escalation, rows, ["case_id", "deadline_kind"])
    audit.append(
        session,
        [
            AuditRecord(
                action="case.escalated",
                decision="recorded",
                actor_org=None,
                recipient_org=municipality_id,
                resources={
                    "case": str(case_id),
                    "deadline_kind": str(kind),
                    "deadline": str(due),
                },
            )
            for case_id, municipality_id, kind, due in overdue
        ],
        now,
    )
    return len(overdue)


# Feedback on a provider's own signal ------------------------------------------------------


def feedback_for_signal(
    session: Session, casework: CaseworkPolicy, decision: Decision, case_id: uuid.UUID
) -> dict[str, Any] | None:
    return provider_feedback(casework, decision, session.get(Case, case_id))


# Small helpers -------------------------------------------------------------------------------


def _earliest(current: dt.date | None, candidate: dt.date) -> dt.date:
    return candidate if current is None else min(current, candidate)


def _day(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _instant(instant: dt.datetime | None) -> str | None:
    if instant is None:
        return None
    return instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
