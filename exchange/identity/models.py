from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, UtcDateTime, new_id, utcnow


class Subject(Base):
    """A person, known to the broker only by a keyed pseudonym."""

    __tablename__ = "subjects"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    pseudonym_key_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Household(Base):
    """An address, known by a keyed pseudonym, with the data key for its identity fields.

    PC4 (the first four postcode digits) stays readable: it is what routing, queues and
    national statistics need, and it covers thousands of addresses.
    """

    __tablename__ = "households"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    pseudonym_key_id: Mapped[str] = mapped_column(String(64))
    pc4: Mapped[int]
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    wrapped_data_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
