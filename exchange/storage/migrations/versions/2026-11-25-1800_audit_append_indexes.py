"""Fewer B-trees written per audit entry: no index on actor_org_id; on SQLite, leaf_index
as the rowid.

Revision ID: 20261125_1800
Revises: 20261125_1700
Create Date: 2026-11-25 18:00

``ix_audit_entries_actor`` served no query: the search by organisation asks for actor OR
recipient, and with only one side indexed neither SQLite nor PostgreSQL uses it (both scan in
leaf order, as before). It was one more index written on every append.

On SQLite, ``leaf_index BIGINT PRIMARY KEY`` is not the rowid, so every entry went into the
table by rowid and into a separate unique index on leaf_index. Declared ``INTEGER`` it is the
rowid itself (64-bit all the same). SQLite cannot change a column's type in place, so the
table is rebuilt: the rows are copied as they are (the entry bytes and leaf hashes, so every
checkpoint, stay exactly as they were), then the indexes and the append-only triggers are put
back on the new table. DROP TABLE fires no DELETE trigger. PostgreSQL keeps BIGINT.
"""

from collections.abc import Sequence

from alembic import op

from exchange.auditlog import triggers

revision: str = "20261125_1800"
down_revision: str | None = "20261125_1700"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "leaf_index, entry, leaf_hash, recorded_at, action, purpose, decision, actor_org_id, "
    "recipient_org_id, subject, subject_key"
)


def upgrade() -> None:
    op.drop_index("ix_audit_entries_actor", table_name="audit_entries")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite("INTEGER")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite("BIGINT")
    op.create_index("ix_audit_entries_actor", "audit_entries", ["actor_org_id"])


def _rebuild_sqlite(leaf_index_type: str) -> None:
    """audit_entries again with ``leaf_index`` declared as ``leaf_index_type``, same rows."""
    connection = op.get_bind()
    # The same definition as before but for the one type (as the models create it).
    connection.exec_driver_sql(
        f"""CREATE TABLE audit_entries_rebuilt (
            leaf_index {leaf_index_type} NOT NULL,
            entry BLOB NOT NULL,
            leaf_hash BLOB NOT NULL,
            recorded_at DATETIME NOT NULL,
            action VARCHAR(64) NOT NULL,
            purpose VARCHAR(64),
            decision VARCHAR(16) NOT NULL,
            actor_org_id CHAR(32),
            recipient_org_id CHAR(32),
            subject VARCHAR(64),
            subject_key BIGINT,
            PRIMARY KEY (leaf_index),
            FOREIGN KEY(actor_org_id) REFERENCES organisations (id),
            FOREIGN KEY(recipient_org_id) REFERENCES organisations (id)
        )"""
    )
    connection.exec_driver_sql(
        f"INSERT INTO audit_entries_rebuilt ({_COLUMNS}) "  # noqa: S608 (constant names)
        f"SELECT {_COLUMNS} FROM audit_entries ORDER BY leaf_index"
    )
    # Drops the old table's indexes and triggers with it.
    connection.exec_driver_sql("DROP TABLE audit_entries")
    connection.exec_driver_sql("ALTER TABLE audit_entries_rebuilt RENAME TO audit_entries")
    op.create_index("ix_audit_entries_subject_key", "audit_entries", ["subject_key"])
    op.create_index("ix_audit_entries_recorded_at", "audit_entries", ["recorded_at"])
    for statement in triggers.create_statements("sqlite"):
        if " ON audit_entries " in statement:
            connection.exec_driver_sql(statement)
