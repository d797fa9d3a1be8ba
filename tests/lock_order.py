"""A watch on every PostgreSQL transaction of the test run: once it holds the audit head, it
takes no other lock.

The head row (``audit_head``) is one lock that every writing transaction takes. If a
transaction holding it went on to lock another row (an update, an insert that may wait on a
unique key, a ``SELECT … FOR UPDATE``), it could wait for a transaction that waits for the
head: a deadlock. ``exchange.auditlog.service`` rules that out by writing the log last, at
commit; this watch holds the whole suite to it, on every statement the broker sends
(SQLAlchemy's cursor events) and every COPY (which goes past those events, to psycopg).

After the head's ``FOR UPDATE`` a transaction may only read (a plain SELECT takes no row
lock on PostgreSQL), write the log's own tables, and end. Anything else is a violation,
kept with the statement's first words (never its parameters) and the test it ran in.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

_HEAD_LOCK = re.compile(r"\bFROM\s+audit_head\b.*\bFOR\s+UPDATE\b", re.IGNORECASE | re.DOTALL)
_LOG_WRITE = re.compile(
    r"^\s*(INSERT\s+INTO|COPY|UPDATE)\s+\"?(audit_entries|audit_nodes|audit_checkpoints|audit_head)\b",
    re.IGNORECASE,
)
_ROW_LOCK = re.compile(r"\bFOR\s+(UPDATE|NO\s+KEY\s+UPDATE|SHARE|KEY\s+SHARE)\b", re.IGNORECASE)
_HARMLESS = re.compile(r"^\s*(SAVEPOINT|RELEASE\s+SAVEPOINT|ROLLBACK\s+TO|SET|SHOW)\b", re.I)
_READ = re.compile(r"^\s*(SELECT|WITH)\b", re.IGNORECASE)
_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)


def breaks_lock_order(statement: str) -> bool:
    """Whether a transaction that holds the audit head may not send ``statement``."""
    if _LOG_WRITE.match(statement) or _HARMLESS.match(statement):
        return False
    if _HEAD_LOCK.search(statement):  # the head again (a second append): the lock it holds
        return False
    if _READ.match(statement):
        return bool(_ROW_LOCK.search(statement)) or (
            statement.lstrip()[:4].upper() == "WITH" and bool(_WRITES.search(statement))
        )
    return True


class LockOrderWatch:
    """Which driver connections hold the head now, and what broke the order so far."""

    def __init__(self) -> None:
        self.holding: weakref.WeakSet[Any] = weakref.WeakSet()
        self.violations: list[str] = []
        self.test = "?"

    def saw(self, driver_connection: Any, statement: str) -> None:
        if driver_connection in self.holding:
            if breaks_lock_order(statement):
                first_words = " ".join(statement.split())[:140]
                self.violations.append(f"{self.test}: after the audit head: {first_words}")
        elif _HEAD_LOCK.search(statement):
            self.holding.add(driver_connection)

    def ended(self, driver_connection: Any) -> None:
        self.holding.discard(driver_connection)


WATCH = LockOrderWatch()


def _driver(connection: Connection) -> Any:
    return connection.connection.driver_connection


def _before_execute(connection: Connection, cursor: Any, statement: str, *_: Any) -> None:
    if connection.dialect.name == "postgresql":
        WATCH.saw(_driver(connection), statement)


def _ended(connection: Connection, *_: Any) -> None:
    if connection.dialect.name == "postgresql":
        WATCH.ended(_driver(connection))


@contextmanager
def watching() -> Iterator[LockOrderWatch]:
    """Install the watch on every engine and on psycopg's COPY for as long as this lasts."""
    copy = psycopg.Cursor.copy

    @contextmanager
    def watched_copy(self: psycopg.Cursor[Any], statement: Any, *args: Any, **kwargs: Any) -> Any:
        WATCH.saw(self.connection, str(statement))
        with copy(self, statement, *args, **kwargs) as copying:
            yield copying

    event.listen(Engine, "before_cursor_execute", _before_execute)
    event.listen(Engine, "commit", _ended)
    event.listen(Engine, "rollback", _ended)
    psycopg.Cursor.copy = watched_copy  # type: ignore[method-assign]
    try:
        yield WATCH
    finally:
        psycopg.Cursor.copy = copy  # type: ignore[method-assign]
        event.remove(Engine, "before_cursor_execute", _before_execute)
        event.remove(Engine, "commit", _ended)
        event.remove(Engine, "rollback", _ended)
