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
