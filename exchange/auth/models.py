from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange.auth.terms import PRIVATE_KEY_JWT, SECRET_METHODS
from exchange.db import Base, UtcDateTime, new_id, utcnow
from exchange.organisations.models import Organisation


class ApiClient(Base):
    """A machine client of one organisation (OAuth 2.0 confidential client).

    The secret is stored as SHA-256: it is 256 random bits that the broker generated, so a
    slow password hash would add latency to every token request without adding safety.

    A client registered with its public keys (``jwks``) authenticates with ``private_key_jwt``
    only and has no secret (``secret_hash`` is empty, which no secret hashes to). A client
    with a ``certificate_thumbprint`` gets tokens bound to that certificate (RFC 8705).
    """

    __tablename__ = "api_clients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    scopes: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # The client's public JWK Set as JSON (RFC 7591 ``jwks``), for private_key_jwt.
    jwks: Mapped[str | None] = mapped_column(Text)
    # x5t#S256 (RFC 8705 §3.1) of the certificate the client's tokens are bound to.
    certificate_thumbprint: Mapped[str | None] = mapped_column(String(43))

    organisation: Mapped[Organisation] = relationship(lazy="joined")

    # authlib's ClientMixin protocol, for the client credentials grant.
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.scopes.split()
        if not scope:
            return " ".join(allowed)
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, hash_secret(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # One way in per client: a key client cannot fall back to a (non-existent) secret,
        # and a secret client cannot present a key it never registered.
        if endpoint != "token":
            return False
        if self.jwks is not None:
            return method == PRIVATE_KEY_JWT
        return method in SECRET_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class SeenAssertion(Base):
    """A client assertion's ``jti``, kept until the assertion expires (RFC 7523 §3 item 7).

    In the database rather than in memory so that every replica refuses an assertion that
    another replica accepted: the primary key makes the second insert fail.
    """

    __tablename__ = "client_assertion_jtis"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
