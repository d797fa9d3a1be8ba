"""The broker's keys, by family, each with a key id so that keys can rotate.

Families:
- ``pseudonym``: HMAC-SHA256 keys that turn identities into broker pseudonyms;
- ``kek``: key-encryption keys that wrap the per-household data keys;
- ``digest``: HMAC key for content fingerprints (idempotency) that must not be guessable;
- ``token-signing``: ES256 (P-256) keys that sign access tokens (public half in the JWKS);
- ``checkpoint``: Ed25519 keys that sign the audit log's checkpoints (C2SP signed notes).

Keys come from a ``KeySource``. The embedded default is a directory of JSON files with
mode 0600 under the data dir (``FileKeySource``); in production the same documents can come
from a mounted secret directory (a ``FileKeySource`` on the mount) or from environment
variables (``EnvironmentKeySource``). A KMS or Vault adapter implements the same two methods.

A key document is ``{"active": <key id>, "keys": {<key id>: <material>}}``, plus, once a
family has been rotated, ``"order"`` (the key ids oldest first: pseudonyms chain through
them) and ``"retired"`` (token-signing keys: the instant after which the key leaves the
JWKS, when the last token it signed has expired). ``exchange keys rotate`` writes them.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


class EnvironmentKeySource:
    """Key documents from environment variables ``<prefix><FAMILY>`` (``EXCHANGE_KEY_KEK``,
    ``EXCHANGE_KEY_TOKEN_SIGNING``, ...), each the JSON document, as a secret store injects
    them. Read-only: rotate in the secret store and restart (or let replicas reload)."""

    def __init__(self, environ: Mapping[str, str] | None = None, prefix: str = "EXCHANGE_KEY_"):
        self.environ = os.environ if environ is None else environ
        self.prefix = prefix

    def variable(self, family: str) -> str:
        return self.prefix + family.upper().replace("-", "_")

    def load(self, family: str) -> dict[str, Any] | None:
        text = self.environ.get(self.variable(family))
        if not text:
            return None
        document: dict[str, Any] = json.loads(text)
        return document

    def store(self, family: str, document: dict[str, Any]) -> None:
        raise ReadOnlyKeySource(
            f"keys come from the environment: put the new document in {self.variable(family)} "
            "through your secret store"
        )


class ReadOnlyKeySource(RuntimeError):
    pass


class MissingKeys(RuntimeError):
    pass


@dataclass(frozen=True)
class SymmetricKeys:
    active_id: str
    keys: dict[str, bytes]
    order: tuple[str, ...] = ()
    # Reads the family's document again: a key another process added since start-up (a
    # rotation) is found without a restart, so re-wrapped rows stay readable everywhere.
    reload: Callable[[], dict[str, Any] | None] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def active(self) -> bytes:
        return self.keys[self.active_id]

    @property
    def chain(self) -> tuple[bytes, ...]:
        """The keys oldest first, ending with the active one (pseudonyms chain through them)."""
        ids = self.order or (self.active_id,)
        return tuple(self.keys[key_id] for key_id in ids)

    def get(self, key_id: str) -> bytes:
        key = self.keys.get(key_id)
        if key is None and self.reload is not None:
            document = self.reload()
            if document is not None:
                self.keys.update(_symmetric(document).keys)
            key = self.keys.get(key_id)
        if key is None:
            raise MissingKeys(f"key {key_id} is not in the keyring")
        return key


@dataclass(frozen=True)
class Keyring:
    pseudonym: SymmetricKeys
    kek: SymmetricKeys
    digest: SymmetricKeys
    token_signing: KeySet
    token_signing_active_id: str
    checkpoint: SymmetricKeys  # raw Ed25519 private keys (32 bytes each), by key id
    token_signing_retired: dict[str, dt.datetime] = field(default_factory=dict)
    source: KeySource | None = field(default=None, compare=False, repr=False)

    @property
    def pseudonym_keys(self) -> tuple[bytes, ...]:
        """The pseudonym key chain, oldest first (``exchange.identity.pseudonyms``)."""
        return self.pseudonym.chain

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
            kek=_symmetric(documents["kek"], lambda: source.load("kek")),
            digest=_symmetric(documents["digest"]),
            token_signing=keyset,
            token_signing_active_id=signing["active"],
            checkpoint=_symmetric(documents["checkpoint"]),
            token_signing_retired={
                key_id: dt.datetime.fromisoformat(moment)
                for key_id, moment in signing.get("retired", {}).items()
            },
            source=source,
        )

    def reloaded(self) -> Keyring:
        """The keyring as its source holds it now (after a rotation by another process)."""
        if self.source is None:
            return self
        return Keyring.load(self.source)

    def signing_key(self) -> ECKey:
        key = self.token_signing.get_by_kid(self.token_signing_active_id)
        if not isinstance(key, ECKey):
            raise MissingKeys("the active token-signing key is not a P-256 key")
        return key

    def checkpoint_key(self) -> Ed25519PrivateKey:
        """The active key that signs audit checkpoints."""
        return Ed25519PrivateKey.from_private_bytes(self.checkpoint.active)

    def public_jwks(self, now: dt.datetime | None = None) -> dict[str, Any]:
        """Every token-signing key that can still have valid tokens out: a rotated key stays
        until the last token it signed has expired."""
        moment = now or dt.datetime.now(dt.UTC)
        return {
            "keys": [
                key.as_dict(private=False)
                for key in self.token_signing.keys
                if key.kid not in self.token_signing_retired
                or self.token_signing_retired[key.kid] > moment
            ]
        }


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


def key_source(keys_dir: Path, kind: str = "file") -> KeySource:
    """The configured key source: ``file`` (a directory, also a mounted secret) or ``env``."""
    if kind == "env":
        return EnvironmentKeySource()
    return FileKeySource(keys_dir)


def _symmetric(
    document: dict[str, Any] | None,
    reload: Callable[[], dict[str, Any] | None] | None = None,
) -> SymmetricKeys:
    assert document is not None
    keys = {kid: base64.b64decode(material) for kid, material in document["keys"].items()}
    if any(len(key) != 32 for key in keys.values()):
        raise MissingKeys("symmetric keys must be 32 bytes")
    order = tuple(document.get("order", ()))
    if order and order[-1] != document["active"]:
        raise MissingKeys("the active key must be the last of the key order")
    return SymmetricKeys(active_id=document["active"], keys=keys, order=order, reload=reload)
