"""Periodic jobs of a running server: webhook deliveries, deadline escalations and the
retention purge; and, on SQLite, the log checkpoints (``exchange.db.WalCheckpointer``).

Each job runs in the thread pool (its database and HTTP work is synchronous) on its own
interval; a failed run is logged and the next run tries again, so a database restart does
not stop the loop. Several broker processes may run the same jobs: webhook claims use
SKIP LOCKED, escalations are unique per case and deadline, and the purge locks the
households it removes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from exchange import clock
from exchange.broker import Broker
from exchange.cases.service import escalate_overdue
from exchange.db import unit_of_work
from exchange.retention.purge import purge
from exchange.webhooks.dispatcher import deliver_due

log = structlog.get_logger("exchange.background")


def escalate(broker: Broker) -> int:
    """One escalation sweep in its own transaction."""
    escalated = 0
    for session in unit_of_work(broker.sessions):
        escalated = escalate_overdue(session, broker.audit, clock.today(), clock.now())
    if escalated:
        log.info("case.escalations_recorded", count=escalated)
    return escalated


def purge_expired(broker: Broker) -> int:
    """One retention purge in its own transaction; returns the households removed."""
    removed = 0
    for session in unit_of_work(broker.sessions):
        report = purge(
            session,
            broker.policies.active(session).register,
            broker.audit,
            clock.today(),
            clock.now(),
        )
        removed = len(report.households)
    if removed:
        log.info("retention.purged", households=removed)
    return removed


def jobs(broker: Broker) -> list[tuple[str, float, Callable[[Broker], Any]]]:
    settings = broker.settings
    return [
        ("webhooks", settings.webhook_interval_seconds, deliver_due),
        ("escalations", settings.escalation_interval_seconds, escalate),
        ("purge", settings.purge_interval_seconds, purge_expired),
    ]


def lifespan(broker: Broker) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A FastAPI lifespan that runs each job with an interval above zero."""

    @asynccontextmanager
    async def run(_app: FastAPI) -> AsyncIterator[None]:
        if broker.checkpointer is not None:
            broker.checkpointer.start()
        tasks = [
            asyncio.create_task(_every(name, interval, job, broker))
            for name, interval, job in jobs(broker)
            if interval > 0
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if broker.checkpointer is not None:
                await run_in_threadpool(broker.checkpointer.stop)

    return run


async def _every(name: str, interval: float, job: Callable[[Broker], Any], broker: Broker) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await run_in_threadpool(job, broker)
        except Exception as error:
            log.error("background.job_failed", job=name, error=type(error).__name__)
