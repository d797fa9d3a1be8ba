"""Operations: liveness, readiness and Prometheus metrics for a broker replica, and backups.

Nothing here is under ``/v1``: a load balancer, an orchestrator and a metrics scraper call
these paths without a token, so none of them may reveal anything about a person.
"""

from __future__ import annotations

from fastapi import FastAPI

from exchange.broker import Broker
from exchange.ops import health, metrics


def install(app: FastAPI, broker: Broker) -> None:
    """Mount ``/healthz``, ``/readyz`` and ``/metrics`` and count every request."""
    app.include_router(health.router)
    metrics.install(app, broker)
