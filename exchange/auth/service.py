"""Registering API clients."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.auth.models import ApiClient, hash_secret
from exchange.auth.scopes import ALL_SCOPES, default_scopes
from exchange.errors import FieldError, InvalidInput
from exchange.organisations.service import get_organisation


@dataclass(frozen=True)
class IssuedClient:
    client_id: str
    client_secret: str
    scopes: str


def add_client(
    session: Session, organisation_id: uuid.UUID, scopes: str | None = None
) -> IssuedClient:
    """Create a client for an organisation; the secret is shown once and stored hashed."""
    organisation = get_organisation(session, organisation_id)
    requested = scopes.split() if scopes else list(default_scopes(organisation.organisation_kind))
    unknown = [s for s in requested if s not in ALL_SCOPES]
    if unknown:
        raise InvalidInput(
            f"unknown scopes: {' '.join(unknown)}",
            [FieldError("scopes", f"known scopes: {' '.join(ALL_SCOPES)}")],
        )
    client_id = "sx_" + secrets.token_urlsafe(12)
    client_secret = secrets.token_urlsafe(32)
    scope_text = " ".join(dict.fromkeys(requested))
    session.add(
        ApiClient(
            client_id=client_id,
            secret_hash=hash_secret(client_secret),
            organisation_id=organisation.id,
            scopes=scope_text,
        )
    )
    session.flush()
    return IssuedClient(client_id=client_id, client_secret=client_secret, scopes=scope_text)


def registered_clients(session: Session, client_ids: Iterable[str]) -> set[str]:
    """Which of these client ids are registered."""
    wanted = sorted(set(client_ids))
    if not wanted:
        return set()
    return set(session.scalars(select(ApiClient.client_id).where(ApiClient.client_id.in_(wanted))))
