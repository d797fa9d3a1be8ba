"""The audit append's storage: COPY on PostgreSQL, leaf_index as SQLite's rowid, no index on
the actor, and the migration that brings an existing log there (20261125_1800)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import orjson
import pytest
import rfc8785
from alembic import command
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DatabaseError, IntegrityError

from audit.merkle import leaf_hash
from exchange.auditlog.models import AuditEntry, subject_key
from exchange.auditlog.service import AuditRecord
from exchange.broker import Broker
from exchange.db import alembic_config, migrate
from exchange.demo import DemoOrganisation

NOW = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)


def _record(i: int, actor: uuid.UUID | None = None) -> AuditRecord:
    return AuditRecord(
        action="signal.route",
        decision="permit",
        actor_org=actor,
        subject=f"{i % 3:064x}",
        resources={"signal": str(uuid.UUID(int=i))},
    )


def test_appends_in_several_transactions_give_one_log(
    broker: Broker, world: dict[str, DemoOrganisation]
) -> None:
    actor = uuid.UUID(world["housing_corporation"].id)
    for start in (0, 5, 6, 20):
        with broker.sessions() as session, session.begin():
            count = {0: 5, 5: 1, 6: 14, 20: 3}[start]
            records = [_record(start + i, actor) for i in range(count)]
            assert broker.audit.write(session, records, NOW) == list(range(start, start + count))
    with broker.sessions() as session:
        rows = session.execute(
            select(AuditEntry.leaf_index, AuditEntry.entry, AuditEntry.leaf_hash)
        ).all()
        assert [row.leaf_index for row in sorted(rows)] == list(range(23))
        assert all(bytes(row.leaf_hash) == leaf_hash(bytes(row.entry)) for row in rows)
        for row in rows:
            # The index spliced in under the lock: the entry's own, and still RFC 8785.
            entry = orjson.loads(row.entry)
            assert entry["leaf_index"] == row.leaf_index
            assert bytes(row.entry) == bytes(rfc8785.dumps(entry))
        # Proofs read the stored nodes: every one the appends above should have written.
        proof = broker.audit.inclusion(session, 6, 23)
        assert proof["tree_size"] == 23
        assert broker.audit.consistency(session, 5, 23)["second"] == 23


def test_a_bad_row_fails_the_append_as_an_integrity_error(broker: Broker) -> None:
    # An actor that is no organisation: the foreign key refuses it, through COPY on
    # PostgreSQL as through executemany on SQLite, as SQLAlchemy's IntegrityError (which the
    # request's retry and rollback handle), and nothing of the append stays.
    with pytest.raises(IntegrityError), broker.sessions() as session, session.begin():
        broker.audit.append(session, [_record(0), _record(1, uuid.uuid4())], NOW)
    with broker.sessions() as session:
        assert broker.audit.tree_size(session) == 0
        assert session.scalar(select(AuditEntry.leaf_index)) is None


def test_the_log_has_no_index_on_the_actor_and_sqlite_keys_entries_by_rowid(
    broker: Broker,
) -> None:
    with broker.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            indexes = {
                row[1] for row in connection.exec_driver_sql("PRAGMA index_list(audit_entries)")
            }
            plan = " ".join(
                row[-1]
                for row in connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT entry FROM audit_entries WHERE leaf_index = 7"
                )
            )
            assert "INTEGER PRIMARY KEY" in plan
        else:
            indexes = {
                row[0]
                for row in connection.exec_driver_sql(
                    "SELECT indexname FROM pg_indexes WHERE tablename = 'audit_entries'"
                )
            }
    # No separate index for the key on SQLite (sqlite_autoindex_…): the rowid is the key.
    assert {name for name in indexes if not name.endswith("_pkey")} == {
        "ix_audit_entries_subject_key",
        "ix_audit_entries_recorded_at",
    }


def test_the_migration_keeps_every_row_and_the_append_only_triggers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    command.upgrade(alembic_config(url), "20261125_1700")
    engine = create_engine(url)
    subjects = [None, *(f"{i:064x}" for i in range(1, 4))]
    values = [
        {
            "i": i,
            "e": b'{"n":%d}' % i,
            "h": bytes([i]) * 32,
            "s": subject,
            "k": subject_key(subject) if subject else None,
        }
        for i, subject in enumerate(subjects)
    ]
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_entries (leaf_index, entry, leaf_hash, recorded_at, action, "
                "decision, subject, subject_key) VALUES (:i, :e, :h, "
                "'2026-11-25 10:00:00.000000', 'signal.route', 'permit', :s, :k)"
            ),
            values,
        )
        before = connection.exec_driver_sql("SELECT * FROM audit_entries ORDER BY 1").all()
    migrate(url)
    with engine.begin() as connection:
        after = connection.exec_driver_sql("SELECT * FROM audit_entries ORDER BY 1").all()
        declared = {
            row[1]: row[2] for row in connection.exec_driver_sql("PRAGMA table_info(audit_entries)")
        }
        indexes = {row[1] for row in connection.exec_driver_sql("PRAGMA index_list(audit_entries)")}
    assert after == before
    assert declared["leaf_index"] == "INTEGER"
    assert indexes == {"ix_audit_entries_subject_key", "ix_audit_entries_recorded_at"}
    for statement in ("UPDATE audit_entries SET subject = NULL", "DELETE FROM audit_entries"):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
            connection.exec_driver_sql(statement)

    command.downgrade(alembic_config(url), "20261125_1700")
    with engine.begin() as connection:
        assert connection.exec_driver_sql("SELECT * FROM audit_entries ORDER BY 1").all() == before
        declared = {
            row[1]: row[2] for row in connection.exec_driver_sql("PRAGMA table_info(audit_entries)")
        }
        indexes = {row[1] for row in connection.exec_driver_sql("PRAGMA index_list(audit_entries)")}
    assert declared["leaf_index"] == "BIGINT"
    assert "ix_audit_entries_actor" in indexes
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM audit_entries")
    engine.dispose()
