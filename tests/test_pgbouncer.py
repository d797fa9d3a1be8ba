"""The broker through a real PgBouncer in transaction pooling mode, as deploy/ runs it
(``deploy/k8s/database/pooler.yaml``).

In that mode a server connection is a client's only for one transaction; the next may run
on another, and another client's next on this one. Whatever a client leaves on a server
connection beyond its transaction (a session SET, a prepared statement) then meets another
client. The first test shows that with two plain psycopg connections and statements psycopg
prepares on the server: the second client trips over the first one's. The broker prepares
nothing on the server (``exchange.db``) and keeps no session state, so the rest of the
tests run its intake, case reads, consent and the audit log through a pool of one server
connection shared by its whole connection pool, from several threads at once.

PgBouncer is Debian's (``make pgbouncer`` installs it); PostgreSQL is the test server.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from exchange.auditlog.models import AuditEntry, AuditHead
from exchange.broker import Broker
from exchange.signals.models import Signal
from tests.conftest import Database, postgres_database
from tests.factories import signal_body

Headers = Callable[[str], dict[str, str]]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _pgbouncer() -> str:
    found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(found).exists():
        pytest.fail("PgBouncer is not installed (make pgbouncer installs Debian's)")
    return found


def _work_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """PgBouncer refuses to run as root (CI's user): then it switches to ``postgres`` at
    start (``-u``), in a directory of that user's, outside root's private tmp dirs."""
    if os.geteuid() != 0:
        return tmp_path_factory.mktemp("pgbouncer"), []
    account = pwd.getpwnam("postgres")
    work = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
    os.chown(work, account.pw_uid, account.pw_gid)
    return work, ["-u", "postgres"]


@pytest.fixture(scope="module")
def direct() -> Iterator[Database]:
    """A database of its own on the test server, migrated, reached directly."""
    yield from postgres_database()


@pytest.fixture(scope="module")
def pooled(direct: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PgBouncer in transaction mode with ONE server connection per database, in front of
    the test server; returns the URL of the database through it."""
    work, switch_user = _work_dir(tmp_path_factory)
    name = direct.url.rpartition("/")[2]
    with psycopg.connect(direct.url) as connection:
        user = connection.execute("SELECT current_user").fetchone()
    assert user is not None
    port = _free_port()
    (work / "pgbouncer.ini").write_text(
        f"""[databases]
* = host=127.0.0.1 port=5432 user={user[0]}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 1
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 100
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = {work / "pgbouncer.log"}
pidfile = {work / "pgbouncer.pid"}
"""
    )
    process = subprocess.Popen(
        [_pgbouncer(), *switch_user, str(work / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"postgresql://127.0.0.1:{port}/{name}"
    deadline = time.monotonic() + 20
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            break
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                _, errors = process.communicate()
                pytest.fail(f"PgBouncer did not start: {errors.decode(errors='replace')}")
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def database(pooled: str) -> Database:
    """The broker of this module's tests goes through the pooler (overrides conftest's)."""
    return Database("postgresql", pooled)


def test_transaction_pooling_breaks_what_a_client_prepares_on_the_server(pooled: str) -> None:
    """The control: psycopg preparing on the server (prepare_threshold=0), two clients, one
    server connection. The second client's Parse meets the first one's statement."""
    query = "SELECT 1 WHERE %s::int IS NOT NULL"
    first = psycopg.connect(pooled, autocommit=True, prepare_threshold=0)
    second = psycopg.connect(pooled, autocommit=True, prepare_threshold=0)
    try:
        first.execute(query, (1,))
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            second.execute(query, (1,))
    finally:
        first.close()
        second.close()


def test_the_broker_works_through_transaction_pooling_from_many_threads(
    broker: Broker, client: TestClient, token_for: Headers
) -> None:
    provider, municipality = token_for("housing_corporation"), token_for("municipality")
    bodies = [signal_body() for _ in range(24)]

    def send(body: dict[str, object]) -> int:
        return client.post("/v1/signals", json=body, headers=provider).status_code

    def read(_: int) -> int:
        return client.get("/v1/cases", headers=municipality).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        sent = list(pool.map(send, bodies))
        reads = list(pool.map(read, range(12)))
    assert sent == [201] * len(bodies)
    assert reads == [200] * 12

    batch = {"signals": [signal_body() for _ in range(200)]}
    answered = client.post("/v1/signals/batch", json=batch, headers=provider)
    assert answered.status_code == 200, answered.text
    assert answered.json()["summary"]["created"] == 200, answered.text

    checkpoint = client.get("/v1/audit/checkpoint", headers=token_for("privacy_officer"))
    assert checkpoint.status_code == 200, checkpoint.text

    with broker.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Signal)) == len(bodies) + 200
        # The log is whole: as many entries as the head counts, numbered 0 to size - 1.
        count, distinct, highest = session.execute(
            select(
                func.count(),
                func.count(AuditEntry.leaf_index.distinct()),
                func.max(AuditEntry.leaf_index),
            )
        ).one()
        size = session.scalar(select(AuditHead.tree_size))
        assert count == distinct == size == highest + 1 > len(bodies)
