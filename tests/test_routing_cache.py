"""Intake keeps the routing table it read, and reads it again the moment the ranges change.

A process reads every PC4 range once, then only the one-row version that every change of
the ranges moves (``exchange.organisations.service.RoutingCache``). Two brokers on one
database stand for two replicas: a municipality registered through one is routed to by the
other's very next signal.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, text

from exchange.broker import Broker
from exchange.cases.models import Case
from exchange.config import Settings
from exchange.db import unit_of_work
from exchange.demo import DemoOrganisation
from exchange.organisations.service import add_organisation
from tests.factories import signal_body

Headers = Callable[[str], dict[str, str]]


@contextmanager
def statements(broker: Broker) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(broker.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(broker.engine, "before_cursor_execute", record)


def _range_reads(seen: list[str]) -> int:
    return sum("FROM postcode_ranges" in statement for statement in seen)


def test_the_ranges_are_read_once_and_then_only_their_version(
    broker: Broker, client: TestClient, provider: dict[str, str]
) -> None:
    with statements(broker) as seen:
        for _ in range(3):
            assert (
                client.post("/v1/signals", json=signal_body(), headers=provider).status_code == 201
            )
    assert _range_reads(seen) == 1
    assert sum("FROM routing_versions" in statement for statement in seen) == 3


def test_a_municipality_registered_at_another_replica_is_routed_to_at_once(
    broker: Broker,
    client: TestClient,
    provider: dict[str, str],
    settings: Settings,
    world: dict[str, DemoOrganisation],
) -> None:
    assert client.post("/v1/signals", json=signal_body(), headers=provider).status_code == 201
    other = Broker.start(settings)  # another replica, on the same database
    try:
        for session in unit_of_work(other.sessions):
            schiedam = add_organisation(
                session,
                kind="municipality",
                name="Schiedam",
                gemeentecode="0606",
                postcodes="3100-3125",
            )
    finally:
        other.engine.dispose()
    body = signal_body(address={"postcode": "3111AB", "house_number": "7"})
    with statements(broker) as seen:
        sent = client.post("/v1/signals", json=body, headers=provider)
    assert sent.status_code == 201, sent.text
    assert _range_reads(seen) == 1  # read again: the version had moved
    with broker.sessions() as session:
        case = session.get(Case, uuid.UUID(sent.json()["case_id"]))
        assert case is not None and case.municipality_id == schiedam.id


def test_without_the_version_row_the_ranges_are_read_every_time(
    broker: Broker, client: TestClient, provider: dict[str, str]
) -> None:
    with broker.engine.begin() as connection:
        connection.execute(text("DELETE FROM routing_versions"))
    with statements(broker) as seen:
        for _ in range(2):
            assert (
                client.post("/v1/signals", json=signal_body(), headers=provider).status_code == 201
            )
    assert _range_reads(seen) == 2
