"""A separate process that appends to the audit log: used by the concurrency test.

python -m tests.audit_writer DATABASE_URL KEYS_DIR WRITER_NO TRANSACTIONS PER_TRANSACTION
"""

from __future__ import annotations

import sys
from pathlib import Path

from exchange import clock
from exchange.auditlog.service import AuditRecord
from exchange.broker import audit_trail
from exchange.config import Settings
from exchange.db import make_engine, make_session_factory, unit_of_work
from exchange.vault.keyring import FileKeySource, Keyring


def main() -> None:
    url, keys, writer, transactions, per = sys.argv[1:6]
    settings = Settings(database_url=url, keys_dir=Path(keys), issuer="https://broker.test")
    trail = audit_trail(settings, Keyring.load(FileKeySource(Path(keys))))
    engine = make_engine(url, pool=False)
    sessions = make_session_factory(engine)
    for number in range(int(transactions)):
        for session in unit_of_work(sessions):
            trail.append(
                session,
                [
                    AuditRecord(
                        action="test.append",
                        decision="recorded",
                        actor_org=None,
                        resources={"writer": writer, "transaction": str(number), "item": str(i)},
                    )
                    for i in range(int(per))
                ],
                clock.now(),
            )
    engine.dispose()


if __name__ == "__main__":
    main()
