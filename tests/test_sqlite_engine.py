"""How the broker's SQLite engine orders writers: every transaction holds the writer lock from
its first statement (BEGIN IMMEDIATE), so it never fails half-way for want of it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from exchange.db import make_engine


def test_a_transaction_holds_the_writer_lock_from_its_first_statement(tmp_path: Path) -> None:
    path = tmp_path / "lock.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
        with engine.begin() as connection:
            connection.execute(text("SELECT count(*) FROM t"))  # a read, yet the lock is held
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
        # Released at commit.
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        finally:
            other.close()
    finally:
        engine.dispose()
