"""The audit log as the broker stores it: appends, proofs and the access report.

Run: ``.venv/bin/python -m bench.audit_store [--entries 1000000] [--database-url URL]``. A
fresh database, migrated as ``exchange init`` does (SQLite under a temporary directory, or
with ``--database-url postgresql://host/db`` a new database created on that server and
dropped afterwards), gets the entries in transactions of ``--batch`` (one subject per
``--per-subject`` entries, as a log of intake decisions would hold them). With
``--organisations N`` every entry names an actor and a recipient out of N organisations (as
the broker's own entries do, so the foreign keys on both are checked on every row); without,
entries name none, as in the earlier measurements. The process runs
with the garbage-collector settings of ``exchange serve``, where the broker appends. Reported:
the median rate per transaction over the whole run and over the last tenth (the log at its
largest), and the slowest tenth's median; and the process's CPU time per transaction (user
and system, so the writes too; the database server's own, on PostgreSQL, is not in it), which
other work on a shared machine disturbs far less than the wall-clock rates. Then, at the full
size: inclusion and consistency proofs through ``AuditTrail`` (median of ``--samples``,
reading the stored nodes), and the GDPR access report for one person (median). It reports;
nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from exchange.auditlog.service import AuditRecord, AuditTrail
from exchange.broker import audit_trail
from exchange.config import Settings
from exchange.db import (
    WalCheckpointer,
    make_engine,
    make_session_factory,
    migrate,
    sqlite_file,
    unit_of_work,
)
from exchange.identity.pseudonyms import Identifiers
from exchange.identity.service import Identified
from exchange.organisations.models import Organisation
from exchange.rights.report import access_report, log_checkpoint
from exchange.vault.keyring import FileKeySource, Keyring, ensure_keys
from policies.engine import load_register


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--per-subject", type=int, default=100)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument(
        "--organisations",
        type=int,
        default=0,
        help="actors and recipients to name in the entries (default: none)",
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server to run on (postgresql://host/db); default: SQLite",
    )
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="bench-audit-") as directory,
        _database(args.database_url, Path(directory)) as url,
    ):
        trail = fresh_trail(url, Path(directory))
        # As `exchange serve` runs on SQLite: the log is checkpointed from a thread of its own
        # (exchange.db.WalCheckpointer); its CPU time counts in the figures below.
        database = sqlite_file(url)
        engine = make_engine(url, background_checkpoints=database is not None)
        checkpointer = WalCheckpointer(database).start() if database is not None else None
        sessions = make_session_factory(engine)
        subjects = [
            hashlib.sha256(f"subject-{i}".encode()).hexdigest()
            for i in range(max(1, args.entries // args.per_subject))
        ]
        rng = random.Random(1)
        organisations: list[uuid.UUID] = []
        if args.organisations:
            organisations = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(args.organisations)]
            for session in unit_of_work(sessions):
                session.add_all(
                    Organisation(id=o, kind="other_creditor", name=f"bench {i}")
                    for i, o in enumerate(organisations)
                )
        # As `exchange serve` sets them before serving (exchange/cli.py): the broker appends
        # in that process. With the defaults, full collections over the bench's own records
        # took a third of each transaction.
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)

        rates, cpu = [], []
        started = time.perf_counter()
        for offset in range(0, args.entries, args.batch):
            size = min(args.batch, args.entries - offset)
            records = [
                AuditRecord(
                    action="signal.route",
                    decision="permit",
                    # Without organisations the draws below are the earlier runs' draws.
                    actor_org=rng.choice(organisations) if organisations else None,
                    purpose="early-signal",
                    legal_basis=("eu-gdpr:A6-1-c", "eu-gdpr:A6-1-e"),
                    policy_version="sha256:" + "0" * 64,
                    rule_id="municipality.early-signal.receive",
                    fields=("person.bsn", "person.surname", "address.postcode"),
                    categories=("identifier", "name", "address"),
                    recipient_org=rng.choice(organisations) if organisations else None,
                    subject=rng.choice(subjects),
                    resources={"signal": str(uuid.uuid4())},
                )
                for _ in range(size)
            ]
            batch_start, cpu_start = time.perf_counter(), time.process_time()
            for session in unit_of_work(sessions):
                trail.append(session, records, dt.datetime.now(dt.UTC))
            rates.append(size / (time.perf_counter() - batch_start))
            cpu.append(time.process_time() - cpu_start)
        total = time.perf_counter() - started
        tenth = max(1, len(rates) // 10)
        print(
            f"append on {url.split(':', 1)[0]}: {args.entries:,} entries in batches of "
            f"{args.batch:,}: median {statistics.median(rates):,.0f} entries/s per batch; "
            f"last tenth {statistics.median(rates[-tenth:]):,.0f}/s; "
            f"slowest tenth {statistics.median(sorted(rates)[:tenth]):,.0f}/s "
            f"(overall {args.entries / total:,.0f}/s including building the records); "
            f"CPU per transaction: median {statistics.median(cpu) * 1e3:.0f} ms, "
            f"last tenth {statistics.median(cpu[-tenth:]) * 1e3:.0f} ms"
        )

        n = args.entries
        inclusion, consistency = [], []
        with sessions() as session:
            for _ in range(args.samples):
                index = rng.randrange(n)
                t = time.perf_counter()
                trail.inclusion(session, index, n)
                inclusion.append(time.perf_counter() - t)
                first = rng.randrange(1, n)
                t = time.perf_counter()
                trail.consistency(session, first, n)
                consistency.append(time.perf_counter() - t)
        print(
            f"inclusion proof at {n:,}: median {statistics.median(inclusion) * 1e3:.2f} ms, "
            f"max {max(inclusion) * 1e3:.2f} ms"
        )
        print(
            f"consistency proof at {n:,}: median "
            f"{statistics.median(consistency) * 1e3:.2f} ms, "
            f"max {max(consistency) * 1e3:.2f} ms"
        )

        register = load_register()
        reports = []
        with sessions() as session:
            signed = trail.checkpoint(session, dt.datetime.now(dt.UTC))
            for _ in range(min(args.samples, 50)):
                subject = rng.choice(subjects)
                t = time.perf_counter()
                person = Identified(Identifiers(bsn=(subject,)), frozenset(), (subject,), False)
                access_report(
                    session,
                    register,
                    person,
                    person.pseudonyms,
                    log_checkpoint(signed.tree_size, signed.root, signed.note),
                    dt.datetime.now(dt.UTC),
                )
                reports.append(time.perf_counter() - t)
        print(
            f"access report over {n:,} entries (~{args.per_subject} per person): median "
            f"{statistics.median(reports) * 1e3:.1f} ms, max {max(reports) * 1e3:.1f} ms"
        )
        if checkpointer is not None:
            checkpointer.stop()
        engine.dispose()


def fresh_trail(url: str, root: Path) -> AuditTrail:
    """The audit trail of a new broker on the empty database at ``url``: keys under
    ``root``, the schema migrated as ``exchange init`` does."""
    ensure_keys(FileKeySource(root / "keys"))
    migrate(url)
    settings = Settings(
        data_dir=root, database_url=url, keys_dir=root / "keys", audit_checkpoint_every=10_000
    )
    return audit_trail(settings, Keyring.load(FileKeySource(root / "keys")))


@contextmanager
def _database(server: str | None, root: Path) -> Iterator[str]:
    """The URL of a fresh, empty database: SQLite under ``root``, or a new PostgreSQL database
    on ``server`` that is dropped afterwards."""
    if server is None:
        yield f"sqlite:///{root / 'exchange.sqlite3'}"
        return
    name = f"bench_audit_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{server.rpartition('/')[0]}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
