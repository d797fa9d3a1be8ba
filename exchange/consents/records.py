"""Consent records as ISO/IEC TS 27560 structures them, and as W3C DPV JSON-LD for a tool
outside the broker.

A record holds what only it can say (the person's pseudonym, the purposes and recipients
agreed to, how and under which notice, in which language, the consent type, the history);
the rest is derived when it is read, never copied: the controller is the organisation that
collected the consent, the data categories, legal bases and retention are the register's
for its purposes, the storage location and jurisdiction the broker's setting.

The person appears only under the pseudonym the reading organisation knows them by
(``service.consents_out``): never a BSN, never a name.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urljoin

from sqlalchemy.orm import Session

from exchange.auth.tokens import Principal
from exchange.consents.models import Consent
from exchange.consents.schemas import ConsentOut
from exchange.consents.service import consents_out
from exchange.consents.terms import RECORD_SCHEMA, ConsentStatus, ConsentType, Words
from exchange.organisations.service import organisation_names
from exchange.vault.keyring import Keyring
from policies.engine import Register

MEDIA_TYPE: Final = "application/ld+json"
DPV: Final = "https://w3id.org/dpv#"
EU_GDPR: Final = "https://w3id.org/dpv/legal/eu/gdpr#"
LOC: Final = "https://w3id.org/dpv/loc#"
DCT: Final = "http://purl.org/dc/terms/"
DCAT: Final = "http://www.w3.org/ns/dcat#"
RDFS: Final = "http://www.w3.org/2000/01/rdf-schema#"
XSD: Final = "http://www.w3.org/2001/XMLSchema#"

STATUS_TERMS: Final[dict[ConsentStatus, str]] = {
    ConsentStatus.GIVEN: "dpv:ConsentGiven",
    ConsentStatus.WITHDRAWN: "dpv:ConsentWithdrawn",
    ConsentStatus.EXPIRED: "dpv:ConsentExpired",
    ConsentStatus.REVOKED: "dpv:ConsentRevoked",
}
CONSENT_TYPE_TERMS: Final[dict[ConsentType, str]] = {
    ConsentType.EXPLICIT: "dpv:ExplicitlyExpressedConsent",
    ConsentType.EXPRESSED: "dpv:ExpressedConsent",
}
CONSENT_BASIS: Final = "eu-gdpr:A6-1-a"


@dataclass(frozen=True)
class Party:
    id: uuid.UUID
    name: str

    @property
    def iri(self) -> str:
        return self.id.urn


@dataclass(frozen=True)
class Category:
    id: str
    iri: str
    name: Words


@dataclass(frozen=True)
class PurposeTerms:
    """A purpose agreed to, as the register in force describes it."""

    id: str
    iri: str
    name: Words
    legal_basis: tuple[str, ...]
    categories: tuple[Category, ...]
    retention_period: str | None
    # What starts the period: the register's words for it (nl, en), and its note (en).
    retention_from: Words | None
    retention_starts: str | None


@dataclass(frozen=True)
class ConsentRecord:
    """One consent with every field of ISO/IEC TS 27560, stored or derived."""

    consent: ConsentOut
    controller: Party
    recipients: tuple[Party, ...]
    purposes: tuple[PurposeTerms, ...]
    storage_location: tuple[str, ...]
    jurisdiction: tuple[str, ...]
    withdrawal_method: Words
    vocabulary: str

    @property
    def schema_version(self) -> str:
        return RECORD_SCHEMA

    @property
    def created_at(self) -> dt.datetime | None:
        return self.consent.events[0].recorded_at if self.consent.events else None

    @property
    def withdrawn_on(self) -> dt.date | None:
        withdrawn = [e for e in self.consent.events if e.event == ConsentStatus.WITHDRAWN]
        return withdrawn[-1].effective_on if withdrawn else None


def consent_records(
    session: Session,
    keyring: Keyring,
    register: Register,
    principal: Principal,
    consents: Sequence[Consent],
    data_location: str,
) -> list[ConsentRecord]:
    """The consents ``principal`` may see as full records (see the module docstring)."""
    shown = consents_out(session, keyring, principal, consents)
    wanted = {c.collected_by for c in shown} | {r for c in shown for r in c.recipients}
    names = organisation_names(session, wanted)
    places = tuple(data_location.split("/"))
    return [
        ConsentRecord(
            consent=out,
            controller=_party(out.collected_by, names),
            recipients=tuple(_party(r, names) for r in out.recipients),
            purposes=tuple(purpose_terms(register, p) for p in out.purposes),
            storage_location=places,
            jurisdiction=places,
            withdrawal_method=(
                (out.withdrawal_method, out.withdrawal_method)
                if out.withdrawal_method
                else _default_withdrawal(names.get(str(out.collected_by), str(out.collected_by)))
            ),
            vocabulary=vocabulary(register),
        )
        for out in shown
    ]


def purpose_terms(register: Register, purpose_id: str) -> PurposeTerms:
    """A purpose by the register in force; one it no longer holds keeps its id only."""
    try:
        purpose = register.purpose(purpose_id)
    except KeyError:
        return PurposeTerms(
            purpose_id,
            register.uri_base + purpose_id,
            (purpose_id, purpose_id),
            (),
            (),
            None,
            None,
            None,
        )
    # A register written before it named the start in words has only the English note.
    counted_from = getattr(purpose, "retention_counted_from", None) or {}
    categories = {c.id: c for c in register.categories}
    return PurposeTerms(
        id=purpose.id,
        iri=purpose.uri,
        name=_words(purpose.name, purpose.id),
        legal_basis=purpose.legal_basis,
        categories=tuple(
            Category(
                id=c,
                iri=urljoin(register.uri_base, f"../categories/{c}"),
                name=_words(categories[c].name, c) if c in categories else (c, c),
            )
            for c in purpose.categories
        ),
        retention_period=purpose.retention_period,
        retention_from=_words(counted_from, purpose.retention_starts) if counted_from else None,
        retention_starts=purpose.retention_starts,
    )


def vocabulary(register: Register) -> str:
    """The broker's own terms, next to the register's purposes."""
    return urljoin(register.uri_base, "../terms") + "#"


def context(record: ConsentRecord) -> dict[str, str]:
    return {
        "dpv": DPV,
        "eu-gdpr": EU_GDPR,
        "loc": LOC,
        "dct": DCT,
        "dcat": DCAT,
        "rdfs": RDFS,
        "xsd": XSD,
        "sx": record.vocabulary,
    }


def as_json_ld(record: ConsentRecord, record_url: str) -> dict[str, Any]:
    """The record in W3C DPV terms (the DPVCG's guide to ISO/IEC TS 27560), compacted
    against a context of prefixes only: every term expands to its full IRI."""
    consent = record.consent
    storage = [
        {
            "@type": "dpv:StorageLocation",
            "dpv:hasLocation": [_place(p) for p in record.storage_location],
        }
    ]
    processes = [
        {
            "@type": "dpv:Process",
            "dpv:hasPurpose": {
                "@id": p.iri,
                "@type": "dpv:Purpose",
                "dct:identifier": p.id,
                "rdfs:label": _labels(p.name),
            },
            "dpv:hasLegalBasis": [{"@id": basis} for basis in p.legal_basis],
            "dpv:hasPersonalData": [
                {
                    "@id": c.iri,
                    "@type": "dpv:PersonalData",
                    "dct:identifier": c.id,
                    "rdfs:label": _labels(c.name),
                }
                for c in p.categories
            ],
            "dpv:hasRecipient": [_organisation(r, "dpv:Recipient") for r in record.recipients],
            "dpv:hasStorageCondition": storage
            + (
                [
                    {
                        "@type": "dpv:StorageDuration",
                        "dpv:hasDuration": {"@value": p.retention_period, "@type": "xsd:duration"},
                        "dct:description": (
                            _labels(p.retention_from)
                            if p.retention_from
                            else {"@value": p.retention_starts, "@language": "en"}
                        ),
                    }
                ]
                if p.retention_period
                else []
            ),
        }
        for p in record.purposes
    ]
    notice: dict[str, Any] = {
        "@type": "dpv:ConsentNotice",
        "dct:hasVersion": consent.notice_version,
        "dct:language": {"@value": consent.language, "@type": "xsd:language"},
    }
    if consent.notice_url:
        notice["@id"] = consent.notice_url
    valid: dict[str, Any] = {
        "@type": "dct:PeriodOfTime",
        "dcat:startDate": _day(consent.valid_from),
    }
    if consent.valid_until is not None:
        valid["dcat:endDate"] = _day(consent.valid_until)
    document: dict[str, Any] = {
        "@context": context(record),
        "@id": record_url,
        "@type": "dpv:ConsentRecord",
        "dct:identifier": str(consent.id),
        "dct:conformsTo": {"@id": record.schema_version},
        "dct:language": {"@value": consent.language, "@type": "xsd:language"},
        "dpv:hasDataSubject": {"@type": "dpv:DataSubject", "dct:identifier": consent.subject},
        "dpv:hasDataController": _organisation(record.controller, "dpv:DataController"),
        "dpv:hasJurisdiction": [_place(p) for p in record.jurisdiction],
        "dpv:hasApplicableLaw": {"@id": "eu-gdpr:GDPR"},
        "dpv:hasLegalBasis": [
            {"@id": CONSENT_BASIS},
            {"@id": CONSENT_TYPE_TERMS[consent.consent_type]},
        ],
        "dpv:hasConsentStatus": {"@id": STATUS_TERMS[consent.status]},
        "dpv:hasIndicationMethod": {"@id": f"sx:collection-{consent.collection_method.value}"},
        "dpv:hasNotice": notice,
        "dpv:hasProcess": processes,
        "dct:valid": valid,
        "sx:withdrawalMethod": (
            {"@value": consent.withdrawal_method, "@language": consent.language}
            if consent.withdrawal_method
            else _labels(record.withdrawal_method)
        ),
        "sx:policyVersion": consent.policy_version,
        "sx:statusHistory": {
            "@list": [
                {
                    "dpv:hasConsentStatus": {"@id": STATUS_TERMS[ConsentStatus(e.event)]},
                    "dct:date": _day(e.effective_on),
                    "dpv:isIndicatedAtTime": _moment(e.recorded_at),
                    "dct:creator": {"@id": e.recorded_by.urn},
                }
                for e in consent.events
            ]
        },
    }
    if record.created_at is not None:
        document["dct:created"] = _moment(record.created_at)
        document["dpv:isIndicatedAtTime"] = _moment(record.created_at)
        document["dct:modified"] = _moment(consent.events[-1].recorded_at)
    if record.withdrawn_on is not None:
        document["sx:withdrawnOn"] = _day(record.withdrawn_on)
    return document


def json_ld_bytes(record: ConsentRecord, record_url: str) -> bytes:
    return json.dumps(as_json_ld(record, record_url), ensure_ascii=False, indent=2).encode()


def _party(organisation_id: uuid.UUID, names: dict[str, str]) -> Party:
    return Party(organisation_id, names.get(str(organisation_id), str(organisation_id)))


def _organisation(party: Party, kind: str) -> dict[str, Any]:
    return {"@id": party.iri, "@type": kind, "dct:title": party.name}


def _default_withdrawal(collector: str) -> Words:
    return (
        f"Laat {collector} weten dat u uw toestemming intrekt (persoonlijk, telefonisch, per "
        "brief of digitaal); vanaf dat moment worden geen gegevens meer op grond ervan gedeeld.",
        f"Tell {collector} that you withdraw your consent (in person, by phone, by letter or "
        "digitally); from then on nothing is shared on the strength of it.",
    )


def _words(names: Any, fallback: str) -> Words:
    return (names.get("nl", fallback), names.get("en", names.get("nl", fallback)))


def _labels(words: Words) -> list[dict[str, str]]:
    nl, en = words
    return [{"@value": nl, "@language": "nl"}, {"@value": en, "@language": "en"}]


def _place(code: str) -> dict[str, str]:
    return {"@id": f"loc:{code}"}


def _day(value: dt.date) -> dict[str, str]:
    return {"@value": value.isoformat(), "@type": "xsd:date"}


def _moment(value: dt.datetime) -> dict[str, str]:
    return {"@value": value.isoformat(), "@type": "xsd:dateTime"}
