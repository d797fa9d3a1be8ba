"""The consent ledger's words: where a consent stands and how it was collected. Shared by
the package's models, schemas and services and by the entry points (``/v1``, ``/ui``,
the command line), none of which need its tables for them.
"""

from __future__ import annotations

import enum


class ConsentStatus(enum.StrEnum):
    GIVEN = "given"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    REVOKED = "revoked"


class CollectionMethod(enum.StrEnum):
    IN_PERSON = "in_person"
    PHONE = "phone"
    LETTER = "letter"
    DIGITAL = "digital"


class ConsentType(enum.StrEnum):
    """How the person agreed (ISO/IEC TS 27560 consent type; DPV's consent types). Both are
    an affirmative act, as AVG art. 4(11) requires: ``explicit`` is consent given in words
    or in writing to the purposes named (art. 9(2)(a) level), ``expressed`` any other clear
    affirmative act. The ledger records no implied consent."""

    EXPLICIT = "explicit"
    EXPRESSED = "expressed"


# The ledger's words in Dutch and English, for the pages and the exported records.
Words = tuple[str, str]

STATUS_WORDS: dict[ConsentStatus, Words] = {
    ConsentStatus.GIVEN: ("gegeven", "given"),
    ConsentStatus.WITHDRAWN: ("ingetrokken", "withdrawn"),
    ConsentStatus.EXPIRED: ("verlopen", "expired"),
    ConsentStatus.REVOKED: ("herroepen", "revoked"),
}

COLLECTION_WORDS: dict[CollectionMethod, Words] = {
    CollectionMethod.IN_PERSON: ("persoonlijk gesprek", "in person"),
    CollectionMethod.PHONE: ("telefonisch", "by phone"),
    CollectionMethod.LETTER: ("per brief", "by letter"),
    CollectionMethod.DIGITAL: ("digitaal", "digitally"),
}

CONSENT_TYPE_WORDS: dict[ConsentType, Words] = {
    ConsentType.EXPLICIT: ("uitdrukkelijke toestemming", "explicit consent"),
    ConsentType.EXPRESSED: ("toestemming door een duidelijke handeling", "expressed consent"),
}

# The fields of a consent record (ISO/IEC TS 27560) as the privacy officer's page names them.
RECORD_FIELD_WORDS: dict[str, Words] = {
    "schema_version": ("Schemaversie", "Schema version"),
    "record_id": ("Kenmerk van het record", "Record identifier"),
    "subject": ("Betrokkene (pseudoniem)", "Data subject (pseudonym)"),
    "controller": ("Verwerkingsverantwoordelijke", "Controller"),
    "recipients": ("Ontvangers", "Recipients"),
    "purposes": ("Doelen", "Purposes"),
    "legal_basis": ("Grondslag", "Legal basis"),
    "data_categories": ("Gegevenscategorieën", "Data categories"),
    "retention": ("Bewaartermijn", "Retention"),
    "storage_location": ("Opslaglocatie", "Storage location"),
    "jurisdiction": ("Rechtsgebied", "Jurisdiction"),
    "status": ("Status", "Status"),
    "consent_type": ("Soort toestemming", "Consent type"),
    "collection_method": ("Verkregen", "Collected"),
    "notice": ("Informatie aan de betrokkene", "Notice"),
    "language": ("Taal", "Language"),
    "valid": ("Geldig", "Valid"),
    "withdrawal_method": ("Intrekken", "How to withdraw"),
    "history": ("Geschiedenis", "History"),
    "download": ("Record downloaden (JSON-LD)", "Download record (JSON-LD)"),
}

# The register's legal bases (DPV's GDPR terms) in words.
LEGAL_BASIS_WORDS: dict[str, Words] = {
    "eu-gdpr:A6-1-a": ("toestemming (AVG art. 6 lid 1 sub a)", "consent (GDPR art. 6(1)(a))"),
    "eu-gdpr:A6-1-b": ("overeenkomst (AVG art. 6 lid 1 sub b)", "contract (GDPR art. 6(1)(b))"),
    "eu-gdpr:A6-1-c": (
        "wettelijke plicht (AVG art. 6 lid 1 sub c)",
        "legal obligation (GDPR art. 6(1)(c))",
    ),
    "eu-gdpr:A6-1-e": ("publieke taak (AVG art. 6 lid 1 sub e)", "public task (GDPR art. 6(1)(e))"),
    "eu-gdpr:A6-1-f": (
        "gerechtvaardigd belang (AVG art. 6 lid 1 sub f)",
        "legitimate interest (GDPR art. 6(1)(f))",
    ),
}

# The structure a consent record follows (ISO/IEC TS 27560:2023 as DPV's profile for it
# defines it): its schema version, in every record the ledger gives out.
RECORD_SCHEMA = "https://w3id.org/dpv/schema/dpv-27560#record"

PLACE_WORDS: dict[str, Words] = {
    "EU": ("Europese Unie", "European Union"),
    "NL": ("Nederland", "the Netherlands"),
}

LANGUAGE_WORDS: dict[str, Words] = {
    "nl": ("Nederlands", "Dutch"),
    "en": ("Engels", "English"),
    "de": ("Duits", "German"),
    "fr": ("Frans", "French"),
    "tr": ("Turks", "Turkish"),
    "ar": ("Arabisch", "Arabic"),
    "pl": ("Pools", "Polish"),
}

_DURATION_UNITS: dict[str, tuple[Words, Words]] = {
    "Y": (("jaar", "jaar"), ("year", "years")),
    "M": (("maand", "maanden"), ("month", "months")),
    "W": (("week", "weken"), ("week", "weeks")),
    "D": (("dag", "dagen"), ("day", "days")),
}


def duration_words(period: str) -> Words:
    """An ISO 8601 duration of one unit (``P6M``, ``P5Y``) in words; any other as given."""
    amount, unit = period[1:-1], period[-1:]
    if not (period.startswith("P") and amount.isdigit() and unit in _DURATION_UNITS):
        return (period, period)
    (nl_one, nl_many), (en_one, en_many) = _DURATION_UNITS[unit]
    count = int(amount)
    return (
        f"{count} {nl_one if count == 1 else nl_many}",
        f"{count} {en_one if count == 1 else en_many}",
    )


def page_words() -> dict[str, object]:
    """The words a page about the ledger shows, each a (Dutch, English) pair."""
    return {
        "status_words": STATUS_WORDS,
        "collection_words": COLLECTION_WORDS,
        "consent_type_words": CONSENT_TYPE_WORDS,
        "field_words": RECORD_FIELD_WORDS,
        "legal_basis_words": LEGAL_BASIS_WORDS,
        "place_words": PLACE_WORDS,
        "language_words": LANGUAGE_WORDS,
        "duration_words": duration_words,
    }
