"""``exchange.db.one_of``: a list parameter that is an IN list on SQLite and one array on
PostgreSQL, so that the statement's text does not change with the list's length."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from exchange.db import make_engine, one_of
from exchange.identity.models import Subject
from tests.conftest import Database

_BY_PSEUDONYM = select(Subject.id).where(one_of(Subject.pseudonym, "pseudonyms"))
_BY_PERSON = select(Subject.id).where(one_of(Subject.person_id, "people"))


@pytest.fixture
def engine(database: Database) -> Iterator[Engine]:
    engine = make_engine(database.url)
    try:
        yield engine
    finally:
        engine.dispose()


def _statements(engine: Engine, runs: list[dict[str, list[object]]], query: object) -> list[str]:
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.connect() as connection:
            for parameters in runs:
                assert connection.execute(query, parameters).all() == []  # type: ignore[call-overload]
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def test_lists_of_any_length_and_type_match_on_both_backends(engine: Engine) -> None:
    runs: list[dict[str, list[object]]] = [{"pseudonyms": ["a"]}, {"pseudonyms": ["b", "c", "d"]}]
    texts = _statements(engine, runs, _BY_PSEUDONYM)
    people: list[dict[str, list[object]]] = [{"people": [uuid.uuid4(), uuid.uuid4()]}]
    _statements(engine, people, _BY_PERSON)
    if engine.dialect.name == "postgresql":
        # One statement text for every list: psycopg converts it once, the server can
        # keep it prepared.
        assert len(set(texts)) == 1 and "ANY" in texts[0]
    else:
        assert "IN (" in texts[0] and texts[0] != texts[1]


def test_an_empty_list_matches_nothing(engine: Engine) -> None:
    _statements(engine, [{"pseudonyms": []}], _BY_PSEUDONYM)


def test_the_list_is_served_by_the_column_s_index(engine: Engine) -> None:
    # On SQLite a Boolean-typed construct would render "pseudonym IN (...) = 1", which no
    # index serves: every intake lookup then scanned the subjects table.
    seen: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        seen.append((args[2], args[3]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with engine.connect() as connection:
            connection.execute(_BY_PSEUDONYM, {"pseudonyms": ["a", "b"]}).all()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    [(statement, parameters)] = seen
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
        else:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    text = " ".join(str(part) for row in plan for part in row).lower()
    assert "index" in text and "pseudonym" in text, text
