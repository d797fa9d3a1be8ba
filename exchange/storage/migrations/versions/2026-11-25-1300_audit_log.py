"""The audit log: entries, subtree hashes, the head row that orders appends, checkpoints.

Revision ID: 20261125_1300
Revises: 20261125_1200
Create Date: 2026-11-25 13:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from exchange.auditlog import triggers

revision: str = "20261125_1300"
down_revision: str | None = "20261125_1200"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_checkpoints_tree_size"), ["tree_size"], unique=False
        )

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("frontier", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "index"),
    )
    op.create_table(
        "audit_entries",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("actor_org_id", sa.Uuid(), nullable=True),
        sa.Column("recipient_org_id", sa.Uuid(), nullable=True),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_org_id"],
            ["organisations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recipient_org_id"],
            ["organisations.id"],
        ),
        sa.PrimaryKeyConstraint("leaf_index"),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entries_actor", ["actor_org_id"], unique=False)
        batch_op.create_index("ix_audit_entries_recorded_at", ["recorded_at"], unique=False)
        batch_op.create_index("ix_audit_entries_subject", ["subject"], unique=False)

    # The head row exists from the start: appending only ever locks and updates it.
    op.execute("INSERT INTO audit_head (id, tree_size, frontier) VALUES (1, 0, NULL)")
    triggers.create(op.get_bind())


def downgrade() -> None:
    triggers.drop(op.get_bind())

    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entries_subject")
        batch_op.drop_index("ix_audit_entries_recorded_at")
        batch_op.drop_index("ix_audit_entries_actor")

    op.drop_table("audit_entries")
    op.drop_table("audit_nodes")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checkpoints_tree_size"))

    op.drop_table("audit_checkpoints")
