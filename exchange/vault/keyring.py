"""The broker's keys, by family, each with a key id so that keys can rotate.

Families:
- ``pseudonym``: HMAC-SHA256 keys that turn identities into broker pseudonyms;
- ``kek``: key-encryption keys that wrap the per-household data keys;
- ``digest``: HMAC key for content fingerprints (idempotency) that must not be guessable;
- ``token-signing``: ES256 (P-256) keys that sign access tokens (public half in the JWKS);
- ``checkpoint``: Ed25519 keys that sign the audit log's checkpoints (C2SP signed notes).

Keys come from a ``KeySource``. The embedded default is a directory of JSON files with
mode 0600 under the data dir; a KMS or Vault adapter implements the same two methods.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import ECKey, KeySet

FAMILIES = ("pseudonym", "kek", "digest", "token-signing", "checkpoint")


class KeySource(Protocol):
    def load(self, family: str) -> dict[str, Any] | None: ...

    def store(self, family: str, document: dict[str, Any]) -> None: ...


class FileKeySource:
    """Key documents as ``<dir>/<family>.json``, readable by the owner only."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def load(self, family: str) -> dict[str, Any] | None:
        path = self.directory / f"{family}.json"
        if not path.exists():
            return None
        document: dict[str, Any] = json.loads(path.read_text())
        return document

    def store(self, family: str, document: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / f"{family}.json"
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(document, handle, indent=2)
        temporary.replace(path)


class MissingKeys(RuntimeError):
    pass


@dataclass(frozen=True)
class SymmetricKeys:
    active_id: str
    keys: dict[str, bytes]

    @property
    def active(self) -> bytes:
        return self.keys[self.active_id]

    def get(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise MissingKeys(f"key {key_id} is not in the keyring") from None


@dataclass(frozen=True)
class Keyring:
    pseudonym: SymmetricKeys
    kek: SymmetricKeys
    digest: SymmetricKeys
    token_signing: KeySet
    token_signing_active_id: str
    checkpoint: SymmetricKeys  # raw Ed25519 private keys (32 bytes each), by key id

    @classmethod
    def load(cls, source: KeySource) -> Keyring:
        documents = {family: source.load(family) for family in FAMILIES}
        missing = [family for family, document in documents.items() if document is None]
        if missing:
            raise MissingKeys(
                f"keys missing: {', '.join(missing)}; run 'exchange init' to create them"
            )
        signing = documents["token-signing"]
        assert signing is not None
        keyset = KeySet.import_key_set({"keys": list(signing["keys"].values())})
        return cls(
            pseudonym=_symmetric(documents["pseudonym"]),
            kek=_symmetric(documents["kek"]),
            digest=_symmetric(documents["digest"]),
            token_signing=keyset,
            token_signing_active_id=signing["active"],
            checkpoint=_symmetric(documents["checkpoint"]),
        )

    def signing_key(self) -> ECKey:
        key = self.token_signing.get_by_kid(self.token_signing_active_id)
        if not isinstance(key, ECKey):
            raise MissingKeys("the active token-signing key is not a P-256 key")
        return key

    def checkpoint_key(self) -> Ed25519PrivateKey:
        """The active key that signs audit checkpoints."""
        return Ed25519PrivateKey.from_private_bytes(self.checkpoint.active)

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in self.token_signing.keys]}


def ensure_keys(source: KeySource) -> list[str]:
    """Create every key family that is missing; return the families created."""
    created = []
    for family in FAMILIES:
        if source.load(family) is not None:
            continue
        key_id = new_key_id(family)
        if family == "token-signing":
            key = ECKey.generate_key(
                "P-256", parameters={"kid": key_id, "use": "sig", "alg": "ES256"}
            )
            material: Any = key.as_dict(private=True)
        else:
            material = base64.b64encode(secrets.token_bytes(32)).decode()
        source.store(family, {"active": key_id, "keys": {key_id: material}})
        created.append(family)
    return created


def new_key_id(family: str) -> str:
    today = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    return f"{family}-{today}-{secrets.token_hex(3)}"


def _symmetric(document: dict[str, Any] | None) -> SymmetricKeys:
    assert document is not None
    keys = {kid: base64.b64decode(material) for kid, material in document["keys"].items()}
    if any(len(key) != 32 for key in keys.values()):
        raise MissingKeys("symmetric keys must be 32 bytes")
    return SymmetricKeys(active_id=document["active"], keys=keys)
