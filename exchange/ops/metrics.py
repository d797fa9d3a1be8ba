"""Prometheus metrics at ``/metrics``, with no personal data in any label.

Label values come only from closed sets the code defines: HTTP methods, route templates
(``/v1/cases/{case_id}``, never the path with its ids), status codes, outcomes, problem
slugs (``signal-not-eligible``), organisation kinds (``housing_corporation``), audit actions
and decisions. No BSN, name, pseudonym, external reference or organisation id: a label is
stored and shown wherever the metrics go, outside the broker's access rules, and an
organisation's id would let anyone with the dashboard follow one provider's volumes.

Two sources:

- this process counts the requests it served and the signals it answered for (counters
  per replica; sum them over replicas);
- the audit log itself gives decisions by outcome, its size and the age of its newest
  checkpoint. Those are read from the shared database at scrape time, so every replica
  reports the same whole-log figures: take ``max`` over replicas, not ``sum``. Decisions
  are counted incrementally (only entries appended since the last scrape are read).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from typing import Any

import orjson
from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exchange import clock
from exchange.auditlog.models import AuditCheckpoint, AuditEntry, AuditHead
from exchange.auditlog.service import HEAD_ID
from exchange.broker import Broker
from exchange.errors import PROBLEM_BASE

SINGLE_INTAKE = "/v1/signals"
BATCH_INTAKE = "/v1/signals/batch"
UNMATCHED = "unmatched"
# Batches of 10,000 take seconds; the default buckets stop at 10 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# A problem slug is a constant of the code (errors.py); anything else is not a label.
_SLUG = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class BrokerMetrics:
    """One registry per application, so that tests building many apps never collide."""

    def __init__(self, broker: Broker) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "exchange_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "exchange_http_request_duration_seconds",
            "Time from receiving a request to the end of its answer, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.signals = Counter(
            "exchange_signals",
            "Early signals answered for: outcome created, duplicate or rejected; the reason "
            "is the problem type of a rejection; the sender's organisation kind.",
            ["outcome", "reason", "provider_kind"],
            registry=self.registry,
        )
        self.registry.register(AuditLogCollector(broker))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def count_signal_answer(self, path: str, status: int, body: bytes, provider_kind: str) -> None:
        """Count the signals of one intake answer, as the provider was told."""
        if path == SINGLE_INTAKE:
            if status == 201:
                self.signals.labels("created", "none", provider_kind).inc()
            elif status == 200:
                self.signals.labels("duplicate", "none", provider_kind).inc()
            elif 400 <= status < 500 and status not in (401, 403, 413):
                self.signals.labels("rejected", _reason(_loads(body)), provider_kind).inc()
            return
        if status != 200:
            return  # the batch as a whole was refused: no signal was answered for
        document = _loads(body)
        results = document.get("results") if isinstance(document, dict) else None
        tally: dict[tuple[str, str], int] = {}
        for item in results if isinstance(results, list) else ():
            outcome = item.get("outcome")
            if outcome not in ("created", "duplicate", "rejected"):
                continue
            reason = _reason(item.get("problem")) if outcome == "rejected" else "none"
            tally[(outcome, reason)] = tally.get((outcome, reason), 0) + 1
        for (outcome, reason), count in tally.items():
            self.signals.labels(outcome, reason, provider_kind).inc(count)


class AuditLogCollector(Collector):
    """Whole-log figures read from the database at scrape time."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._lock = threading.Lock()
        self._counted_to = 0
        self._decisions: dict[tuple[str, str], int] = {}

    def describe(self) -> Iterable[Metric]:
        # Describing must not touch the database (it runs at registration).
        return []

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "exchange_metrics_database_up",
            "1 when the audit log figures below could be read from the database.",
        )
        try:
            with self._lock:
                figures = self._read()
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        tree_size, checkpoint_size, checkpoint_age, decisions = figures
        yield GaugeMetricFamily(
            "exchange_audit_log_entries", "Entries in the audit log (its tree size).", tree_size
        )
        yield GaugeMetricFamily(
            "exchange_audit_unsigned_entries",
            "Entries appended since the newest signed checkpoint.",
            tree_size - checkpoint_size,
        )
        age = GaugeMetricFamily(
            "exchange_audit_checkpoint_age_seconds",
            "Seconds since the newest signed checkpoint of the audit log.",
        )
        if checkpoint_age is not None:
            age.add_metric([], checkpoint_age)
        yield age
        counted = CounterMetricFamily(
            "exchange_audit_decisions",
            "Entries in the audit log by action and decision (permit, deny, recorded).",
            labels=["action", "decision"],
        )
        for (action, decision), count in sorted(decisions.items()):
            counted.add_metric([action, decision], count)
        yield counted

    def _read(self) -> tuple[int, int, float | None, dict[tuple[str, str], int]]:
        with self._broker.sessions() as session:
            tree_size = int(
                session.scalar(select(AuditHead.tree_size).where(AuditHead.id == HEAD_ID)) or 0
            )
            newest = session.execute(
                select(AuditCheckpoint.tree_size, AuditCheckpoint.created_at)
                .order_by(AuditCheckpoint.tree_size.desc(), AuditCheckpoint.created_at.desc())
                .limit(1)
            ).first()
            if tree_size < self._counted_to:
                # The database was restored to an earlier state: count again from the start.
                self._counted_to, self._decisions = 0, {}
            # Appends are numbered under the head row's lock and commit with it, so every
            # entry below the tree size read above has committed: none is missed.
            rows = session.execute(
                select(AuditEntry.action, AuditEntry.decision, func.count())
                .where(
                    AuditEntry.leaf_index >= self._counted_to,
                    AuditEntry.leaf_index < tree_size,
                )
                .group_by(AuditEntry.action, AuditEntry.decision)
            )
            for action, decision, count in rows:
                key = (str(action), str(decision))
                self._decisions[key] = self._decisions.get(key, 0) + int(count)
            self._counted_to = tree_size
        if newest is None:
            return tree_size, 0, None, dict(self._decisions)
        age = (clock.now() - newest.created_at).total_seconds()
        return tree_size, int(newest.tree_size), max(age, 0.0), dict(self._decisions)


class RequestMetrics:
    """Pure ASGI middleware: count and time every request, and the signals answered for."""

    def __init__(self, app: ASGIApp, metrics: BrokerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        intake = method == "POST" and scope["path"] in (SINGLE_INTAKE, BATCH_INTAKE)
        status = 500
        chunks: list[bytes] = []

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif intake and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            template = route_template(scope)
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
            if intake and chunks:
                principal = scope.get("state", {}).get("principal")
                kind = getattr(getattr(principal, "organisation_kind", None), "value", "unknown")
                self.metrics.count_signal_answer(scope["path"], status, b"".join(chunks), str(kind))


def install(app: FastAPI, broker: Broker) -> None:
    """Count every request (outermost middleware) and serve ``/metrics``."""
    metrics = BrokerMetrics(broker)
    app.state.metrics = metrics
    app.add_middleware(RequestMetrics, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def route_template(scope: Scope) -> str:
    """The matched route as a template with the prefixes of the routers that include it.

    Starlette leaves the innermost route in the scope, whose ``path`` is relative to its
    own router (``/signals/{signal_id}`` under ``/v1``). Router prefixes here are constant
    strings, so the prefix is the part of the request path before the route matches.
    """
    route = scope.get("route")
    relative = getattr(route, "path", None)
    pattern = getattr(route, "path_regex", None)
    if not isinstance(relative, str) or pattern is None:
        return UNMATCHED
    path: str = scope["path"]
    for cut in (i for i, char in enumerate(path) if char == "/"):
        if pattern.match(path[cut:]):
            return path[:cut] + relative
    return relative


def _reason(problem: Any) -> str:
    if not isinstance(problem, dict):
        return "unknown"
    kind = problem.get("type")
    if not isinstance(kind, str) or not kind.startswith(PROBLEM_BASE):
        return "unknown"
    slug = kind.removeprefix(PROBLEM_BASE)
    return slug if _SLUG.match(slug) else "unknown"


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
