"""Database plumbing shared by every domain: engine, declarative base, unit of work.

One transaction per request or job. Services ``flush``, never ``commit``; the caller that
opened the session commits on success and rolls back on error (:func:`unit_of_work`, or
:func:`run_in_transaction` for work that is run again after a lost race).

Hot paths (intake, the audit append) build their statements once, at import, with
``bindparam`` for every value (:func:`one_of` for lists), and run them with
``session.connection().execute``: SQLAlchemy then finds the compiled form in its cache by a
key memoised on the statement object. Building ``select(Model.column).where(...)`` anew on
every call and running it through ``session.execute`` cost about four times as much per
statement (124 against 31 µs for a four-key IN query on SQLite), and a single-signal
intake transaction runs a dozen of them.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import Date, DateTime, Engine, Table, any_, bindparam, create_engine, event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool, QueuePool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType, TypeDecorator

MIGRATIONS_DIR = Path(__file__).parent / "storage" / "migrations"
# Bound parameters per IN (...) list: well under SQLite's and PostgreSQL's limits.
CHUNK = 2_000
# Runs of a transaction that lost a race (run_in_transaction): a concurrent writer may store
# the same external_ref or household first, and the rerun then finds it.
ATTEMPTS = 3
T = TypeVar("T")
log = structlog.get_logger("exchange.db")


class Base(DeclarativeBase):
    pass


def new_id() -> uuid.UUID:
    """A new row id: a UUID version 7 (RFC 9562, section 5.7), time-ordered.

    48 bits of Unix time in milliseconds, then 74 random bits (with the version and variant
    bits). Ids made one after another sort together, so a new row goes to the end of its
    table's primary-key index and of the indexes on the ids it refers to, instead of to a
    random page of each: a batch of 10,000 signals wrote a few thousand index pages fewer,
    and intake no longer slowed down as the tables grew (BENCHMARKS.md). The time in an id
    says nothing its row does not already show (every row keeps when it was made). Python
    3.14's ``uuid.uuid7`` does the same.
    """
    milliseconds = time.time_ns() // 1_000_000
    random_bits = int.from_bytes(os.urandom(10))
    return uuid.UUID(
        int=(milliseconds & _48_BITS) << 80
        | 0x7 << 76  # version 7
        | (random_bits >> 62 & 0xFFF) << 64  # rand_a: 12 bits
        | 0b10 << 62  # the RFC's variant
        | random_bits & _62_BITS  # rand_b: 62 bits
    )


_48_BITS = (1 << 48) - 1
_62_BITS = (1 << 62) - 1


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on both backends.

    SQLite has no timezone type and hands back naive datetimes; comparing those with aware
    ones raises, so every value is normalised to aware UTC on the way in and out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def make_engine(url: str, *, pool: bool = True, background_checkpoints: bool = False) -> Engine:
    """An engine configured for the broker's transaction model on either backend.

    ``background_checkpoints`` (SQLite files only): a :class:`WalCheckpointer` will copy the
    write-ahead log back into the database, so the writer's own automatic checkpoint is
    only a backstop. The caller starts and stops the checkpointer.
    """
    if url.startswith("sqlite"):
        return _sqlite_engine(url, background_checkpoints)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if not pool:
        kwargs = {"poolclass": NullPool}
    # No server-side prepared statements: psycopg prepares a statement it has run five
    # times, and PostgreSQL may then settle on one generic plan for it. For ``column =
    # ANY(:list)`` (:func:`one_of`) that plan was made for single intake's lists of one, on
    # tables as small as they were then, and a batch's lists of 2,000 then ran through it as
    # the tables grew: a first batch of 10,000 after a few hundred single signals took over
    # five minutes instead of seven seconds (BENCHMARKS.md). Unprepared, every statement is
    # planned for the values it runs with, as before; psycopg still converts its text once.
    kwargs["connect_args"] = {"prepare_threshold": None}
    return create_engine(url, **kwargs)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL and in-memory databases."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1]
    return Path(path) if path and path != ":memory:" else None


def _sqlite_engine(url: str, background_checkpoints: bool) -> Engine:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # One connection: SQLite has one writer anyway, and threads queueing in order for the
    # pool is fairer than SQLite's busy handler, which lets late comers overtake (the p99 of
    # single intake fell from ~700 ms to ~95 ms under load, see BENCHMARKS.md).
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=60,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Take control of transactions from the sqlite3 module: it would otherwise open
        # deferred transactions that deadlock when two writers upgrade their locks.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # 64 MiB of page cache instead of 2: the audit log's indexes on pseudonyms are
        # written in random order, and with the default cache each append missed on disk.
        cursor.execute("PRAGMA cache_size=-65536")
        if background_checkpoints:
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
        cursor.close()

    # The writer lock is taken at the start, so a transaction never fails half-way for want
    # of it; this is how SQLite orders concurrent writers. Done by the dialect's own hook for
    # BEGIN rather than by a "begin" event listener: any such listener on an engine makes
    # SQLAlchemy dispatch events around every statement, a few percent of an intake.
    engine.dialect.do_begin = _begin_immediate  # type: ignore[method-assign]
    return engine


def _begin_immediate(dbapi_connection: Any) -> None:
    dbapi_connection.execute("BEGIN IMMEDIATE")


# With a WalCheckpointer running, the writer checkpoints only when the log reaches this many
# pages (64 MiB): under steady load the log restarts from its beginning only after a
# checkpoint that ran while no transaction was writing, which is this one. By then the
# checkpointer has copied all but the last moments of it, so the writer's part is small.
WAL_BACKSTOP_PAGES = 16_384


class WalCheckpointer:
    """Copies SQLite's write-ahead log back into the database file from a thread of its own.

    SQLite's automatic checkpoint runs inside the commit of whichever transaction crosses
    1,000 pages of log: it copies those pages into the database file and syncs it, while
    the writer lock is held and every other request waits. A single-signal intake
    transaction writes about 70 pages (random index pages of signals, households, cases and
    the audit log), so every fourteenth one paid for the others' checkpoint. Here a PASSIVE
    checkpoint (which never blocks the writer, nor waits for it) runs every ``interval``
    seconds on its own connection; the sqlite3 module releases the GIL while it runs, so it
    takes a second core instead of the request path's time (BENCHMARKS.md).
    """

    def __init__(self, database: Path, interval: float = 0.1) -> None:
        self.database = database
        self.interval = interval
        self.checkpoints = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WalCheckpointer:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        connection = sqlite3.connect(self.database, isolation_level=None, check_same_thread=False)
        try:
            # Never wait for a lock: a checkpoint that cannot run now runs next time.
            connection.execute("PRAGMA busy_timeout=0")
            while not self._stop.wait(self.interval):
                self.checkpoint_once(connection)
            self.checkpoint_once(connection)
        finally:
            connection.close()

    def checkpoint_once(self, connection: sqlite3.Connection) -> None:
        try:
            # fetchall: an unfinished PRAGMA statement would keep a read snapshot open, and
            # the log cannot restart while any reader holds one.
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error:
            self.failures += 1


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


class RecordedError(Exception):
    """An error whose record must outlive its transaction: a refused disclosure's audit
    entries (``exchange.disclosures.Refused``).

    The unit of work rolls back everything the transaction did, then has the error
    :meth:`record` itself in the same session, commits that, and lets the error go on.
    """

    def record(self, session: Session) -> None:
        raise NotImplementedError


def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session; commit when the body finishes, roll back when it raises.

    This is the only place that commits: services flush, never commit or roll back. A
    :class:`RecordedError` is the one exception that still commits: its own record, after
    the rollback (:func:`roll_back`).
    """
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException as error:
        if roll_back(session, error):
            session.commit()
        raise
    finally:
        session.close()


def roll_back(session: Session, error: BaseException) -> bool:
    """Roll the transaction back; for a :class:`RecordedError`, then add its record to
    the session (to be committed by whoever owns it) and return True."""
    session.rollback()
    if isinstance(error, RecordedError):
        error.record(session)
        return True
    return False


def run_in_transaction(
    factory: sessionmaker[Session],
    work: Callable[[Session, bool], T],
    *,
    attempts: int = ATTEMPTS,
) -> T:
    """Run ``work`` in a unit of work of its own, and run it all again after a lost race.

    A read-write transaction is a function that may be retried: after a retryable error
    (:func:`is_retryable`) the unit of work has rolled everything back, and ``work`` runs
    again from the start in a new one, so it must keep no state between attempts. ``work``
    gets the session and whether this is the last attempt: a caller that takes in several
    parties' work in one transaction may then set one party's retryable error apart rather
    than fail them all with it. Any other error, and the last attempt's, is raised.
    """
    for attempt in range(1, attempts + 1):
        try:
            for session in unit_of_work(factory):
                result = work(session, attempt == attempts)
        except DBAPIError as error:
            if attempt == attempts or not is_retryable(error):
                spend_retries(error)
                raise
            log.info("transaction.retried", attempt=attempt, error_type=type(error).__name__)
            continue
        return result
    raise AssertionError("unreachable")


_RETRIES_SPENT = "_exchange_retries_spent"

# What the running request did that no rollback undoes (LostRaces reads it): None outside one.
_OUTSIDE_EFFECTS: ContextVar[list[str] | None] = ContextVar(
    "exchange_outside_effects", default=None
)


def outside_effect(what: str) -> None:
    """Note that the running request did something no rollback undoes (a mail or a text
    message sent): after a lost race it must fail, not run again whole and do it twice."""
    effects = _OUTSIDE_EFFECTS.get()
    if effects is not None:
        effects.append(what)


@contextmanager
def watching_outside_effects() -> Iterator[list[str]]:
    """The effects :func:`outside_effect` notes in this context (and in the threads it hands
    work to, which copy the context and so share the list) until the block ends."""
    effects: list[str] = []
    token = _OUTSIDE_EFFECTS.set(effects)
    try:
        yield effects
    finally:
        _OUTSIDE_EFFECTS.reset(token)


def spend_retries(error: BaseException) -> None:
    """Mark an error whose transaction has run as often as it may (or may not run again):
    whoever sees it next, a request run again whole (``exchange.api.middleware.LostRaces``),
    must not run it all again, which would multiply the attempts."""
    setattr(error, _RETRIES_SPENT, True)


class OneOf(ColumnElement[bool]):
    """``column`` is one of the list passed as parameter ``name`` when the statement runs.

    SQLite gets ``column IN (?, ?, ...)``, an expanding IN. PostgreSQL gets ``column =
    ANY(%(name)s)`` with the list as one array parameter: the statement's text is then the
    same for every list, so psycopg converts it once and the server can keep it prepared,
    where an IN list of 2,000 placeholders was parsed anew, in the driver and on the
    server, for every chunk of every batch (BENCHMARKS.md, issue 18).
    """

    inherit_cache = True
    # No Boolean type: on SQLite (no native booleans) WHERE would compare a Boolean
    # expression with 1, "pseudonym IN (...) = 1", which no index serves.
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's cache-key protocol
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]

    def __init__(self, column: Any, name: str) -> None:
        self.column = (
            column.__clause_element__() if hasattr(column, "__clause_element__") else column
        )
        self.name = name


def one_of(column: Any, name: str) -> OneOf:
    """``column IN`` the list given as parameter ``name`` at execution (:class:`OneOf`)."""
    return OneOf(column, name)


@compiles(OneOf)
def _one_of_in(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    expression = element.column.in_(bindparam(element.name, expanding=True))
    return str(compiler.process(expression, **kw))


@compiles(OneOf, "postgresql")
def _one_of_any(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    values = bindparam(element.name, type_=ARRAY(element.column.type))
    return str(compiler.process(element.column == any_(values), **kw))


def insert_rows(
    session: Session, model: type[DeclarativeBase], rows: Sequence[dict[str, Any]]
) -> None:
    """A plain executemany INSERT of many rows, each a dict with the same keys.

    The rows go to the driver as tuples, each value converted by its column type's own bind
    processor (see :class:`TupleInsert`): SQLAlchemy's own executemany builds a parameter
    dict per row and runs every processor through its execution context, which for a batch
    of 10,000 signals took longer than SQLite's insert itself (BENCHMARKS.md). The keys of
    the first row are the columns; a column left out gets no Python-side default here, so a
    table column that has one must be given (checked, with the plan built once per table
    and columns).
    """
    _insert_tuples(session, model, rows, ())


def _insert_tuples(
    session: Session,
    model: type[DeclarativeBase],
    rows: Sequence[dict[str, Any]],
    conflict_columns: tuple[str, ...],
) -> None:
    if not rows:
        return
    connection = session.connection()
    columns = tuple(rows[0])
    plan = _insert_plan(connection.dialect, cast(Table, model.__table__), columns, conflict_columns)
    if plan.defaulted:
        raise ValueError(f"rows for {model.__tablename__} leave out {list(plan.defaulted)}")
    # Column by column: a batch's rows share most values of a column (the timestamp, the
    # provider, the policy version), and each distinct value is converted once.
    converted = [
        _converted(convert, memoise, [row[name] for row in rows])
        for name, convert, memoise in zip(columns, plan.converters, plan.memoise, strict=True)
    ]
    _execute_plan(connection, plan, list(zip(*converted, strict=True)))


# Fewer rows than this go by an INSERT, more by COPY (PostgreSQL). COPY costs a round trip
# more than one pipelined executemany (the server's CopyInResponse before the data), which
# a single signal's handful of rows cannot win back; a batch's thousands win it many times.
COPY_FROM_ROWS = 32


def _execute_plan(
    connection: Connection, plan: _InsertPlan, rows: Sequence[tuple[Any, ...]]
) -> None:
    if plan.copy is not None and len(rows) >= COPY_FROM_ROWS:
        _copy(connection, plan.copy, rows, plan.copy_types)
    else:
        connection.exec_driver_sql(plan.statement, list(rows))


def _copy(
    connection: Connection,
    statement: str,
    rows: Sequence[tuple[Any, ...]],
    types: Sequence[str] | None,
) -> None:
    """Rows in by PostgreSQL's COPY: one command for the lot, each row sent as data rather
    than as a statement the server parses and executes (the pipelined INSERTs of a batch of
    10,000 signals spent most of their time there; BENCHMARKS.md, issue 18). With the
    columns' PostgreSQL ``types``, in binary: bytes (hashes, entry bytes) then go as they are
    rather than as hex text.

    It bypasses SQLAlchemy's execution (no cursor events fire for it), so a failure is
    wrapped here as SQLAlchemy wraps a driver's error: retries on a unique violation or a
    deadlock (``is_retryable``) still apply.
    """
    raw = cast(Any, connection.connection.driver_connection)
    context = connection.dialect
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            if types is not None:
                copy.set_types(list(types))
            write = copy.write_row
            for row in rows:
                write(row)
    except context.loaded_dbapi.Error as error:
        raise DBAPIError.instance(
            statement, None, error, context.loaded_dbapi.Error, dialect=context
        ) from error


def _converted(convert: Callable[[Any], Any] | None, memoise: bool, values: list[Any]) -> list[Any]:
    if convert is None:
        return values
    if not memoise:
        return [convert(v) for v in values]
    seen: dict[Any, Any] = {}
    try:
        return [seen[v] if v in seen else seen.setdefault(v, convert(v)) for v in values]
    except TypeError:  # an unhashable value (a JSON column): convert each one
        return [convert(v) for v in values]


@dataclass(frozen=True)
class _InsertPlan:
    statement: str
    # Per column, the bind processor of its type for the dialect; None where values go as
    # they are (SQLAlchemy skips those too).
    converters: tuple[Callable[[Any], Any] | None, ...]
    # Columns with a Python-side default that these columns leave out.
    defaulted: tuple[str, ...]
    # Per column, whether each distinct value is converted once: for timestamps and dates,
    # whose conversion formats text and whose values a batch mostly shares. Not for UUIDs
    # (hashing one in Python costs more than converting it), nor for a plain DateTime: two
    # equal instants in different zones are stored as different wall-clock texts
    # (UtcDateTime normalises to UTC first).
    memoise: tuple[bool, ...]
    # PostgreSQL: the same rows as a COPY command, for an insert with no conflict clause.
    copy: str | None = None
    # The columns' PostgreSQL types when the COPY is binary.
    copy_types: tuple[str, ...] | None = None


@functools.cache
def _insert_plan(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    conflict_columns: tuple[str, ...] = (),
    copy_types: tuple[str, ...] | None = None,
) -> _InsertPlan:
    chosen = [table.c[name] for name in columns]
    for column in chosen:
        if isinstance(column.type, NullType):
            # A foreign key column whose type comes from a table not imported yet: its
            # values would reach the driver unconverted.
            raise RuntimeError(f"{table.name}.{column.name} has no resolved type")
    quote = dialect.identifier_preparer.quote
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    # Only names from the table definition, quoted by the dialect; values go as parameters.
    statement = (
        f"INSERT INTO {quote(table.name)} "  # noqa: S608
        f"({', '.join(quote(name) for name in columns)}) "
        f"VALUES ({', '.join([marker] * len(columns))})"
    )
    if conflict_columns:
        # The same clause on SQLite (3.24+) and PostgreSQL.
        statement += (
            f" ON CONFLICT ({', '.join(quote(name) for name in conflict_columns)}) DO NOTHING"
        )
    converters = tuple(
        column.type.dialect_impl(dialect).bind_processor(dialect) for column in chosen
    )
    defaulted = tuple(c.name for c in table.c if c.default is not None and c.name not in columns)
    memoise = tuple(isinstance(c.type, UtcDateTime | Date) for c in chosen)
    copy = None
    if dialect.name == "postgresql" and not conflict_columns:
        copy = f"COPY {quote(table.name)} ({', '.join(quote(name) for name in columns)}) FROM STDIN"
        if copy_types is not None:
            copy += " (FORMAT BINARY)"
    return _InsertPlan(statement, converters, defaulted, memoise, copy, copy_types)


class TupleInsert:
    """An INSERT of many rows given as tuples of driver-ready values, for hot append paths.

    Like :func:`insert_rows`, but the caller converts the values with :meth:`converter`,
    which is the column type's own bind processor for this dialect (what SQLAlchemy itself
    would apply, so the database stores the very same values), and can convert a value that
    many rows share (a timestamp, an organisation id) once. The rows then go as they are to
    the driver's executemany, through ``exec_driver_sql`` so that engine events and
    SQLAlchemy's error wrapping (retries on ``IntegrityError``) still apply.
    """

    def __init__(
        self,
        session: Session,
        model: type[Base],
        columns: Sequence[str],
        copy_types: Sequence[str] | None = None,
    ) -> None:
        """``copy_types``: the columns' PostgreSQL types, in order, for a binary COPY (see
        :func:`_copy`); without, COPY goes as text."""
        self._connection = session.connection()
        self._columns = tuple(columns)
        self._plan = _insert_plan(
            self._connection.dialect,
            cast(Table, model.__table__),
            self._columns,
            copy_types=tuple(copy_types) if copy_types is not None else None,
        )
        self.statement = self._plan.statement

    def converter(self, column: str) -> Callable[[Any], Any]:
        """The function that turns a Python value into what the driver gets for ``column``."""
        return self._plan.converters[self._columns.index(column)] or _unchanged

    def execute(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert the rows: tuples in the order of ``columns``, every value converted."""
        if rows:
            _execute_plan(self._connection, self._plan, rows)


def _unchanged(value: Any) -> Any:
    return value


def insert_ignoring_conflicts(
    session: Session,
    model: type[DeclarativeBase],
    rows: Sequence[dict[str, Any]],
    conflict_columns: list[str],
) -> None:
    """Insert rows, skipping those that collide on ``conflict_columns`` (both backends), as
    tuples like :func:`insert_rows`."""
    _insert_tuples(session, model, rows, tuple(conflict_columns))


def is_retryable(error: DBAPIError) -> bool:
    """Whether a whole transaction may simply run again after this error.

    A unique violation means a concurrent writer stored the same thing first; a deadlock or
    a serialization failure means the database chose us to give way. Rerun, the transaction
    sees the other's work and answers as for a resend.
    """
    if getattr(error, _RETRIES_SPENT, False):
        return False
    if isinstance(error, IntegrityError):
        return True
    code = getattr(error.orig, "sqlstate", None)
    return code in ("40P01", "40001")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option(
        "file_template",
        "%%(year)d-%%(month).2d-%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s",
    )
    return config


def migrate(url: str) -> None:
    """Bring the database schema to the newest migration (safe to run again)."""
    command.upgrade(alembic_config(url), "head")
