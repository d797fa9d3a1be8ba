from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, false
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, UtcDateTime, new_id, utcnow


class Subject(Base):
    """One identifier of a person, known to the broker only by its keyed pseudonym.

    A person signalled by BSN and by name and birth date has two rows, one per identifier,
    that share a ``person_id``: every right, objection and consent reaches the records of
    all rows of the person (``exchange.identity.linking`` holds the rules). A signal points
    at the row of the identifier it was pseudonymised by (the BSN one when it has a BSN).
    """

    __tablename__ = "subjects"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    pseudonym_key_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Not a foreign key: the person is the set of rows sharing it, and any of them may go.
    person_id: Mapped[uuid.UUID] = mapped_column(index=True)
    # bsn | name (``exchange.identity.terms``); None for a row from before identifiers were
    # told apart, until ``exchange init`` has read it off the person's sealed signals.
    kind: Mapped[str | None] = mapped_column(String(8), default=None)
    # A name and birth date that came with two different BSNs: it links to neither.
    ambiguous: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The BSN rows (ids, as text) an ambiguous name came with: whose objections and
    # restrictions its own records weigh too (``exchange.disclosures.subjects``).
    ambiguous_with: Mapped[list[str] | None] = mapped_column(JSON, default=None)


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
