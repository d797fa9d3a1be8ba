"""Foundation: organisations, API clients, subjects, households, cases, signals.

Revision ID: 20261125_1100
Revises: (none)
Create Date: 2026-11-25 11:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_1100"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "organisations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("gemeentecode", sa.String(length=4), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind <> 'municipality' OR gemeentecode IS NOT NULL",
            name="ck_organisations_municipality_has_gemeentecode",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["organisations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("gemeentecode"),
    )
    op.create_table(
        "subjects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("pseudonym_key_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pseudonym"),
    )
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("scopes", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id"),
    )
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_clients_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "households",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("pseudonym_key_id", sa.String(length=64), nullable=False),
        sa.Column("pc4", sa.Integer(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_data_key", sa.LargeBinary(), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["organisations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pseudonym"),
    )
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_households_municipality_id"), ["municipality_id"], unique=False
        )

    op.create_table(
        "postcode_ranges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("pc4_from", sa.Integer(), nullable=False),
        sa.Column("pc4_to", sa.Integer(), nullable=False),
        sa.CheckConstraint("pc4_from BETWEEN 1000 AND 9999", name="ck_postcode_ranges_from"),
        sa.CheckConstraint("pc4_to BETWEEN pc4_from AND 9999", name="ck_postcode_ranges_to"),
        sa.ForeignKeyConstraint(["municipality_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("postcode_ranges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_postcode_ranges_municipality_id"), ["municipality_id"], unique=False
        )
        batch_op.create_index("ix_postcode_ranges_span", ["pc4_from", "pc4_to"], unique=False)

    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("is_repeat", sa.Boolean(), nullable=False),
        sa.Column("is_multiple", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_signal_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["organisations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_household_last_signal", ["household_id", "last_signal_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cases_municipality_id"), ["municipality_id"], unique=False
        )

    op.create_table(
        "signals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("external_ref", sa.String(length=64), nullable=False),
        sa.Column("content_digest", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("days_in_arrears", sa.Integer(), nullable=False),
        sa.Column("amount_band", sa.String(length=16), nullable=False),
        sa.Column("age_band", sa.String(length=16), nullable=False),
        sa.Column("crisis", sa.Boolean(), nullable=False),
        sa.Column("warm_handover", sa.Boolean(), nullable=False),
        sa.Column("intake_rule_id", sa.String(length=64), nullable=False),
        sa.Column("policy_version", sa.String(length=80), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("household_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("sealed_identity", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["households.id"],
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["organisations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["organisations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider_id", "external_ref", name="uq_signals_provider_external_ref"),
    )
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signals_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_signals_household_id"), ["household_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_signals_municipality_id"), ["municipality_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_signals_subject_id"), ["subject_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signals_subject_id"))
        batch_op.drop_index(batch_op.f("ix_signals_municipality_id"))
        batch_op.drop_index(batch_op.f("ix_signals_household_id"))
        batch_op.drop_index(batch_op.f("ix_signals_case_id"))

    op.drop_table("signals")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_municipality_id"))
        batch_op.drop_index("ix_cases_household_last_signal")

    op.drop_table("cases")
    with op.batch_alter_table("postcode_ranges", schema=None) as batch_op:
        batch_op.drop_index("ix_postcode_ranges_span")
        batch_op.drop_index(batch_op.f("ix_postcode_ranges_municipality_id"))

    op.drop_table("postcode_ranges")
    with op.batch_alter_table("households", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_households_municipality_id"))

    op.drop_table("households")
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_clients_organisation_id"))

    op.drop_table("api_clients")
    op.drop_table("subjects")
    op.drop_table("organisations")
