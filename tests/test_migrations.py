"""Migrations: the models and the migration history describe the same schema."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from exchange.db import alembic_config, make_engine
from exchange.storage.models import metadata
from tests.conftest import DEFAULT_POSTGRES, Database


def test_migrated_schema_matches_the_models(database: Database) -> None:
    engine = make_engine(database.url, pool=False)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []


BEFORE_CASEWORK_ACTS = "20261202_0900"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema yet: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'upgrade.sqlite3'}"
        return
    admin_url = os.environ.get("EXCHANGE_TEST_DATABASE_URL", DEFAULT_POSTGRES)
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true: {error}")
        pytest.skip(f"PostgreSQL not reachable at {admin_url}")
    name = f"exchange_upgrade_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _insert(connection: Any, table: str, values: dict[str, Any]) -> None:
    """One row, with a plain value for every required column the test does not name."""
    columns = sa.inspect(connection).get_columns(table)
    row = dict(values)
    for column in columns:
        if column["name"] in row or column["nullable"] or column.get("default") is not None:
            continue
        kind = column["type"]
        if isinstance(kind, sa.Boolean):
            row[column["name"]] = False
        elif isinstance(kind, sa.Integer):
            row[column["name"]] = 0
        elif isinstance(kind, sa.DateTime):
            row[column["name"]] = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
        elif isinstance(kind, sa.Date):
            row[column["name"]] = dt.date(2026, 3, 1)
        elif isinstance(kind, sa.LargeBinary):
            row[column["name"]] = b"x"
        elif isinstance(kind, sa.JSON):
            row[column["name"]] = {}
        else:
            row[column["name"]] = "x"
    if connection.dialect.name == "sqlite":
        # As the broker's Uuid type keeps an id there: 32 hex digits.
        row = {k: v.hex if isinstance(v, uuid.UUID) else v for k, v in row.items()}
    table_object = sa.Table(table, sa.MetaData(), autoload_with=connection)
    connection.execute(sa.insert(table_object), [row])


def test_the_casework_migration_numbers_existing_cases_and_writes_their_history(
    empty_database: str,
) -> None:
    """A broker upgraded with cases in it: each gets a number in the order they opened, per
    municipality and year, the counter goes on from there, and the history holds what the
    tables already said (assignments, attempts, results), all on both backends."""
    command.upgrade(alembic_config(empty_database), BEFORE_CASEWORK_ACTS)
    engine = make_engine(empty_database, pool=False)
    municipality, team, household = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first, second, third, new_year = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        with engine.begin() as connection:
            _insert(
                connection,
                "organisations",
                {"id": municipality, "kind": "municipality", "name": "G", "gemeentecode": "0363"},
            )
            _insert(
                connection,
                "organisations",
                {"id": team, "kind": "neighbourhood_team", "name": "W", "parent_id": municipality},
            )
            _insert(connection, "households", {"id": household, "municipality_id": municipality})
            for case_id, opened in (
                (second, dt.datetime(2026, 5, 1, tzinfo=dt.UTC)),
                (first, dt.datetime(2026, 2, 1, tzinfo=dt.UTC)),
                (third, dt.datetime(2025, 12, 30, tzinfo=dt.UTC)),
                # 00:30 on New Year's Day in Amsterdam: a case of 2026, as intake counts.
                (new_year, dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.UTC)),
            ):
                _insert(
                    connection,
                    "cases",
                    {
                        "id": case_id,
                        "household_id": household,
                        "municipality_id": municipality,
                        "status": "closed" if case_id == third else "assigned",
                        "opened_at": opened,
                        "last_signal_at": opened,
                        "closed_at": opened if case_id == third else None,
                        "result_code": "no_help_needed" if case_id == third else None,
                    },
                )
            _insert(
                connection,
                "case_assignments",
                {
                    "id": uuid.uuid4(),
                    "case_id": first,
                    "organisation_id": team,
                    "organisation_kind": "neighbourhood_team",
                    "assigned_by_id": municipality,
                    "assigned_at": dt.datetime(2026, 2, 2, tzinfo=dt.UTC),
                },
            )
            _insert(
                connection,
                "contact_attempts",
                {
                    "id": uuid.uuid4(),
                    "case_id": first,
                    "channel": "phone",
                    "attempted_on": dt.date(2026, 2, 3),
                    "reached": True,
                    "recorded_by_id": team,
                    "recorded_at": dt.datetime(2026, 2, 3, tzinfo=dt.UTC),
                },
            )
        command.upgrade(alembic_config(empty_database), "head")
        with engine.connect() as connection:
            numbers = {
                row[0]: row[1]
                for row in connection.execute(sa.text("SELECT id, number FROM cases"))
            }
            counters = connection.execute(
                sa.text("SELECT year, last_number FROM case_number_counters ORDER BY year")
            ).all()
            acts = sorted(
                row[0] for row in connection.execute(sa.text("SELECT act FROM case_events"))
            )
            roles = connection.execute(sa.text("SELECT role FROM case_assignments")).all()
    finally:
        engine.dispose()
    by_id = {str(uuid.UUID(str(k))): v for k, v in numbers.items()}
    assert by_id[str(third)] == "0363-2025-000001"
    assert by_id[str(new_year)] == "0363-2026-000001"
    assert by_id[str(first)] == "0363-2026-000002"
    assert by_id[str(second)] == "0363-2026-000003"
    assert [tuple(c) for c in counters] == [(2025, 1), (2026, 3)]
    assert acts == ["assigned", "attempt", "closed"]
    assert [tuple(r) for r in roles] == [("lead",)]
