"""Webhooks to providers: signed by Standard Webhooks, sent to a real HTTP receiver, retried
with backoff, and carrying only what the provider-feedback rule permits.

Signals are sent through the API; the case's feedback is then changed in the database and
announced with ``announce_feedback``, as the case service does in its own transaction.
Time is driven by passing ``now`` to the dispatcher, never by waiting.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
import standardwebhooks
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange import clock
from exchange.api.app import create_app
from exchange.auditlog.models import AuditEntry
from exchange.broker import Broker
from exchange.cases.models import Case
from exchange.config import Settings
from exchange.db import unit_of_work
from exchange.demo import DemoOrganisation
from exchange.webhooks import signing
from exchange.webhooks.dispatcher import BACKOFF, MAX_ATTEMPTS, deliver_due
from exchange.webhooks.models import WebhookDelivery, WebhookSubscription
from exchange.webhooks.service import announce_feedback
from policies.engine import Decision, DecisionRequest, Register
from tests.conftest import ISSUER, Database, broker_settings
from tests.factories import errors_of, problem_of, signal_body

Headers = Callable[[str], dict[str, str]]


# A public address (IANA's, for example.com), for URLs that are registered, never sent to.
PUBLIC_URL = "https://93.184.215.14/hooks"


@pytest.fixture
def settings(database: Database, keys_dir: Path, tmp_path: Path) -> Settings:
    # As in conftest, with plain http allowed: the receiver below listens on 127.0.0.1,
    # which the broker connects to only because it is named as an allowed internal host.
    return broker_settings(
        database,
        keys_dir,
        tmp_path,
        webhook_allow_http=True,
        outbound_allowed_hosts=["127.0.0.1"],
        webhook_interval_seconds=0,
    )


# A real HTTP receiver -------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers ``status``."""

    status: int = 204
    requests: list[Received] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve(Receiver())


def _serve(state: Receiver) -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(state.status)
            if 300 <= state.status < 400:
                self.send_header("location", f"{state.url}/elsewhere")
            self.send_header("content-length", "13")
            self.end_headers()
            self.wfile.write(b"receiver body")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/exchange?token=abc"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _closed_port_url() -> str:
    # Bound and released: nothing listens there, so a connection is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


# Helpers ------------------------------------------------------------------------------------


def _subscribe(client: TestClient, headers: dict[str, str], url: str) -> str:
    response = client.put("/v1/webhook", json={"url": url}, headers=headers)
    assert response.status_code in (200, 201), response.text
    secret: str = response.json()["secret"]
    return secret


def _send_signal(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    body = signal_body(**overrides)
    response = client.post("/v1/signals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return {"body": body, **response.json()}


def _change_feedback(
    broker: Broker,
    case_id: str,
    status: str,
    *,
    now: dt.datetime | None = None,
    register: Any = None,
) -> int:
    """What the case service does: change the case's feedback and announce it, in one go."""
    now = now or clock.now()
    for session in unit_of_work(broker.sessions):
        case = session.get(Case, uuid.UUID(case_id))
        assert case is not None
        case.feedback_status = status
        case.feedback_since = clock.local_date(now)
        session.flush()
        active = register or broker.policies.active(session).register
        queued = announce_feedback(session, broker.audit, active, case, now)
    return queued


def _deliveries(broker: Broker) -> list[WebhookDelivery]:
    with broker.sessions() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)))


def _audit(broker: Broker, action: str) -> list[dict[str, Any]]:
    with broker.sessions() as session:
        entries = session.scalars(
            select(AuditEntry.entry)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.leaf_index)
        )
        return [json.loads(entry) for entry in entries]


# Signing ------------------------------------------------------------------------------------


def test_signature_verifies_with_the_standard_webhooks_library_and_fails_when_altered() -> None:
    secret = signing.new_secret()
    shown = signing.secret_text(secret)
    assert shown.startswith("whsec_")
    assert signing.secret_bytes(shown) == secret
    body = b'{"type":"signal.feedback_changed","feedback":{"status":"in_contact"}}'
    now = clock.now()
    headers = signing.signed_headers(secret, "msg_1", now, body)

    library = standardwebhooks.Webhook(shown)
    assert library.verify(body, headers)["feedback"] == {"status": "in_contact"}
    signing.verify(shown, headers, body, now=now)

    tampered = body.replace(b"in_contact", b"help_accepted")
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        library.verify(tampered, headers)
    with pytest.raises(signing.InvalidSignature):
        signing.verify(shown, headers, tampered, now=now)

    other = signing.secret_text(signing.new_secret())
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(other).verify(body, headers)
    with pytest.raises(signing.InvalidSignature):
        signing.verify(other, headers, body, now=now)

    # A genuine request replayed later than the tolerance is refused as well.
    with pytest.raises(signing.InvalidSignature):
        signing.verify(shown, headers, body, now=now + dt.timedelta(minutes=6))


def test_the_library_signature_is_accepted_by_our_verify() -> None:
    shown = signing.secret_text(signing.new_secret())
    now = clock.now()
    body = b'{"a":1}'
    header = standardwebhooks.Webhook(shown).sign("msg_2", now, body.decode())
    signing.verify(
        shown,
        {
            "Webhook-Id": "msg_2",
            "Webhook-Timestamp": str(int(now.timestamp())),
            "Webhook-Signature": f"v1,bm90IGl0 {header}",  # a rotation: any match counts
        },
        body,
        now=now,
    )


# Delivery -----------------------------------------------------------------------------------


def test_a_feedback_change_reaches_the_provider_signed_and_without_personal_data(
    client: TestClient, broker: Broker, provider: dict[str, str], receiver: Receiver
) -> None:
    secret = _subscribe(client, provider, receiver.url)
    signal = _send_signal(client, provider)

    assert _change_feedback(broker, signal["case_id"], "in_contact") == 1
    report = deliver_due(broker)
    assert (report.delivered, report.retrying, report.failed) == (1, 0, 0)

    [request] = receiver.requests
    assert request.path == "/hooks/exchange?token=abc"
    payload = standardwebhooks.Webhook(secret).verify(request.body, request.headers)
    [delivery] = _deliveries(broker)
    assert request.headers["webhook-id"] == str(delivery.id)
    assert request.headers["content-type"] == "application/json"
    assert set(payload) == {"type", "id", "signal_id", "external_ref", "feedback", "occurred_at"}
    assert payload["type"] == "signal.feedback_changed"
    assert payload["id"] == str(delivery.id)
    assert payload["signal_id"] == signal["id"]
    assert payload["external_ref"] == signal["external_ref"]
    assert payload["feedback"]["status"] == "in_contact"
    assert set(payload["feedback"]) <= {"status", "collection_paused_until"}

    sent = request.body.decode()
    person, address = signal["body"]["person"], signal["body"]["address"]
    for personal in (
        person["bsn"],
        person["surname"],
        person["birth_date"],
        address["postcode"],
        address["street"],
        signal["body"]["contact"]["email"],
        str(signal["body"]["amount_cents"]),
    ):
        assert personal not in sent

    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 204)
    assert delivery.delivered_at is not None and delivery.last_error is None

    listed = client.get("/v1/webhook/deliveries", headers=provider)
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert item["id"] == str(delivery.id)
    assert (item["type"], item["state"], item["attempts"], item["last_status"]) == (
        "signal.feedback_changed",
        "delivered",
        1,
        204,
    )


def test_the_announcement_is_audited_with_purpose_rule_and_pseudonym(
    client: TestClient,
    broker: Broker,
    provider: dict[str, str],
    receiver: Receiver,
    world: dict[str, DemoOrganisation],
) -> None:
    _subscribe(client, provider, receiver.url)
    signal = _send_signal(client, provider)
    _change_feedback(broker, signal["case_id"], "in_contact")

    [entry] = _audit(broker, "signal.feedback_announced")
    [delivery] = _deliveries(broker)
    assert entry["decision"] == "permit"
    assert entry["purpose"] == "provider-feedback"
    assert entry["rule_id"] == "provider.feedback.read"
    assert entry["legal_basis"] == ["eu-gdpr:A6-1-e"]
    assert entry["recipient"] == world["housing_corporation"].id
    assert entry["resources"] == {"signal": signal["id"], "delivery": str(delivery.id)}
    assert "feedback.status" in entry["fields"] and "external_ref" in entry["fields"]
    assert entry["categories"]
    with broker.sessions() as session:
        from exchange.identity.models import Subject
        from exchange.signals.models import Signal

        pseudonym = session.scalar(
            select(Subject.pseudonym)
            .join(Signal, Signal.subject_id == Subject.id)
            .where(Signal.id == uuid.UUID(signal["id"]))
        )
    assert entry["subject"] == pseudonym


def test_the_logs_hold_neither_the_url_nor_the_secret_nor_the_payload(
    client: TestClient,
    broker: Broker,
    provider: dict[str, str],
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    secret = _subscribe(client, provider, receiver.url)
    signal = _send_signal(client, provider)
    _change_feedback(broker, signal["case_id"], "in_contact")
    deliver_due(broker)
    receiver.status = 500
    _change_feedback(broker, signal["case_id"], "help_accepted")
    deliver_due(broker)

    assert len(receiver.requests) == 2
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "webhook.delivered" in logged and "webhook.retry_scheduled" in logged
    for private in ("token=abc", "/hooks/exchange", secret, signal["external_ref"], "in_contact"):
        assert private not in logged


def test_an_error_status_is_retried_with_backoff_then_given_up(
    client: TestClient, broker: Broker, provider: dict[str, str], receiver: Receiver
) -> None:
    receiver.status = 500
    _subscribe(client, provider, receiver.url)
    signal = _send_signal(client, provider)
    _change_feedback(broker, signal["case_id"], "in_contact")

    now = clock.now()
    waits = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = deliver_due(broker, now=now)
        assert report.attempted == 1
        [delivery] = _deliveries(broker)
        assert delivery.attempts == attempt
        assert (delivery.last_status, delivery.last_error) == (500, "HTTP 500")
        if attempt == MAX_ATTEMPTS:
            assert delivery.state == "failed"
            break
        assert delivery.state == "pending"
        wait = delivery.next_attempt_at - now
        waits.append(wait)
        # Not due a moment before its time; due at it.
        assert deliver_due(broker, now=now + wait - dt.timedelta(seconds=1)).attempted == 0
        now += wait

    assert tuple(waits) == BACKOFF
    assert len(receiver.requests) == MAX_ATTEMPTS
    # Every retry is the same message: one webhook-id, one body.
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1
    assert deliver_due(broker, now=now + dt.timedelta(days=30)).attempted == 0
    assert "receiver body" not in str(_deliveries(broker)[0].last_error)


def test_a_refused_connection_is_retried_and_recorded_without_a_status(
    client: TestClient, broker: Broker, provider: dict[str, str]
) -> None:
    _subscribe(client, provider, _closed_port_url())
    signal = _send_signal(client, provider)
    _change_feedback(broker, signal["case_id"], "help_accepted")

    now = clock.now()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = deliver_due(broker, now=now)
        [delivery] = _deliveries(broker)
        assert (delivery.attempts, delivery.last_status) == (attempt, None)
        assert delivery.last_error == "ConnectError"
        if attempt < MAX_ATTEMPTS:
            assert report.retrying == 1
            assert delivery.next_attempt_at == now + BACKOFF[attempt - 1]
            now = delivery.next_attempt_at
    assert report.failed == 1
    assert _deliveries(broker)[0].state == "failed"


def test_a_delivery_another_dispatcher_holds_is_skipped_not_waited_for(
    client: TestClient,
    broker: Broker,
    provider: dict[str, str],
    receiver: Receiver,
    database: Database,
) -> None:
    if database.backend != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite has a single writer")
    _subscribe(client, provider, receiver.url)
    signal = _send_signal(client, provider)
    _change_feedback(broker, signal["case_id"], "in_contact")

    with broker.sessions() as other_dispatcher:
        other_dispatcher.scalars(select(WebhookDelivery).with_for_update()).all()
        assert deliver_due(broker).attempted == 0
        other_dispatcher.rollback()
    assert deliver_due(broker).delivered == 1
    assert len(receiver.requests) == 1


def test_a_redirect_is_not_followed_but_retried(
    client: TestClient, broker: Broker, provider: dict[str, str], receiver: Receiver
) -> None:
    receiver.status = 302
    _subscribe(client, provider, receiver.url)
    signal = _send_signal(client, provider)
    _change_feedback(broker, signal["case_id"], "in_contact")

    assert deliver_due(broker).retrying == 1
    assert [r.path for r in receiver.requests] == ["/hooks/exchange?token=abc"]
    [delivery] = _deliveries(broker)
    assert (delivery.state, delivery.last_status, delivery.last_error) == (
        "pending",
        302,
        "redirect not followed",
    )


def test_a_rotated_secret_signs_the_retries(
    client: TestClient, broker: Broker, provider: dict[str, str], receiver: Receiver
) -> None:
    old = _subscribe(client, provider, receiver.url)
    signal = _send_signal(client, provider)
    _change_feedback(broker, signal["case_id"], "in_contact")
    rotated = client.post("/v1/webhook/secret", headers=provider)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old

    deliver_due(broker)
    [request] = receiver.requests
    standardwebhooks.Webhook(new).verify(request.body, request.headers)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(old).verify(request.body, request.headers)


# Who hears what -----------------------------------------------------------------------------


def test_another_provider_hears_nothing_about_a_signal_it_did_not_send(
    client: TestClient, broker: Broker, token_for: Headers, world: dict[str, DemoOrganisation]
) -> None:
    corporation, energy = token_for("housing_corporation"), token_for("energy_supplier")
    for_corporation, for_energy = Receiver(), Receiver()
    with _both(for_corporation, for_energy):
        _subscribe(client, corporation, for_corporation.url)
        _subscribe(client, energy, for_energy.url)
        signal = _send_signal(client, corporation)

        assert _change_feedback(broker, signal["case_id"], "in_contact") == 1
        deliver_due(broker)

        assert len(for_corporation.requests) == 1
        assert for_energy.requests == []
    [delivery] = _deliveries(broker)
    assert str(delivery.organisation_id) == world["housing_corporation"].id
    assert client.get("/v1/webhook/deliveries", headers=energy).json()["items"] == []


def test_both_providers_of_one_household_hear_about_their_own_signal(
    client: TestClient, broker: Broker, token_for: Headers
) -> None:
    corporation, energy = token_for("housing_corporation"), token_for("energy_supplier")
    for_corporation, for_energy = Receiver(), Receiver()
    with _both(for_corporation, for_energy):
        _subscribe(client, corporation, for_corporation.url)
        _subscribe(client, energy, for_energy.url)
        rent = _send_signal(client, corporation)
        same_household = {**rent["body"], "kind": "energy", "external_ref": "E-1"}
        energy_signal = _send_signal(client, energy, **same_household)
        assert energy_signal["case_id"] == rent["case_id"]

        assert _change_feedback(broker, rent["case_id"], "in_contact") == 2
        deliver_due(broker)

        [to_corporation] = for_corporation.requests
        [to_energy] = for_energy.requests
    assert json.loads(to_corporation.body)["signal_id"] == rent["id"]
    assert json.loads(to_energy.body)["signal_id"] == energy_signal["id"]
    assert json.loads(to_energy.body)["external_ref"] == "E-1"


def test_an_objection_denies_the_announcement_audits_the_deny_and_queues_nothing(
    client: TestClient,
    broker: Broker,
    provider: dict[str, str],
    receiver: Receiver,
    token_for: Headers,
    world: dict[str, DemoOrganisation],
) -> None:
    _subscribe(client, provider, receiver.url)
    signal = _send_signal(client, provider)
    objection = client.post(
        "/v1/objections",
        json={
            "person": {"bsn": signal["body"]["person"]["bsn"]},
            "purposes": ["provider-feedback"],
        },
        headers=token_for("privacy_officer"),
    )
    assert objection.status_code == 201, objection.text

    assert _change_feedback(broker, signal["case_id"], "in_contact") == 0
    assert _deliveries(broker) == []
    [entry] = _audit(broker, "signal.feedback_announced")
    assert entry["decision"] == "deny"
    assert entry["rule_id"] == "provider.feedback.read"
    assert entry["fields"] == []
    assert entry["recipient"] == world["housing_corporation"].id
    assert entry["resources"] == {"signal": signal["id"]}
    assert deliver_due(broker).attempted == 0
    assert receiver.requests == []


class _Narrowed:
    """The active register, with the provider-feedback rule giving fewer fields."""

    def __init__(self, register: Register, fields: frozenset[str]) -> None:
        self._register = register
        self._fields = fields

    def decide(self, request: DecisionRequest) -> Decision:
        decision = self._register.decide(request)
        return dataclasses.replace(decision, fields=decision.fields & self._fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._register, name)


def test_the_payload_holds_only_the_fields_the_rule_lists(
    client: TestClient, broker: Broker, provider: dict[str, str], receiver: Receiver
) -> None:
    _subscribe(client, provider, receiver.url)
    signal = _send_signal(client, provider)
    with broker.sessions() as session:
        register = broker.policies.active(session).register
    narrowed = _Narrowed(register, frozenset({"feedback.status"}))

    assert _change_feedback(broker, signal["case_id"], "help_accepted", register=narrowed) == 1
    [delivery] = _deliveries(broker)
    payload = orjson.loads(delivery.payload)
    assert "external_ref" not in payload
    assert payload["feedback"] == {"status": "help_accepted"}
    [entry] = _audit(broker, "signal.feedback_announced")
    assert entry["fields"] == ["feedback.status"]


def test_a_signal_without_a_subscription_is_not_announced(
    client: TestClient, broker: Broker, provider: dict[str, str]
) -> None:
    signal = _send_signal(client, provider)
    assert _change_feedback(broker, signal["case_id"], "in_contact") == 0
    assert _deliveries(broker) == []
    assert _audit(broker, "signal.feedback_announced") == []


# Subscriptions ------------------------------------------------------------------------------


def test_subscribe_replace_rotate_and_remove(
    client: TestClient, broker: Broker, provider: dict[str, str], receiver: Receiver
) -> None:
    assert problem_of(client.get("/v1/webhook", headers=provider), 404, "not-found")

    created = client.put("/v1/webhook", json={"url": PUBLIC_URL}, headers=provider)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    first = created.json()["secret"]
    assert first.startswith("whsec_") and len(signing.secret_bytes(first)) == 32

    replaced = client.put("/v1/webhook", json={"url": receiver.url}, headers=provider)
    assert replaced.status_code == 200, replaced.text
    second = replaced.json()["secret"]
    assert second != first

    read = client.get("/v1/webhook", headers=provider)
    assert read.status_code == 200
    assert set(read.json()) == {"url", "created_at", "updated_at"}
    assert read.json()["url"] == receiver.url
    assert "whsec_" not in read.text
    assert created.json()["created_at"] == read.json()["created_at"]

    with broker.sessions() as session:
        [stored] = session.scalars(select(WebhookSubscription)).all()
    for secret in (first, second):
        assert signing.secret_bytes(secret) not in stored.wrapped_secret

    rotated = client.post("/v1/webhook/secret", headers=provider)
    assert rotated.status_code == 200
    assert rotated.json()["secret"] not in (first, second)

    assert client.delete("/v1/webhook", headers=provider).status_code == 204
    problem_of(client.get("/v1/webhook", headers=provider), 404, "not-found")
    problem_of(client.delete("/v1/webhook", headers=provider), 404, "not-found")
    problem_of(client.post("/v1/webhook/secret", headers=provider), 404, "not-found")

    actions = [
        e["action"]
        for e in _audit(broker, "webhook.subscribe")
        + _audit(broker, "webhook.rotate_secret")
        + _audit(broker, "webhook.unsubscribe")
    ]
    assert sorted(actions) == [
        "webhook.rotate_secret",
        "webhook.subscribe",
        "webhook.subscribe",
        "webhook.unsubscribe",
    ]
    for entry in _audit(broker, "webhook.subscribe"):
        assert entry["decision"] == "recorded"
        # The host is logged, never the path or query (it may hold the provider's token).
        assert "token" not in json.dumps(entry)


def test_unsubscribing_gives_up_the_unsent_deliveries(
    client: TestClient, broker: Broker, provider: dict[str, str], receiver: Receiver
) -> None:
    _subscribe(client, provider, receiver.url)
    signal = _send_signal(client, provider)
    _change_feedback(broker, signal["case_id"], "in_contact")
    assert client.delete("/v1/webhook", headers=provider).status_code == 204

    assert deliver_due(broker).attempted == 0
    [delivery] = _deliveries(broker)
    assert (delivery.state, delivery.last_error) == ("failed", "unsubscribed")
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("not a url", "must not contain spaces"),
        ("hooks.example.test/path", "https"),
        ("ftp://hooks.example.test/", "https"),
        ("https://", "no host"),
        ("https://user:pw@hooks.example.test/", "user name or password"),
        ("https://hooks.example.test:port/", "not a valid URL"),
        ("https://hooks.example.test/" + "a" * 2048, "2048"),
        ("", "required"),
    ],
)
def test_a_bad_url_is_a_problem_naming_the_url(
    client: TestClient, provider: dict[str, str], url: str, detail: str
) -> None:
    problem = problem_of(
        client.put("/v1/webhook", json={"url": url}, headers=provider), 422, "invalid-input"
    )
    [(name, message)] = errors_of(problem)
    assert name == "url"
    assert detail in message
    problem_of(client.get("/v1/webhook", headers=provider), 404)


def test_plain_http_is_refused_unless_the_setting_allows_it(
    client: TestClient, broker: Broker, provider: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broker.settings, "webhook_allow_http", False)
    problem = problem_of(
        client.put("/v1/webhook", json={"url": "http://hooks.example.test/"}, headers=provider),
        422,
        "invalid-input",
    )
    assert errors_of(problem) == [("url", "must be an https URL")]


def test_the_local_receiver_is_refused_unless_the_allowed_hosts_name_it(
    client: TestClient,
    broker: Broker,
    provider: dict[str, str],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(broker.settings, "outbound_allowed_hosts", [])
    problem = problem_of(
        client.put("/v1/webhook", json={"url": receiver.url}, headers=provider), 422
    )
    assert errors_of(problem) == [
        ("url", "must point to the public internet: 127.0.0.1 is a loopback address")
    ]


def test_a_host_taken_off_the_allowed_hosts_is_not_sent_to_any_more(
    client: TestClient,
    broker: Broker,
    provider: dict[str, str],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _subscribe(client, provider, receiver.url)
    signal = _send_signal(client, provider)
    _change_feedback(broker, signal["case_id"], "in_contact")
    monkeypatch.setattr(broker.settings, "outbound_allowed_hosts", [])

    assert deliver_due(broker).retrying == 1
    assert receiver.requests == []
    [delivery] = _deliveries(broker)
    assert (delivery.last_status, delivery.last_error) == (
        None,
        "destination refused: a loopback address",
    )


@pytest.mark.parametrize("body", [{}, {"url": 12}, {"url": PUBLIC_URL, "secret": "mine"}])
def test_a_malformed_body_is_a_problem_naming_the_field(
    client: TestClient, provider: dict[str, str], body: dict[str, Any]
) -> None:
    problem = problem_of(client.put("/v1/webhook", json=body, headers=provider), 422)
    assert {name for name, _ in errors_of(problem)} <= {"url", "secret"}
    assert errors_of(problem)


def test_only_provider_organisations_with_the_right_scope_may_use_the_webhook(
    client: TestClient, token_for: Headers
) -> None:
    for kind in ("municipality", "debt_service", "privacy_officer"):
        problem_of(
            client.put(
                "/v1/webhook", json={"url": "https://hooks.example.test/"}, headers=token_for(kind)
            ),
            403,
            "forbidden",
        )
        problem_of(client.get("/v1/webhook/deliveries", headers=token_for(kind)), 403)
    problem_of(client.get("/v1/webhook"), 401, "unauthenticated")


# Running the dispatcher ---------------------------------------------------------------------


def test_the_server_loop_sends_due_deliveries(
    broker: Broker, provider: dict[str, str], client: TestClient, receiver: Receiver
) -> None:
    _subscribe(client, provider, receiver.url)
    signal = _send_signal(client, provider)
    _change_feedback(broker, signal["case_id"], "in_contact")

    background = broker.settings.model_copy(update={"webhook_interval_seconds": 0.05})
    served = dataclasses.replace(broker, settings=background)
    delivered = threading.Event()
    with TestClient(create_app(broker=served, background_jobs=True), base_url=ISSUER):
        # Waiting for an outcome, with a generous limit; nothing here measures time.
        for _ in range(400):
            if _deliveries(broker)[0].state == "delivered":
                delivered.set()
                break
            delivered.wait(0.05)
    assert delivered.is_set()
    assert len(receiver.requests) == 1


def test_exchange_webhooks_deliver_sends_once_from_the_command_line(
    client: TestClient,
    broker: Broker,
    provider: dict[str, str],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from exchange.cli import app

    _subscribe(client, provider, receiver.url)
    signal = _send_signal(client, provider)
    _change_feedback(broker, signal["case_id"], "in_contact")
    settings = broker.settings
    monkeypatch.setenv("EXCHANGE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("EXCHANGE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("EXCHANGE_KEYS_DIR", str(settings.keys_dir))
    monkeypatch.setenv("EXCHANGE_WEBHOOK_ALLOW_HTTP", "true")
    monkeypatch.setenv("EXCHANGE_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")

    result = CliRunner().invoke(app, ["webhooks", "deliver"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"delivered": 1, "retrying": 0, "failed": 0}
    assert len(receiver.requests) == 1


class _both:  # noqa: N801 (used as a context manager, reads as prose)
    """Serve two receivers for the length of a ``with`` block."""

    def __init__(self, *receivers: Receiver) -> None:
        self._servers = [_serve(r) for r in receivers]

    def __enter__(self) -> None:
        for server in self._servers:
            next(server)

    def __exit__(self, *_: object) -> None:
        for server in self._servers:
            next(server, None)
