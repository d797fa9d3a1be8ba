"""Liveness and readiness: what an orchestrator and a load balancer ask a replica."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.broker import Broker
from exchange.config import Settings
from exchange.ops import health
from tests.conftest import ISSUER, Database


def test_liveness_answers_without_a_token(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_a_migrated_broker_with_keys_is_ready(client: TestClient, broker: Broker) -> None:
    before = broker_tree_size(broker)
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert set(checks) == {"keys", "database", "migrations", "audit_log"}
    assert all(check["ok"] for check in checks.values())
    # Checking that the log is appendable appends nothing to it.
    assert broker_tree_size(broker) == before


def test_a_schema_behind_the_code_is_not_ready(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    _, known = health._script_revisions(settings.resolved_database_url)
    newer = frozenset({"2099-01-01-newer"})
    monkeypatch.setattr(health, "_script_revisions", lambda _url: (newer, known | newer))
    response = client.get("/readyz")
    assert response.status_code == 503
    migrations = response.json()["checks"]["migrations"]
    assert not migrations["ok"]
    assert "2099-01-01-newer" in migrations["detail"]


def test_a_schema_newer_than_the_code_keeps_it_ready_during_a_rolling_update(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This code knows only an older revision: the database's head is a later release's.
    older = frozenset({"2020-01-01-older"})
    monkeypatch.setattr(health, "_script_revisions", lambda _url: (older, older))
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert "newer than this code" in response.json()["checks"]["migrations"]["detail"]


def test_an_unreachable_database_is_not_ready_and_its_address_is_not_told(
    keys_dir: Path, tmp_path: Path
) -> None:
    url = "postgresql://operator:hunter2@127.0.0.1:1/exchange"
    settings = Settings(data_dir=tmp_path, database_url=url, keys_dir=keys_dir, issuer=ISSUER)
    broker = Broker.start(settings)
    try:
        with TestClient(create_app(broker=broker), base_url=ISSUER) as client:
            assert client.get("/healthz").status_code == 200
            response = client.get("/readyz")
    finally:
        broker.engine.dispose()
    assert response.status_code == 503
    assert not response.json()["checks"]["database"]["ok"]
    assert "hunter2" not in response.text
    assert "127.0.0.1" not in response.text


def test_an_audit_head_held_by_a_stuck_transaction_is_not_ready(
    client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.backend != "postgresql":
        pytest.skip("row locks with a timeout are PostgreSQL's; SQLite has one writer lock")
    monkeypatch.setattr(health, "AUDIT_LOCK_TIMEOUT_MS", 50)
    with psycopg.connect(database.url) as stuck:
        stuck.execute("SELECT tree_size FROM audit_head WHERE id = 1 FOR UPDATE")
        response = client.get("/readyz")
        stuck.rollback()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"]
    assert not checks["audit_log"]["ok"]
    assert client.get("/readyz").status_code == 200


def broker_tree_size(broker: Broker) -> int:
    with broker.sessions() as session:
        return broker.audit.tree_size(session)
