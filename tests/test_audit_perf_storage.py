"""The audit append's fast paths change nothing that is stored.

``AuditTrail.append`` encodes entries through templates (``_entry_parts``) and hands the
driver tuples converted once per batch (``TupleInsert``). Here: the leaf bytes are, byte for
byte, those of the reference encoder (``audit.entry.canonical_bytes`` of the entry that
``_entry`` builds from the record's field definitions) for generated records of every kind,
for a record class with a field added, and for every character; and the rows hold exactly
what SQLAlchemy's own INSERT of the same values stores, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, Table, select, text

from audit.entry import canonical_bytes
from exchange.auditlog import service
from exchange.auditlog.models import AuditEntry
from exchange.auditlog.service import AuditRecord, _entry, _entry_parts, _in_entry
from exchange.broker import Broker
from exchange.demo import DemoOrganisation

# -- the fast path against the reference --------------------------------------------------

# Two appends' own values: templates are kept across appends, and each must get its own.
CONTEXTS = [
    ("2026-11-26T09:30:00Z", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
    ("2026-11-26T09:30:00.123456Z", "a" * 32, "b" * 16),
]

# Text of every kind, drawn from a few values so that records of one list share shapes (and
# so templates) and differ in some fields: non-ASCII, beyond the BMP, what JSON escapes, the
# bytes the templates are cut around, a marker itself, a lone surrogate (no UTF-8 form).
_AWKWARD = st.sampled_from(
    [
        "",
        "a",
        "b",
        "é",
        "Dïjk, van",
        "🏠",
        "\uffee",
        "\u2028",
        'quote " back \\',
        "tab\tnew\nline\x01\x7f",
        "0",
        "-1.5e300",
        '"resources":{}',
        ',"subject":null,',
        '"leaf_index":0',
        service._MARKERS["subject"],
        service._MARKERS["leaf_index"],
        "\ud800",
    ]
)
_TEXT = _AWKWARD | st.text(max_size=6)
_NAMES = _AWKWARD | st.text(max_size=4) | st.sampled_from(["signal", "case", "\U0001f600"])
_ORGS = st.sampled_from([None, uuid.UUID(int=1), uuid.UUID(int=2**128 - 1)])
_OPTIONAL = st.none() | _TEXT
_LISTS = st.lists(_TEXT, max_size=3).map(tuple)


def _records(text: st.SearchStrategy[Any], names: st.SearchStrategy[Any]) -> Any:
    """Records with every optional field present or absent."""
    return st.builds(
        AuditRecord,
        action=text,
        decision=st.sampled_from(["permit", "deny", "recorded"]),
        actor_org=_ORGS,
        actor_client=st.none() | text,
        purpose=st.none() | text,
        legal_basis=st.lists(text, max_size=2).map(tuple),
        policy_version=st.none() | text,
        rule_id=st.none() | text,
        fields=_LISTS | st.lists(_TEXT, max_size=2),  # a list too: no shape, the whole path
        categories=_LISTS,
        recipient_org=_ORGS,
        subject=st.none() | text,
        resources=st.dictionaries(names, text, max_size=3),
    )


# What a caller could pass where the types say otherwise (through an Any): numbers, floats,
# booleans, UUIDs, nested values. The reference encodes or refuses each; so must the fast path.
_ANY = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.sampled_from([0, 1, 2**53 - 1, 2**53, 1.0, 0.5, True, False])
    | st.floats(allow_nan=False)
    | st.uuids()
    | _TEXT,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(_NAMES, inner, max_size=2),
    max_leaves=4,
)


def _reference(records: list[AuditRecord], context: tuple[str, str, str]) -> list[bytes] | None:
    """Each record's entry by the reference encoder, with leaf index 1000 + its position;
    None when the reference refuses one of them."""
    try:
        return [
            canonical_bytes(_entry(record, *context, leaf_index=1000 + i))
            for i, record in enumerate(records)
        ]
    except ValueError:
        return None


def _fast(records: list[AuditRecord], context: tuple[str, str, str]) -> list[bytes] | None:
    """The same entries through the append's fast path, the index spliced in as under the
    lock; None when it refuses one of them (with the reference's ValueError)."""
    try:
        parts = _entry_parts(records, *context)
    except ValueError:
        return None
    return [before + b"%d" % (1000 + i) + after for i, (before, after) in enumerate(parts)]


@given(st.lists(_records(_TEXT, _NAMES), min_size=1, max_size=12))
def test_the_fast_path_writes_the_reference_bytes(records: list[AuditRecord]) -> None:
    for context in CONTEXTS:
        assert _fast(records, context) == _reference(records, context)


@given(st.lists(_records(_ANY, _NAMES | st.integers() | st.none()), min_size=1, max_size=6))
def test_values_of_other_types_are_written_or_refused_as_the_reference_does(
    records: list[AuditRecord],
) -> None:
    for context in CONTEXTS:
        assert _fast(records, context) == _reference(records, context)


def test_resource_names_beyond_the_bmp_are_ordered_by_utf16_code_units() -> None:
    # orjson orders "\uffee" before "🏠" (code points); RFC 8785 the other way round (UTF-16:
    # a surrogate pair starts with 0xD83C). The fast path must not write orjson's order.
    record = AuditRecord("signal.route", "permit", None, resources={"🏠": "a", "\uffee": "b"})
    [(before, after)] = _entry_parts([record], *CONTEXTS[0])
    assert before + b"0" + after == bytes(rfc8785.dumps(_entry(record, *CONTEXTS[0])))


def test_the_broker_s_own_records_take_the_fast_path() -> None:
    # The shortcut is the point: records of the types the broker writes must not fall back to
    # encoding each whole entry (which would still be right, but six times slower).
    record = AuditRecord(
        action="signal.route",
        decision="permit",
        actor_org=uuid.uuid4(),
        actor_client="client-1",
        purpose="early-signal",
        legal_basis=("eu-gdpr:A6-1-c",),
        policy_version="sha256:" + "0" * 64,
        rule_id="municipality.early-signal.receive",
        fields=("person.bsn",),
        categories=("identifier",),
        recipient_org=uuid.uuid4(),
        subject="f" * 64,
        resources={"signal": str(uuid.uuid4())},
    )
    shape = service._layout(AuditRecord).shape(record)
    template = service._template(AuditRecord, shape, record)
    assert template is not None
    assert template[1] == ("leaf_index", "resources", "span_id", "subject", "timestamp", "trace_id")


def test_every_character_is_written_as_the_reference_writes_it() -> None:
    characters = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    # Every code point in one string, and the awkward ones alone as well.
    for value in ["".join(characters), *characters[:0x80], "\u2028", "\ufeff", "🏠"]:
        record = AuditRecord(
            action=value,
            decision="permit",
            actor_org=uuid.uuid4(),
            actor_client=value,
            purpose=value,
            legal_basis=(value, "b"),
            policy_version=value,
            rule_id=value,
            fields=(value, "a"),
            categories=(value,),
            subject=value,
            resources={"signal": value, "case": "c"},
        )
        entry = _entry(record, *CONTEXTS[1], leaf_index=7)
        [(before, after)] = _entry_parts([record], *CONTEXTS[1])
        assert before + b"7" + after == canonical_bytes(entry) == bytes(rfc8785.dumps(entry))


# -- a record class with a field added ----------------------------------------------------


def _extended(*fields: tuple[str, Any, Any]) -> type[AuditRecord]:
    """AuditRecord with ``fields`` added, as a subclass made at run time."""
    made = dataclasses.make_dataclass("Extended", fields, bases=(AuditRecord,), frozen=True)
    return made  # type: ignore[no-any-return]


_WITH_NOTE = _extended(
    ("unit", "str | None", dataclasses.field(default=None, metadata=_in_entry("actor", "unit"))),
    ("note", "str | None", dataclasses.field(default=None, metadata=_in_entry("note"))),
)


@given(st.lists(st.tuples(_OPTIONAL, _OPTIONAL, _OPTIONAL), min_size=1, max_size=8))
def test_a_field_added_to_the_record_is_written_by_the_fast_path(
    values: list[tuple[str | None, str | None, str | None]],
) -> None:
    # Records that differ only in the new fields get their own bytes, each the reference's:
    # the shape that picks a template is every field the class defines, not a list kept by
    # hand beside it.
    records = [
        _WITH_NOTE(  # type: ignore[call-arg]
            "signal.route", "permit", None, subject=subject, unit=unit, note=note
        )
        for unit, note, subject in values
    ]
    for context in CONTEXTS:
        assert _fast(records, context) == _reference(records, context)
    entry = _entry(records[0], *CONTEXTS[0])
    assert entry["note"] == values[0][1] and entry["actor"]["unit"] == values[0][0]


def test_a_field_without_a_place_in_the_entry_stops_the_append() -> None:
    unplaced = _extended(("note", "str | None", dataclasses.field(default=None)))
    record = unplaced("signal.route", "permit", None)
    with pytest.raises(TypeError, match=r"Extended\.note has no place in the audit entry"):
        _entry_parts([record], *CONTEXTS[0])
    with pytest.raises(TypeError, match="no place"):
        _entry(record, *CONTEXTS[0])


@pytest.mark.parametrize(
    ("path", "why"),
    [
        (("actor", "client"), "another member"),
        (("actor",), "another member"),
        (("leaf_index",), "another member"),
        (("schema_version", "x"), "another member"),
    ],
)
def test_a_field_in_a_place_already_taken_stops_the_append(path: tuple[str, ...], why: str) -> None:
    clashing = _extended(("x", "str", dataclasses.field(default="x", metadata=_in_entry(*path))))
    with pytest.raises(TypeError, match=why):
        _entry_parts([clashing("signal.route", "permit", None)], *CONTEXTS[0])


# -- what the rows hold --------------------------------------------------------------------

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
        for i in range(37)
    ]
    with broker.sessions() as session, session.begin():
        assert broker.audit.write(session, records, now) == list(range(37))

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
    finally:
        shadow.drop(broker.engine)
    assert len(appended) == 37
    assert appended == expected


def test_the_sqlite_timestamp_text_is_unchanged_by_the_fast_path(broker: Broker) -> None:
    if broker.engine.dialect.name != "sqlite":
        pytest.skip("the text form is SQLite's")
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)  # no microseconds
    with broker.sessions() as session, session.begin():
        broker.audit.append(session, [AuditRecord("x", "recorded", None)], now)
    with broker.engine.connect() as connection:
        stored = connection.execute(text("SELECT recorded_at FROM audit_entries")).scalar()
    assert stored == "2026-01-02 03:04:05.000000"
