"""Keyed pseudonyms (HMAC-SHA256) for people and households.

Without the key a pseudonym cannot be reversed or recomputed, even though the BSN space is
small enough to enumerate; with the key the broker links signals from different providers.
Each recipient gets its own derived pseudonym (HKDF), so two recipients cannot join their
data without the broker.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from exchange.identity import normalise
from exchange.identity.schemas import Person


def person_by_bsn(key: bytes, bsn: str) -> str:
    return _hmac(key, b"person/bsn/", bsn)


def person_by_name(key: bytes, normalised_person: str) -> str:
    return _hmac(key, b"person/name/", normalised_person)


def household(key: bytes, normalised_address: str) -> str:
    return _hmac(key, b"household/", normalised_address)


def for_recipient(key: bytes, broker_pseudonym: str, recipient_id: str) -> str:
    """The pseudonym one recipient organisation sees for a broker pseudonym."""
    recipient_key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"recipient-pseudonym/" + recipient_id.encode(),
    ).derive(key)
    return _hmac(recipient_key, b"recipient/", broker_pseudonym)


def _hmac(key: bytes, domain: bytes, value: str) -> str:
    return hmac.new(key, domain + value.encode(), hashlib.sha256).hexdigest()


def subject_pseudonym(key: bytes, person: Person) -> str:
    """The broker pseudonym of a person: from the BSN when given, else name and birth date."""
    if person.bsn:
        return person_by_bsn(key, person.bsn)
    assert person.surname is not None
    assert person.birth_date is not None
    return person_by_name(
        key,
        normalise.person_key(
            initials=person.initials,
            surname_prefix=person.surname_prefix,
            surname=person.surname,
            birth_date=person.birth_date,
        ),
    )
