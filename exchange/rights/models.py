"""The notices recipients get of erasures, rectifications and restrictions (AVG art. 19).

Restrictions themselves (AVG art. 18) are with the other standing choices of a person that
every disclosure weighs, in ``exchange.consents.models``."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, UtcDateTime, new_id, utcnow


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
