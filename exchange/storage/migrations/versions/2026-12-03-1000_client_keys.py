"""Client keys: private_key_jwt (RFC 7523) and certificate-bound tokens (RFC 8705).

Revision ID: 20261203_1000
Revises: 20261202_1000
Create Date: 2026-12-03 10:00

``api_clients`` gains the client's public JWK Set and the thumbprint of the certificate its
tokens are bound to; both empty for the clients there are, which keep their secrets. The
``client_assertion_jtis`` table holds each accepted assertion's ``jti`` until it expires, so
that no replica accepts it a second time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203_1000"
down_revision: str | None = "20261202_1000"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Adding nullable columns: SQLite does this in place, so batch mode copies nothing.
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("jwks", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("certificate_thumbprint", sa.String(length=43), nullable=True)
        )
    op.create_table(
        "client_assertion_jtis",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti"),
    )
    with op.batch_alter_table("client_assertion_jtis", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_client_assertion_jtis_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("client_assertion_jtis", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_assertion_jtis_expires_at"))
    op.drop_table("client_assertion_jtis")
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.drop_column("certificate_thumbprint")
        batch_op.drop_column("jwks")
