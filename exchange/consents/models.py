"""A person's standing choices about their data, which every disclosure weighs: consents
(AVG art. 6(1)(a)), objections (art. 21) and restrictions (art. 18)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Date, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.consents.terms import ConsentStatus, ConsentType
from exchange.db import Base, UtcDateTime, new_id, utcnow


class Consent(Base):
    """A consent record in the spirit of ISO/IEC TS 27560: who agreed, to what, for whom,
    how it was collected and under which notice. Its history is in ``consent_events``;
    ``status`` only mirrors the latest event so that queries need no aggregation."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_subject", "subject_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"))
    collected_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    purposes: Mapped[list[str]] = mapped_column(JSON)
    recipients: Mapped[list[str]] = mapped_column(JSON)
    collection_method: Mapped[str] = mapped_column(String(16))
    notice_version: Mapped[str] = mapped_column(String(64))
    # ISO/IEC TS 27560: the notice's language (BCP 47) and where it can be read, how the
    # person agreed, and how they can withdraw (empty: by telling the collecting
    # organisation, exchange.consents.records). What follows from the register (categories,
    # retention), the organisations (controller) or the settings (location) is not copied.
    language: Mapped[str] = mapped_column(String(35), default="nl", server_default="nl")
    notice_url: Mapped[str | None] = mapped_column(String(500))
    consent_type: Mapped[str] = mapped_column(
        String(16), default=ConsentType.EXPRESSED.value, server_default=ConsentType.EXPRESSED.value
    )
    withdrawal_method: Mapped[str | None] = mapped_column(String(500))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=ConsentStatus.GIVEN.value)
    policy_version: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Empty while the consent runs; once it ended (withdrawn or past valid_until), the
    # register's retention for its purposes after that day (exchange.cases.expiry).
    expires_on: Mapped[dt.date | None] = mapped_column(Date)


class ConsentEvent(Base):
    """One step in a consent's life; appended, never changed."""

    __tablename__ = "consent_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    consent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consents.id"), index=True)
    event: Mapped[str] = mapped_column(String(16))
    effective_on: Mapped[dt.date] = mapped_column(Date)
    recorded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Objection(Base):
    """An objection (AVG art. 21) to purposes; it stops every later disclosure for them.

    The person's own words (the reason) are kept only sealed, under the broker's
    key-encryption key, bound to this row.
    """

    __tablename__ = "objections"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    purposes: Mapped[list[str]] = mapped_column(JSON)
    made_on: Mapped[dt.date] = mapped_column(Date)
    recorded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    sealed_reason: Mapped[bytes | None] = mapped_column(LargeBinary)
    kek_id: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Restriction(Base):
    """The person's data is kept but disclosed to nobody while ``lifted_at`` is empty."""

    __tablename__ = "restrictions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    made_on: Mapped[dt.date] = mapped_column(Date)
    recorded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
