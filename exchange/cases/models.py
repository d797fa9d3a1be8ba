from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, UtcDateTime, new_id, utcnow


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Composition(enum.StrEnum):
    """The Divosa monitor's terms for what a case is made of."""

    SINGLE = "single"  # one signal, or several from one provider of one kind
    MULTIPLE = "multiple"  # two or more providers or signal kinds
    REPEAT = "repeat"  # the household had an earlier case within the repeat window


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_household_last_signal", "household_id", "last_signal_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id"))
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.OPEN.value)
    is_repeat: Mapped[bool] = mapped_column(default=False)
    is_multiple: Mapped[bool] = mapped_column(default=False)
    opened_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_signal_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    @property
    def composition(self) -> Composition:
        if self.is_repeat:
            return Composition.REPEAT
        return Composition.MULTIPLE if self.is_multiple else Composition.SINGLE
