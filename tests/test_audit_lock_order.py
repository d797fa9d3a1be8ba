"""The audit head is every transaction's last lock, so transactions cannot deadlock on it.

The interleaving that did deadlock: transaction A appends (and so held the head) and then
updates a row; B updated that row first and then appends. A waits for B's row, B for A's
head. With appends staged and written at commit, A holds nothing B needs until A commits.

The first test runs that interleaving with the log written at once (``AuditTrail.write``,
what every append did before) and sees PostgreSQL detect the deadlock: the scenario is a
real one, so the second test, the same interleaving through ``append``, could fail. The rest
pin down the staging itself on both backends, and the watch that holds every test's
transactions to the order (``tests/lock_order.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from exchange import clock
from exchange.auditlog.models import AuditEntry
from exchange.auditlog.service import AuditRecord, AuditTrail
from exchange.broker import Broker
from exchange.demo import DemoOrganisation
from exchange.organisations.models import Organisation
from tests.conftest import Database
from tests.lock_order import LockOrderWatch, breaks_lock_order

Append = Callable[[AuditTrail, Session, list[AuditRecord]], Any]


def _record(action: str) -> AuditRecord:
    return AuditRecord(action=action, decision="recorded", actor_org=None, actor_client="test")


def _entries(broker: Broker) -> list[str]:
    with broker.sessions() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.leaf_index)))


def _touch(session: Session, organisation: DemoOrganisation) -> None:
    """A row lock on a row both transactions write: the organisation's name, unchanged."""
    session.execute(
        update(Organisation)
        .where(Organisation.id == uuid.UUID(str(organisation.id)))
        .values(name=Organisation.name)
    )


def _waiting_for_a_lock(broker: Broker, pid: int) -> bool:
    with broker.engine.connect() as connection:
        waiting = connection.execute(
            text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        ).scalar()
    return waiting == "Lock"


def _interleave(
    broker: Broker, organisation: DemoOrganisation, append: Append
) -> tuple[BaseException | None, BaseException | None]:
    """A appends, then touches the row; B touched the row first, then appends. Returns
    each transaction's error, if it had one."""
    trail = broker.audit
    errors: dict[str, BaseException | None] = {"a": None, "b": None}
    a_appended, b_touched = threading.Event(), threading.Event()
    a_pid: list[int] = []

    def transaction_a() -> None:
        try:
            with broker.sessions() as session, session.begin():
                a_pid.append(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
                append(trail, session, [_record("a")])
                a_appended.set()
                b_touched.wait(10)
                _touch(session, organisation)  # waits for B's row lock
        except BaseException as error:
            errors["a"] = error
            a_appended.set()

    other = threading.Thread(target=transaction_a)
    other.start()
    try:
        with broker.sessions() as session, session.begin():
            assert a_appended.wait(10)
            _touch(session, organisation)
            b_touched.set()
            deadline = time.monotonic() + 10
            while a_pid and not _waiting_for_a_lock(broker, a_pid[0]):
                assert time.monotonic() < deadline, "A never waited for B's row"
                time.sleep(0.02)
            append(trail, session, [_record("b")])
    except BaseException as error:
        errors["b"] = error
    other.join(20)
    assert not other.is_alive()
    return errors["a"], errors["b"]


def _staged(trail: AuditTrail, session: Session, records: list[AuditRecord]) -> None:
    trail.append(session, records, clock.now())


def _at_once(trail: AuditTrail, session: Session, records: list[AuditRecord]) -> None:
    trail.write(session, records, clock.now())


@pytest.fixture
def postgresql(database: Database) -> None:
    if database.backend != "postgresql":
        pytest.skip("SQLite has one writer for the whole database: no row locks to wait on")


@pytest.mark.usefixtures("postgresql")
def test_taking_the_head_before_another_lock_deadlocks(
    broker: Broker, world: dict[str, DemoOrganisation], lock_order_watch: LockOrderWatch
) -> None:
    before = len(lock_order_watch.violations)
    a_error, b_error = _interleave(broker, world["municipality"], _at_once)
    # The watch saw A lock the row after the head; this test breaks the order on purpose.
    assert lock_order_watch.violations[before:], "the watch missed the update after the head"
    del lock_order_watch.violations[before:]
    failed = [error for error in (a_error, b_error) if error is not None]
    assert len(failed) == 1, (a_error, b_error)
    [error] = failed
    assert isinstance(error, DBAPIError)
    assert getattr(error.orig, "sqlstate", None) == "40P01"  # deadlock_detected


@pytest.mark.usefixtures("postgresql")
def test_staged_appends_cannot_deadlock_on_the_head(
    broker: Broker, world: dict[str, DemoOrganisation]
) -> None:
    assert _interleave(broker, world["municipality"], _staged) == (None, None)
    # B committed first (A waited for its row), so B's entry comes first.
    assert _entries(broker) == ["b", "a"]


def test_an_append_is_written_at_commit_after_the_other_writes(
    broker: Broker, world: dict[str, DemoOrganisation]
) -> None:
    with broker.sessions() as session, session.begin():
        broker.audit.append(session, [_record("staged")], clock.now())
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0
        _touch(session, world["municipality"])
    assert _entries(broker) == ["staged"]


def test_a_rolled_back_transaction_writes_nothing_it_staged(broker: Broker) -> None:
    with broker.sessions() as session:
        broker.audit.append(session, [_record("undone")], clock.now())
        session.rollback()
        broker.audit.append(session, [_record("kept")], clock.now())
        session.commit()
    assert _entries(broker) == ["kept"]


def test_a_savepoint_rolled_back_takes_its_staged_records_back(broker: Broker) -> None:
    now = clock.now()
    with broker.sessions() as session, session.begin():
        broker.audit.append(session, [_record("before")], now)
        with session.begin_nested():
            broker.audit.append(session, [_record("released")], now)
        try:
            with session.begin_nested():
                broker.audit.append(session, [_record("undone"), _record("undone")], now)
                raise LookupError
        except LookupError:
            pass
        broker.audit.append(session, [_record("after")], now)
    assert _entries(broker) == ["before", "released", "after"]


def test_a_savepoint_opened_before_the_first_append_takes_it_back(broker: Broker) -> None:
    with broker.sessions() as session, session.begin():
        try:
            with session.begin_nested():
                broker.audit.append(session, [_record("undone")], clock.now())
                raise LookupError
        except LookupError:
            pass
    assert _entries(broker) == []


def test_reading_the_log_in_the_transaction_sees_what_it_appended(broker: Broker) -> None:
    with broker.sessions() as session, session.begin():
        broker.audit.append(session, [_record("one"), _record("two")], clock.now())
        assert broker.audit.tree_size(session) == 2
        assert broker.audit.checkpoint(session, clock.now()).tree_size == 2
    assert _entries(broker) == ["one", "two"]


@pytest.mark.parametrize(
    ("statement", "breaks"),
    [
        ("INSERT INTO audit_entries (leaf_index) VALUES (%(a)s)", False),
        ('COPY "audit_nodes" ("level") FROM STDIN (FORMAT BINARY)', False),
        ("UPDATE audit_head SET tree_size=%(new_size)s WHERE audit_head.id = 1", False),
        ("SELECT cases.id FROM cases WHERE cases.id = %(id)s", False),
        ("RELEASE SAVEPOINT sa_savepoint_1", False),
        ("SELECT audit_head.tree_size FROM audit_head WHERE audit_head.id = 1 FOR UPDATE", False),
        ("UPDATE cases SET status=%(status)s WHERE cases.id = %(id)s", True),
        ("INSERT INTO households (id) VALUES (%(id)s) ON CONFLICT DO NOTHING", True),
        ("COPY signals (id) FROM STDIN", True),
        ("SELECT cases.id FROM cases WHERE cases.id = %(id)s FOR UPDATE", True),
        ("WITH moved AS (UPDATE cases SET status = 'x' RETURNING id) SELECT id FROM moved", True),
        ("DELETE FROM webhook_deliveries WHERE id = %(id)s", True),
    ],
)
def test_the_watch_tells_which_statements_break_the_order(statement: str, breaks: bool) -> None:
    assert breaks_lock_order(statement) is breaks


def test_appends_staged_at_different_times_are_written_together_with_their_own_times(
    broker: Broker,
) -> None:
    earlier = clock.now()
    later = earlier + dt.timedelta(seconds=5)
    with broker.sessions() as session, session.begin():
        broker.audit.append(session, [_record("one"), _record("two")], earlier)
        broker.audit.append(session, [_record("three")], later)
    with broker.sessions() as session:
        rows = session.execute(
            select(AuditEntry.action, AuditEntry.recorded_at, AuditEntry.entry).order_by(
                AuditEntry.leaf_index
            )
        ).all()
    assert [action for action, _, _ in rows] == ["one", "two", "three"]
    assert [at for _, at, _ in rows] == [earlier, earlier, later]
    stamped = [json.loads(entry)["timestamp"] for _, _, entry in rows]
    assert stamped[0] == stamped[1] != stamped[2]
