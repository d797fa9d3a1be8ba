"""A person's identifiers linked: every subject row gets the person it belongs to.

Revision ID: 20261202_0800
Revises: 20261201_1000
Create Date: 2026-12-02 08:00

Each existing row becomes a person of its own (``person_id = id``) with its kind unknown;
``exchange init`` then reads the kinds off the sealed signals and links the identifiers
that came together in one signal (``exchange.identity.linking.link_stored``): a migration
has no keys, and linking needs them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_0800"
down_revision: str | None = "20261201_1000"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("person_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("kind", sa.String(length=8), nullable=True))
        batch.add_column(
            sa.Column("ambiguous", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("ambiguous_with", sa.JSON(), nullable=True))
    op.execute("UPDATE subjects SET person_id = id")
    with op.batch_alter_table("subjects") as batch:
        batch.alter_column("person_id", existing_type=sa.Uuid(), nullable=False)
        batch.create_index("ix_subjects_person_id", ["person_id"])


def downgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.drop_index("ix_subjects_person_id")
        batch.drop_column("ambiguous_with")
        batch.drop_column("ambiguous")
        batch.drop_column("kind")
        batch.drop_column("person_id")
