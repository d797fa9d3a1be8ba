"""Opening what is sealed under a household's data key, and showing only permitted fields.

Identity, contact details, exact amounts and workers' notes are stored as AES-256-GCM
ciphertext under the household's data key (see ``exchange.vault.envelope``). They are
opened only to answer a disclosure the register permitted, and only the permitted fields
leave this module: ``project`` drops everything else before a response is built.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.db import CHUNK
from exchange.identity.models import Household
from exchange.vault import envelope
from exchange.vault.keyring import Keyring


def household_keys(
    session: Session, keyring: Keyring, household_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, bytes]:
    """The data keys of these households, unwrapped with the key-encryption key."""
    wanted = sorted(set(household_ids))
    keys: dict[uuid.UUID, bytes] = {}
    for start in range(0, len(wanted), CHUNK):
        for household_id, kek_id, wrapped in session.execute(
            select(Household.id, Household.kek_id, Household.wrapped_data_key).where(
                Household.id.in_(wanted[start : start + CHUNK])
            )
        ):
            keys[household_id] = envelope.unwrap_data_key(
                keyring.kek.get(kek_id), wrapped, household_id.bytes
            )
    return keys


def open_identity(data_key: bytes, signal_id: uuid.UUID, sealed: bytes) -> dict[str, Any]:
    """A signal's sealed part: person, address, contact, amount_cents, arrears_since,
    preconditions (as the provider sent them, dates as ISO strings)."""
    document: dict[str, Any] = orjson.loads(envelope.open_sealed(data_key, sealed, signal_id.bytes))
    return document


def seal_text(data_key: bytes, text: str, row_id: uuid.UUID) -> bytes:
    """Seal a worker's free text, bound to the row that holds it."""
    return envelope.seal(data_key, text.encode(), b"note:" + row_id.bytes)


def open_text(data_key: bytes, sealed: bytes, row_id: uuid.UUID) -> str:
    return envelope.open_sealed(data_key, sealed, b"note:" + row_id.bytes).decode()


def flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"person": {"bsn": ...}}`` -> ``{"person.bsn": ...}``: the register's field names."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def project(flat: Mapping[str, Any], permitted: Iterable[str]) -> dict[str, Any]:
    """The permitted fields of ``flat``, nested again; a field not permitted is not there."""
    nested: dict[str, Any] = {}
    for name in sorted(set(permitted)):
        if name not in flat:
            continue
        *parents, leaf = name.split(".")
        target = nested
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = flat[name]
    return nested
