"""Concurrent writers: idempotency and household linking hold when requests race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from exchange.cases.models import Case
from exchange.identity.models import Household
from exchange.signals.models import Signal
from tests.conftest import ISSUER
from tests.factories import signal_body

RACERS = 6


def race(app: FastAPI, calls: list[Callable[[TestClient], Any]]) -> list[Any]:
    """Run the calls at once, each on its own client thread, released by one barrier."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def runner(position: int) -> None:
        with TestClient(app, base_url=ISSUER) as own_client:
            barrier.wait(timeout=30)
            results[position] = calls[position](own_client)

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_the_same_signal_sent_at_once_is_stored_once(
    client: TestClient, provider: dict[str, str], db_session: Any
) -> None:
    body = signal_body()
    responses = race(
        client.app,  # type: ignore[arg-type]
        [lambda c: c.post("/v1/signals", json=body, headers=provider)] * RACERS,
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * (RACERS - 1) + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    with db_session() as session:
        assert session.scalar(select(func.count()).select_from(Signal)) == 1


def test_signals_for_one_new_household_sent_at_once_share_one_case(
    client: TestClient, provider: dict[str, str], db_session: Any
) -> None:
    address = {"postcode": "3020AB", "house_number": "5"}
    bodies = [signal_body(address=address) for _ in range(RACERS)]
    responses = race(
        client.app,  # type: ignore[arg-type]
        [
            (lambda body: lambda c: c.post("/v1/signals", json=body, headers=provider))(b)
            for b in bodies
        ],
    )
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    assert len({r.json()["case_id"] for r in responses}) == 1
    with db_session() as session:
        assert session.scalar(select(func.count()).select_from(Household)) == 1
        assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_cases_opened_at_once_get_distinct_numbers_in_one_unbroken_run(
    client: TestClient, provider: dict[str, str], db_session: Any
) -> None:
    """Case numbers are what people say on the phone: two intakes opening cases at the same
    moment never give out one number twice, and leave no gap in the municipality's run."""
    batches = [
        [
            signal_body(address={"postcode": f"30{racer}{n}AB", "house_number": str(n + 1)})
            for n in range(5)
        ]
        for racer in range(RACERS)
    ]
    responses = race(
        client.app,  # type: ignore[arg-type]
        [
            (
                lambda c, batch=batch: c.post(
                    "/v1/signals/batch", json={"signals": batch}, headers=provider
                )
            )
            for batch in batches
        ],
    )
    assert all(r.status_code in (200, 201, 207) for r in responses), [r.text for r in responses]
    with db_session() as session:
        numbers = sorted(session.scalars(select(Case.number)))
    assert len(numbers) == RACERS * 5
    assert len(set(numbers)) == len(numbers)
    running = sorted(int(number.rsplit("-", 1)[1]) for number in numbers)
    assert running == list(range(1, len(numbers) + 1))
    assert {number[:4] for number in numbers} == {"0599"}
