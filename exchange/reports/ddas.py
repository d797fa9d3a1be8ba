"""The DDAS delivery: a municipality's early signals and cases in the "uitwisselmodel" of
VNG Realisatie, v1.2 (the current one) or v0.9 (for municipalities whose CBS channel still
takes that), chosen per municipality in the settings or per request.

Municipalities deliver these to CBS for the national early-signalling monitor. The
delivery is a disclosure of personal data (CBS links it by BSN), so it is decided by the
register for the purpose ``national-statistics`` and holds only the fields that decision
permits: narrow the rule and the export follows. Every person in it gets an audit entry
in the transaction that built it.

What differs between the versions lives in one ``Model`` per version: field names, the
wording of a few results and statuses, and the client block. v1.2 identifies the client by
BSN alone or, without one, by postcode, house number and birth date, and never by name:
the smaller block is the standard's, and less to disclose.

The schemas and examples are in ``tests/standards/`` (and ``../shared/standards/``).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.auditlog.service import AuditTrail
from exchange.cases.models import Case, ContactAttempt
from exchange.cases.terms import CaseStatus, ContactChannel, PartOfDay
from exchange.clock import local_date
from exchange.db import CHUNK
from exchange.disclosures import NOBODY, Ask, Disclosure, Disclosures, Party, Person
from exchange.errors import Forbidden
from exchange.identity.models import Subject
from exchange.identity.sealed import flatten, household_keys, open_identity
from exchange.organisations.models import Organisation
from exchange.organisations.terms import OrganisationKind
from exchange.reports.period import Period
from exchange.signals.models import Signal
from exchange.signals.terms import SignalKind
from exchange.vault.keyring import Keyring
from policies.casework import ResultCode
from policies.engine import Register

PURPOSE = "national-statistics"
ACTION = "read"
AUDIT_ACTION = "report.ddas"

# The DDAS vocabulary ----------------------------------------------------------------------
# Our codes on the left, the uitwisselmodel's enumeration values on the right.

SIGNAL_PARTNER: Mapping[SignalKind, str] = {  # EnumSignaalpartner
    SignalKind.RENT: "Huur",
    SignalKind.ENERGY: "Energie",
    SignalKind.WATER: "Water",
    SignalKind.HEALTH_INSURANCE: "Zorg",
    SignalKind.MORTGAGE: "Hypotheek",
    SignalKind.TAX: "Belastingdienst",
    SignalKind.BENEFITS_RECOVERY: "Dienst Toeslagen",
    SignalKind.STUDENT_DEBT: "DUO",
    SignalKind.OTHER: "Overige",
}
CONTACT_KIND: Mapping[ContactChannel, str] = {  # EnumContactsoort
    ContactChannel.LETTER: "Brief",
    ContactChannel.PHONE: "Telefoon",
    ContactChannel.SMS_WHATSAPP: "SMS/Whatsapp",
    ContactChannel.EMAIL: "Mail",
    ContactChannel.HOME_VISIT: "Huisbezoek",
    ContactChannel.CARD: "Kaartje",
    ContactChannel.OTHER: "Overige",
    ContactChannel.ADMINISTRATIVE: "Administratief",
}
PART_OF_DAY: Mapping[PartOfDay, str] = {  # EnumDagdeel
    PartOfDay.MORNING: "Ochtend",
    PartOfDay.AFTERNOON: "Middag",
    PartOfDay.EVENING: "Avond",
}
END_RESULT_V0_9: Mapping[ResultCode, str] = {  # EnumEindresultaat
    ResultCode.ALREADY_KNOWN_TO_DEBT_HELP: "Inwoner al bekend bij schuldhulpverlening",
    ResultCode.OTHER_TRAJECTORY_RUNNING: "Inwoner heeft al een ander lopend traject",
    ResultCode.NO_CONTACT_POSSIBLE: "Definitief geen contact kunnen krijgen",
    ResultCode.NO_REPLY_AFTER_CONTACT: "Geen reactie na eerder contact",
    ResultCode.NO_HELP_NEEDED: "Inwoner hoeft geen hulp vanuit vroegsignalering",
    ResultCode.PAID_OR_ARRANGED: "Inwoner heeft zelf al betaald/betalingsregeling getroffen",
    ResultCode.BUDGET_ADVICE_OR_QUICK_FIX: "(Budget)advies en/of quick fix",
    ResultCode.FOLLOW_UP_FINANCIAL: "Vervolghulp en/of verwijzing financieel",
    ResultCode.REFERRAL_WITHOUT_CONTACT: "Verwijzing zonder contact",
    ResultCode.FOLLOW_UP_NON_FINANCIAL: "Vervolghulp en/of verwijzing niet financieel",
    ResultCode.NOT_PICKED_UP_REPEAT_SIGNAL: "Niet opgepakt: herhaalde melding",
    ResultCode.NOT_PICKED_UP_WRONGFUL_SIGNAL: "Niet opgepakt: onterecht signaal",
    ResultCode.NOT_PICKED_UP_DECEASED: "Inwoner is overleden",
    ResultCode.NOT_PICKED_UP_NOT_RESIDENT: "Persoon is geen inwoner (meer) in de gemeente",
    ResultCode.NOT_PICKED_UP_OTHER: "Niet opgepakt: andere reden",
}
# v1.2 words two results differently and adds a general "follow-up" we have no code for.
END_RESULT_V1_2: Mapping[ResultCode, str] = {
    **END_RESULT_V0_9,
    ResultCode.NO_HELP_NEEDED: "Inwoner regelt het zelf/hoeft geen hulp vanuit vroegsignalering",
    ResultCode.REFERRAL_WITHOUT_CONTACT: "Verwijzing zonder tussenkomst inwoner",
}
# EnumSignaalstatus: a signal nobody has acted on yet, or the reason it was not taken up
# (the same wording as the end result). In v0.9 a signal that was taken up has no status;
# v1.2 says "Opgepakt", and has "already known to debt help" as a status of its own.
NOT_YET_PICKED_UP = "Nog niet opgepakt"
PICKED_UP = "Opgepakt"
NOT_PICKED_UP_STATUS: Mapping[ResultCode, str] = {
    code: text for code, text in END_RESULT_V0_9.items() if not code.picked_up
}
STATUS_V1_2: Mapping[ResultCode, str] = {
    **NOT_PICKED_UP_STATUS,
    ResultCode.ALREADY_KNOWN_TO_DEBT_HELP: END_RESULT_V1_2[ResultCode.ALREADY_KNOWN_TO_DEBT_HELP],
}
# v0.9's client block, in the schema's order: register field -> DDAS field.
CLIENT_FIELDS: Mapping[str, str] = {
    "person.bsn": "Burgerservicenummer",
    "person.initials": "Voorletters",
    "person.surname_prefix": "Voorvoegsel",
    "person.surname": "Achternaam",
    "person.birth_date": "Geboortedatum",
    "address.street": "Straatnaam",
    "address.postcode": "Postcode",
    "address.house_number": "Huisnummer",
    "address.house_number_addition": "Huisnummertoevoeging",
    "address.city": "Plaatsnaam",
}
# The rest of the signal and the case: which register field each DDAS field needs.
SIGNAL_FIELDS: Mapping[str, str] = {
    "crisissignaal": "crisis",
    "warmeOverdracht": "warm_handover",
    "bedrag": "amount_cents",
    "ontstaansdatum": "arrears_since",
    "signaalpartner": "kind",
}
# v1.2's client block without a BSN: register field -> DDAS field. With a BSN it holds
# the BSN alone (the schema's first choice allows nothing beside it).
CLIENT_FIELDS_V1_2: Mapping[str, str] = {
    "person.birth_date": "geboortedatum",
    "address.postcode": "postcode",
    "address.house_number": "huisnummer",
    "address.house_number_addition": "huisnummertoevoeging",
}
IDENTIFIED_V1_2 = ({"person.bsn"}, {"address.postcode", "address.house_number"})
CASE_STATUS = "case.status"  # status "Nog niet opgepakt", case dates
RESULT_CODE = "case.result_code"  # resultaat, the not-picked-up status of a signal
CONTACT_ATTEMPTS = "case.contact_attempts"  # contactpogingen


class DdasVersion(enum.StrEnum):
    """The versions of the uitwisselmodel the broker delivers in."""

    V0_9 = "0.9"
    V1_2 = "1.2"


@dataclass(frozen=True)
class Model:
    """What one version of the uitwisselmodel calls things."""

    version: DdasVersion
    supplier: str  # the levering's aanleverende organisatie
    start_of_matching: str
    end_of_matching: str
    picked_up_on: str
    end_result: Mapping[ResultCode, str]
    status: Mapping[ResultCode, str]  # a signal's status from its case's result
    picked_up: str | None  # a taken-up signal's status, where the version has one
    client: Callable[[Mapping[str, Any], frozenset[str]], dict[str, str]]


def _client_v0_9(flat: Mapping[str, Any], permitted: frozenset[str]) -> dict[str, str]:
    return {
        ddas: str(flat[field])
        for field, ddas in CLIENT_FIELDS.items()
        if field in permitted and _present(flat.get(field))
    }


def _client_v1_2(flat: Mapping[str, Any], permitted: frozenset[str]) -> dict[str, str]:
    if "person.bsn" in permitted and _present(flat.get("person.bsn")):
        return {"burgerservicenummer": str(flat["person.bsn"])}
    return {
        ddas: str(flat[field])
        for field, ddas in CLIENT_FIELDS_V1_2.items()
        if field in permitted and _present(flat.get(field))
    }


MODELS: Mapping[DdasVersion, Model] = {
    DdasVersion.V0_9: Model(
        version=DdasVersion.V0_9,
        supplier="aanleverende_organisatie",
        start_of_matching="startdatum_matchtingperiode",  # sic, v0.9's name
        end_of_matching="einddatum_matchingperiode",
        picked_up_on="datum_opgepakt",
        end_result=END_RESULT_V0_9,
        status=NOT_PICKED_UP_STATUS,
        picked_up=None,
        client=_client_v0_9,
    ),
    DdasVersion.V1_2: Model(
        version=DdasVersion.V1_2,
        supplier="aanleverendeOrganisatie",
        start_of_matching="startdatumMatchingperiode",
        end_of_matching="einddatumMatchingperiode",
        picked_up_on="datumOpgepakt",
        end_result=END_RESULT_V1_2,
        status=STATUS_V1_2,
        picked_up=PICKED_UP,
        client=_client_v1_2,
    ),
}


def build_ddas(
    session: Session,
    keyring: Keyring,
    register: Register,
    municipality: Organisation,
    start: dt.date,
    end: dt.date,
    now: dt.datetime,
    supplier_code: str,
    *,
    audit: AuditTrail,
    actor_client: str | None = None,
    version: DdasVersion = DdasVersion.V1_2,
) -> dict[str, Any]:
    """The uitwisselmodel (``version``) for one municipality: the signals it received in
    the period (Dutch calendar days, both included) and the cases they belong to.

    Decided and audited in the caller's transaction. When the register denies the export,
    the deny entry is committed and ``Forbidden`` raised: a refused disclosure stays on
    record even though the request fails.
    """
    period = Period(start, end)
    model = MODELS[version]
    disclosures = Disclosures(session, register, audit, now, local_date(now))
    recipient = Party(municipality.id, OrganisationKind.MUNICIPALITY.value, actor_client)
    what = Disclosure(recipient, PURPOSE, ACTION, AUDIT_ACTION)
    resources = {
        "gemeentecode": municipality.gemeentecode or "",
        "ddas_version": version.value,
        **period.as_resources(),
    }
    decision = disclosures.permission(
        what,
        recipient,
        resources,
        refuse=lambda reasons: Forbidden(
            f"the register does not permit the DDAS delivery: {'; '.join(reasons)}"
        ),
    )
    if version is DdasVersion.V1_2 and not any(need <= decision.fields for need in IDENTIFIED_V1_2):
        # v1.2 requires every client to be identified; a rule narrowed below that cannot
        # make a valid delivery, and raising here rolls back the entries of this one.
        raise Forbidden(
            "DDAS v1.2 identifies each client by person.bsn or by address.postcode and "
            "address.house_number, and the register's rule for national-statistics permits "
            "neither: widen the rule or deliver in v0.9"
        )

    rows = session.execute(
        select(Signal, Subject.pseudonym)
        .join(Subject, Subject.id == Signal.subject_id)
        .where(
            Signal.municipality_id == municipality.id,
            Signal.received_at >= period.first_instant,
            Signal.received_at < period.after_last_instant,
        )
        .order_by(Signal.received_at, Signal.id)
    ).all()
    # Each person's own objection or restriction counts as in every other disclosure:
    # someone the register denies is left out of the delivery, and the deny is on record.
    # An empty delivery is still a delivery: it is kept on record about nobody.
    people = [Person(p) for p in sorted({pseudonym for _, pseudonym in rows})] or [NOBODY]
    decided = disclosures.disclose(
        what, [Ask(person, recipient, None, resources) for person in people]
    )
    decisions = {d.ask.person.pseudonym: d.decision for d in decided}
    signals = [signal for signal, pseudonym in rows if decisions[pseudonym].permitted]

    keys = household_keys(session, keyring, {s.household_id for s in signals})
    cases = _cases(session, {s.case_id for s in signals})
    attempts = _attempts(session, set(cases)) if CONTACT_ATTEMPTS in decision.fields else {}
    signals_of_case: dict[uuid.UUID, list[Signal]] = defaultdict(list)
    for signal in signals:
        signals_of_case[signal.case_id].append(signal)

    delivery = {
        "teller": 1,
        "gemeentecode": municipality.gemeentecode,
        model.supplier: {"naam": municipality.name},
        "vroegsignalen": [
            _vroegsignaal(
                model,
                signal,
                open_identity(keys[signal.household_id], signal.id, signal.sealed_identity),
                cases[signal.case_id],
                attempts.get(signal.case_id, []),
                decision.fields,
            )
            for signal in signals
        ],
        "vroegsignaalzaken": [
            _vroegsignaalzaak(
                model,
                cases[case_id],
                signals_of_case[case_id],
                attempts.get(case_id, []),
                period,
                decision.fields,
            )
            for case_id in sorted(signals_of_case, key=lambda c: (cases[c].opened_at, c))
        ],
    }

    return {
        "codeGegevensleverancier": supplier_code,
        "startdatumLevering": start.isoformat(),
        "einddatumLevering": end.isoformat(),
        "aanleverdatumEnTijd": now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "leveringen": [delivery],
    }


# Building the delivery --------------------------------------------------------------------


def _vroegsignaal(
    model: Model,
    signal: Signal,
    identity: Mapping[str, Any],
    case: Case,
    attempts: list[ContactAttempt],
    permitted: frozenset[str],
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "crisissignaal": signal.crisis,
        "warmeOverdracht": signal.warm_handover,
        "bedrag": _whole_euros(identity.get("amount_cents")),
        "ontstaansdatum": identity.get("arrears_since"),
        "signaalpartner": {"type": SIGNAL_PARTNER[SignalKind(signal.kind)]},
    }
    # The signal's id and the day it arrived are the delivery's own bookkeeping, not
    # anything the provider told about the person.
    item: dict[str, Any] = {"ID": str(signal.id)}
    for name in ("crisissignaal", "warmeOverdracht", "bedrag", "ontstaansdatum"):
        if SIGNAL_FIELDS[name] in permitted and _present(values[name]):
            item[name] = values[name]
    item["signaaldatum"] = local_date(signal.received_at).isoformat()
    status = _signal_status(model, case, attempts, permitted)
    if status is not None:
        item["status"] = status
    # Both blocks are required by the schema; without permitted fields they stay empty.
    item["signaalpartner"] = values["signaalpartner"] if "kind" in permitted else {}
    item["client"] = model.client(flatten(identity), permitted)
    return item


def _signal_status(
    model: Model, case: Case, attempts: list[ContactAttempt], permitted: frozenset[str]
) -> str | None:
    if case.result_code is not None:
        code = ResultCode(case.result_code)
        if code in model.status:  # the reason it was not taken up, where the rule shows it
            return model.status[code] if RESULT_CODE in permitted else None
        return model.picked_up if CASE_STATUS in permitted else None
    untouched = (
        case.status == CaseStatus.OPEN
        and case.picked_up_on is None
        and case.first_attempt_on is None
        and not attempts
    )
    if CASE_STATUS not in permitted:
        return None
    return NOT_YET_PICKED_UP if untouched else model.picked_up


def _vroegsignaalzaak(
    model: Model,
    case: Case,
    signals: list[Signal],
    attempts: list[ContactAttempt],
    period: Period,
    permitted: frozenset[str],
) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if case.result_code is not None and RESULT_CODE in permitted:
        item["resultaat"] = model.end_result[ResultCode(case.result_code)]
    if CASE_STATUS in permitted:
        item["matchingsdatum"] = local_date(case.opened_at).isoformat()
    item[model.start_of_matching] = period.start.isoformat()
    if CASE_STATUS in permitted and case.picked_up_on is not None:
        item[model.picked_up_on] = case.picked_up_on.isoformat()
    item[model.end_of_matching] = period.end.isoformat()
    # Only this delivery's signals, so that every reference resolves within it.
    item["vroegsignalen"] = [{"ID": str(signal.id)} for signal in signals]
    if CONTACT_ATTEMPTS in permitted:
        item["contactpogingen"] = [_contactpoging(attempt) for attempt in attempts]
    return item


def _contactpoging(attempt: ContactAttempt) -> dict[str, Any]:
    item: dict[str, Any] = {
        "soort": CONTACT_KIND[ContactChannel(attempt.channel)],
        "bereikt": attempt.reached,
        "datum": attempt.attempted_on.isoformat(),
    }
    if attempt.part_of_day is not None:
        item["dagdeel"] = PART_OF_DAY[PartOfDay(attempt.part_of_day)]
    return item


def _whole_euros(cents: Any) -> int | None:
    # The schema asks for whole euros; half a euro rounds up, as on an invoice.
    return (int(cents) + 50) // 100 if cents is not None else None


def _present(value: Any) -> bool:
    return value is not None and value != ""


def _cases(session: Session, case_ids: set[uuid.UUID]) -> dict[uuid.UUID, Case]:
    wanted = sorted(case_ids)
    found: dict[uuid.UUID, Case] = {}
    for offset in range(0, len(wanted), CHUNK):
        chunk = wanted[offset : offset + CHUNK]
        found.update(
            (case.id, case) for case in session.scalars(select(Case).where(Case.id.in_(chunk)))
        )
    return found


def _attempts(session: Session, case_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[ContactAttempt]]:
    wanted = sorted(case_ids)
    found: dict[uuid.UUID, list[ContactAttempt]] = defaultdict(list)
    for offset in range(0, len(wanted), CHUNK):
        for attempt in session.scalars(
            select(ContactAttempt)
            .where(ContactAttempt.case_id.in_(wanted[offset : offset + CHUNK]))
            .order_by(ContactAttempt.attempted_on, ContactAttempt.recorded_at, ContactAttempt.id)
        ):
            found[attempt.case_id].append(attempt)
    return found
