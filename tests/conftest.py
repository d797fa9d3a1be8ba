"""Fixtures: every API test runs against SQLite and a real PostgreSQL, migrated by Alembic.

PostgreSQL is found at ``EXCHANGE_TEST_DATABASE_URL`` (default: the local server's ``test``
database). Each test session creates its own database there and drops it afterwards.
Under ``CI=true`` a missing PostgreSQL fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from exchange.api.app import create_app
from exchange.auditlog import triggers as audit_triggers
from exchange.broker import Broker
from exchange.config import Settings
from exchange.db import make_engine, migrate, unit_of_work
from exchange.demo import DemoOrganisation, seed_demo
from exchange.storage.models import metadata
from exchange.vault.keyring import FileKeySource, ensure_keys
from tests.lock_order import LockOrderWatch, watching
from tests.openapi_conformance import Conformance

ISSUER = "https://broker.test"
DEFAULT_POSTGRES = "postgresql://127.0.0.1:5432/test"


CONFORMANCE = Conformance()


@pytest.fixture(scope="session", autouse=True)
def responses_as_documented() -> Iterator[Conformance]:
    """Every response a test client receives from an API operation is checked against
    ``/openapi.json`` (``tests/openapi_conformance.py``): the document is tested by the
    whole suite, not by a test of its own reading."""
    send = TestClient.send

    def checked_send(self: TestClient, request: Any, **kwargs: Any) -> Any:
        response = send(self, request, **kwargs)
        if not kwargs.get("stream"):
            CONFORMANCE.check(self.app, request, response)
        return response

    TestClient.send = checked_send
    try:
        yield CONFORMANCE
    finally:
        TestClient.send = send


@pytest.fixture(scope="session")
def lock_order_watch() -> Iterator[LockOrderWatch]:
    with watching() as watch:
        yield watch


@pytest.fixture(autouse=True)
def audit_head_taken_last(
    request: pytest.FixtureRequest, lock_order_watch: LockOrderWatch
) -> Iterator[None]:
    """No PostgreSQL transaction of any test locks anything after the audit head
    (``tests/lock_order.py``): a deadlock on the head is then impossible, not just rare."""
    watch = lock_order_watch
    watch.test, before = request.node.nodeid, len(watch.violations)
    yield
    broken = watch.violations[before:]
    if broken:
        pytest.fail("a transaction took a lock after the audit head:\n" + "\n".join(broken))


@dataclass(frozen=True)
class Database:
    backend: str
    url: str


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    ensure_keys(FileKeySource(directory))
    return directory


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "exchange.sqlite3"
        url = f"sqlite:///{path}"
        migrate(url)
        yield Database("sqlite", url)
        return
    yield from postgres_database()


def postgres_database() -> Iterator[Database]:
    admin_url = os.environ.get("EXCHANGE_TEST_DATABASE_URL", DEFAULT_POSTGRES)
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true and is not reachable: {error}")
        pytest.skip(f"PostgreSQL not reachable at {admin_url}")
    name = f"exchange_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")
    url = f"{base}/{name}"
    try:
        migrate(url)
        yield Database("postgresql", url)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def broker_settings(
    database: Database, keys_dir: Path, data_dir: Path, **overrides: Any
) -> Settings:
    """The settings every test broker runs with; a test module that needs other ones
    overrides the ``settings`` fixture with a call to this."""
    return Settings(
        data_dir=data_dir,
        database_url=database.url,
        keys_dir=keys_dir,
        issuer=ISSUER,
        log_format="json",
        **overrides,
    )


@pytest.fixture
def settings(database: Database, keys_dir: Path, tmp_path: Path) -> Settings:
    return broker_settings(database, keys_dir, tmp_path)


@pytest.fixture
def broker(settings: Settings) -> Iterator[Broker]:
    broker = Broker.start(settings)
    try:
        yield broker
    finally:
        _empty_all_tables(broker)
        broker.engine.dispose()


def _empty_all_tables(broker: Broker) -> None:
    """Back to a freshly migrated database. The audit log refuses deletes by trigger, so the
    triggers come off for the clean-up and go back on (the same DDL the migration runs)."""
    with broker.engine.begin() as connection:
        audit_triggers.drop(connection)
        if connection.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {names} CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())
        connection.execute(text("INSERT INTO audit_head (id, tree_size) VALUES (1, 0)"))
        connection.execute(text("INSERT INTO routing_versions (id, generation) VALUES (1, 0)"))
        audit_triggers.create(connection)


@pytest.fixture
def client(broker: Broker) -> Iterator[TestClient]:
    with TestClient(create_app(broker=broker), base_url=ISSUER) as test_client:
        yield test_client


@pytest.fixture
def world(broker: Broker) -> dict[str, DemoOrganisation]:
    """The demo world, by kind: Rotterdam (0599, PC4 3000-3099) and its partners."""
    with _session(broker) as session:
        organisations = seed_demo(session)
    return {o.kind: o for o in organisations}


@pytest.fixture
def token_for(
    client: TestClient, world: dict[str, DemoOrganisation]
) -> Callable[[str], dict[str, str]]:
    """Authorization headers for a demo organisation, by kind, through the real token flow."""
    cache: dict[str, dict[str, str]] = {}

    def headers(kind: str) -> dict[str, str]:
        if kind not in cache:
            organisation = world[kind]
            response = client.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(organisation.client_id, organisation.client_secret),
            )
            assert response.status_code == 200, response.text
            cache[kind] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return cache[kind]

    return headers


@pytest.fixture
def provider(token_for: Callable[[str], dict[str, str]]) -> dict[str, str]:
    return token_for("housing_corporation")


def _session(broker: Broker) -> Any:
    from contextlib import contextmanager

    @contextmanager
    def scope() -> Iterator[Any]:
        yield from unit_of_work(broker.sessions)

    return scope()


@pytest.fixture
def db_session(broker: Broker) -> Callable[[], Any]:
    """A context manager for one committed unit of work, for setting up or inspecting."""
    return lambda: _session(broker)


__all__ = ["make_engine"]


@pytest.fixture(autouse=True)
def _cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with the production cost takes ~0.5 s per hash on a test machine; the tests
    check the login logic, not the cost, so they hash with the smallest sensible cost."""
    from argon2 import PasswordHasher

    from exchange.ui import accounts

    monkeypatch.setattr(
        accounts, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    )


PASSWORD = "correct horse battery staple"


@pytest.fixture
def people(world: dict[str, DemoOrganisation], db_session: Any) -> dict[str, str]:
    """A person (local account, password ``PASSWORD``) for each receiving or overseeing demo
    organisation: kind -> username."""
    from exchange.ui.accounts import add_user

    names = {}
    with db_session() as session:
        for kind in ("municipality", "neighbourhood_team", "debt_service", "privacy_officer"):
            user = add_user(
                session,
                organisation_id=uuid.UUID(world[kind].id),
                username=f"{kind}@example.test",
                display_name=f"Demo {kind.replace('_', ' ')}",
                password=PASSWORD,
            )
            names[kind] = user.username
    return names


Login = Callable[[str], TestClient]


@pytest.fixture
def login(broker: Broker, people: dict[str, str]) -> Iterator[Login]:
    """A browser-like client (its own cookie jar) logged in as the person of a kind."""
    opened: list[TestClient] = []

    def log_in(kind: str) -> TestClient:
        browser = TestClient(create_app(broker=broker), base_url=ISSUER, follow_redirects=False)
        opened.append(browser)
        form = browser.get("/ui/login")
        response = browser.post(
            "/ui/login",
            data={
                "username": people[kind],
                "password": PASSWORD,
                "login_csrf": hidden(form.text, "login_csrf"),
                "next": "/ui/",
            },
        )
        assert response.status_code == 303, response.text
        return browser

    yield log_in
    for browser in opened:
        browser.close()


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', page)
    assert match, f"no hidden {name} on the page"
    return match.group(1)


def csrf(browser: TestClient, path: str = "/ui/cases") -> str:
    return hidden(browser.get(path).text, "csrf_token")
