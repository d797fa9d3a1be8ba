"""The audit log's subject index key: computed on append, backfilled by its migration."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DatabaseError

from exchange.auditlog.models import subject_key
from exchange.db import alembic_config, migrate


def test_the_migration_gives_existing_entries_their_key_and_keeps_the_log_append_only(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    command.upgrade(alembic_config(url), "20261125_1600")
    engine = create_engine(url)
    with engine.begin() as connection:
        for index, subject in enumerate(["a" * 64, "b" * 64, None]):
            connection.execute(
                text(
                    "INSERT INTO audit_entries (leaf_index, entry, leaf_hash, recorded_at, "
                    "action, decision, subject) VALUES (:i, :e, :h, '2026-11-25 10:00:00', "
                    "'signal.route', 'permit', :s)"
                ),
                {"i": index, "e": b"{}", "h": b"\0" * 32, "s": subject},
            )
    migrate(url)
    with engine.begin() as connection:
        keys = dict(
            connection.execute(text("SELECT leaf_index, subject_key FROM audit_entries")).all()
        )
        names = {row[1] for row in connection.execute(text("PRAGMA index_list(audit_entries)"))}
    assert keys == {0: subject_key("a" * 64), 1: subject_key("b" * 64), 2: None}
    assert "ix_audit_entries_subject_key" in names and "ix_audit_entries_subject" not in names
    with pytest.raises(DatabaseError), engine.begin() as connection:
        connection.execute(text("UPDATE audit_entries SET subject_key = 1"))
    engine.dispose()


def test_the_key_is_a_signed_64_bit_integer_and_stable() -> None:
    key = subject_key("f" * 64)
    assert -(2**63) <= key < 2**63
    assert key == subject_key("f" * 64) != subject_key("e" * 64)
