"""A request whose transaction lost a race runs again, whole, before any answer goes out
(``exchange.api.middleware.LostRaces``); the client sees the answer of the run that won.

The race is a real one, on PostgreSQL (SQLite has one writer): the endpoint looks a key up
and inserts it when it is missing, as the broker's services do; between the two, another
transaction stores the same key and commits. The insert then fails with the database's
unique violation, the transaction rolls back, and the second run finds the key. The
request's body is read again for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from exchange.api.middleware import LostRaces, UnexpectedErrors
from exchange.db import make_engine, make_session_factory, outside_effect, unit_of_work
from tests.conftest import Database


@dataclass(frozen=True)
class Store:
    engine: Engine
    table: str


@pytest.fixture
def store(database: Database) -> Iterator[Store]:
    engine = make_engine(database.url)
    table = f"race_{uuid.uuid4().hex[:8]}"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE {table} (key VARCHAR(40) PRIMARY KEY)"))
    try:
        yield Store(engine, table)
    finally:
        with engine.begin() as connection:
            connection.execute(text(f"DROP TABLE {table}"))
        engine.dispose()


def _app(store: Store, runs: list[str], *, race: bool, sends: bool = False) -> TestClient:
    engine, table = store.engine, store.table
    sessions = make_session_factory(engine)
    app = FastAPI()

    @app.post("/keys")
    async def store_key(request: Request) -> dict[str, object]:
        key = (await request.json())["key"]
        for session in unit_of_work(sessions):
            found = session.execute(text(f"SELECT key FROM {table} WHERE key = :k"), {"k": key})
            if found.first() is not None:
                runs.append("found")
                return {"key": key, "stored": False}
            if sends:
                outside_effect("test.message")  # as the outreach sender marks a sent mail
            if race and not runs:
                # Another writer stores the same key and commits, between look-up and insert.
                with engine.begin() as other:
                    other.execute(text(f"INSERT INTO {table} VALUES (:k)"), {"k": key})
            runs.append("inserting")
            session.execute(text(f"INSERT INTO {table} VALUES (:k)"), {"k": key})
        return {"key": key, "stored": True}

    app.add_middleware(LostRaces)
    app.add_middleware(UnexpectedErrors)
    return TestClient(app)


def test_a_request_that_lost_a_race_runs_again_and_answers_as_the_winner_left_it(
    store: Store, database: Database
) -> None:
    if database.backend != "postgresql":
        pytest.skip("SQLite's writer lock, taken at BEGIN, keeps the other writer out")
    runs: list[str] = []
    response = _app(store, runs, race=True).post("/keys", json={"key": "k-1"})
    assert response.status_code == 200, response.text
    assert response.json() == {"key": "k-1", "stored": False}
    # The first run met the unique violation; the second read the same body and found it.
    assert runs == ["inserting", "found"]


def test_a_request_that_sent_a_message_is_not_run_again_after_a_lost_race(
    store: Store, database: Database
) -> None:
    """Running it again would send the message twice: it fails as it did before."""
    if database.backend != "postgresql":
        pytest.skip("SQLite's writer lock, taken at BEGIN, keeps the other writer out")
    runs: list[str] = []
    response = _app(store, runs, race=True, sends=True).post("/keys", json={"key": "k-4"})
    assert response.status_code == 500
    assert runs == ["inserting"]


def test_a_request_without_a_race_runs_once(store: Store) -> None:
    runs: list[str] = []
    response = _app(store, runs, race=False).post("/keys", json={"key": "k-2"})
    assert response.json() == {"key": "k-2", "stored": True}
    assert runs == ["inserting"]


def test_a_race_lost_on_every_run_is_a_500_that_quotes_nothing(store: Store) -> None:
    runs: list[str] = []
    engine, table = store.engine, store.table
    client = _app(store, runs, race=False)
    with engine.begin() as connection:
        connection.execute(text(f"INSERT INTO {table} VALUES ('k-3')"))
    # Inserted without a look-up: it collides on every run.
    app = client.app
    assert isinstance(app, FastAPI)

    @app.post("/always")
    async def always(request: Request) -> dict[str, str]:
        await request.body()
        runs.append("run")
        for session in unit_of_work(make_session_factory(engine)):
            session.execute(text(f"INSERT INTO {table} VALUES ('k-3')"))
        return {}

    response = client.post("/always", content=b"{}")
    assert response.status_code == 500
    assert "k-3" not in response.text and table not in response.text
    assert runs == ["run", "run", "run"]
