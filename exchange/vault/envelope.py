"""Envelope encryption: AES-256-GCM data keys, wrapped by a key-encryption key.

Each household has its own data key, so destroying that one key (crypto-shredding) makes
every stored identity field of the household unreadable while the rows and the audit log
that refer to it by pseudonym stay intact. The associated data binds each ciphertext to
its row, so a ciphertext copied onto another row does not decrypt.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap_data_key(kek: bytes, data_key: bytes, context: bytes) -> bytes:
    return seal(kek, data_key, b"data-key:" + context)


def unwrap_data_key(kek: bytes, wrapped: bytes, context: bytes) -> bytes:
    return open_sealed(kek, wrapped, b"data-key:" + context)


def seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def open_sealed(key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    return AESGCM(key).decrypt(nonce, ciphertext, associated_data)
