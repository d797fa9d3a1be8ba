"""Outbound requests only to the outside: no request of any client makes the broker connect
to an internal address.

Real listeners on 127.0.0.1 and ::1 record every connection they accept; where nothing may
connect, the test asks them and they must have seen none. A provider registers a webhook
through the API and a delivery is then attempted, so an internal URL that got through
registration would be connected to. Where DNS must answer something this machine's
resolver cannot (a name that turns internal after registration), the check is given a
resolver of the test's own: it plays the DNS server, nothing of the broker is replaced.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import socketserver
import ssl
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from exchange import clock
from exchange.auth.scopes import SIGNALS_READ, SIGNALS_WRITE
from exchange.auth.tokens import Principal
from exchange.broker import Broker
from exchange.cases.models import Case
from exchange.config import Settings
from exchange.db import unit_of_work
from exchange.demo import DemoOrganisation
from exchange.organisations.terms import OrganisationKind
from exchange.outbound import NOT_PUBLIC, DestinationRefused, Outbound, http_client
from exchange.webhooks import service
from exchange.webhooks.dispatcher import deliver_due
from exchange.webhooks.models import WebhookDelivery
from tests.conftest import Database, broker_settings
from tests.factories import errors_of, problem_of, signal_body

# A public address (IANA's, for example.com); only ever checked, never connected to.
PUBLIC = "93.184.215.14"


@pytest.fixture
def settings(database: Database, keys_dir: Path, tmp_path: Path) -> Settings:
    # Plain http allowed, so that an http URL is judged by where it points, not its scheme.
    return broker_settings(
        database, keys_dir, tmp_path, webhook_allow_http=True, webhook_interval_seconds=0
    )


# Listeners ------------------------------------------------------------------------------------


class Listener(socketserver.ThreadingTCPServer):
    """A real HTTP server on a loopback address that records each connection it accepts
    (before a byte is read) and answers every request with ``status``."""

    daemon_threads = True

    def __init__(self, host: str, port: int = 0) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.host = host
        self.status = 204
        self.location: str | None = None
        self.peers: list[tuple[str, int]] = []
        self.requests: list[dict[str, str]] = []
        self._probes: set[tuple[str, int]] = set()
        self._accepted = threading.Condition()
        super().__init__((host, port), _Answer)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self._accepted:
            self.peers.append(tuple(client_address[:2]))
            self._accepted.notify_all()
        return True

    def connections(self) -> int:
        """How many connections were made to it so far, not counting its own probes.

        It connects to itself and waits until that probe is accepted: connections are
        accepted in the order they came, so every earlier one is counted by then.
        """
        with socket.create_connection((self.host, self.port), timeout=10) as probe:
            mine = tuple(probe.getsockname()[:2])
            with self._accepted:
                assert self._accepted.wait_for(lambda: mine in self.peers, timeout=10)
                self._probes.add(mine)
                earlier = self.peers[: self.peers.index(mine)]
        return len([peer for peer in earlier if peer not in self._probes])

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Answer(BaseHTTPRequestHandler):
    server: Listener

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.server.requests.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(self.server.status)
        if self.server.location:
            self.send_header("location", self.server.location)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Loopback:
    v4: Listener
    v6: Listener

    def untouched(self) -> bool:
        return self.v4.connections() == 0 and self.v6.connections() == 0


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    listeners = Loopback(Listener("127.0.0.1"), Listener("::1"))
    try:
        yield listeners
    finally:
        listeners.v4.stop()
        listeners.v6.stop()


class Dns:
    """A DNS server of the test's own: its answers can change between two questions."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.default: list[str] | None = None
        self.later: dict[str, list[str]] = {}  # the answers after the next question
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> Iterable[str]:
        self.asked.append(host)
        answer = self.answers.get(host, self.default)
        if host in self.later:
            self.answers[host] = self.later.pop(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answer


# Helpers ------------------------------------------------------------------------------------


def _queue_delivery(client: TestClient, broker: Broker, provider: dict[str, str]) -> None:
    """A signal, and a feedback change announced for it: one delivery for the provider."""
    response = client.post("/v1/signals", json=signal_body(), headers=provider)
    assert response.status_code == 201, response.text
    for session in unit_of_work(broker.sessions):
        case = session.get(Case, uuid.UUID(response.json()["case_id"]))
        assert case is not None
        case.feedback_status = "in_contact"
        case.feedback_since = clock.local_date(clock.now())
        session.flush()
        register = broker.policies.active(session).register
        service.announce_feedback(session, broker.audit, register, case, clock.now())


def _subscribe_through_the_service(
    broker: Broker, organisation: DemoOrganisation, url: str, outbound: Outbound
) -> None:
    """What ``PUT /v1/webhook`` does, with the DNS the test plays."""
    principal = Principal(
        client_id=organisation.client_id,
        organisation_id=uuid.UUID(organisation.id),
        organisation_kind=OrganisationKind(organisation.kind),
        scopes=frozenset({SIGNALS_READ, SIGNALS_WRITE}),
    )
    for session in unit_of_work(broker.sessions):
        service.subscribe(
            session,
            broker.keyring,
            broker.audit,
            principal,
            url,
            allow_http=True,
            outbound=outbound,
            now=clock.now(),
        )


def _delivery(broker: Broker) -> WebhookDelivery:
    with broker.sessions() as session:
        [delivery] = session.scalars(select(WebhookDelivery)).all()
        return delivery


# Registration -------------------------------------------------------------------------------

HOSTNAME = socket.gethostname()  # resolves to 127.0.0.1 on many machines (/etc/hosts)

INTERNAL = [
    ("http://127.0.0.1:{v4}/hook", "127.0.0.1 is a loopback address"),
    ("https://127.0.0.1:{v4}/hook", "loopback"),
    ("http://127.0.0.2:{v4}/hook", "loopback"),
    ("http://127.0.0.1.:{v4}/hook", "loopback"),
    ("http://2130706433:{v4}/hook", "not a valid IPv4 address"),
    ("http://0x7f000001:{v4}/hook", "not a valid IPv4 address"),
    ("http://0x7f.1:{v4}/hook", "not a valid IPv4 address"),
    ("http://0177.0.0.1:{v4}/hook", "not a valid URL"),
    ("http://127.1:{v4}/hook", "not a valid IPv4 address"),
    ("http://0:{v4}/hook", "not a valid IPv4 address"),
    ("http://0.0.0.0:{v4}/hook", "unspecified"),
    ("http://[::ffff:127.0.0.1]:{v4}/hook", "::ffff:127.0.0.1 is a loopback address (IPv4-mapped)"),
    ("http://[::ffff:7f00:1]:{v4}/hook", "IPv4-mapped"),
    ("http://[0:0:0:0:0:ffff:127.0.0.1]:{v4}/hook", "IPv4-mapped"),
    ("http://[64:ff9b::7f00:1]:{v4}/hook", "loopback address (through NAT64)"),
    ("http://localhost:{v4}/hook", "localhost names this machine"),
    ("http://LocalHost.:{v4}/hook", "this machine"),
    ("http://hooks.localhost:{v4}/hook", "this machine"),
    ("http://" + HOSTNAME + ":{v4}/hook", "fully qualified"),
    ("http://①②⑦.0.0.1:{v4}/hook", "not a valid URL"),
    ("http://[::1]:{v6}/hook", "::1 is a loopback address"),
    ("http://[0:0:0:0:0:0:0:1]:{v6}/hook", "loopback"),
    ("http://[::]:{v6}/hook", "unspecified"),
    ("http://[::1%25lo]:{v6}/hook", "zone"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://10.0.0.1/hook", "private"),
    ("https://172.16.5.4/hook", "private"),
    ("https://192.168.1.1/hook", "private"),
    ("https://100.64.0.1/hook", "carrier-grade NAT"),
    ("https://224.0.0.1/hook", "multicast"),
    ("https://255.255.255.255/hook", "reserved"),
    ("https://[fd00::1]/hook", "unique-local"),
    ("https://[fe80::1]/hook", "link-local"),
    ("https://[ff02::1]/hook", "multicast"),
    ("https://kubernetes.default.svc/api", "Kubernetes service"),
    ("https://kubernetes.default.svc./api", "Kubernetes service"),
    ("https://exchange.signal-exchange.svc.cluster.local/", "cluster-internal"),
    ("https://metadata.google.internal/computeMetadata/v1/", "private networks"),
    ("https://printer.local/", "mDNS"),
    ("https://kubernetes/", "fully qualified"),
]


def test_no_internal_destination_is_accepted_at_registration_or_ever_connected_to(
    client: TestClient, broker: Broker, provider: dict[str, str], loopback: Loopback
) -> None:
    for template, expected in INTERNAL:
        url = template.format(v4=loopback.v4.port, v6=loopback.v6.port)
        response = client.put("/v1/webhook", json={"url": url}, headers=provider)
        problem = problem_of(response, 422, "invalid-input")
        [(name, message)] = errors_of(problem)
        assert name == "url", url
        assert expected in message, (url, message)
        problem_of(client.get("/v1/webhook", headers=provider), 404)

    # Had a URL been kept, this is when the broker would connect to it.
    _queue_delivery(client, broker, provider)
    assert deliver_due(broker).attempted == 0
    assert loopback.untouched()


@pytest.mark.parametrize(("template", "expected"), INTERNAL, ids=[t for t, _ in INTERNAL])
def test_each_internal_form_is_refused_by_the_check_whatever_dns_says(
    template: str, expected: str
) -> None:
    # The DNS here would answer a public address for any name: the form alone refuses.
    dns = Dns({})
    dns.default = [PUBLIC]
    url = template.format(v4=8000, v6=8000)
    with pytest.raises((DestinationRefused, httpx.InvalidURL)):
        Outbound(resolver=dns).check_url(url)


def test_a_public_address_is_accepted(client: TestClient, provider: dict[str, str]) -> None:
    response = client.put("/v1/webhook", json={"url": f"https://{PUBLIC}/hook"}, headers=provider)
    assert response.status_code == 201, response.text


def test_a_name_that_does_not_resolve_gets_the_same_answer_as_an_internal_one(
    client: TestClient, provider: dict[str, str]
) -> None:
    # .test never resolves. The same words as for a name pointing inside: registering
    # names must not tell a provider which internal names exist.
    problem = problem_of(
        client.put("/v1/webhook", json={"url": "https://hooks.example.test/"}, headers=provider),
        422,
    )
    assert errors_of(problem) == [("url", NOT_PUBLIC)]


# Delivery -----------------------------------------------------------------------------------


def test_a_name_that_turns_internal_after_registration_is_refused_at_delivery(
    client: TestClient,
    broker: Broker,
    provider: dict[str, str],
    world: dict[str, DemoOrganisation],
    loopback: Loopback,
) -> None:
    dns = Dns({"hooks.rebinding.test.": [PUBLIC]})
    outbound = Outbound(resolver=dns)
    url = f"http://hooks.rebinding.test:{loopback.v4.port}/hook"
    _subscribe_through_the_service(broker, world["housing_corporation"], url, outbound)
    _queue_delivery(client, broker, provider)

    dns.answers["hooks.rebinding.test."] = ["127.0.0.1"]
    report = deliver_due(broker, outbound=outbound)

    assert report.retrying == 1
    assert dns.asked == ["hooks.rebinding.test.", "hooks.rebinding.test."]
    delivery = _delivery(broker)
    assert delivery.last_status is None
    assert delivery.last_error == "destination refused: resolves to a loopback address"
    [item] = client.get("/v1/webhook/deliveries", headers=provider).json()["items"]
    assert item["last_status"] is None
    assert loopback.untouched()


def test_the_connection_goes_to_the_address_checked_not_to_a_second_lookup(
    client: TestClient,
    broker: Broker,
    provider: dict[str, str],
    world: dict[str, DemoOrganisation],
) -> None:
    # The same port on both loopback addresses: a second lookup answering ::1 would reach
    # the other listener. (This machine's resolver cannot resolve the name at all.)
    first = Listener("127.0.0.1")
    try:
        second = Listener("::1", first.port)
    except OSError:
        first.stop()
        pytest.skip("the port of the IPv4 listener is taken on ::1")
    try:
        dns = Dns({"hooks.partner.test": ["127.0.0.1"]})
        outbound = Outbound(allowed_hosts=frozenset({"hooks.partner.test"}), resolver=dns)
        url = f"http://hooks.partner.test:{first.port}/hook"
        _subscribe_through_the_service(broker, world["housing_corporation"], url, outbound)
        _queue_delivery(client, broker, provider)
        # The delivery's check is answered 127.0.0.1; any question after it, ::1.
        dns.later["hooks.partner.test"] = ["::1"]

        dns.asked.clear()
        assert deliver_due(broker, outbound=outbound).delivered == 1

        assert dns.asked == ["hooks.partner.test"]
        [request] = first.requests
        assert request["host"] == f"hooks.partner.test:{first.port}"
        assert second.connections() == 0
    finally:
        first.stop()
        second.stop()


def test_a_redirect_to_an_internal_address_is_not_followed(
    client: TestClient,
    broker: Broker,
    provider: dict[str, str],
    loopback: Loopback,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first hop is let through by name; the redirect points to an address nobody allowed.
    monkeypatch.setattr(broker.settings, "outbound_allowed_hosts", ["localhost"])
    target = f"http://127.0.0.1:{loopback.v4.port}/stolen"
    first_hop = Listener("127.0.0.1")
    first_hop.status, first_hop.location = 302, target
    try:
        url = f"http://localhost:{first_hop.port}/hook"
        assert client.put("/v1/webhook", json={"url": url}, headers=provider).status_code == 201
        _queue_delivery(client, broker, provider)

        assert deliver_due(broker).retrying == 1
        delivery = _delivery(broker)
        assert (delivery.last_status, delivery.last_error) == (302, "redirect not followed")
        assert len(first_hop.requests) == 1

        # Even a caller that asks to follow it gets each hop checked like the first.
        outbound = Outbound.from_settings(broker.settings)
        with http_client(outbound, timeout=5) as http, pytest.raises(DestinationRefused):
            http.post(url, content=b"{}", follow_redirects=True)
        assert len(first_hop.requests) == 2
    finally:
        first_hop.stop()
    assert loopback.untouched()


def test_the_allowed_hosts_setting_lets_a_named_internal_host_through(
    client: TestClient,
    broker: Broker,
    provider: dict[str, str],
    loopback: Loopback,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"http://localhost:{loopback.v4.port}/hook"
    problem = problem_of(client.put("/v1/webhook", json={"url": url}, headers=provider), 422)
    assert errors_of(problem) == [
        ("url", "must point to the public internet: localhost names this machine")
    ]

    monkeypatch.setattr(broker.settings, "outbound_allowed_hosts", ["localhost"])
    assert client.put("/v1/webhook", json={"url": url}, headers=provider).status_code == 201
    _queue_delivery(client, broker, provider)
    assert deliver_due(broker).delivered == 1
    [request] = loopback.v4.requests
    assert request["host"] == f"localhost:{loopback.v4.port}"
    # Only the name is allowed, not the address it resolves to.
    other = f"http://127.0.0.1:{loopback.v4.port}/hook"
    problem_of(client.put("/v1/webhook", json={"url": other}, headers=provider), 422)


# TLS by the host name -----------------------------------------------------------------------


class TlsListener(Listener):
    """A Listener speaking TLS with the given certificate, recording the SNI it is sent."""

    def __init__(self, host: str, certificate: ssl.SSLContext) -> None:
        self.server_names: list[str | None] = []
        certificate.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
        self._tls = certificate
        super().__init__(host)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        sock.settimeout(10)
        return self._tls.wrap_socket(sock, server_side=True), address


@dataclass
class Authority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test authority")])
        certificate = (
            _template(name, name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(
            cadata=self.certificate.public_bytes(serialization.Encoding.PEM).decode()
        )

    def server_context(self, tmp_path: Path, san: x509.GeneralName) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "receiver")])
        certificate = (
            _template(subject, self.certificate.subject, key.public_key())
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        chain, private = tmp_path / f"{uuid.uuid4()}.pem", tmp_path / f"{uuid.uuid4()}.key"
        chain.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain, private)
        return context


def _template(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
    )


def test_tls_sends_and_verifies_the_host_name_while_connecting_to_the_checked_address(
    tmp_path: Path,
) -> None:
    authority = Authority.create()
    outbound = Outbound(
        allowed_hosts=frozenset({"hooks.partner.test"}),
        resolver=Dns({"hooks.partner.test": ["127.0.0.1"]}),
    )
    # A certificate for the name only: verifying it against 127.0.0.1 would fail.
    by_name = TlsListener(
        "127.0.0.1", authority.server_context(tmp_path, x509.DNSName("hooks.partner.test"))
    )
    # A certificate for the address only: accepting it would mean the name went unchecked.
    by_address = TlsListener(
        "127.0.0.1",
        authority.server_context(tmp_path, x509.IPAddress(ipaddress.ip_address("127.0.0.1"))),
    )
    try:
        with http_client(outbound, timeout=5, verify=authority.client_context()) as http:
            response = http.post(f"https://hooks.partner.test:{by_name.port}/hook", content=b"{}")
            assert response.status_code == 204
            with pytest.raises(httpx.ConnectError):
                http.post(f"https://hooks.partner.test:{by_address.port}/hook", content=b"{}")
    finally:
        by_name.stop()
        by_address.stop()
    assert by_name.server_names == ["hooks.partner.test"]
    [request] = by_name.requests
    assert request["host"] == f"hooks.partner.test:{by_name.port}"
    assert by_address.server_names == ["hooks.partner.test"]
    assert by_address.requests == []


# The check itself ---------------------------------------------------------------------------


def test_a_public_name_is_resolved_as_an_absolute_name_and_pinned_to_every_address() -> None:
    dns = Dns({"hooks.example.org.": [PUBLIC, "2a00:1450:400e:80f::200e", PUBLIC]})
    destination = Outbound(resolver=dns).check("Hooks.Example.org.", 443)
    assert destination.host == "hooks.example.org"
    assert [str(a) for a in destination.addresses] == [PUBLIC, "2a00:1450:400e:80f::200e"]
    # Absolute: a pod's search domains (<namespace>.svc.cluster.local ...) are not tried.
    assert dns.asked == ["hooks.example.org."]


@pytest.mark.parametrize(
    "internal",
    [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fd12::1",
        "fe80::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
    ],
)
def test_a_name_is_refused_when_any_of_its_addresses_is_not_public(internal: str) -> None:
    dns = Dns({"hooks.example.org.": [PUBLIC, internal]})
    with pytest.raises(DestinationRefused) as refused:
        Outbound(resolver=dns).check("hooks.example.org", 443)
    assert refused.value.problem == NOT_PUBLIC
    assert refused.value.reason.startswith("resolves to ")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("0.1.2.3", "unspecified"),
        ("10.255.0.1", "private"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("127.8.9.10", "loopback"),
        ("169.254.169.254", "link-local"),
        ("172.31.255.255", "private"),
        ("192.0.0.170", "reserved"),
        ("192.0.2.1", "documentation"),
        ("192.168.0.1", "private"),
        ("198.18.0.1", "benchmarking"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "reserved"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        (
            "::ffff:169.254.169.254",
            "link-local address (where cloud metadata services live) (IPv4-mapped)",
        ),
        ("::7f00:1", "reserved"),  # IPv4-compatible, deprecated
        ("64:ff9b::c0a8:1", "private address (through NAT64)"),
        ("64:ff9b:1::1", "reserved"),
        ("100::1", "reserved"),
        ("2001::1", "Teredo"),
        ("2001:db8::1", "documentation"),
        ("2002:a00:1::1", "6to4"),
        ("fc00::1", "unique-local"),
        ("fdff::1", "unique-local"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("ff05::1", "multicast"),
    ],
)
def test_every_special_purpose_range_is_refused(address: str, kind: str) -> None:
    with pytest.raises(DestinationRefused) as refused:
        Outbound(resolver=Dns({})).check(address, 443)
    assert kind in refused.value.problem


@pytest.mark.parametrize(
    "address", [PUBLIC, "8.8.8.8", "2a00:1450:400e:80f::200e", "64:ff9b::5db8:d70e"]
)
def test_public_addresses_pass(address: str) -> None:
    destination = Outbound(resolver=Dns({})).check(address, 443)
    assert destination.addresses == (ipaddress.ip_address(address),)


def test_an_ipv4_mapped_public_address_is_connected_to_as_ipv4() -> None:
    dns = Dns({"hooks.example.org.": [f"::ffff:{PUBLIC}"]})
    destination = Outbound(resolver=dns).check("hooks.example.org", 443)
    assert destination.addresses == (ipaddress.IPv4Address(PUBLIC),)


def test_an_internal_name_is_refused_without_asking_dns() -> None:
    dns = Dns({})
    for name in ("localhost", "db.localdomain", "x.y.svc", "a.b.svc.cluster.local.", "db"):
        with pytest.raises(DestinationRefused):
            Outbound(resolver=dns).check(name, 443)
    assert dns.asked == []


def test_an_allowed_host_is_resolved_as_written_and_not_judged() -> None:
    dns = Dns({"receiver": ["10.1.2.3", "fd00::7"]})
    outbound = Outbound(allowed_hosts=frozenset({"Receiver.", "10.9.9.9"}), resolver=dns)
    assert [str(a) for a in outbound.check("receiver", 80).addresses] == ["10.1.2.3", "fd00::7"]
    assert dns.asked == ["receiver"]
    assert outbound.check("10.9.9.9", 80).addresses == (ipaddress.IPv4Address("10.9.9.9"),)
    with pytest.raises(DestinationRefused):
        outbound.check("10.9.9.8", 80)


# The setting --------------------------------------------------------------------------------


def test_the_allowed_hosts_setting_is_empty_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXCHANGE_OUTBOUND_ALLOWED_HOSTS", raising=False)
    assert Settings().outbound_allowed_hosts == []
    monkeypatch.setenv("EXCHANGE_OUTBOUND_ALLOWED_HOSTS", "Hooks.Partner.Internal., 10.1.2.3")
    assert Settings().outbound_allowed_hosts == ["hooks.partner.internal", "10.1.2.3"]
    monkeypatch.setenv("EXCHANGE_OUTBOUND_ALLOWED_HOSTS", json.dumps(["[::1]"]))
    assert Settings().outbound_allowed_hosts == ["::1"]
    # A pattern would silently match nothing (or too much): it is refused at start.
    monkeypatch.setenv("EXCHANGE_OUTBOUND_ALLOWED_HOSTS", "*.internal")
    with pytest.raises(ValidationError, match="not a valid host name"):
        Settings()
