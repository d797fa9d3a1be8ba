"""The audit store's contract: what every storage backend must do for the log.

Every test here runs, as the same function, on SQLite and on PostgreSQL (the ``database``
fixture behind ``broker``): appending (one entry and many, in order, leaf indexes without a
gap), the head row (tree size and frontier), the stored subtree nodes, inclusion and
consistency proofs, signed checkpoints, the append-only guard of the database itself, and
appends from several connections and processes at once. What is checked is checked with
``audit/``'s own functions (the reference encoder, the Merkle tree, the signed-note reader,
the offline verifier), never with the broker's.

How a backend does it is tested elsewhere: COPY and the stored column types in
tests/test_audit_perf_storage.py, SQLite's rowid key and the migrations in
tests/test_audit_append_storage.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from audit.entry import canonical_bytes
from audit.merkle import (
    Frontier,
    leaf_hash,
    root_of_leaves,
    verify_consistency,
    verify_inclusion,
)
from audit.note import open_checkpoint
from audit.verify import verify_export
from exchange.auditlog import triggers
from exchange.auditlog.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditHead,
    AuditNode,
    subject_key,
)
from exchange.auditlog.service import AuditRecord, AuditTrail
from exchange.broker import Broker
from exchange.db import make_engine, make_session_factory, unit_of_work
from exchange.demo import DemoOrganisation
from exchange.errors import InvalidInput
from tests.conftest import Database

NOW = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)


def _records(count: int, start: int = 0, *organisations: uuid.UUID) -> list[AuditRecord]:
    """Records as the broker writes them: a few subjects, decisions and organisations."""
    named = [None, *organisations]
    return [
        AuditRecord(
            action="signal.route",
            decision="deny" if i % 3 == 0 else "permit",
            actor_org=named[i % len(named)],
            actor_client="client-1" if i % 2 else None,
            purpose="early-signal",
            legal_basis=("eu-gdpr:A6-1-c", "eu-gdpr:A6-1-e"),
            policy_version="sha256:" + "0" * 64,
            rule_id="municipality.early-signal.receive",
            fields=("person.bsn", "address.postcode"),
            categories=("identifier", "address"),
            recipient_org=named[(i + 1) % len(named)],
            subject=f"{i % 7:064x}" if i % 5 else None,
            resources={"signal": str(uuid.UUID(int=i))},
        )
        for i in range(start, start + count)
    ]


def _append(broker: Broker, records: list[AuditRecord]) -> list[int]:
    """One transaction that appends ``records``; their leaf indexes."""
    with broker.sessions() as session, session.begin():
        return broker.audit.write(session, records, NOW)


def _leaves(broker: Broker) -> list[bytes]:
    """The leaf data of the whole log, in leaf order."""
    with broker.sessions() as session:
        return list(broker.audit.entries(session, 0, broker.audit.tree_size(session)))


def _organisations(world: dict[str, DemoOrganisation]) -> list[uuid.UUID]:
    return [uuid.UUID(world[kind].id) for kind in ("housing_corporation", "municipality")]


# Appending ---------------------------------------------------------------------------------


def test_appends_number_their_entries_in_one_log_without_gaps(
    broker: Broker, world: dict[str, DemoOrganisation]
) -> None:
    organisations = _organisations(world)
    start = 0
    for count in (1, 5, 1, 14, 3, 0):
        indexes = _append(broker, _records(count, start, *organisations))
        assert indexes == list(range(start, start + count))
        start += count
    with broker.sessions() as session:
        assert broker.audit.tree_size(session) == start == 24
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.leaf_index)).all()
        assert list(broker.audit.entries(session, 3, 9, chunk=4)) == [r.entry for r in rows[3:9]]
    assert [row.leaf_index for row in rows] == list(range(24))
    for row, record in zip(rows, _records(24, 0, *organisations), strict=True):
        entry = orjson.loads(row.entry)
        # The leaf bytes: the reference encoding of the entry, which holds its own index
        # (spliced in under the lock) and the record, and hash to the stored leaf hash.
        assert bytes(row.entry) == canonical_bytes(entry)
        assert bytes(row.leaf_hash) == leaf_hash(bytes(row.entry))
        assert entry["leaf_index"] == row.leaf_index
        assert entry["resources"] == record.resources
        assert entry["actor"]["organisation"] == (record.actor_org and str(record.actor_org))
        # The columns a search uses copy the entry.
        assert (row.action, row.purpose, row.decision, row.subject) == (
            entry["action"],
            entry["purpose"],
            entry["decision"],
            entry["subject"],
        )
        assert (row.actor_org_id, row.recipient_org_id) == (
            record.actor_org,
            record.recipient_org,
        )
        assert row.subject_key == (subject_key(row.subject) if row.subject else None)
        assert row.recorded_at == NOW


def test_a_failed_append_leaves_nothing_of_itself(broker: Broker) -> None:
    _append(broker, _records(3))
    # An actor that is no organisation: the foreign key refuses the second row, as
    # SQLAlchemy's IntegrityError (which the request's retry and rollback handle), and the
    # whole append goes, its head move and its nodes with it.
    bad = [*_records(2, 3), AuditRecord("signal.route", "permit", uuid.uuid4())]
    with pytest.raises(IntegrityError):
        _append(broker, bad)
    with broker.sessions() as session:
        assert broker.audit.tree_size(session) == 3
        assert session.scalars(select(AuditEntry.leaf_index)).all() == [0, 1, 2]
        assert session.scalars(select(AuditNode.level)).all() == [1]  # the pair (0, 1) only
    assert _append(broker, _records(2, 3)) == [3, 4]


# The head and the stored nodes -------------------------------------------------------------


def test_the_head_holds_the_size_and_frontier_of_the_log(broker: Broker) -> None:
    with broker.sessions() as session:
        empty = session.get(AuditHead, 1)
        assert empty is not None and empty.tree_size == 0
    for start, count in ((0, 13), (13, 1), (14, 50)):
        _append(broker, _records(count, start))
        leaves = _leaves(broker)
        with broker.sessions() as session:
            head = session.get(AuditHead, 1)
            assert head is not None and head.frontier is not None
        frontier = Frontier.empty()
        frontier.extend(leaf_hash(data) for data in leaves)
        assert head.tree_size == len(leaves) == start + count
        assert Frontier.from_json(head.frontier) == frontier
        assert frontier.root() == root_of_leaves(leaves)


def test_the_stored_nodes_are_the_complete_subtrees_of_the_log(broker: Broker) -> None:
    for start, count in ((0, 3), (3, 1), (4, 29), (33, 4)):
        _append(broker, _records(count, start))
    leaves = _leaves(broker)
    with broker.sessions() as session:
        stored = {
            (level, index): bytes(digest)
            for level, index, digest in session.execute(
                select(AuditNode.level, AuditNode.index, AuditNode.hash)
            )
        }
    # Recomputed from the leaf data: every perfect subtree of 2**level leaves (level 1 and
    # up; leaf hashes live with their entries), each once.
    expected = {}
    level = 1
    while 2**level <= len(leaves):
        width = 2**level
        for index in range(len(leaves) // width):
            expected[(level, index)] = root_of_leaves(leaves[index * width : (index + 1) * width])
        level += 1
    assert stored == expected
    assert len(stored) == 16 + 8 + 4 + 2 + 1 + 2 + 1  # under 32 leaves, then 4 more


# Checkpoints and proofs --------------------------------------------------------------------


def test_checkpoints_are_signed_at_sizes_the_log_had(broker: Broker) -> None:
    trail = broker.audit
    trail.checkpoint_every = 5
    sizes, size = [], 0
    for count in (3, 4, 1, 7, 2):  # crosses 5 at 7, and 10 and 15 in one append at 15
        size += len(_append(broker, _records(count, size)))
        sizes.append(size)
    leaves = _leaves(broker)
    key = trail.verifier_key()
    with broker.sessions() as session:
        signed = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size))
        assert [c.tree_size for c in signed] == [7, 15]
    with broker.sessions() as session, session.begin():
        latest = trail.checkpoint(session, NOW)  # the log grew since 15: a new one, at 17
        again = trail.checkpoint(session, NOW)  # it did not grow since: the same one
        assert again.id == latest.id and latest.tree_size == 17
    with broker.sessions() as session:
        every = session.scalars(select(AuditCheckpoint)).all()
    for checkpoint in every:
        opened = open_checkpoint(checkpoint.note, key, trail.origin)
        assert opened.size == checkpoint.tree_size in sizes
        assert opened.root == bytes(checkpoint.root) == root_of_leaves(leaves[: opened.size])


def test_proofs_verify_against_the_roots_of_signed_checkpoints(broker: Broker) -> None:
    trail = broker.audit
    trail.checkpoint_every = 1  # a checkpoint at the end of every append
    size = 0
    for count in (1, 6, 1, 9, 16, 3):
        size += len(_append(broker, _records(count, size)))
    leaves = _leaves(broker)
    key = trail.verifier_key()
    with broker.sessions() as session:
        notes = session.scalars(select(AuditCheckpoint.note)).all()
        checkpoints = sorted((open_checkpoint(n, key) for n in notes), key=lambda c: c.size)
        assert [c.size for c in checkpoints] == [1, 7, 8, 17, 33, 36]
        for checkpoint in checkpoints:
            for index in {0, checkpoint.size // 2, checkpoint.size - 1}:
                proof = trail.inclusion(session, index, checkpoint.size)
                assert _b64(proof["root_hash"]) == checkpoint.root
                assert _b64(proof["leaf_hash"]) == leaf_hash(leaves[index])
                assert verify_inclusion(
                    leaf_hash(leaves[index]),
                    index,
                    checkpoint.size,
                    [_b64(h) for h in proof["proof"]],
                    checkpoint.root,
                )
        for first in checkpoints:
            for second in checkpoints:
                if first.size > second.size:
                    continue
                proof = trail.consistency(session, first.size, second.size)
                assert _b64(proof["first_root_hash"]) == first.root
                assert _b64(proof["second_root_hash"]) == second.root
                assert verify_consistency(
                    first.size,
                    second.size,
                    first.root,
                    second.root,
                    [_b64(h) for h in proof["proof"]],
                )


def test_a_proof_outside_the_log_is_refused_naming_the_field(broker: Broker) -> None:
    _append(broker, _records(5))
    with broker.sessions() as session:
        for ask, field in (
            (lambda: broker.audit.inclusion(session, 0, 6), "tree_size"),
            (lambda: broker.audit.inclusion(session, 5, 5), "leaf_index"),
            (lambda: broker.audit.consistency(session, 0, 5), "first"),
            (lambda: broker.audit.consistency(session, 2, 6), "second"),
            (lambda: broker.audit.consistency(session, 4, 3), "first"),
        ):
            with pytest.raises(InvalidInput) as refused:
                ask()
            assert [e.field for e in refused.value.errors] == [field]


# The append-only guard ---------------------------------------------------------------------


def test_the_database_refuses_to_change_or_remove_any_of_the_log(broker: Broker) -> None:
    broker.audit.checkpoint_every = 2
    _append(broker, _records(4))  # four leaves: nodes at two levels, and a checkpoint
    before = _leaves(broker)
    statements = [
        "UPDATE audit_entries SET action = 'nothing'",
        "UPDATE audit_entries SET entry = entry WHERE leaf_index = 2",
        "DELETE FROM audit_entries WHERE leaf_index = 3",
        "DELETE FROM audit_entries",
        "UPDATE audit_nodes SET hash = hash",
        "DELETE FROM audit_nodes",
        "UPDATE audit_checkpoints SET tree_size = 0",
        "DELETE FROM audit_checkpoints",
    ]
    if broker.engine.dialect.name == "postgresql":  # SQLite has no TRUNCATE
        statements += [f"TRUNCATE {table} CASCADE" for table in triggers.APPEND_ONLY_TABLES]
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), broker.engine.begin() as connection:
            connection.execute(text(statement))
    assert _leaves(broker) == before
    with broker.sessions() as session:
        assert session.scalar(select(AuditNode.level).where(AuditNode.level == 2)) == 2
        assert session.scalars(select(AuditCheckpoint.tree_size)).all() == [4]


# Appends at once ---------------------------------------------------------------------------


def test_two_connections_appending_at_once_make_one_log_that_verifies(
    broker: Broker, database: Database
) -> None:
    # Two threads, each on its own engine and connection, append 12 transactions of 15
    # entries as fast as they can. On PostgreSQL the head row's lock orders them, on SQLite
    # the writer lock (BEGIN IMMEDIATE). Each append is one run of indexes; together they
    # are the log, and the log verifies offline.
    broker.audit.checkpoint_every = 64
    start = threading.Barrier(2)
    appended: dict[str, list[list[int]]] = {"a": [], "b": []}
    failures: list[BaseException] = []

    def writer(name: str) -> None:
        engine = make_engine(database.url)
        sessions = make_session_factory(engine)
        try:
            start.wait(timeout=30)
            for transaction in range(12):
                records = [
                    AuditRecord(
                        action="test.append",
                        decision="recorded",
                        actor_org=None,
                        resources={"writer": name, "transaction": str(transaction), "item": str(i)},
                    )
                    for i in range(15)
                ]
                for session in unit_of_work(sessions):
                    appended[name].append(broker.audit.write(session, records, NOW))
        except BaseException as error:  # reported below, in the test's own thread
            failures.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=writer, args=(name,)) for name in appended]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    runs = appended["a"] + appended["b"]
    assert all(run == list(range(run[0], run[0] + 15)) for run in runs)
    assert sorted(i for run in runs for i in run) == list(range(2 * 12 * 15))
    leaves = _leaves(broker)
    written = {
        (e["resources"]["writer"], e["resources"]["transaction"], e["resources"]["item"])
        for e in map(orjson.loads, leaves)
    }
    assert len(written) == len(leaves) == 360
    _assert_verifies(broker)


def test_several_processes_append_in_one_order(
    database: Database, keys_dir: Path, broker: Broker
) -> None:
    writers = [
        subprocess.Popen(
            # writer n: 15 transactions of 8 entries
            [
                sys.executable,
                "-m",
                "tests.audit_writer",
                database.url,
                str(keys_dir),
                str(n),
                "15",
                "8",
            ],
            cwd=Path(__file__).parents[1],
            env=os.environ.copy(),
        )
        for n in range(3)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    leaves = _leaves(broker)
    entries = [orjson.loads(data) for data in leaves]
    assert [e["leaf_index"] for e in entries] == list(range(3 * 15 * 8))
    written = {
        (e["resources"]["writer"], e["resources"]["transaction"], e["resources"]["item"])
        for e in entries
    }
    assert len(written) == len(entries)
    _assert_verifies(broker)


def test_an_append_numbers_from_the_head_as_it_is_when_it_appends(
    broker: Broker, database: Database
) -> None:
    # A transaction that read the head (as GET /v1/audit/checkpoint does before it records
    # the read) and appends after another transaction appended must number its entries after
    # the other's, never from what it read. On PostgreSQL the other appends meanwhile; on
    # SQLite it waits for this transaction's writer lock, and numbers after it.
    trail = broker.audit
    _append(broker, [AuditRecord("setup", "recorded", None)])
    engine = make_engine(database.url)
    other_indexes: list[int] = []

    def other() -> None:
        for session in unit_of_work(make_session_factory(engine)):
            other_indexes.extend(trail.write(session, _records(2), NOW))

    thread = threading.Thread(target=other)
    try:
        with broker.sessions() as first:
            first.begin()
            assert trail.checkpoint(first, NOW).tree_size == 1  # reads the head row
            thread.start()
            thread.join(timeout=2)
            other_went_first = not thread.is_alive()
            mine = trail.write(first, [AuditRecord("first", "recorded", None)], NOW)
            first.commit()
        thread.join(timeout=60)
    finally:
        engine.dispose()
    assert mine == ([3] if other_went_first else [1])
    assert sorted(mine + other_indexes) == [1, 2, 3]
    _assert_verifies(broker)


# Helpers -----------------------------------------------------------------------------------


def _assert_verifies(broker: Broker) -> None:
    """The log, exported as the broker exports it, verifies strictly with only the key."""
    with broker.sessions() as session, session.begin():
        final = broker.audit.checkpoint(session, NOW)
        lines = list(_lines(broker.audit, session, final))
    report = verify_export(lines, broker.audit.verifier_key(), strict=True)
    assert report.ok, report.message
    assert report.size == final.tree_size and report.root == bytes(final.root)


def _lines(trail: AuditTrail, session: Session, final: AuditCheckpoint) -> Iterator[bytes]:
    for line in trail.export_lines(session, final):
        yield line.rstrip(b"\n")


def _b64(text: str) -> bytes:
    return base64.b64decode(text)
