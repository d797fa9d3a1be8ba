"""The GDPR art. 15 access report for one person with many disclosures, on a long log.

Run: ``.venv/bin/python -m bench.access_report [--entries 1000000] [--person 1000]
[--database-url URL]``. A fresh database (as in ``bench.audit_store``) gets ``--entries``
entries about random pseudonyms, and among them ``--person`` entries about one person known
by BSN and by name and birth date (two linked subject rows, as intake links them): half
under each identifier's pseudonym, as a person signalled by a housing corporation (with BSN)
and an energy supplier (without) has. Then the report is made ``--samples`` times as
``POST /v1/audit/access-report`` makes it (``rights.report.in_log`` and
``rights.report.access_report``, from the checkpoint at the log's head), asked by name
alone. Reported: the median server time;
and, as the baseline measured in the same run, reading the same number of entries by their
leaf indexes (a range read of the primary key, no person looked up), with the ratio. It
reports; nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from bench.audit_store import _database, fresh_trail
from exchange.auditlog.models import AuditEntry
from exchange.auditlog.service import AuditRecord
from exchange.db import make_engine, make_session_factory, unit_of_work
from exchange.identity.models import Subject
from exchange.identity.pseudonyms import identifiers
from exchange.identity.schemas import Person
from exchange.organisations.models import Organisation
from exchange.rights import report
from exchange.vault.keyring import FileKeySource, Keyring
from policies.engine import load_register

PERSON = {"bsn": "111222333", "initials": "B.", "surname": "Bankma", "birth_date": "1980-02-03"}
MIX = [
    ("signal.route", "permit", "early-signal", 30),
    ("case.read", "permit", "early-signal", 60),
    ("case.assign", "permit", "debt-assistance", 5),
    ("case.read", "deny", "debt-assistance", 5),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--person", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--database-url", help="a PostgreSQL server (postgresql://host/db)")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-report-") as directory,
        _database(args.database_url, Path(directory)) as url,
    ):
        root = Path(directory)
        trail = fresh_trail(url, root)
        keyring = Keyring.load(FileKeySource(root / "keys"))
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        rng = random.Random(11)
        organisations = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(20)]
        given = identifiers(keyring.pseudonym_keys, Person.model_validate(PERSON))
        person_id = uuid.uuid4()
        for session in unit_of_work(sessions):
            session.add_all(
                Organisation(
                    id=o, kind="municipality", name=f"Gemeente {i}", gemeentecode=f"{i + 1:04d}"
                )
                for i, o in enumerate(organisations)
            )
            session.add_all(
                Subject(
                    id=uuid.uuid4(),
                    pseudonym=pseudonym,
                    pseudonym_key_id=keyring.pseudonym.active_id,
                    person_id=person_id,
                    kind=kind,
                )
                for pseudonym, kind in given.current.items()
            )
        theirs = [given.bsn[-1], given.name[-1]]
        # Where the person's entries fall: spread over the whole log.
        about_them = set(rng.sample(range(args.entries), args.person))
        kinds = [m[:3] for m in MIX]
        weights = [m[3] for m in MIX]
        started = time.perf_counter()
        for offset in range(0, args.entries, args.batch):
            records = []
            for index in range(offset, min(offset + args.batch, args.entries)):
                action, decision, purpose = rng.choices(kinds, weights)[0]
                subject = (
                    theirs[index % 2] if index in about_them else f"{rng.getrandbits(256):064x}"
                )
                records.append(
                    AuditRecord(
                        action=action,
                        decision=decision,
                        actor_org=rng.choice(organisations),
                        purpose=purpose,
                        legal_basis=("eu-gdpr:A6-1-e",),
                        recipient_org=rng.choice(organisations),
                        subject=subject,
                        resources={"case": str(uuid.UUID(int=rng.getrandbits(128)))},
                    )
                )
            for session in unit_of_work(sessions):
                trail.append(session, records, dt.datetime.now(dt.UTC))
        print(
            f"log on {url.split(':', 1)[0]}: {args.entries:,} entries, {args.person:,} about "
            f"one person, written in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        if url.startswith("postgresql"):
            with engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")  # as autovacuum would have by now
                connection.commit()
        register = load_register()
        asked = Person.model_validate({k: v for k, v in PERSON.items() if k != "bsn"})
        with sessions() as session:
            made: list[int] = []

            def access_report() -> None:
                # As the routes make it: whom, the checkpoint at the head, the report.
                _, answer = report.report_for(
                    session, keyring, trail, register, asked, dt.datetime.now(dt.UTC)
                )
                made.append(len(answer.disclosures) + answer.refusals)

            first = args.entries // 3

            def baseline() -> None:
                session.execute(
                    select(AuditEntry.entry).where(
                        AuditEntry.leaf_index >= first, AuditEntry.leaf_index < first + args.person
                    )
                ).all()

            report_ms = _median_ms(access_report, args.samples)
            base_ms = _median_ms(baseline, args.samples)
        print(f"\naccess report by name, median of {args.samples} (ms):")
        print(f"  {'what':44} {'ms':>8} {'× base':>7}")
        print(f"  {'read ' + str(args.person) + ' entries by leaf index (baseline)':44} "
              f"{base_ms:8.2f} {1.0:7.2f}")  # fmt: skip
        print(f"  {'access report (' + str(made[-1]) + ' entries found)':44} "
              f"{report_ms:8.2f} {report_ms / base_ms:7.2f}")  # fmt: skip
        engine.dispose()


def _median_ms(run: Callable[[], None], samples: int) -> float:
    run()  # warm the caches and the statement cache
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    main()
