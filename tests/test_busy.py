"""A replica whose database connections are all in use answers 503 with Retry-After.

Load is not a fault: a request that waited the whole pool timeout for a connection gets an
RFC 9457 problem a client may send again after ``Retry-After``, never a 500. The pool is
really exhausted here (its only connection held open), on a real database.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.pool import QueuePool

from exchange.api.app import create_app
from exchange.broker import Broker
from exchange.db import make_session_factory
from exchange.http.problems import BUSY_RETRY_AFTER
from tests.conftest import ISSUER


def test_a_request_finding_no_free_connection_is_told_to_send_again(
    broker: Broker, token_for: Callable[[str], dict[str, str]]
) -> None:
    headers = token_for("municipality")
    url = broker.settings.resolved_database_url
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    one = create_engine(url, poolclass=QueuePool, pool_size=1, max_overflow=0, pool_timeout=0.2)
    busy = dataclasses.replace(broker, engine=one, sessions=make_session_factory(one))
    try:
        with TestClient(create_app(broker=busy), base_url=ISSUER) as client:
            with one.connect() as held:  # the pool's only connection, in use
                held.execute(text("SELECT 1"))
                response = client.get("/v1/cases", headers=headers)
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == str(BUSY_RETRY_AFTER)
            assert response.headers["Content-Type"] == "application/problem+json"
            assert response.headers["X-Request-ID"]
            problem = response.json()
            assert problem["status"] == 503
            assert problem["type"].endswith("/busy")
            assert problem["instance"] == "/v1/cases"
            # With the connection free again, the same request is answered.
            assert client.get("/v1/cases", headers=headers).status_code == 200
    finally:
        one.dispose()
