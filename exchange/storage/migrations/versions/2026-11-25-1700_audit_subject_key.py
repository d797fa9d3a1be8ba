"""The audit log's subject index on an 8-byte key instead of the 64-character pseudonym.

Revision ID: 20261125_1700
Revises: 20261125_1600
Create Date: 2026-11-25 17:00

Entries already in the log get their key here. The log refuses UPDATE by trigger, so the
triggers come off for the backfill of this one derived column and go back on in the same
transaction; the entry bytes, the leaf hashes and so every checkpoint stay as they were.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from exchange.auditlog import triggers
from exchange.auditlog.models import subject_key

revision: str = "20261125_1700"
down_revision: str | None = "20261125_1600"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    op.add_column("audit_entries", sa.Column("subject_key", sa.BigInteger(), nullable=True))
    subjects = [
        row[0]
        for row in connection.execute(
            sa.text("SELECT DISTINCT subject FROM audit_entries WHERE subject IS NOT NULL")
        )
    ]
    if subjects:
        triggers.drop(connection)
        connection.execute(
            sa.text("UPDATE audit_entries SET subject_key = :key WHERE subject = :subject"),
            [{"key": subject_key(s), "subject": s} for s in subjects],
        )
        triggers.create(connection)
    op.drop_index("ix_audit_entries_subject", table_name="audit_entries")
    op.create_index("ix_audit_entries_subject_key", "audit_entries", ["subject_key"])


def downgrade() -> None:
    op.drop_index("ix_audit_entries_subject_key", table_name="audit_entries")
    op.create_index("ix_audit_entries_subject", "audit_entries", ["subject"])
    op.drop_column("audit_entries", "subject_key")
