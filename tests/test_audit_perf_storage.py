"""The audit append's fast paths change nothing that is stored.

``AuditTrail.append`` hands the driver tuples converted once per batch (``TupleInsert``) and
encodes entries with orjson. Here: the rows hold exactly what SQLAlchemy's own INSERT of the
same values stores, on SQLite and PostgreSQL, and the leaf bytes are RFC 8785 for every
character the broker could put in an entry.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, Table, select, text

from audit.entry import canonical_bytes, canonical_bytes_of_native
from audit.merkle import leaf_hash, root_of_leaves
from exchange.auditlog.models import AuditEntry, AuditNode
from exchange.auditlog.service import AuditRecord, _canonical, _entry
from exchange.broker import Broker
from exchange.demo import DemoOrganisation

COLUMNS = [c.name for c in AuditEntry.__table__.c]


def _stored(connection: Any, table: str) -> list[tuple[str, ...]]:
    """Each row as the database holds it: storage type and literal text of every column."""
    if connection.dialect.name == "sqlite":
        shown = ", ".join(f"typeof({c}) || ':' || quote({c})" for c in COLUMNS)
    else:
        shown = ", ".join(
            f"pg_typeof({c})::text || ':' || coalesce({c}::text, 'NULL')" for c in COLUMNS
        )
    rows = connection.exec_driver_sql(f"SELECT {shown} FROM {table} ORDER BY leaf_index")
    return [tuple(row) for row in rows]


def test_appended_rows_hold_what_sqlalchemy_s_insert_stores(
    broker: Broker, world: dict[str, DemoOrganisation]
) -> None:
    actor = uuid.UUID(world["housing_corporation"].id)
    recipient = uuid.UUID(world["municipality"].id)
    # Microseconds, and a timezone other than UTC: both must come out as the ORM stores them.
    now = dt.datetime(2026, 11, 25, 14, 3, 7, 123456, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    records = [
        AuditRecord(
            action="signal.route",
            decision="permit" if i % 3 else "deny",
            actor_org=actor if i % 2 else None,
            actor_client="client-1",
            purpose="early-signal" if i % 4 else None,
            recipient_org=recipient if i % 3 else None,
            subject=f"{i:064x}" if i % 5 else None,
            resources={"signal": str(uuid.uuid4())},
        )
        for i in range(37)  # 37 leaves: nodes at several levels
    ]
    with broker.sessions() as session, session.begin():
        assert broker.audit.append(session, records, now) == list(range(37))

    shadow = Table(
        "audit_entries_orm_check",
        MetaData(),
        *(Column(c.name, c.type) for c in AuditEntry.__table__.c),
    )
    shadow.create(broker.engine)
    try:
        with broker.sessions() as session, session.begin():
            loaded = session.scalars(select(AuditEntry).order_by(AuditEntry.leaf_index)).all()
            assert loaded[1].recorded_at == now
            # What the broker's earlier plain executemany (exchange.db.insert_rows) sent.
            session.execute(
                shadow.insert(), [{c: getattr(row, c) for c in COLUMNS} for row in loaded]
            )
        with broker.engine.connect() as connection:
            appended = _stored(connection, "audit_entries")
            expected = _stored(connection, "audit_entries_orm_check")
            nodes = connection.execute(
                select(AuditNode.level, AuditNode.index, AuditNode.hash)
            ).all()
    finally:
        shadow.drop(broker.engine)
    assert len(appended) == 37
    assert appended == expected
    # The stored nodes are the tree's: the 32-leaf subtree and its parts.
    leaves = [bytes(row.entry) for row in loaded]
    assert [bytes(row.leaf_hash) for row in loaded] == [leaf_hash(data) for data in leaves]
    stored = {(level, index): bytes(h) for level, index, h in nodes}
    assert stored[(5, 0)] == root_of_leaves(leaves[:32])
    assert len(stored) == 31 + 3  # 16+8+4+2+1 under the first 32 leaves, then 2+1 more


def _record(value: str) -> AuditRecord:
    return AuditRecord(
        action=value or "x",
        decision="permit",
        actor_org=uuid.uuid4(),
        actor_client=value,
        purpose=value,
        legal_basis=(value, "b"),
        policy_version=value,
        rule_id=value,
        fields=(value, "a"),
        categories=(value,),
        recipient_org=None,
        subject=value,
        resources={"signal": value, "case": "c"},
    )


def test_every_character_encodes_as_rfc_8785() -> None:
    characters = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    # Every code point in one string, and the awkward ones alone as well.
    for value in ["".join(characters), *characters[:0x80], "\u2028", "\ufeff", "🏠"]:
        entry = _entry(_record(value), "2026-11-25T12:00:00.5Z", "a" * 32, "b" * 16)
        encoded = _canonical(entry)
        assert encoded == canonical_bytes_of_native(entry)
        assert encoded == bytes(rfc8785.dumps(entry))


@given(st.text())
def test_any_text_in_any_field_encodes_as_rfc_8785(value: str) -> None:
    entry = _entry(_record(value), "2026-11-25T12:00:00Z", "a" * 32, "b" * 16)
    try:
        expected = canonical_bytes(entry)
    except ValueError:
        with pytest.raises(ValueError, match="RFC 8785"):
            _canonical(entry)
        return
    assert _canonical(entry) == expected


def test_a_lone_surrogate_is_refused() -> None:
    entry = _entry(_record("\ud800"), "2026-11-25T12:00:00Z", "a" * 32, "b" * 16)
    with pytest.raises(ValueError, match="RFC 8785"):
        _canonical(entry)


def test_keys_sort_as_rfc_8785_orders_them() -> None:
    # Resource names are the broker's own, but order by code point must hold for any of them.
    record = AuditRecord(
        action="a",
        decision="permit",
        actor_org=None,
        resources=dict.fromkeys(["b", "B", "_", "a1", "a", "é", "中", "￮", "Z"], "v"),
    )
    entry = _entry(record, "2026-11-25T12:00:00Z", "a" * 32, "b" * 16)
    assert _canonical(entry) == bytes(rfc8785.dumps(entry))


def test_the_sqlite_timestamp_text_is_unchanged_by_the_fast_path(broker: Broker) -> None:
    if broker.engine.dialect.name != "sqlite":
        pytest.skip("the text form is SQLite's")
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)  # no microseconds
    with broker.sessions() as session, session.begin():
        broker.audit.append(session, [AuditRecord("x", "recorded", None)], now)
    with broker.engine.connect() as connection:
        stored = connection.execute(text("SELECT recorded_at FROM audit_entries")).scalar()
    assert stored == "2026-01-02 03:04:05.000000"
