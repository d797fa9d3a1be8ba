from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, UtcDateTime, new_id, utcnow


class PolicyVersion(Base):
    """One stored policy set: every file as it was activated, addressed by its hash.

    ``active_slot`` is 1 on the active version and NULL elsewhere; its unique constraint
    lets the database, not a process, guarantee that exactly one version is in force.
    """

    __tablename__ = "policy_versions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    version_hash: Mapped[str] = mapped_column(String(80), unique=True)
    label: Mapped[str] = mapped_column(String(64))
    files: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    active_slot: Mapped[int | None] = mapped_column(unique=True)
