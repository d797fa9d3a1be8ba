"""An append numbers its entries from the head row as it is now, never from a copy an earlier
read in the same transaction left behind.

On PostgreSQL two transactions (two requests, or two replicas) append at the same time; one
that read the checkpoint first (as ``GET /v1/audit/checkpoint`` does before it records the
read) must still see the other's committed append once it holds the head row's lock.
Otherwise its entries would reuse the other's leaf indexes and the request would fail.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from exchange import clock
from exchange.auditlog.models import AuditEntry
from exchange.auditlog.service import AuditRecord
from exchange.broker import Broker
from tests.conftest import Database


def _record(action: str) -> AuditRecord:
    return AuditRecord(action=action, decision="recorded", actor_org=None, actor_client="test")


def test_an_append_after_a_read_sees_what_another_transaction_appended(
    broker: Broker, database: Database
) -> None:
    if database.backend != "postgresql":
        pytest.skip("SQLite has one writer: the other transaction could not append meanwhile")
    trail, now = broker.audit, clock.now()
    with broker.sessions() as first:
        with first.begin():
            trail.append(first, [_record("setup")], now)
        first.begin()
        checkpoint = trail.checkpoint(first, now)  # reads the head row, size 1
        assert checkpoint.tree_size == 1
        with broker.sessions() as other, other.begin():
            assert trail.write(other, [_record("other"), _record("other")], now) == [1, 2]
        assert trail.write(first, [_record("first")], now) == [3]
        first.commit()
    with broker.sessions() as session:
        count = session.scalar(select(func.count()).select_from(AuditEntry))
        assert count == 4
        assert trail.tree_size(session) == 4
