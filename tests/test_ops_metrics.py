"""Prometheus metrics: requests, signals by outcome and reason, the audit log's figures, and
no personal data in any label."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from exchange.broker import Broker
from exchange.clock import today
from exchange.demo import DemoOrganisation
from exchange.identity.models import Household, Subject
from tests.factories import signal_body

Headers = Callable[[str], dict[str, str]]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def test_signals_are_counted_by_outcome_reason_and_provider_kind(
    client: TestClient, provider: dict[str, str]
) -> None:
    accepted = signal_body()
    assert client.post("/v1/signals", json=accepted, headers=provider).status_code == 201
    assert client.post("/v1/signals", json=accepted, headers=provider).status_code == 200
    too_recent = signal_body(arrears_since=(today() - dt.timedelta(days=3)).isoformat())
    assert client.post("/v1/signals", json=too_recent, headers=provider).status_code == 422
    batch = [signal_body(), signal_body(address={"postcode": "9999ZZ"}), accepted]
    response = client.post("/v1/signals/batch", json={"signals": batch}, headers=provider)
    assert response.json()["summary"] == {"created": 1, "duplicate": 1, "rejected": 1}

    samples = scrape(client)
    kind = {"provider_kind": "housing_corporation"}
    assert value(samples, "exchange_signals_total", outcome="created", reason="none", **kind) == 2
    assert value(samples, "exchange_signals_total", outcome="duplicate", reason="none", **kind) == 2
    rejections = {
        dict(labels)["reason"]: count
        for (name, labels), count in samples.items()
        if name == "exchange_signals_total" and dict(labels)["outcome"] == "rejected"
    }
    assert rejections == {"signal-not-eligible": 1, "no-covering-municipality": 1}


def test_requests_are_counted_by_route_template_not_by_path(
    client: TestClient, provider: dict[str, str]
) -> None:
    signal_id = client.post("/v1/signals", json=signal_body(), headers=provider).json()["id"]
    assert client.get(f"/v1/signals/{signal_id}", headers=provider).status_code == 200
    assert client.get("/no/such/page").status_code == 404

    samples = scrape(client)
    route = "/v1/signals/{signal_id}"
    labels = {"method": "GET", "route": route, "status": "200"}
    assert value(samples, "exchange_http_requests_total", **labels) == 1
    assert value(samples, "exchange_http_request_duration_seconds_count", method="GET", route=route)
    assert value(
        samples, "exchange_http_requests_total", method="GET", route="unmatched", status="404"
    )
    assert all(signal_id not in v for _, labels_ in samples for _, v in labels_)


def test_audit_log_figures_come_from_the_log(
    client: TestClient, provider: dict[str, str], broker: Broker
) -> None:
    batch = [signal_body() for _ in range(5)]
    client.post("/v1/signals/batch", json={"signals": batch}, headers=provider)
    first = scrape(client)
    with broker.sessions() as session:
        size = broker.audit.tree_size(session)
    assert value(first, "exchange_audit_log_entries") == size
    assert value(first, "exchange_metrics_database_up") == 1
    permits = value(
        first, "exchange_audit_decisions_total", action="signal.route", decision="permit"
    )
    assert permits == 5

    # Counted incrementally: the next scrape adds only what was appended since.
    client.post("/v1/signals/batch", json={"signals": [signal_body()]}, headers=provider)
    second = scrape(client)
    assert (
        value(second, "exchange_audit_decisions_total", action="signal.route", decision="permit")
        == 6
    )
    assert value(second, "exchange_audit_unsigned_entries") >= 0


def test_no_label_carries_personal_data_or_an_organisation_id(
    client: TestClient,
    token_for: Headers,
    world: dict[str, DemoOrganisation],
    broker: Broker,
) -> None:
    bodies = [signal_body() for _ in range(4)]
    provider = token_for("housing_corporation")
    client.post("/v1/signals/batch", json={"signals": bodies}, headers=provider)
    client.post("/v1/signals", json=bodies[0], headers=provider)
    client.post(
        "/v1/signals",
        json=signal_body(person={"bsn": "123456789"}),  # fails the 11-check
        headers=provider,
    )
    client.get("/v1/cases", headers=token_for("municipality"))

    exposition = client.get("/metrics").text
    label_values = set(re.findall(r'="([^"]*)"', exposition))
    secrets: set[str] = set()
    for body in bodies:
        secrets |= {body["external_ref"], body["person"]["bsn"], body["person"]["surname"]}
        secrets |= {body["address"]["postcode"], body["contact"]["email"]}
    secrets |= {o.id for o in world.values()} | {o.name for o in world.values()}
    secrets |= {o.client_id for o in world.values()}
    with broker.sessions() as session:
        secrets |= set(session.scalars(select(Subject.pseudonym)))
        secrets |= set(session.scalars(select(Household.pseudonym)))
    secrets.add("123456789")
    leaked = {v for v in label_values for s in secrets if s and s in v}
    assert not leaked
    # Every label value is a word of the code: a route template, a kind, a slug, a number.
    assert all(re.fullmatch(r"[A-Za-z0-9_./{}+\-]*", v) for v in label_values), label_values


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)
