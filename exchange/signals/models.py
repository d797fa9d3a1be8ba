from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, UtcDateTime, new_id, utcnow


class SignalStatus(enum.StrEnum):
    RECEIVED = "received"  # accepted, routed and linked into a case


class Signal(Base):
    """An accepted early signal. Identity, contact, exact amount and dates are only in
    ``sealed_identity`` (AES-256-GCM under the household's data key); the readable columns
    are what routing, queues and statistics need, in coarse bands."""

    __tablename__ = "signals"
    __table_args__ = (
        UniqueConstraint("provider_id", "external_ref", name="uq_signals_provider_external_ref"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    external_ref: Mapped[str] = mapped_column(String(64))
    content_digest: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=SignalStatus.RECEIVED.value)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    days_in_arrears: Mapped[int]
    amount_band: Mapped[str] = mapped_column(String(16))
    age_band: Mapped[str] = mapped_column(String(16))
    crisis: Mapped[bool] = mapped_column(default=False)
    warm_handover: Mapped[bool] = mapped_column(default=False)
    intake_rule_id: Mapped[str] = mapped_column(String(64))
    # The register rule that let the municipality receive this signal, and the version
    # (hash) of the register in force: every disclosure names what allowed it.
    disclosure_rule_id: Mapped[str] = mapped_column(String(80), default="")
    policy_version: Mapped[str] = mapped_column(String(80))
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"), index=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    sealed_identity: Mapped[bytes] = mapped_column(LargeBinary)
