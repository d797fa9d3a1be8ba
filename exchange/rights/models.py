"""Restrictions (AVG art. 18) and the notices recipients get of erasures (AVG art. 19)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, UtcDateTime, new_id, utcnow


class Restriction(Base):
    """The person's data is kept but disclosed to nobody while ``lifted_at`` is empty."""

    __tablename__ = "restrictions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subject_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subjects.id"), index=True)
    made_on: Mapped[dt.date] = mapped_column(Date)
    recorded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class RecipientNotice(Base):
    """A recipient is told that data it received was erased (or rectified or restricted).

    Only ids the recipient already knows (its case, its signal) and what happened: the
    notice itself must not carry the data it reports gone.
    """

    __tablename__ = "recipient_notices"
    __table_args__ = (Index("ix_recipient_notices_recipient", "organisation_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    event: Mapped[str] = mapped_column(String(32))  # erasure | restriction
    resources: Mapped[dict[str, list[str]]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
