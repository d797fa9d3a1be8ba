from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from exchange.db import Base, UtcDateTime, new_id, utcnow
from exchange.organisations.terms import OrganisationKind


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint(
            "kind <> 'municipality' OR gemeentecode IS NOT NULL",
            name="ck_organisations_municipality_has_gemeentecode",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    gemeentecode: Mapped[str | None] = mapped_column(String(4), unique=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    postcode_ranges: Mapped[list[PostcodeRange]] = relationship(
        back_populates="municipality", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def organisation_kind(self) -> OrganisationKind:
        return OrganisationKind(self.kind)


class PostcodeRange(Base):
    """A run of PC4 areas (inclusive) that a municipality covers."""

    __tablename__ = "postcode_ranges"
    __table_args__ = (
        CheckConstraint("pc4_from BETWEEN 1000 AND 9999", name="ck_postcode_ranges_from"),
        CheckConstraint("pc4_to BETWEEN pc4_from AND 9999", name="ck_postcode_ranges_to"),
        Index("ix_postcode_ranges_span", "pc4_from", "pc4_to"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    municipality_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    pc4_from: Mapped[int]
    pc4_to: Mapped[int]

    municipality: Mapped[Organisation] = relationship(back_populates="postcode_ranges")


class RoutingVersion(Base):
    """One row, moved on every change of the postcode ranges: a process keeps the routing
    table it read for as long as this stays where it was (``RoutingCache``)."""

    __tablename__ = "routing_versions"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger)
