"""Migrations: the models and the migration history describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from exchange.db import make_engine
from exchange.storage.models import metadata
from tests.conftest import Database


def test_migrated_schema_matches_the_models(database: Database) -> None:
    engine = make_engine(database.url, pool=False)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []
