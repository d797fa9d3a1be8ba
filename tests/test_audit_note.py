"""Checkpoints as C2SP signed notes: the exact bytes, and every refusal an auditor relies on."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.merkle import EMPTY_ROOT
from audit.note import (
    Checkpoint,
    NoteError,
    NoteSigner,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
)

# The example of golang.org/x/mod/sumdb/note (note_test.go): a fixed key and its note.
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

ORIGIN = "exchange.example/audit"
ROOT = hashlib.sha256(b"some root").digest()


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(range(32))))


def test_signing_reproduces_the_go_reference_note_byte_for_byte() -> None:
    go = NoteSigner("PeterNeumann", Ed25519PrivateKey.from_private_bytes(GO_SEED))
    assert go.verifier_key() == GO_VKEY
    assert go.sign(GO_TEXT) == GO_NOTE
    assert open_note(GO_NOTE, GO_VKEY) == GO_TEXT


def test_key_id_and_verifier_key_format(signer: NoteSigner) -> None:
    public = signer.public_key_bytes
    digest = hashlib.sha256(ORIGIN.encode() + b"\n" + b"\x01" + public).digest()
    name, key_id, _ = parse_verifier_key(signer.verifier_key())
    assert name == ORIGIN
    assert key_id == digest[:4]
    material = base64.b64encode(b"\x01" + public).decode()
    assert signer.verifier_key() == f"{ORIGIN}+{digest[:4].hex()}+{material}"


def test_checkpoint_body_and_round_trip(signer: NoteSigner) -> None:
    checkpoint = Checkpoint(ORIGIN, 1234, ROOT)
    assert checkpoint.body() == f"{ORIGIN}\n1234\n{base64.b64encode(ROOT).decode()}\n"
    note = signer.sign(checkpoint.body())
    assert note.startswith(checkpoint.body() + "\n— " + ORIGIN + " ")
    sig_line = note.split("\n")[-2]
    blob = base64.b64decode(sig_line.split(" ")[-1])
    assert len(blob) == 4 + 64
    assert open_checkpoint(note, signer.verifier_key()) == checkpoint


def test_empty_tree_checkpoint(signer: NoteSigner) -> None:
    note = signer.sign(Checkpoint(ORIGIN, 0, EMPTY_ROOT).body())
    assert open_checkpoint(note, signer.verifier_key()) == Checkpoint(ORIGIN, 0, EMPTY_ROOT)


def test_extension_lines_are_kept(signer: NoteSigner) -> None:
    checkpoint = Checkpoint(ORIGIN, 7, ROOT, ("policy sha256:abc", "time 2026-11-25T10:00Z"))
    opened = open_checkpoint(signer.sign(checkpoint.body()), signer.verifier_key())
    assert opened.extensions == ("policy sha256:abc", "time 2026-11-25T10:00Z")
    assert opened == checkpoint


def test_wrong_key_is_refused(signer: NoteSigner) -> None:
    note = signer.sign(Checkpoint(ORIGIN, 3, ROOT).body())
    other = NoteSigner(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(32)))
    with pytest.raises(NoteError, match="no signature"):
        open_checkpoint(note, other.verifier_key())
    renamed = NoteSigner("other.example/log", Ed25519PrivateKey.from_private_bytes(bytes(32)))
    with pytest.raises(NoteError):
        open_checkpoint(note, renamed.verifier_key())


def test_altered_body_is_refused(signer: NoteSigner) -> None:
    note = signer.sign(Checkpoint(ORIGIN, 3, ROOT).body())
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(note.replace("\n3\n", "\n4\n", 1), signer.verifier_key())
    with pytest.raises(NoteError):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), GO_VKEY)


def test_altered_signature_is_refused(signer: NoteSigner) -> None:
    note = signer.sign(Checkpoint(ORIGIN, 3, ROOT).body())
    body, sig_line = note[: note.rindex("— ")], note[note.rindex("— ") :]
    prefix, b64 = sig_line.rstrip("\n").rsplit(" ", 1)
    blob = bytearray(base64.b64decode(b64))
    blob[10] ^= 1
    bent = body + prefix + " " + base64.b64encode(bytes(blob)).decode() + "\n"
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(bent, signer.verifier_key())
    blob[10] ^= 1
    blob[0] ^= 1  # a different key ID: no longer this key's signature at all
    other_id = body + prefix + " " + base64.b64encode(bytes(blob)).decode() + "\n"
    with pytest.raises(NoteError, match="no signature"):
        open_checkpoint(other_id, signer.verifier_key())


def test_signatures_by_other_keys_are_ignored(signer: NoteSigner) -> None:
    witness = NoteSigner("witness.example", Ed25519PrivateKey.from_private_bytes(bytes(32)))
    body = Checkpoint(ORIGIN, 3, ROOT).body()
    ours = signer.sign(body)
    theirs = witness.sign(body).split("\n\n", 1)[1]
    both = ours + theirs
    assert open_checkpoint(both, signer.verifier_key()).size == 3
    assert open_checkpoint(both, witness.verifier_key()).size == 3


def test_origin_can_be_required(signer: NoteSigner) -> None:
    note = signer.sign(Checkpoint("another.example/log", 3, ROOT).body())
    assert open_checkpoint(note, signer.verifier_key()).origin == "another.example/log"
    with pytest.raises(NoteError, match=r"another\.example/log"):
        open_checkpoint(note, signer.verifier_key(), origin=ORIGIN)


@pytest.mark.parametrize(
    "body",
    [
        f"{ORIGIN}\n3\n",  # no root
        f"\n3\n{base64.b64encode(ROOT).decode()}\n",  # empty origin
        f"{ORIGIN}\n03\n{base64.b64encode(ROOT).decode()}\n",  # leading zero
        f"{ORIGIN}\n-3\n{base64.b64encode(ROOT).decode()}\n",
        f"{ORIGIN}\n3\n{base64.b64encode(ROOT[:31]).decode()}\n",  # short root
        f"{ORIGIN}\n3\nnot base64\n",
        f"{ORIGIN}\n3\n{base64.b64encode(ROOT).decode()}\n\nextension after empty line\n",
        f"{ORIGIN}\n3\n{base64.b64encode(ROOT).decode()}",  # no final newline
    ],
)
def test_malformed_bodies_are_refused(signer: NoteSigner, body: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(body)
    if body.endswith("\n") and "\n\n" not in body:
        with pytest.raises(NoteError):
            open_checkpoint(signer.sign(body), signer.verifier_key())


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT,  # no signatures
        GO_TEXT + "\n",  # blank line but no signature line
        GO_NOTE[:-1],  # no final newline
        GO_NOTE.replace("— ", "- "),  # not an em dash
        GO_NOTE.replace("PeterNeumann x08", "PeterNeumann  x08"),
        GO_NOTE.replace("x08go", "x08g!"),  # not base64
        GO_NOTE.replace("then", "th\ten"),  # control character
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(NoteError):
        open_note(note, GO_VKEY)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
        "PeterNeumanm+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong name
        "PeterNeumann+c74f20a3+ApRc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key
        "PeterNeumann+c74f20a3+AhRc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong alg
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
    ],
)
def test_malformed_verifier_keys_are_refused(key: str) -> None:
    with pytest.raises(NoteError):
        parse_verifier_key(key)


def test_every_single_character_change_of_the_key_is_refused() -> None:
    for i in range(len(GO_VKEY)):
        bent = GO_VKEY[:i] + chr(ord(GO_VKEY[i]) + 1) + GO_VKEY[i + 1 :]
        with pytest.raises(NoteError):
            parse_verifier_key(bent)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\there"])
def test_signer_refuses_invalid_key_names(name: str) -> None:
    with pytest.raises(ValueError):
        NoteSigner(name, Ed25519PrivateKey.generate())


def test_signer_refuses_texts_that_are_not_notes(signer: NoteSigner) -> None:
    with pytest.raises(ValueError):
        signer.sign("no final newline")
    with pytest.raises(ValueError):
        signer.sign("a\x00b\n")


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        ("", 1, ROOT, ()),
        ("two\nlines", 1, ROOT, ()),
        (ORIGIN, -1, ROOT, ()),
        (ORIGIN, 1, ROOT[:8], ()),
        (ORIGIN, 1, ROOT, ("",)),
        (ORIGIN, 1, ROOT, ("a\nb",)),
    ],
)
def test_checkpoint_refuses_values_without_a_body(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError):
        Checkpoint(origin, size, root, extensions)
