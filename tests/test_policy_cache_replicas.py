"""Replicas that share a data dir load the register in force from its policy cache at once.

Found by tests/test_scale_out.py (a ``GET /v1/cases`` answered 500 once, then a
``POST /v1/signals``): every replica compiles the stored register on its first disclosure,
writing the version's files to ``<data dir>/policy-cache``. Three replicas doing so at the
same moment truncated files another was reading, whose load then failed (``RegisterError:
.../register.yaml:1: None is not of type 'object'``), a 500 for that request.

Here several processes, each with its own ``PolicyStore`` and database connection, ask for
the policy in force at once on one cache dir, many times over; every one must get it.
"""

from __future__ import annotations

import multiprocessing
import shutil
import traceback
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from exchange.broker import Broker
from exchange.db import make_engine, make_session_factory
from exchange.policy.service import PolicyStore, ensure_active

PROCESSES = 3
ATTEMPTS = 20

pytestmark = [pytest.mark.slow]


def _replica(url: str, cache: str, start: Barrier, answer: Connection) -> None:
    try:
        engine = make_engine(url, pool=False)
        store = PolicyStore(Path(cache))
        with make_session_factory(engine)() as session:
            start.wait()
            store.active(session)
        engine.dispose()
        answer.send(None)
    except BaseException:  # reported to the parent, which fails the test
        answer.send(traceback.format_exc())


def test_replicas_loading_the_register_at_once_all_get_it(broker: Broker, tmp_path: Path) -> None:
    if broker.engine.dialect.name != "postgresql":
        # Replicas share a database only on PostgreSQL; on SQLite each transaction takes the
        # one writer lock at its start, which would also keep these processes in line.
        pytest.skip("replicas run on PostgreSQL")
    with broker.sessions() as session:
        ensure_active(session)  # a stored version in force: what replicas materialise
        session.commit()
    url = broker.settings.resolved_database_url
    forked = multiprocessing.get_context("fork")
    failures: list[str] = []
    for attempt in range(ATTEMPTS):
        cache = tmp_path / f"policy-cache-{attempt}"
        start = forked.Barrier(PROCESSES)
        pipes = [forked.Pipe(duplex=False) for _ in range(PROCESSES)]
        processes = [
            forked.Process(target=_replica, args=(url, str(cache), start, sending))
            for _, sending in pipes
        ]
        for process in processes:
            process.start()
        for (receiving, _), process in zip(pipes, processes, strict=True):
            failure = receiving.recv() if receiving.poll(120) else "no answer in 120 s"
            process.join(30)
            if failure is not None:
                failures.append(failure)
        shutil.rmtree(cache, ignore_errors=True)
    assert failures == [], f"{len(failures)} failed loads; the first:\n{failures[0]}"
