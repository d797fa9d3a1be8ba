"""``exchange.db.insert_rows`` hands the driver converted tuples: it must store exactly what
SQLAlchemy's own INSERT of the same dicts stores, on SQLite and PostgreSQL, for every kind of
value intake writes (UUIDs, aware timestamps in any zone, dates, booleans, bytes, NULLs)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Date, Engine, LargeBinary, MetaData, String, Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from exchange.db import COPY_FROM_ROWS, UtcDateTime, insert_rows, is_retryable, make_engine
from tests.conftest import Database


class _Probe(DeclarativeBase):
    pass


class ProbeRow(_Probe):
    __tablename__ = "insert_rows_probe"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    on: Mapped[dt.date | None] = mapped_column(Date)
    flag: Mapped[bool] = mapped_column(default=False)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    label: Mapped[str | None] = mapped_column(String(20))
    count: Mapped[int]


class OneColumn(_Probe):
    __tablename__ = "insert_rows_single"

    label: Mapped[str] = mapped_column(String(20), primary_key=True)


COLUMNS = [c.name for c in ProbeRow.__table__.c]
SHADOW = Table(
    "insert_rows_shadow",
    MetaData(),
    *(Column(c.name, c.type, primary_key=c.primary_key) for c in ProbeRow.__table__.c),
)


@pytest.fixture
def engine(database: Database) -> Iterator[Engine]:
    engine = make_engine(database.url)
    _Probe.metadata.create_all(engine)
    SHADOW.create(engine)
    try:
        yield engine
    finally:
        SHADOW.drop(engine)
        _Probe.metadata.drop_all(engine)
        engine.dispose()


def _stored(engine: Engine, table: str) -> list[tuple[str, ...]]:
    """Each row as the database holds it: storage type and literal text of every column."""
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            shown = ", ".join(f'typeof("{c}") || \':\' || quote("{c}")' for c in COLUMNS)
        else:
            shown = ", ".join(
                f"pg_typeof(\"{c}\")::text || ':' || coalesce(\"{c}\"::text, 'NULL')"
                for c in COLUMNS
            )
        rows = connection.exec_driver_sql(f"SELECT {shown} FROM {table} ORDER BY count")
        return [tuple(row) for row in rows]


# Fewer rows than COPY_FROM_ROWS go by INSERT, more by COPY on PostgreSQL: both paths.
COUNTS = pytest.mark.parametrize("count", [12, COPY_FROM_ROWS + 8], ids=["insert", "copy"])


def _rows(count: int = 12) -> list[dict[str, Any]]:
    amsterdam = dt.timezone(dt.timedelta(hours=1))
    return [
        {
            "id": uuid.UUID(int=i + 1),
            "at": dt.datetime(2026, 11, 25, 14, 3, 7, 123456 * (i % 2), tzinfo=amsterdam),
            "on": dt.date(2026, 12, 1) + dt.timedelta(days=i) if i % 3 else None,
            "flag": bool(i % 2),
            "blob": bytes([i, 0, 255]) if i % 4 else None,
            "label": f"label {i}" if i % 5 else None,
            "count": i,
        }
        for i in range(count)
    ]


@COUNTS
def test_inserted_rows_hold_what_sqlalchemy_s_insert_stores(engine: Engine, count: int) -> None:
    with Session(engine) as session, session.begin():
        insert_rows(session, ProbeRow, _rows(count))
        session.execute(SHADOW.insert(), _rows(count))
    inserted = _stored(engine, "insert_rows_probe")
    assert len(inserted) == count
    assert inserted == _stored(engine, "insert_rows_shadow")
    with Session(engine) as session:
        loaded = session.get(ProbeRow, uuid.UUID(int=2))
        assert loaded is not None
        assert loaded.at == _rows()[1]["at"]
        assert loaded.blob == bytes([1, 0, 255])


def test_a_single_column_of_rows_is_inserted(engine: Engine) -> None:
    # One column: itemgetter gives a value, not a tuple; the rows must still be tuples.
    with Session(engine) as session, session.begin():
        insert_rows(session, OneColumn, [{"label": "a"}, {"label": "b"}])
    with engine.connect() as connection:
        labels = connection.exec_driver_sql("SELECT label FROM insert_rows_single").all()
    assert sorted(label for (label,) in labels) == ["a", "b"]


def test_rows_that_leave_out_a_column_with_a_default_are_refused(engine: Engine) -> None:
    rows = [{k: v for k, v in row.items() if k != "flag"} for row in _rows()]
    with Session(engine) as session, session.begin(), pytest.raises(ValueError, match="flag"):
        insert_rows(session, ProbeRow, rows)


@COUNTS
def test_a_row_that_collides_is_the_integrity_error_a_retry_looks_for(
    engine: Engine, count: int
) -> None:
    # PostgreSQL takes many rows by COPY, past SQLAlchemy's execution: its error must still
    # reach the caller as SQLAlchemy's IntegrityError, which run_in_transaction reruns.
    with Session(engine) as session, session.begin():
        insert_rows(session, ProbeRow, _rows(count)[:3])
    with Session(engine) as session, session.begin(), pytest.raises(IntegrityError) as raised:
        insert_rows(session, ProbeRow, _rows(count)[2:])
    assert is_retryable(raised.value)
    assert len(_stored(engine, "insert_rows_probe")) == 3  # nothing of the failed insert
