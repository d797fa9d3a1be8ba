"""Concurrent single signals share transactions, and each still gets its own answer."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from exchange.signals.models import Signal
from tests.conftest import ISSUER
from tests.factories import signal_body


def test_signals_sent_at_once_go_through_shared_transactions_with_their_own_answers(
    client: TestClient,
    provider: dict[str, str],
    db_session: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app: Any = client.app
    coalescer = app.state.intake
    sizes: list[int] = []
    original = coalescer._transaction

    def recording(taken: list[Any]) -> list[Any]:
        sizes.append(len(taken))
        return original(taken)  # type: ignore[no-any-return]

    monkeypatch.setattr(coalescer, "_transaction", recording)
    repeated = signal_body()
    bodies = [signal_body() for _ in range(20)]
    bodies += [repeated, repeated, {**repeated, "amount_cents": 1}]
    bodies += [signal_body(preconditions={"subject_refused": True})]
    bodies += [signal_body(address={"postcode": "9999ZZ"})]

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
            return await asyncio.gather(
                *(http.post("/v1/signals", json=body, headers=provider) for body in bodies)
            )

    responses = asyncio.run(send_all())
    statuses = [r.status_code for r in responses]
    assert statuses[:20] == [201] * 20
    # The same signal twice and once with other content: whichever reaches the coalescer
    # first is stored, and that is not always the first sent (on PostgreSQL the guard's first
    # look-ups of the provider run side by side in the thread pool and end in any order).
    if statuses[22] == 201:
        assert statuses[20:22] == [409, 409]
    else:
        assert sorted(statuses[20:22]) == [200, 201]
        assert statuses[22] == 409
    assert statuses[23:] == [422, 422]
    assert responses[23].json()["type"].endswith("/subject-refused")
    assert responses[24].json()["type"].endswith("/no-covering-municipality")
    assert len({r.json()["id"] for r in responses[:20]}) == 20
    assert max(sizes) > 1  # some requests really did share a transaction
    with db_session() as session:
        assert session.scalar(select(func.count()).select_from(Signal)) == 21
