from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from exchange.db import Base, UtcDateTime, new_id, utcnow


class AuditEntry(Base):
    """One leaf of the log. ``entry`` holds the exact leaf bytes (RFC 8785 JSON); the other
    columns copy fields out of it so that a privacy officer's search uses indexes."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        # On an 8-byte key, not the 64-character pseudonym: pseudonyms arrive in random order,
        # and an index four times smaller stays in the page cache as the log grows, where the
        # text index made appends at a million entries about half as fast (BENCHMARKS.md).
        Index("ix_audit_entries_subject_key", "subject_key"),
        # Searches by time. No index on actor_org_id: the one query on it (search by
        # organisation, actor or recipient) cannot use an index on one side of the OR and
        # scans in leaf order on both backends, so that index only cost appends
        # (migration 20261125_1800).
        Index("ix_audit_entries_recorded_at", "recorded_at"),
    )

    # On SQLite the column is the table's rowid (INTEGER PRIMARY KEY): a BIGINT key is a
    # separate unique index beside the rowid, one more B-tree written on every append and
    # read on every lookup by leaf index. SQLite's INTEGER is 64-bit.
    leaf_index: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    )
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    # The leaf hash (level 0 of the tree) lives with its entry rather than as a node row:
    # one row fewer per entry appended.
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    action: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    actor_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    recipient_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    subject: Mapped[str | None] = mapped_column(String(64))
    subject_key: Mapped[int | None] = mapped_column(BigInteger)


def subject_key(subject: str) -> int:
    """The index key of a pseudonym: its SHA-256 cut to a signed 64-bit integer. Two people
    may share a key (rarely); every query also compares the pseudonym itself."""
    return int.from_bytes(hashlib.sha256(subject.encode()).digest()[:8], "big", signed=True)


def subject_keys(subjects: Iterable[str]) -> list[int]:
    return sorted({subject_key(s) for s in subjects})


class AuditNode(Base):
    """The hash of a complete subtree of 2**level leaves (level 1 and up; leaf hashes are
    kept in ``audit_entries``). Stored as subtrees close, so roots and proofs read O(log n)
    rows."""

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class AuditHead(Base):
    """The single row that orders the log: the tree size and the right-hand frontier.

    Appending locks this row (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's writer lock),
    so processes on one database append in one order."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    frontier: Mapped[dict[str, object] | None] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class AuditCheckpoint(Base):
    """A signed tree head: the C2SP signed note as served, and what it commits to."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
