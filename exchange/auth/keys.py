"""What a client proves itself with besides a secret: its public keys and its certificate.

- A JWK Set for ``private_key_jwt`` (RFC 7523 §2.2, OpenID Connect Core §9), checked when it
  is registered: public keys only, each usable with an algorithm the NL GOV profile allows.
- An X.509 certificate (PKIoverheid) for certificate-bound tokens (RFC 8705): its
  ``x5t#S256`` thumbprint, and the certificate a TLS-terminating proxy passed on.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

# RFC 7523 assertion algorithms: RS256 (the profile's MUST), PS256 (its SHOULD) and ES256.
ASSERTION_ALGORITHMS = ("ES256", "PS256", "RS256")
_ALGORITHMS_OF = {"RSA": ("PS256", "RS256"), "EC": ("ES256",)}
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
MIN_RSA_BITS = 2048
MAX_KEYS = 10


class KeyProblem(ValueError):
    """Why a JWK Set or certificate is refused, in words for the ``jwks`` field."""


def public_jwks(document: Any) -> dict[str, Any]:
    """The JWK Set a client registers, checked; ``KeyProblem`` says what is wrong."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            raise KeyProblem("is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyProblem('must be a JWK Set: {"keys": [...]}')
    keys = document["keys"]
    if not 1 <= len(keys) <= MAX_KEYS:
        raise KeyProblem(f"must hold 1 to {MAX_KEYS} keys")
    for key in keys:
        _check_key(key)
    try:
        KeySet.import_key_set({"keys": keys})
    except (JoseError, ValueError, TypeError) as error:
        raise KeyProblem(f"holds a key that does not import: {error}") from None
    return {"keys": keys}


def _check_key(key: Any) -> None:
    if not isinstance(key, dict):
        raise KeyProblem("holds a key that is not a JSON object")
    if any(member in key for member in _PRIVATE_MEMBERS):
        raise KeyProblem("holds private key material: register the public keys only")
    kty = key.get("kty")
    if kty not in _ALGORITHMS_OF:
        raise KeyProblem("holds a key that is neither RSA nor EC")
    if kty == "EC" and key.get("crv") != "P-256":
        raise KeyProblem("holds an EC key not on P-256 (ES256 needs P-256)")
    if kty == "RSA" and _rsa_bits(key) < MIN_RSA_BITS:
        raise KeyProblem(f"holds an RSA key shorter than {MIN_RSA_BITS} bits")
    alg = key.get("alg")
    if alg is not None and alg not in _ALGORITHMS_OF[kty]:
        raise KeyProblem(f"holds a key for {alg}; allowed: {', '.join(ASSERTION_ALGORITHMS)}")
    if key.get("use", "sig") != "sig":
        raise KeyProblem('holds a key whose "use" is not "sig"')


def _rsa_bits(key: Mapping[str, Any]) -> int:
    modulus = key.get("n")
    if not isinstance(modulus, str):
        return 0
    try:
        return len(base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))) * 8
    except ValueError:
        return 0


def certificate_thumbprint(pem: str | bytes) -> str:
    """``x5t#S256`` of a PEM certificate: base64url SHA-256 of its DER (RFC 8705 §3.1)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise KeyProblem("is not a PEM X.509 certificate") from None
    digest = hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def presented_thumbprint(headers: Mapping[str, str], header: str | None) -> str | None:
    """The thumbprint of the client certificate the trusted proxy passed on, if any.

    The proxy puts the certificate it verified in ``header`` as URL-encoded PEM (nginx:
    ``proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;``) and overwrites
    whatever a client sent under that name. With ``header`` unset mTLS is off and nothing
    a request says about a certificate counts.
    """
    if not header:
        return None
    value = headers.get(header)
    if not value:
        return None
    try:
        return certificate_thumbprint(unquote(value))
    except KeyProblem:
        return None
