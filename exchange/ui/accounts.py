"""Local accounts, login sessions and CSRF tokens for the web pages.

Passwords are hashed with argon2id (argon2-cffi, the reference implementation's binding)
with its default cost parameters, which follow RFC 9106's recommendations. A session is a
random 32-byte token in an HttpOnly cookie; the database keeps only its SHA-256, the user
and a CSRF token that every form must echo back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from exchange.errors import Conflict, FieldError, InvalidInput
from exchange.organisations.models import Organisation, OrganisationKind
from exchange.ui.models import UiSession, User

SESSION_LIFETIME = dt.timedelta(hours=10)  # a working day, then log in again
MIN_PASSWORD = 12
_HASHER = PasswordHasher()
# Verified against when the username is unknown, so that a wrong username takes as long as
# a wrong password and does not reveal which accounts exist. Made on first use (a hash costs
# about half a second; the CLI should not pay that at import).
_DUMMY_HASHES: dict[int, str] = {}


def _dummy_hash() -> str:
    key = id(_HASHER)
    if key not in _DUMMY_HASHES:
        _DUMMY_HASHES[key] = _HASHER.hash(secrets.token_urlsafe(16))
    return _DUMMY_HASHES[key]


@dataclass(frozen=True)
class SignedIn:
    """The person behind a request to ``/ui``, with their organisation."""

    user_id: uuid.UUID
    username: str
    display_name: str
    organisation_id: uuid.UUID
    organisation_name: str
    organisation_kind: OrganisationKind
    csrf_token: str


def add_user(
    session: Session,
    *,
    organisation_id: uuid.UUID,
    username: str,
    display_name: str,
    password: str | None,
    oidc_issuer: str | None = None,
    oidc_subject: str | None = None,
) -> User:
    name = username.strip().lower()
    if not name or len(name) > 120:
        raise InvalidInput("a username is 1 to 120 characters", [FieldError("username", "length")])
    if session.get(Organisation, organisation_id) is None:
        raise InvalidInput("no such organisation", [FieldError("organisation", "unknown")])
    if password is not None and len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"a password has at least {MIN_PASSWORD} characters",
            [FieldError("password", f"shorter than {MIN_PASSWORD} characters")],
        )
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise Conflict(f"the username {name} is taken", [FieldError("username", "taken")])
    user = User(
        id=uuid.uuid4(),
        organisation_id=organisation_id,
        username=name,
        display_name=display_name.strip() or name,
        password_hash=_HASHER.hash(password) if password is not None else None,
        oidc_issuer=oidc_issuer,
        oidc_subject=oidc_subject,
    )
    session.add(user)
    session.flush()
    return user


def check_password(session: Session, username: str, password: str) -> User | None:
    """The active user with this username and password, or None (same time either way)."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    stored = user.password_hash if user is not None and user.active else None
    try:
        _HASHER.verify(stored or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or stored is None:
        return None
    if _HASHER.check_needs_rehash(stored):
        user.password_hash = _HASHER.hash(password)
    return user


def start_session(session: Session, user: User, now: dt.datetime) -> str:
    """A new session for the user; returns the cookie value (shown to nobody else)."""
    token = secrets.token_urlsafe(32)
    session.add(
        UiSession(
            token_hash=_hash(token),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    # Expired sessions of anyone are cleared on the way: no separate job needed.
    session.execute(delete(UiSession).where(UiSession.expires_at < now))
    return token


def signed_in(session: Session, token: str | None, now: dt.datetime) -> SignedIn | None:
    if not token or len(token) > 100:
        return None
    row = session.execute(
        select(UiSession, User, Organisation)
        .join(User, User.id == UiSession.user_id)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(UiSession.token_hash == _hash(token))
    ).one_or_none()
    if row is None:
        return None
    ui_session, user, organisation = row
    if ui_session.expires_at <= now or not user.active:
        return None
    return SignedIn(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        organisation_id=organisation.id,
        organisation_name=organisation.name,
        organisation_kind=OrganisationKind(organisation.kind),
        csrf_token=ui_session.csrf_token,
    )


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(UiSession).where(UiSession.token_hash == _hash(token)))


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def set_password(user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"a password has at least {MIN_PASSWORD} characters",
            [FieldError("password", f"shorter than {MIN_PASSWORD} characters")],
        )
    user.password_hash = _HASHER.hash(password)
