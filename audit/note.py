"""Checkpoints (C2SP tlog-checkpoint) signed as C2SP signed notes with Ed25519.

A checkpoint body is three lines and optional extension lines::

    <origin>
    <tree size, decimal, no leading zeros>
    <base64 of the 32-byte root hash>
    [extension lines]

A signed note is the body, a blank line and one signature line per signer::

    — <key name> <base64(4-byte key ID || 64-byte Ed25519 signature over the body)>

with key ID = the first four bytes of SHA-256(key name || "\\n" || 0x01 || public key). An
auditor configures the broker's *verifier key* ``<name>+<8 hex key ID>+<base64(0x01 ||
public key)>``, the same text golang.org/x/mod/sumdb/note and the transparency-dev tools use.
See https://c2sp.org/signed-note and https://c2sp.org/tlog-checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "ALG_ED25519",
    "KEY_ROTATION",
    "Checkpoint",
    "MissingSignature",
    "NoteError",
    "NoteSigner",
    "add_signature",
    "announced_keys",
    "key_id",
    "note_signatures",
    "open_checkpoint",
    "open_note",
    "parse_checkpoint",
    "parse_verifier_key",
    "verifier_key_text",
]

ALG_ED25519 = 0x01
"""The signature type byte of Ed25519 in C2SP signed notes."""

KEY_ROTATION = "key-rotation"
"""Checkpoint extension line ``key-rotation <verifier key>``: the log's signer announces
the key that signs its checkpoints from now on, in a checkpoint signed by the current key."""

_SIG_PREFIX = "— "  # em dash U+2014, space
_MAX_SIGNATURES = 100  # the spec asks for at least 16; Go's reference allows 100
_HASH_SIZE = 32
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


class NoteError(ValueError):
    """A note or checkpoint is malformed, or carries no valid signature by the expected key."""


class MissingSignature(NoteError):
    """A well-formed note carries no signature by the expected key (only other keys' ones).

    Unlike a signature by the key that does not verify (a plain NoteError), this says nothing
    against the note: it was signed by someone else, and a verifier that holds only this key
    cannot use it.
    """


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: the log's origin, its tree size and the root hash at that size."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Refuse values that cannot be written as a checkpoint body."""
        if not self.origin or "\n" in self.origin or _CONTROL.search(self.origin):
            raise ValueError("the origin is one non-empty line without control characters")
        if type(self.size) is not int or self.size < 0:
            raise ValueError("the tree size is a non-negative integer")
        if len(self.root) != _HASH_SIZE:
            raise ValueError("the root hash is 32 bytes")
        for line in self.extensions:
            if not line or "\n" in line or _CONTROL.search(line):
                raise ValueError("extension lines are non-empty single lines")

    def body(self) -> str:
        """Return the note text: origin, size, base64 root hash and extensions, one per line."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        lines.extend(self.extensions)
        return "\n".join(lines) + "\n"


class NoteSigner:
    """Signs note texts with an Ed25519 key under a key name (C2SP signed note)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        """Use ``private_key`` under ``name`` (non-empty, no spaces, no '+')."""
        if not _is_valid_name(name):
            raise ValueError(f"invalid key name {name!r}: non-empty, no spaces, no '+'")
        self.name = name
        self._private_key = private_key
        self.public_key_bytes = private_key.public_key().public_bytes(
            Encoding.Raw, PublicFormat.Raw
        )
        self.key_id = key_id(name, self.public_key_bytes)

    def sign(self, body: str) -> str:
        """Return the whole signed note: ``body``, a blank line and this key's signature line.

        ``body`` must end in a newline and hold no control characters other than newlines.
        """
        _check_text(body)
        signature = self._private_key.sign(body.encode("utf-8"))
        blob = self.key_id.to_bytes(4, "big") + signature
        return f"{body}\n{_SIG_PREFIX}{self.name} {base64.b64encode(blob).decode('ascii')}\n"

    def verifier_key(self) -> str:
        """Return the verifier key text ``<name>+<8 hex key ID>+<base64(0x01 || public key)>``."""
        return verifier_key_text(self.name, self.public_key_bytes)


def add_signature(note: str, signer: NoteSigner) -> str:
    """Return ``note`` with one more signature line, by ``signer``, over the same text.

    A co-signed note verifies with either key (C2SP signed-note: verifiers ignore
    signatures by keys they do not know).
    """
    split = note.rfind("\n\n")
    if split < 0:
        raise ValueError("a signed note needs a blank line before its signatures")
    text = note[: split + 1]
    signature_line = signer.sign(text)[len(text) + 1 :]
    return note + signature_line


def announced_keys(checkpoint: Checkpoint) -> list[str]:
    """The verifier keys a checkpoint announces in ``key-rotation`` extension lines."""
    prefix = KEY_ROTATION + " "
    return [line[len(prefix) :] for line in checkpoint.extensions if line.startswith(prefix)]


def key_id(name: str, public_key: bytes) -> int:
    """Return the 32-bit key ID: SHA-256(name || "\\n" || 0x01 || public key)[:4], big-endian."""
    digest = hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key
    ).digest()
    return int.from_bytes(digest[:4], "big")


def verifier_key_text(name: str, public_key: bytes) -> str:
    """Return the verifier key text for an Ed25519 public key (32 raw bytes) under ``name``."""
    if not _is_valid_name(name):
        raise ValueError(f"invalid key name {name!r}")
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    material = base64.b64encode(bytes([ALG_ED25519]) + public_key).decode("ascii")
    return f"{name}+{key_id(name, public_key):08x}+{material}"


def parse_verifier_key(text: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """Parse a verifier key text into (key name, 4-byte key ID, Ed25519 public key).

    Raises NoteError when the text is malformed, names another algorithm than Ed25519 or its
    key ID does not match the name and key.
    """
    text = text.strip()
    name, plus, rest = text.partition("+")
    hex_id, plus2, material = rest.partition("+")
    if not plus or not plus2 or not _is_valid_name(name) or not _HEX8.fullmatch(hex_id):
        raise NoteError("a verifier key reads <name>+<8 hex digits>+<base64 key>")
    key = _b64decode(material)
    if key is None or len(key) != 33 or key[0] != ALG_ED25519:
        raise NoteError("the verifier key is not an Ed25519 key (0x01 || 32 bytes)")
    public_key = key[1:]
    kid = key_id(name, public_key)
    if kid != int(hex_id, 16):
        raise NoteError("the verifier key's ID does not match its name and key")
    try:
        verifier = Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError:
        raise NoteError("the verifier key holds no valid Ed25519 public key") from None
    return name, kid.to_bytes(4, "big"), verifier


def open_note(note: str, verifier_key: str) -> str:
    """Return the text of a signed note once a signature by ``verifier_key`` verifies.

    Signatures by other keys are ignored (C2SP signed-note; :func:`note_signatures` lists
    them); a signature that names this key (same name and key ID) but does not verify makes
    the whole note invalid. Raises MissingSignature when the note is well-formed but carries
    no signature by the key, NoteError when it is malformed or that key's signature does not
    verify.
    """
    name, kid, public_key = parse_verifier_key(verifier_key)
    text, signatures = _split_note(note)
    try:
        message = text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError("a signed note must be valid UTF-8") from None
    verified = False
    for sig_name, blob in signatures:
        if sig_name != name or blob[:4] != kid:
            continue  # another key's signature: ignored, as the spec says
        try:
            public_key.verify(blob[4:], message)
        except InvalidSignature:
            raise NoteError(f"the signature by {name} does not verify") from None
        verified = True
    if not verified:
        raise MissingSignature(f"no signature by {name} (key ID {kid.hex()}) on this note")
    return text


def note_signatures(note: str) -> list[tuple[str, bytes]]:
    """The (key name, 4-byte key ID) of each signature line of a signed note, in order.

    Nothing is verified: this tells which keys a note claims to be signed by, for example
    to name the keys of a note that no trusted key signed. Raises NoteError when malformed.
    """
    return [(sig_name, blob[:4]) for sig_name, blob in _split_note(note)[1]]


def open_checkpoint(note: str, verifier_key: str, origin: str | None = None) -> Checkpoint:
    """Verify a signed checkpoint with ``verifier_key`` and return its parsed body.

    Raises NoteError when there is no valid signature by that key, when the body is not a
    well-formed checkpoint, or (if ``origin`` is given) when it is another log's checkpoint.
    """
    checkpoint = parse_checkpoint(open_note(note, verifier_key))
    if origin is not None and checkpoint.origin != origin:
        raise NoteError(f"checkpoint of log {checkpoint.origin!r}, expected {origin!r}")
    return checkpoint


def parse_checkpoint(body: str) -> Checkpoint:
    """Parse a checkpoint body (the note text, WITHOUT checking any signature).

    Use :func:`open_checkpoint` on anything received; this is for text already verified.
    Raises NoteError when malformed.
    """
    if not body.endswith("\n"):
        raise NoteError("a checkpoint body ends with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("a checkpoint body has an origin, a tree size and a root hash line")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise NoteError("the checkpoint origin is empty")
    if not _DECIMAL.fullmatch(size_text):
        raise NoteError("the tree size is a decimal number without leading zeros")
    root = _b64decode(root_text)
    if root is None or len(root) != _HASH_SIZE:
        raise NoteError("the root hash is the base64 of 32 bytes")
    if any(not line for line in extensions):
        raise NoteError("extension lines must not be empty")
    try:
        return Checkpoint(origin, int(size_text), root, tuple(extensions))
    except ValueError as exc:
        raise NoteError(str(exc)) from None


def _is_valid_name(name: str) -> bool:
    """A key name: non-empty, no Unicode spaces, no '+' (and, here, no control characters)."""
    return (
        bool(name)
        and "+" not in name
        and not any(ch.isspace() for ch in name)
        and not _CONTROL.search(name)
        and name.isprintable()
    )


def _check_text(text: str) -> None:
    """Refuse a note text that is not one or more newline-terminated lines of printable text."""
    if not text.endswith("\n"):
        raise ValueError("a note text ends with a newline")
    if _CONTROL.search(text):
        raise ValueError("a note text holds no control characters other than newlines")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a note text must be valid Unicode") from None


def _b64decode(text: str) -> bytes | None:
    """Strict standard base64 (RFC 4648 §4) with padding; None when not canonical."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(data).decode("ascii") != text:
        return None
    return data


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a signed note into its text and its signatures as (key name, key ID || signature)."""
    if _CONTROL.search(note):
        raise NoteError("a signed note holds no control characters other than newlines")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("a signed note needs a blank line before its signatures")
    text, signatures = note[: split + 1], note[split + 2 :]
    if not signatures.endswith("\n"):
        raise NoteError("a signed note ends with a newline after its last signature line")
    lines = signatures[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise NoteError(f"more than {_MAX_SIGNATURES} signatures")
    parsed = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise NoteError("a signature line starts with an em dash and a space")
        sig_name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        blob = _b64decode(b64)
        if not _is_valid_name(sig_name) or blob is None or len(blob) < 5:
            raise NoteError("malformed signature line")
        parsed.append((sig_name, blob))
    return text, parsed
