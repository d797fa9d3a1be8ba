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
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from exchange.errors import Conflict, FieldError, InvalidInput
from exchange.organisations.service import find_organisation
from exchange.organisations.terms import OrganisationKind
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
    if find_organisation(session, organisation_id) is None:
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


@dataclass(frozen=True)
class Credential:
    """What a password login is checked against: the account the name belongs to, if any,
    and its password hash (None for no account, an inactive one, or one that logs in only
    through the identity provider)."""

    user_id: uuid.UUID | None
    password_hash: str | None


def normalised(username: str) -> str:
    """A username as accounts are stored and looked up (and login attempts counted)."""
    return username.strip().lower()


def credential(session: Session, username: str) -> Credential:
    name = normalised(username)
    # No account has a NUL in its name, and PostgreSQL would refuse to compare one.
    user = None if "\x00" in name else session.scalar(select(User).where(User.username == name))
    if user is None:
        return Credential(None, None)
    return Credential(user.id, user.password_hash if user.active else None)


def password_matches(found: Credential, password: str) -> bool:
    """argon2id verification against the account's hash, or against a dummy hash when there
    is none, so that every wrong name or password costs the same time. Needs no database:
    the caller runs it with no transaction open."""
    try:
        _HASHER.verify(found.password_hash or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return found.password_hash is not None


def account_of(session: Session, found: Credential, password: str) -> User | None:
    """The account of a credential whose password matched, if it is still active with that
    same hash (read again in the transaction that logs the person in)."""
    user = session.get(User, found.user_id) if found.user_id is not None else None
    if user is None or not user.active or user.password_hash != found.password_hash:
        return None
    if user.password_hash is not None and _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    return user


def check_password(session: Session, username: str, password: str) -> User | None:
    """The active user with this username and password, or None (same time either way)."""
    found = credential(session, username)
    return account_of(session, found, password) if password_matches(found, password) else None


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
        select(UiSession, User)
        .join(User, User.id == UiSession.user_id)
        .where(UiSession.token_hash == _hash(token))
    ).one_or_none()
    if row is None:
        return None
    ui_session, user = row
    if ui_session.expires_at <= now or not user.active:
        return None
    organisation = find_organisation(session, user.organisation_id)
    if organisation is None:
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
    # Both sides non-empty: a form without its token must not match a missing cookie.
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def set_password(user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"a password has at least {MIN_PASSWORD} characters",
            [FieldError("password", f"shorter than {MIN_PASSWORD} characters")],
        )
    user.password_hash = _HASHER.hash(password)


def display_names(session: Session, clients: Iterable[str]) -> dict[str, str]:
    """The display names of people named on a case as ``user:<id>`` (who recorded what);
    an API client keeps its client id. For colleagues' eyes only: never in a log line."""
    ids: dict[uuid.UUID, str] = {}
    for client in clients:
        if client.startswith("user:"):
            try:
                ids[uuid.UUID(client.removeprefix("user:"))] = client
            except ValueError:
                continue
    names = {client: client for client in clients if not client.startswith("user:")}
    if ids:
        for user_id, name in session.execute(
            select(User.id, User.display_name).where(User.id.in_(list(ids)))
        ):
            names[ids[user_id]] = name
    return names
