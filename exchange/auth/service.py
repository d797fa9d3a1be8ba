"""Registering API clients."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.auth.keys import KeyProblem, certificate_thumbprint, public_jwks
from exchange.auth.models import ApiClient, hash_secret
from exchange.auth.scopes import ALL_SCOPES, default_scopes
from exchange.auth.terms import PRIVATE_KEY_JWT, SECRET_METHODS
from exchange.errors import FieldError, InvalidInput
from exchange.organisations.service import get_organisation


@dataclass(frozen=True)
class IssuedClient:
    client_id: str
    client_secret: str  # empty for a client that authenticates with its keys
    scopes: str
    token_endpoint_auth_method: str = SECRET_METHODS[0]
    certificate_thumbprint: str | None = None


def add_client(
    session: Session,
    organisation_id: uuid.UUID,
    scopes: str | None = None,
    *,
    jwks: Any = None,
    certificate: str | bytes | None = None,
) -> IssuedClient:
    """Create a client for an organisation.

    Without ``jwks`` the client gets a secret, shown once and stored hashed. With ``jwks``
    (a JWK Set, as a dict or JSON text) it authenticates with ``private_key_jwt`` only and
    gets no secret. With ``certificate`` (PEM) its tokens are bound to that certificate.
    """
    keys = _checked(lambda: json.dumps(public_jwks(jwks)), "jwks") if jwks is not None else None
    thumbprint = (
        _checked(lambda: certificate_thumbprint(certificate), "certificate")
        if certificate is not None
        else None
    )
    organisation = get_organisation(session, organisation_id)
    requested = scopes.split() if scopes else list(default_scopes(organisation.organisation_kind))
    unknown = [s for s in requested if s not in ALL_SCOPES]
    if unknown:
        raise InvalidInput(
            f"unknown scopes: {' '.join(unknown)}",
            [FieldError("scopes", f"known scopes: {' '.join(ALL_SCOPES)}")],
        )
    client_id = "sx_" + secrets.token_urlsafe(12)
    client_secret = secrets.token_urlsafe(32) if keys is None else ""
    scope_text = " ".join(dict.fromkeys(requested))
    session.add(
        ApiClient(
            client_id=client_id,
            # Empty for a key client: no secret hashes to it, so none can ever match.
            secret_hash=hash_secret(client_secret) if client_secret else "",
            organisation_id=organisation.id,
            scopes=scope_text,
            jwks=keys,
            certificate_thumbprint=thumbprint,
        )
    )
    session.flush()
    return IssuedClient(
        client_id=client_id,
        client_secret=client_secret,
        scopes=scope_text,
        token_endpoint_auth_method=PRIVATE_KEY_JWT if keys is not None else SECRET_METHODS[0],
        certificate_thumbprint=thumbprint,
    )


def _checked(read: Any, field: str) -> Any:
    try:
        return read()
    except KeyProblem as problem:
        raise InvalidInput(f"{field} {problem}", [FieldError(field, str(problem))]) from None


def registered_clients(session: Session, client_ids: Iterable[str]) -> set[str]:
    """Which of these client ids are registered."""
    wanted = sorted(set(client_ids))
    if not wanted:
        return set()
    return set(session.scalars(select(ApiClient.client_id).where(ApiClient.client_id.in_(wanted))))
