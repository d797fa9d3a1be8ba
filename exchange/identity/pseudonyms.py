"""Keyed pseudonyms (HMAC-SHA256) for people and households.

Without the key a pseudonym cannot be reversed or recomputed, even though the BSN space is
small enough to enumerate; with the key the broker links signals from different providers.
Each recipient gets its own derived pseudonym (HKDF), so two recipients cannot join their
data without the broker.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence

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


def rekey(key: bytes, pseudonym: str) -> str:
    """The pseudonym under the next key of a rotation, made from the one before.

    Pseudonyms chain through the keys in the order they were made active: the first key
    turns the identity into a pseudonym, each later key turns that into the next. Rotating
    the key then re-links every stored household and person by rehashing their stored
    pseudonym, without opening a single identity; and a leaked old key alone no longer
    finds anyone among today's pseudonyms.
    """
    return _hmac(key, b"rekey/", pseudonym)


def chained(keys: bytes | Sequence[bytes], first_stage: Callable[[bytes], str]) -> list[str]:
    """Every stage of a pseudonym through the key chain, oldest first; the last is current.

    The older stages are what the audit log holds for entries written before a rotation.
    """
    chain = [keys] if isinstance(keys, bytes) else list(keys)
    stages = [first_stage(chain[0])]
    for key in chain[1:]:
        stages.append(rekey(key, stages[-1]))
    return stages


def _hmac(key: bytes, domain: bytes, value: str) -> str:
    return hmac.new(key, domain + value.encode(), hashlib.sha256).hexdigest()


def subject_pseudonym(keys: bytes | Sequence[bytes], person: Person) -> str:
    """The broker pseudonym of a person: from the BSN when given, else name and birth date.

    ``keys`` is the pseudonym key chain (``Keyring.pseudonym_keys``), or one key.
    """
    return subject_pseudonyms(keys, person)[-1]


def subject_pseudonyms(keys: bytes | Sequence[bytes], person: Person) -> list[str]:
    """Every pseudonym the person had through the key rotations, oldest first."""
    if person.bsn:
        bsn = person.bsn
        return chained(keys, lambda key: person_by_bsn(key, bsn))
    assert person.surname is not None
    assert person.birth_date is not None
    normalised = normalise.person_key(
        initials=person.initials,
        surname_prefix=person.surname_prefix,
        surname=person.surname,
        birth_date=person.birth_date,
    )
    return chained(keys, lambda key: person_by_name(key, normalised))
