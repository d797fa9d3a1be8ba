"""Consent records with the fields of ISO/IEC TS 27560 that only the record itself can hold.

Revision ID: 20261202_0900
Revises: 20261202_0800
Create Date: 2026-12-02 09:00

The notice's language and address, the consent type and the withdrawal method. Consents
recorded before keep working: their notice was Dutch (``nl``), their consent was at least
expressed (the ledger only ever recorded consent given by an affirmative act), and they are
withdrawn as before, by telling the organisation that collected them (an empty method).
Controller, data categories, retention, storage location and jurisdiction are not stored:
``exchange.consents.records`` derives them from the organisations, the register and the
settings.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_0900"
down_revision: str | None = "20261202_0800"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.add_column(
            sa.Column("language", sa.String(length=35), nullable=False, server_default="nl")
        )
        batch.add_column(sa.Column("notice_url", sa.String(length=500), nullable=True))
        batch.add_column(
            sa.Column(
                "consent_type", sa.String(length=16), nullable=False, server_default="expressed"
            )
        )
        batch.add_column(sa.Column("withdrawal_method", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("withdrawal_method")
        batch.drop_column("consent_type")
        batch.drop_column("notice_url")
        batch.drop_column("language")
