"""The routing table's version: one row moved with every change of the postcode ranges.

Revision ID: 20261203_1400
Revises: 20261203_1000
Create Date: 2026-12-03 14:00

Intake read every PC4 range in every transaction (a national broker has thousands). A
process now keeps the table it read, and reads only this row to know it is still current.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203_1400"
down_revision: str | None = "20261203_1000"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "routing_versions",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(table, [{"id": 1, "generation": 0}])


def downgrade() -> None:
    op.drop_table("routing_versions")
