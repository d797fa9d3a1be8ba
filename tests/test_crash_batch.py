"""``kill -9`` in the middle of a batch: every batch is stored whole or not at all, and the
audit log still verifies.

A real ``exchange serve`` on each backend takes batches of signals. While one is being
written (PostgreSQL: its transaction has written a row; SQLite: it holds the writer lock),
the server is killed with SIGKILL at a seeded random moment of the write (early, midway or
late, measured on a batch nobody interrupted), and started again on the same database.
Each batch's signals are then counted by their ``external_ref``: all or none of them, and
all of them whenever the batch was answered.
Afterwards the provider sends every batch again, as a client that got no answer does: each
comes back all ``duplicate`` or all ``created``. Every stored signal has its routing decision
in the audit log, the log is contiguous, and its export verifies offline, strictly, with the
broker's key and against a checkpoint signed before the first kill.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from bench.servers import Server, exchange_command
from bench.signals import signal_bodies
from exchange.cli import app as cli
from exchange.db import sqlite_file
from tests.conftest import postgres_database
from tests.servers import (
    ROUTED,
    Deployment,
    assert_audit_log_contiguous,
    assert_export_verifies,
    assert_no_duplicate_signals,
    explain,
    get,
    post,
    replica_env,
)

pytestmark = pytest.mark.slow

BATCH = 1_000
KILLS = 3  # per backend; each is followed by a restart, which is most of the time spent
SEED = 13
APPLICATION = "crash-test"  # the server's PostgreSQL application_name


# Function scope (one test per backend): the set-up then hashes the demo people's passwords
# at the tests' low cost (conftest).
@pytest.fixture(params=["sqlite", "postgresql"])
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    data_dir = tmp_path_factory.mktemp(f"crash-{request.param}")
    if request.param == "sqlite":
        yield from _deployed(f"sqlite:///{data_dir / 'exchange.sqlite3'}", data_dir)
        return
    for database in postgres_database():  # created, and dropped once the loop ends
        yield from _deployed(database.url, data_dir)


def _deployed(url: str, data_dir: Path) -> Iterator[Deployment]:
    env = replica_env(url, data_dir, application_name=APPLICATION)
    # What an operator runs first, in this process: a new one costs seconds of start-up.
    for args in (["init"], ["demo", "--json", "--no-signals"]):
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
    demo = json.loads((data_dir / "demo-clients.json").read_text())
    credentials = {o["kind"]: (o["client_id"], o["client_secret"]) for o in demo["organisations"]}
    d = Deployment(url, data_dir, [], credentials)
    try:
        start(d)
        yield d
    finally:
        for server in d.replicas:
            server.stop()


def test_a_batch_cut_by_kill_9_is_stored_whole_or_not_at_all(
    deployment: Deployment, tmp_path: Path
) -> None:
    d = deployment
    rng = random.Random(f"{SEED}:{d.url.partition(':')[0]}")  # its own moments per backend
    officer = d.token("privacy_officer")
    earliest = get(d, 0, "/v1/audit/checkpoint", officer).text

    # A batch nobody interrupts: stored whole, and how long it writes sets the kill moments.
    answer, writing = send_while_watching(d, batch(0), kill_after=None)
    assert answer is not None, "the server went away during a batch nobody interrupted"
    assert answer.status_code == 200, explain(d, [answer])
    assert answer.json()["summary"]["created"] == BATCH
    counts = {0: stored(d, 0)}
    assert counts[0] == BATCH

    runs: list[str] = []
    for run in range(1, KILLS + 1):
        # Run k is killed at a random moment in the k-th of KILLS equal parts of the first
        # three quarters of the write: early, midway and late, the first well before the
        # commit even when this server writes faster than the one measured.
        delay = rng.uniform(run - 1, run) / KILLS * 0.75 * writing
        answer, _ = send_while_watching(d, batch(run), kill_after=delay)
        start(d)
        counts[run] = stored(d, run)
        runs.append(
            f"run {run}: killed {delay:.3f} s into a write of ~{writing:.3f} s, "
            f"{'answered' if answer is not None else 'not answered'}, "
            f"{counts[run]} of {BATCH} signals stored"
        )
        assert counts[run] in (0, BATCH), "a batch cut in half by kill -9:\n" + "\n".join(runs)
        if answer is not None:
            assert answer.status_code == 200, explain(d, [answer])
            assert counts[run] == BATCH, "answered but not stored:\n" + "\n".join(runs)
    # Some kill came before the commit, or this run proved nothing about a cut batch.
    assert 0 in counts.values(), "every kill came after the commit:\n" + "\n".join(runs)

    # The client sends again what it got no answer for: each batch all one way or the other.
    housing = d.token("housing_corporation")
    everything = [item for run in counts for item in batch(run)["signals"]]
    again = post(d, 0, "/v1/signals/batch", housing, {"signals": everything})
    assert again.status_code == 200, explain(d, [again])
    results = again.json()["results"]
    for run, count in counts.items():
        outcomes = Counter(r["outcome"] for r in results[run * BATCH : (run + 1) * BATCH])
        assert outcomes == {"duplicate" if count else "created": BATCH}, (run, outcomes, runs)
    assert_no_duplicate_signals(d)

    # The count can tell a cut batch: one of which only half arrived is counted as half.
    half = batch(KILLS + 1)["signals"][: BATCH // 2]
    assert post(d, 0, "/v1/signals/batch", housing, {"signals": half}).status_code == 200
    assert stored(d, KILLS + 1) == BATCH // 2

    # Every stored signal has its routing decision in the log, and the log verifies.
    signals, routed = d.query(ROUTED)[0]
    assert signals == routed == (KILLS + 1) * BATCH + BATCH // 2
    assert_audit_log_contiguous(d)
    assert_export_verifies(d, officer, earliest, tmp_path)


def batch(run: int) -> dict[str, Any]:
    """The batch of one run: its own external_refs ``BENCH-CRASH<run>-<n>``, the same each time."""
    return {"signals": signal_bodies(BATCH, f"CRASH{run}", seed=run)}


def stored(d: Deployment, run: int) -> int:
    """How many of the batch's signals the database holds, found by their external_refs."""
    refs = tuple(item["external_ref"] for item in batch(run)["signals"])
    placeholders = ", ".join(["%s"] * len(refs))
    ((count,),) = d.query(
        f"SELECT count(*) FROM signals WHERE external_ref IN ({placeholders})", refs
    )
    return int(count)


def start(d: Deployment) -> None:
    """Start a server (again) on the deployment's database; each start logs to its own file."""
    n = len(list(d.data_dir.glob("server-*.log")))
    server = Server(
        name=f"server-{n}",
        command=[*exchange_command(), "serve"],
        env=replica_env(d.url, d.data_dir, application_name=APPLICATION),
        log_path=d.data_dir / f"server-{n}.log",
        ready_path="/readyz",
    )
    d.replicas[:] = [server.start()]


def send_while_watching(
    d: Deployment, body: dict[str, Any], kill_after: float | None
) -> tuple[httpx.Response | None, float]:
    """Send a batch; once the server writes it, kill the server ``kill_after`` seconds later.

    Returns the answer (None when the kill cut the connection first) and how long the server
    wrote before it answered (or was killed).
    """
    server = d.replicas[0]
    assert server.process is not None
    housing = d.token("housing_corporation")
    with ThreadPoolExecutor(1) as pool, write_probe(d) as writing:
        answer = pool.submit(post, d, 0, "/v1/signals/batch", housing, body)
        while not answer.done() and not writing():
            time.sleep(0.002)
        began = time.monotonic()
        if kill_after is not None:
            time.sleep(kill_after)
            # The whole process group, as a container runtime's kill does.
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
        try:
            response: httpx.Response | None = answer.result()
        except httpx.TransportError:
            response = None
        return response, time.monotonic() - began


@contextmanager
def write_probe(d: Deployment) -> Iterator[Callable[[], bool]]:
    """Whether the server is writing right now, seen from beside it.

    PostgreSQL: a session of the server's application_name has a transaction ID, which a
    transaction gets at its first write. SQLite: the writer lock is taken (the broker's
    transactions begin IMMEDIATE); the probe, when it gets the lock, lets go at once.
    """
    path = sqlite_file(d.url)
    if path is not None:
        with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as lite:
            yield lambda: _sqlite_locked(lite)
        return
    with psycopg.connect(d.url, autocommit=True) as connection:
        yield lambda: _postgres_writing(connection)


def _sqlite_locked(connection: sqlite3.Connection) -> bool:
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:  # database is locked
        return True
    connection.execute("ROLLBACK")
    return False


def _postgres_writing(connection: psycopg.Connection[Any]) -> bool:
    # Autocommit: each query its own transaction, so pg_stat_activity is read afresh.
    ((writing,),) = connection.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = %s AND backend_xid IS NOT NULL",
        (APPLICATION,),
    ).fetchall()
    return bool(writing)
