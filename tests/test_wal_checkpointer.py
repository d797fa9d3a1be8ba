"""The SQLite log checkpointer of a serving broker (``exchange.db.WalCheckpointer``).

What it must do: copy committed pages from the write-ahead log into the database file by
itself, while the writer's own automatic checkpoint waits for a much larger log; and run
exactly as long as the server does. SQLite only: PostgreSQL has nothing like it.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from exchange.api.app import create_app
from exchange.config import Settings
from exchange.db import WAL_BACKSTOP_PAGES, WalCheckpointer, make_engine, migrate
from exchange.vault.keyring import FileKeySource, ensure_keys


def _rows_in_database_file(path: Path) -> int:
    """Rows of ``probe`` in the database file itself: ``immutable`` makes SQLite ignore the
    write-ahead log, so only what a checkpoint copied into the file is seen.

    ``immutable`` also tells SQLite that nobody writes the file, which is not so while the
    checkpointer runs: read then, it may see pages half copied. Read it only while nothing
    checkpoints, or through ``_rows_so_far``."""
    reader = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        tables = reader.execute("SELECT name FROM sqlite_master WHERE name = 'probe'").fetchall()
        if not tables:
            return 0
        return int(reader.execute("SELECT count(*) FROM probe").fetchone()[0])
    finally:
        reader.close()


def _rows_so_far(path: Path) -> int:
    """As ``_rows_in_database_file``, while a checkpoint may be copying pages: a torn read is
    "not yet" (-1), not a broken database."""
    try:
        return _rows_in_database_file(path)
    except sqlite3.DatabaseError:
        return -1


def _write_probe_rows(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY, body TEXT)"))
    for start in range(0, 200, 20):
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO probe (body) VALUES (:body)"),
                [{"body": "x" * 500} for _ in range(start, start + 20)],
            )


def _wait_for(condition: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def test_the_writer_leaves_checkpoints_to_the_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "writer.sqlite3"
    engine = make_engine(f"sqlite:///{path}", background_checkpoints=True)
    try:
        with engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    finally:
        engine.dispose()
    assert pages == WAL_BACKSTOP_PAGES

    plain = make_engine(f"sqlite:///{tmp_path / 'plain.sqlite3'}")
    try:
        with plain.connect() as connection:
            default_pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    finally:
        plain.dispose()
    assert default_pages == 1000  # SQLite's own default where nothing checkpoints for us


def test_the_checkpointer_copies_the_log_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "served.sqlite3"
    # The engine stays open throughout: SQLite checkpoints when its last connection closes.
    engine = make_engine(f"sqlite:///{path}", background_checkpoints=True)
    try:
        _write_probe_rows(engine)
        assert _rows_in_database_file(path) == 0, "the writer checkpointed by itself"

        checkpointer = WalCheckpointer(path, interval=0.02).start()
        try:
            assert _wait_for(lambda: _rows_so_far(path) == 200)
        finally:
            checkpointer.stop()
        # Read again with the checkpointer stopped, where a torn page would be a real fault.
        assert _rows_in_database_file(path) == 200
        assert checkpointer.checkpoints > 0
        assert checkpointer.failures == 0
    finally:
        engine.dispose()


def test_without_the_checkpointer_the_writer_checkpoints_as_sqlite_does(tmp_path: Path) -> None:
    path = tmp_path / "cli.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    try:
        _write_probe_rows(engine)
        for _ in range(30):  # past SQLite's 1,000 pages of log: ~4 MB of rows
            with engine.begin() as connection:
                connection.execute(
                    text("INSERT INTO probe (body) VALUES (:body)"),
                    [{"body": "y" * 4000} for _ in range(40)],
                )
        assert _rows_in_database_file(path) > 0
    finally:
        engine.dispose()


def test_a_serving_broker_runs_the_checkpointer_for_its_lifetime(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    ensure_keys(FileKeySource(keys))
    database = tmp_path / "exchange.sqlite3"
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{database}",
        keys_dir=keys,
        issuer="https://broker.test",
        webhook_interval_seconds=0,
        escalation_interval_seconds=0,
        purge_interval_seconds=0,
    )
    migrate(settings.resolved_database_url)
    app = create_app(settings, background_jobs=True)
    broker = app.state.broker
    assert broker.checkpointer is not None
    with TestClient(app, base_url=settings.issuer) as client:
        assert client.get("/healthz").status_code == 200
        thread = broker.checkpointer._thread
        assert thread is not None and thread.is_alive()
        assert _wait_for(lambda: broker.checkpointer.checkpoints > 0)
    assert broker.checkpointer._thread is None
    assert not thread.is_alive()
    broker.engine.dispose()


def test_a_broker_that_does_not_serve_has_no_checkpointer(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    ensure_keys(FileKeySource(keys))
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'exchange.sqlite3'}",
        keys_dir=keys,
        issuer="https://broker.test",
    )
    migrate(settings.resolved_database_url)
    app = create_app(settings)
    assert app.state.broker.checkpointer is None
    app.state.broker.engine.dispose()
