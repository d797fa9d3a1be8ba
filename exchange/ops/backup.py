"""Backups of the PostgreSQL database with ``pg_dump``, restores with ``pg_restore``, and the
check that a restored audit log is the log it claims to be.

A backup first signs a checkpoint of the audit log (and records the backup in the log), then
dumps the database; the checkpoint is written beside the dump. A restore is trusted only
when the restored log verifies from its leaves and extends that checkpoint and every newer
checkpoint an auditor kept: restoring an older state than a kept checkpoint shows as a
log that is shorter than, or forks from, what was signed before (``rolled-back`` or
``inconsistent``), which is how a lost stretch of the log cannot pass unnoticed.

The dump holds identity fields only as ciphertext, but pseudonyms and the audit log in
the clear: it is written readable by its owner only, and the keys are backed up apart
from it (deploy/README.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

from audit.verify import VerificationReport, verify_export
from exchange import clock
from exchange.auditlog.service import AuditRecord, AuditTrail
from exchange.db import make_engine, make_session_factory, unit_of_work

CHECKPOINT_SUFFIX = ".checkpoint"
# libpq reads these; the password goes through the environment, never the command line,
# where every user of the machine can read it in the process list.
_LIBPQ = {
    "host": "PGHOST",
    "port": "PGPORT",
    "username": "PGUSER",
    "password": "PGPASSWORD",
    "database": "PGDATABASE",
}
_LIBPQ_QUERY = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "options": "PGOPTIONS"}


class BackupError(RuntimeError):
    """A backup or restore that could not be done; the message says why."""


@dataclass(frozen=True)
class Backup:
    dump: Path
    checkpoint: Path
    tree_size: int


def backup(database_url: str, trail: AuditTrail, output: Path) -> Backup:
    """Sign a checkpoint, record the backup in the audit log, then ``pg_dump`` to ``output``."""
    environment = libpq_environment(database_url)
    program = _program("pg_dump")
    engine = make_engine(database_url, pool=False)
    try:
        for session in unit_of_work(make_session_factory(engine)):
            now = clock.now()
            trail.append(
                session,
                [
                    AuditRecord(
                        action="database.backup",
                        decision="recorded",
                        actor_org=None,
                        actor_client="exchange-cli",
                        resources={"dump": output.name},
                    )
                ],
                now,
            )
            checkpoint = trail.checkpoint(session, now)
            note, tree_size = checkpoint.note, checkpoint.tree_size
    finally:
        engine.dispose()
    _create_private(output)
    _run(
        [program, "--format=custom", "--no-owner", "--no-privileges", f"--file={output}"],
        environment,
    )
    kept = output.with_name(output.name + CHECKPOINT_SUFFIX)
    kept.write_text(note)
    return Backup(dump=output, checkpoint=kept, tree_size=tree_size)


def restore(database_url: str, dump: Path) -> None:
    """Replace the database's contents by the dump's, in one transaction (all or nothing)."""
    if not dump.is_file():
        raise BackupError(f"{dump}: no such dump")
    environment = libpq_environment(database_url)
    if "PGDATABASE" not in environment:
        raise BackupError("the database URL names no database to restore into")
    _run(
        [
            _program("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={environment['PGDATABASE']}",
            str(dump),
        ],
        environment,
    )


def verify_restored(
    database_url: str, trail: AuditTrail, kept_checkpoints: Sequence[str]
) -> list[VerificationReport]:
    """Verify the database's audit log from its leaves against each checkpoint kept earlier.

    The log's newest state is signed first (a restored log may hold entries past its last
    checkpoint), which appends nothing. One report per kept checkpoint, in order.
    """
    engine = make_engine(database_url, pool=False)
    sessions = make_session_factory(engine)
    try:
        for session in unit_of_work(sessions):
            final = trail.checkpoint(session, clock.now())
        reports = []
        for kept in kept_checkpoints:
            with sessions() as reading:
                lines: Iterator[bytes] = trail.export_lines(reading, final)
                reports.append(verify_export(lines, trail.verifier_key(), earlier_checkpoint=kept))
        return reports
    finally:
        engine.dispose()


def libpq_environment(database_url: str) -> dict[str, str]:
    """The database URL as libpq environment variables, added to this process's own."""
    url = make_url(database_url)
    if not url.drivername.startswith("postgresql"):
        raise BackupError(
            "exchange backup and restore are for PostgreSQL; back up a SQLite file with "
            "sqlite3's .backup command while the broker is stopped"
        )
    environment = dict(os.environ)
    for attribute, name in _LIBPQ.items():
        value = getattr(url, attribute)
        if value is not None:
            environment[name] = str(value)
    for key, name in _LIBPQ_QUERY.items():
        value = url.query.get(key)
        if isinstance(value, str):
            environment[name] = value
    return environment


def _program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed (Debian: postgresql-client)")
    return found


def _run(command: list[str], environment: dict[str, str]) -> None:
    result = subprocess.run(  # noqa: S603 - a fixed program with arguments we built
        command, env=environment, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {result.stderr.strip()}")


def _create_private(path: Path) -> None:
    """Create (or empty) the file readable and writable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    path.chmod(0o600)
