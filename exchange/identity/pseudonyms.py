"""Keyed pseudonyms (HMAC-SHA256) for people and households.

Without the key a pseudonym cannot be reversed or recomputed, even though the BSN space is
small enough to enumerate; with the key the broker links signals from different providers.
Each recipient gets its own derived pseudonym (HKDF), so two recipients cannot join their
data without the broker.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from exchange.identity import normalise
from exchange.identity.schemas import Person
from exchange.identity.terms import BSN, NAME


def person_by_bsn(key: bytes, bsn: str) -> str:
    return _hmac(key, b"person/bsn/", bsn)


def person_by_name(key: bytes, normalised_person: str) -> str:
    return _hmac(key, b"person/name/", normalised_person)


def household(key: bytes, normalised_address: str) -> str:
    return _hmac(key, b"household/", normalised_address)


def household_of(
    keys: bytes | Sequence[bytes], postcode: str, house_number: str, addition: str | None
) -> str:
    """The household pseudonym of an address under today's key (``keys``: the key chain)."""
    normalised = normalise.household_key(
        postcode_text=postcode, house_number=house_number, addition=addition
    )
    return chained(keys, lambda key: household(key, normalised))[-1]


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
    given = identifiers(keys, person)
    return list(given.bsn or given.name)


@dataclass(frozen=True, slots=True)
class Identifiers:
    """The pseudonyms of every identifier a person is given by, each through every key
    stage, oldest first (empty for an identifier not given)."""

    bsn: tuple[str, ...] = ()
    name: tuple[str, ...] = ()

    @property
    def primary(self) -> str:
        """The pseudonym the person's records go under: the BSN's when there is one."""
        return (self.bsn or self.name)[-1]

    @property
    def current(self) -> dict[str, str]:
        """``{pseudonym: kind}`` of each identifier under today's key."""
        return {stages[-1]: kind for kind, stages in ((BSN, self.bsn), (NAME, self.name)) if stages}

    @property
    def pair(self) -> tuple[str, str] | None:
        """(BSN, name) under today's key when both are given: the two to link."""
        return (self.bsn[-1], self.name[-1]) if self.bsn and self.name else None

    @property
    def every_stage(self) -> tuple[str, ...]:
        return self.bsn + self.name

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(kind for kind, stages in ((BSN, self.bsn), (NAME, self.name)) if stages)


def identifiers(keys: bytes | Sequence[bytes], person: Person | Mapping[str, Any]) -> Identifiers:
    """The pseudonyms of the identifiers the person is given by: the BSN when there is one,
    and the name and birth date when all three are there (with a BSN or without).

    ``person`` is a request's :class:`Person` or a signal's sealed ``person`` part.
    """
    if isinstance(person, Person):
        bsn, initials, prefix = person.bsn, person.initials, person.surname_prefix
        surname, birth_date = person.surname, person.birth_date
    else:
        bsn, initials, prefix = (
            person.get("bsn"),
            person.get("initials"),
            person.get("surname_prefix"),
        )
        surname = person.get("surname")
        born = person.get("birth_date")
        birth_date = dt.date.fromisoformat(born) if isinstance(born, str) else born
    by_bsn: tuple[str, ...] = ()
    by_name: tuple[str, ...] = ()
    if bsn:
        number = bsn
        by_bsn = tuple(chained(keys, lambda key: person_by_bsn(key, number)))
    if initials and surname and birth_date:
        normalised = normalise.person_key(
            initials=initials, surname_prefix=prefix, surname=surname, birth_date=birth_date
        )
        by_name = tuple(chained(keys, lambda key: person_by_name(key, normalised)))
    return Identifiers(by_bsn, by_name)
