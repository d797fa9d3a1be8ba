"""Signing webhook requests by the Standard Webhooks scheme (https://www.standardwebhooks.com).

Each request carries three headers:

- ``webhook-id``: the delivery's id, the same on every retry, so a receiver can drop repeats;
- ``webhook-timestamp``: seconds since the epoch when the request was signed;
- ``webhook-signature``: ``v1,<base64 of HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>``.

The secret is 32 random bytes, shown to the provider once as ``whsec_<base64>``. Any Standard
Webhooks library verifies our requests; ``verify`` below is the same check in a few lines,
for providers who want to read it and for the tests.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"
# How far a request's timestamp may be from the receiver's clock: an old request replayed
# later is refused even though its signature is genuine.
TOLERANCE = dt.timedelta(minutes=5)


class InvalidSignature(ValueError):
    """The request was not signed with this secret, was altered, or is too old or too new."""


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def secret_text(secret: bytes) -> str:
    """The secret as the provider sees it (once): ``whsec_`` and base64."""
    return SECRET_PREFIX + base64.b64encode(secret).decode("ascii")


def secret_bytes(text: str) -> bytes:
    """The raw secret from its ``whsec_`` form (or bare base64)."""
    try:
        return base64.b64decode(text.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as error:
        raise InvalidSignature("the secret is not whsec_ followed by base64") from error


def signature(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``{id}.{timestamp}.{body}``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def signed_headers(secret: bytes, message_id: str, at: dt.datetime, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one request body, signed at ``at``."""
    timestamp = int(at.timestamp())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: dt.datetime | None = None,
    tolerance: dt.timedelta = TOLERANCE,
) -> None:
    """Check a received request; raises ``InvalidSignature`` unless it is genuine and fresh.

    ``headers`` may use any case. The header may hold several space-separated signatures
    (as during a secret rotation); one matching ``v1`` signature is enough.
    """
    key = secret_bytes(secret) if isinstance(secret, str) else secret
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    offered = lowered.get("webhook-signature")
    if not (message_id and stamp and offered):
        raise InvalidSignature("webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not a whole number of seconds") from None
    current = (now or dt.datetime.now(dt.UTC)).timestamp()
    if abs(current - timestamp) > tolerance.total_seconds():
        raise InvalidSignature("webhook-timestamp is outside the tolerance")
    expected = signature(key, message_id, timestamp, body)
    for candidate in offered.split():
        if hmac.compare_digest(candidate.encode(), expected.encode()):
            return
    raise InvalidSignature("no signature matches")
