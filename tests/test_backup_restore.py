"""Backup with the real pg_dump, restore with the real pg_restore, through ``exchange``.

A restored database's audit log verifies and extends the checkpoint signed at the backup;
restoring a dump older than a checkpoint an auditor kept is refused as a rolled-back log.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from audit.note import open_checkpoint
from bench.servers import exchange_command
from exchange.api.app import create_app
from exchange.broker import Broker
from exchange.config import Settings
from exchange.db import migrate
from exchange.demo import DemoOrganisation, seed_demo
from exchange.ops.backup import BackupError, libpq_environment
from tests.conftest import DEFAULT_POSTGRES, ISSUER
from tests.factories import signal_body

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("pg_dump") is None or shutil.which("pg_restore") is None,
        reason="pg_dump and pg_restore are not installed (Debian: postgresql-client)",
    ),
]


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """Two fresh databases: the broker's, and an empty one to restore into."""
    admin_url = os.environ.get("EXCHANGE_TEST_DATABASE_URL", DEFAULT_POSTGRES)
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true and is not reachable: {error}")
        pytest.skip(f"PostgreSQL not reachable at {admin_url}")
    names = [f"exchange_backup_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    base = admin_url.rpartition("/")[0]
    for name in names:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{names[0]}", f"{base}/{names[1]}"
    finally:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_a_restored_log_verifies_and_a_restore_older_than_a_kept_checkpoint_is_refused(
    databases: tuple[str, str], keys_dir: Path, tmp_path: Path
) -> None:
    live, spare = databases
    migrate(live)
    settings = Settings(data_dir=tmp_path, database_url=live, keys_dir=keys_dir, issuer=ISSUER)
    broker = Broker.start(settings)
    try:
        with TestClient(create_app(broker=broker), base_url=ISSUER) as client:
            with broker.sessions() as session, session.begin():
                world = {o.kind: o for o in seed_demo(session)}
            provider = token(client, world["housing_corporation"])
            send(client, provider, 20)
            dump = tmp_path / "exchange.dump"
            made = exchange(["backup", "-o", str(dump)], settings)
            assert (dump.stat().st_mode & 0o777) == 0o600
            at_backup = Path(made["checkpoint"]).read_text()
            assert open_checkpoint(at_backup, broker.audit.verifier_key()).size == made["tree_size"]

            # The log grows after the backup; an auditor keeps a newer checkpoint.
            send(client, provider, 10)
            officer = token(client, world["privacy_officer"])
            newer = tmp_path / "newer.checkpoint"
            newer.write_text(client.get("/v1/audit/checkpoint", headers=officer).text)
    finally:
        broker.engine.dispose()

    # Restored into an empty database: it verifies and extends the backup's checkpoint.
    restored = exchange(["restore", str(dump), "--yes"], settings, database_url=spare)
    assert [r["ok"] for r in restored["verified"]] == [True], restored
    assert count(spare, "signals") == 20

    # The check after a physical recovery (deploy/k8s/database): the restored database's log
    # extends the checkpoint signed at the backup, and not the auditor's newer one.
    backup_checkpoint = Path(made["checkpoint"])
    assert exchange(["audit", "verify", str(backup_checkpoint)], settings, database_url=spare)[
        "verified"
    ][0]["ok"]
    behind = exchange(
        ["audit", "verify", str(backup_checkpoint), str(newer)],
        settings,
        database_url=spare,
        expect_exit=1,
    )
    assert [r["ok"] for r in behind["verified"]] == [True, False], behind

    # The same dump into the live database, against the newer checkpoint: refused.
    refused = exchange(
        ["restore", str(dump), "--yes", "--checkpoint", str(newer)], settings, expect_exit=1
    )
    backup_check, newer_check = refused["verified"]
    assert backup_check["ok"]
    assert not newer_check["ok"]
    assert "rolled back" in newer_check["message"] or "shorter" in newer_check["message"]
    assert count(live, "signals") == 20


def test_backup_refuses_sqlite_and_keeps_the_password_off_the_command_line() -> None:
    with pytest.raises(BackupError, match="sqlite3"):
        libpq_environment("sqlite:///var/exchange.sqlite3")
    environment = libpq_environment("postgresql://broker:s3cret@db.internal:5433/exchange")
    assert environment["PGPASSWORD"] == "s3cret"
    assert (environment["PGHOST"], environment["PGPORT"]) == ("db.internal", "5433")
    assert (environment["PGUSER"], environment["PGDATABASE"]) == ("broker", "exchange")


def exchange(
    args: list[str],
    settings: Settings,
    *,
    database_url: str | None = None,
    expect_exit: int = 0,
) -> Any:
    environment = {
        **os.environ,
        "EXCHANGE_DATA_DIR": str(settings.data_dir),
        "EXCHANGE_DATABASE_URL": database_url or settings.resolved_database_url,
        "EXCHANGE_KEYS_DIR": str(settings.resolved_keys_dir),
        "EXCHANGE_ISSUER": settings.issuer,
    }
    result = subprocess.run(
        [*exchange_command(), *args],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == expect_exit, result.stdout + result.stderr
    return json.loads(result.stdout[result.stdout.index("{") :])


def token(client: TestClient, organisation: DemoOrganisation) -> dict[str, str]:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(organisation.client_id, organisation.client_secret),
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def send(client: TestClient, headers: dict[str, str], how_many: int) -> None:
    body = {"signals": [signal_body() for _ in range(how_many)]}
    response = client.post("/v1/signals/batch", json=body, headers=headers)
    assert response.json()["summary"]["created"] == how_many, response.text


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])
