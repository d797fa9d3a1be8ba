"""People who log in to the web pages, their sessions, failed logins, and audit-log
verifications."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, UtcDateTime, new_id, utcnow


class User(Base):
    """A person working for one organisation. Machine clients are ``ApiClient``s instead.

    A local account has an argon2 password hash; an account from the identity provider
    (OpenID Connect) has its issuer and subject and no password.
    """

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_users_oidc"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    oidc_issuer: Mapped[str | None] = mapped_column(String(300))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class UiSession(Base):
    """A logged-in browser. The cookie holds a random token; only its hash is stored, so a
    copy of the database does not let anyone take over a session. Logging out deletes it."""

    __tablename__ = "ui_sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class LoginThrottle(Base):
    """Login attempts counted for one account name or one client address (``ui.throttle``).

    In the database, not in a process, so that every replica behind the load balancer counts
    the same attempts. The key is a keyed hash of the name or the address, never the thing
    itself: the table tells nobody who tried to log in, or from where. A row nobody used for
    a day is deleted on the way.
    """

    __tablename__ = "login_throttles"

    key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(8))  # account | address
    # Attempts in the current window that did not succeed (or are being checked right now).
    failures: Mapped[int]
    window_started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    # Kept after it passed: the next lock within a day of it lasts twice as long.
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    lockouts: Mapped[int]


class AuditVerification(Base):
    """A run of the verifier over the whole log, started from the privacy officer's page."""

    __tablename__ = "audit_verifications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    verified_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    tree_size: Mapped[int]
    checkpoints: Mapped[int]
    ok: Mapped[bool]
    detail: Mapped[str] = mapped_column(Text)
    # The checkpoint this run verified: the next run checks the log is still consistent with
    # it, so a rewrite of history between two runs is caught even if re-signed.
    checkpoint_note: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class SavedView(Base):
    """A worker's own work list (werkbakje): a name and the queue's filters and sorting, as
    the query string of ``/ui/cases``. Filters only: no person's data is in it."""

    __tablename__ = "ui_saved_views"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_ui_saved_views_name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    query: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
