"""The NL GOV Assurance profile for OAuth 2.0 (v1.1) for machine clients, with authlib as the
client where a client library does the work: private_key_jwt client authentication
(RFC 7523) beside secrets, certificate-bound tokens (RFC 8705) behind a TLS-terminating
proxy, and token lifetimes within the profile. One test per requirement, named after it."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey
from pydantic import ValidationError
from typer.testing import CliRunner

from exchange.api.app import create_app
from exchange.auth.service import add_client
from exchange.auth.tokens import MAX_ASSERTION_LIFETIME
from exchange.broker import Broker
from exchange.cli import app as cli
from exchange.config import Settings
from exchange.demo import DemoOrganisation
from tests.conftest import ISSUER, Database, broker_settings
from tests.factories import signal_body

TOKEN_URL = f"{ISSUER}/oauth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CERTIFICATE_HEADER = "X-SSL-Client-Cert"
World = dict[str, DemoOrganisation]


@pytest.fixture
def settings(database: Database, keys_dir: Path, tmp_path: Path) -> Settings:
    # Behind a proxy that passes the client certificate on, as RFC 8705 needs.
    return broker_settings(
        database, keys_dir, tmp_path, mtls_client_certificate_header=CERTIFICATE_HEADER
    )


class KeyClient:
    """A machine client registered with its public key, holding the private one."""

    def __init__(self, client_id: str, key: RSAKey | ECKey, alg: str) -> None:
        self.client_id = client_id
        self.key = key
        self.alg = alg

    def assertion(self, **overrides: Any) -> str:
        """A client assertion as RFC 7523 §3 describes it; ``None`` drops a claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": TOKEN_URL,
            "iat": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
        }
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode({"alg": self.alg, "kid": self.key.kid}, claims, self.key)

    def form(self, assertion: str | None = None) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion or self.assertion(),
        }


@pytest.fixture
def key_client(world: World, db_session: Callable[[], Any]) -> Callable[..., KeyClient]:
    """Registers a housing corporation's client by its public JWK Set (RFC 7591 ``jwks``)."""

    def register(alg: str = "RS256", certificate: bytes | None = None) -> KeyClient:
        key: RSAKey | ECKey = (
            ECKey.generate_key("P-256", auto_kid=True)
            if alg == "ES256"
            else RSAKey.generate_key(2048, auto_kid=True)
        )
        public = {**key.as_dict(private=False), "alg": alg, "use": "sig"}
        with db_session() as session:
            issued = add_client(
                session,
                uuid.UUID(world["housing_corporation"].id),
                jwks={"keys": [public]},
                certificate=certificate,
            )
        assert issued.client_secret == ""
        return KeyClient(issued.client_id, key, alg)

    return register


class FreshPrivateKeyJWT(PrivateKeyJWT):  # type: ignore[misc]
    """authlib's private_key_jwt, with an assertion that expires in a minute.

    authlib signs assertions valid for an hour by default; the broker keeps each jti until
    its assertion expires and so accepts at most MAX_ASSERTION_LIFETIME seconds.
    """

    def sign(self, auth: Any, token_endpoint: str) -> str:
        now = int(time.time())
        self.claims = {"iat": now, "exp": now + 60}
        return str(super().sign(auth, token_endpoint))


@pytest.fixture
def authlib_client(client: TestClient) -> Iterator[Callable[[KeyClient], OAuth2Client]]:
    """authlib's OAuth 2.0 client, over the test client's transport (no network)."""

    made: list[OAuth2Client] = []

    def make(registered: KeyClient) -> OAuth2Client:
        session = OAuth2Client(
            registered.client_id,
            registered.key,
            token_endpoint_auth_method=FreshPrivateKeyJWT(TOKEN_URL, alg=registered.alg),
            token_endpoint=TOKEN_URL,
            transport=client._transport,
            base_url=ISSUER,
        )
        made.append(session)
        return session

    yield make
    for session in made:
        session.close()


def _oauth_error(response: Any, error: str) -> str:
    assert response.status_code == (401 if error == "invalid_client" else 400), response.text
    body = response.json()
    assert body["error"] == error, body
    assert "access_token" not in body
    return str(body.get("error_description", ""))


def _claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


# --- private_key_jwt (RFC 7523 §2.2, NL GOV §2.3.4) -----------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_private_key_jwt_authenticates_a_client_with_authlib_and_the_token_sends_a_signal(
    alg: str,
    key_client: Callable[..., KeyClient],
    authlib_client: Callable[[KeyClient], OAuth2Client],
) -> None:
    registered = key_client(alg)
    session = authlib_client(registered)
    token = session.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert token["token_type"].lower() == "bearer"
    assert _claims_of(token["access_token"])["client_id"] == registered.client_id
    sent = session.post("/v1/signals", json=signal_body())
    assert sent.status_code == 201, sent.text


def test_server_metadata_lists_private_key_jwt_and_its_signing_algorithms(
    client: TestClient,
) -> None:
    metadata = client.get("/.well-known/oauth-authorization-server").json()
    assert "private_key_jwt" in metadata["token_endpoint_auth_methods_supported"]
    # RFC 8414 §2: the algorithms for private_key_jwt; the profile's MUST is RS256.
    assert "RS256" in metadata["token_endpoint_auth_signing_alg_values_supported"]
    assert "none" not in metadata["token_endpoint_auth_signing_alg_values_supported"]
    assert metadata["tls_client_certificate_bound_access_tokens"] is True


def test_a_client_registered_with_keys_has_no_secret_to_fall_back_to(
    client: TestClient, key_client: Callable[..., KeyClient]
) -> None:
    registered = key_client()
    refused = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(registered.client_id, "")
    )
    _oauth_error(refused, "invalid_client")


def test_a_client_with_a_secret_cannot_authenticate_with_an_assertion(
    client: TestClient, world: World
) -> None:
    organisation = world["housing_corporation"]
    key = RSAKey.generate_key(2048, auto_kid=True)
    now = int(time.time())
    claims = {
        "iss": organisation.client_id,
        "sub": organisation.client_id,
        "aud": TOKEN_URL,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    assertion = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
    refused = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert _oauth_error(refused, "invalid_client") == "the client assertion is not valid"


def test_an_assertion_signed_by_a_key_the_client_did_not_register_is_refused(
    client: TestClient, key_client: Callable[..., KeyClient]
) -> None:
    registered = key_client()
    impostor = KeyClient(registered.client_id, RSAKey.generate_key(2048), "RS256")
    impostor.key = RSAKey.import_key(
        impostor.key.as_dict(private=True), {"kid": registered.key.kid}
    )
    refused = client.post("/oauth/token", data=impostor.form())
    assert _oauth_error(refused, "invalid_client") == "the client assertion is not valid"


def test_an_assertion_for_an_unknown_client_gets_the_same_answer_as_a_bad_signature(
    client: TestClient, key_client: Callable[..., KeyClient]
) -> None:
    stranger = KeyClient("sx_nobody", RSAKey.generate_key(2048, auto_kid=True), "RS256")
    refused = client.post("/oauth/token", data=stranger.form())
    assert _oauth_error(refused, "invalid_client") == "the client assertion is not valid"


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_an_assertion_must_be_signed_with_an_asymmetric_algorithm_the_profile_allows(
    alg: str, client: TestClient, key_client: Callable[..., KeyClient]
) -> None:
    registered = key_client()
    now = int(time.time())
    claims = {
        "iss": registered.client_id,
        "sub": registered.client_id,
        "aud": TOKEN_URL,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    header = {"alg": alg, "kid": registered.key.kid}
    if alg == "HS256":
        # HMAC keyed with the client's public key, which anyone can read: the classic
        # algorithm confusion, refused because only asymmetric algorithms count.
        # (joserfc itself refuses to make such a key, so the HMAC is computed here.)
        signed = ".".join(_b64url(json.dumps(part).encode()) for part in (header, claims))
        mac = hmac.new(registered.key.as_pem(), signed.encode(), hashlib.sha256).digest()
        forged = f"{signed}.{_b64url(mac)}"
    else:
        forged = ".".join(_b64url(json.dumps(part).encode()) for part in (header, claims)) + "."
    refused = client.post("/oauth/token", data=registered.form(forged))
    assert _oauth_error(refused, "invalid_client") == "the client assertion is not valid"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_an_assertion_is_accepted_once_a_replay_is_refused(
    client: TestClient, key_client: Callable[..., KeyClient]
) -> None:
    registered = key_client()
    assertion = registered.assertion()
    first = client.post("/oauth/token", data=registered.form(assertion))
    assert first.status_code == 200, first.text
    again = client.post("/oauth/token", data=registered.form(assertion))
    assert "used before" in _oauth_error(again, "invalid_client")


def test_a_replay_is_refused_by_every_replica_of_the_broker(
    client: TestClient, settings: Settings, key_client: Callable[..., KeyClient]
) -> None:
    registered = key_client()
    assertion = registered.assertion()
    assert client.post("/oauth/token", data=registered.form(assertion)).status_code == 200
    replica = Broker.start(settings)
    try:
        with TestClient(create_app(broker=replica), base_url=ISSUER) as other:
            again = other.post("/oauth/token", data=registered.form(assertion))
    finally:
        replica.engine.dispose()
    assert "used before" in _oauth_error(again, "invalid_client")


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "iat", "jti"])
def test_an_assertion_without_a_required_claim_is_refused(
    claim: str, client: TestClient, key_client: Callable[..., KeyClient]
) -> None:
    registered = key_client()
    refused = client.post(
        "/oauth/token", data=registered.form(registered.assertion(**{claim: None}))
    )
    _oauth_error(refused, "invalid_client")


def test_an_assertion_whose_issuer_is_not_the_client_is_refused(
    client: TestClient, key_client: Callable[..., KeyClient]
) -> None:
    registered = key_client()
    refused = client.post(
        "/oauth/token", data=registered.form(registered.assertion(iss="sx_someone_else"))
    )
    assert "iss" in _oauth_error(refused, "invalid_client")


def test_an_assertion_for_another_audience_is_refused(
    client: TestClient, key_client: Callable[..., KeyClient]
) -> None:
    registered = key_client()
    refused = client.post(
        "/oauth/token",
        data=registered.form(registered.assertion(aud="https://other-broker.test/oauth/token")),
    )
    assert "aud" in _oauth_error(refused, "invalid_client")


def test_an_assertion_may_name_the_issuer_as_its_audience(
    client: TestClient, key_client: Callable[..., KeyClient]
) -> None:
    registered = key_client()
    accepted = client.post("/oauth/token", data=registered.form(registered.assertion(aud=ISSUER)))
    assert accepted.status_code == 200, accepted.text


def test_an_expired_assertion_is_refused(
    client: TestClient, key_client: Callable[..., KeyClient]
) -> None:
    registered = key_client()
    past = int(time.time()) - 600
    refused = client.post(
        "/oauth/token", data=registered.form(registered.assertion(iat=past, exp=past + 60))
    )
    assert "exp" in _oauth_error(refused, "invalid_client")


def test_an_assertion_valid_for_longer_than_the_broker_keeps_its_jti_is_refused(
    client: TestClient, key_client: Callable[..., KeyClient]
) -> None:
    registered = key_client()
    far = int(time.time()) + MAX_ASSERTION_LIFETIME + 600
    refused = client.post("/oauth/token", data=registered.form(registered.assertion(exp=far)))
    assert f"within {MAX_ASSERTION_LIFETIME} seconds" in _oauth_error(refused, "invalid_client")


def test_an_assertion_with_a_client_id_field_for_another_client_is_refused(
    client: TestClient, key_client: Callable[..., KeyClient]
) -> None:
    registered = key_client()
    form = {**registered.form(), "client_id": "sx_someone_else"}
    _oauth_error(client.post("/oauth/token", data=form), "invalid_client")


def test_an_assertion_of_the_wrong_type_is_refused(
    client: TestClient, key_client: Callable[..., KeyClient]
) -> None:
    registered = key_client()
    form = {**registered.form(), "client_assertion_type": "urn:example:saml"}
    assert ASSERTION_TYPE in _oauth_error(client.post("/oauth/token", data=form), "invalid_client")


@pytest.mark.parametrize(
    ("jwks", "words"),
    [
        ("not json", "is not JSON"),
        ({"kty": "RSA"}, "JWK Set"),
        ({"keys": []}, "1 to 10 keys"),
        ({"keys": [RSAKey.generate_key(2048).as_dict(private=True)]}, "private key material"),
        ({"keys": [RSAKey.generate_key(1024).as_dict(private=False)]}, "shorter than 2048"),
        ({"keys": [ECKey.generate_key("P-384").as_dict(private=False)]}, "P-256"),
        (
            {"keys": [{**ECKey.generate_key("P-256").as_dict(private=False), "alg": "HS256"}]},
            "HS256",
        ),
        ({"keys": [OKPKey.generate_key("Ed25519").as_dict(private=False)]}, "neither RSA nor EC"),
    ],
)
def test_a_client_registers_public_signing_keys_only(
    jwks: Any, words: str, world: World, db_session: Callable[[], Any]
) -> None:
    from exchange.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused, db_session() as session:
        add_client(session, uuid.UUID(world["housing_corporation"].id), jwks=jwks)
    assert words in str(refused.value)
    assert refused.value.errors[0].field == "jwks"


def test_exchange_client_add_registers_a_jwks_and_prints_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXCHANGE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("EXCHANGE_DATABASE_URL", raising=False)
    monkeypatch.delenv("EXCHANGE_KEYS_DIR", raising=False)
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    made = runner.invoke(
        cli,
        ["org", "add", "--kind", "housing_corporation", "--name", "Woonstad Test"],
    )
    assert made.exit_code == 0, made.output
    organisation = json.loads(made.stdout)["id"]
    keys = tmp_path / "jwks.json"
    keys.write_text(
        json.dumps({"keys": [RSAKey.generate_key(2048, auto_kid=True).as_dict(private=False)]})
    )
    added = runner.invoke(cli, ["client", "add", "--org", organisation, "--jwks", str(keys)])
    assert added.exit_code == 0, added.output
    shown = json.loads(added.stdout)
    assert shown["client_id"].startswith("sx_")
    assert "client_secret" not in shown
    assert shown["token_endpoint_auth_method"] == "private_key_jwt"


# --- certificate-bound access tokens (RFC 8705 §3) ------------------------------------------


def _certificate(name: str) -> tuple[bytes, str]:
    """A self-signed client certificate (PEM) and its x5t#S256, computed independently."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    thumbprint = base64.urlsafe_b64encode(certificate.fingerprint(hashes.SHA256())).rstrip(b"=")
    return certificate.public_bytes(serialization.Encoding.PEM), thumbprint.decode()


def _presented(pem: bytes) -> dict[str, str]:
    """What nginx sends on with ``$ssl_client_escaped_cert``: the PEM, URL-encoded."""
    return {CERTIFICATE_HEADER: quote(pem.decode(), safe="")}


@pytest.fixture
def bound_client(key_client: Callable[..., KeyClient]) -> tuple[KeyClient, bytes, str]:
    pem, thumbprint = _certificate("woonstad-test.example")
    return key_client(certificate=pem), pem, thumbprint


def test_a_token_is_bound_to_the_certificate_the_client_presented(
    client: TestClient, bound_client: tuple[KeyClient, bytes, str]
) -> None:
    registered, pem, thumbprint = bound_client
    issued = client.post("/oauth/token", data=registered.form(), headers=_presented(pem))
    assert issued.status_code == 200, issued.text
    assert _claims_of(issued.json()["access_token"])["cnf"] == {"x5t#S256": thumbprint}


def test_a_client_registered_with_a_certificate_gets_no_token_without_it(
    client: TestClient, bound_client: tuple[KeyClient, bytes, str]
) -> None:
    registered, _, _ = bound_client
    other, _ = _certificate("someone-else.example")
    for headers in ({}, _presented(other)):
        refused = client.post("/oauth/token", data=registered.form(), headers=headers)
        assert "mutual TLS" in _oauth_error(refused, "invalid_client")


def test_a_bound_token_counts_only_with_its_certificate(
    client: TestClient, bound_client: tuple[KeyClient, bytes, str]
) -> None:
    registered, pem, _ = bound_client
    token = client.post("/oauth/token", data=registered.form(), headers=_presented(pem)).json()[
        "access_token"
    ]
    bearer = {"Authorization": f"Bearer {token}"}
    other, _ = _certificate("thief.example")
    for headers in (bearer, {**bearer, **_presented(other)}):
        stolen = client.post("/v1/signals", json=signal_body(), headers=headers)
        assert stolen.status_code == 401, stolen.text
        assert 'error="invalid_token"' in stolen.headers["www-authenticate"]
    sent = client.post("/v1/signals", json=signal_body(), headers={**bearer, **_presented(pem)})
    assert sent.status_code == 201, sent.text


def test_a_bound_client_cannot_get_a_token_where_mutual_tls_is_not_set_up(
    database: Database, keys_dir: Path, tmp_path: Path, bound_client: tuple[KeyClient, bytes, str]
) -> None:
    registered, pem, _ = bound_client
    plain = Broker.start(broker_settings(database, keys_dir, tmp_path / "plain"))
    try:
        with TestClient(create_app(broker=plain), base_url=ISSUER) as other:
            metadata = other.get("/.well-known/oauth-authorization-server").json()
            refused = other.post("/oauth/token", data=registered.form(), headers=_presented(pem))
    finally:
        plain.engine.dispose()
    assert metadata["tls_client_certificate_bound_access_tokens"] is False
    # Without a trusted proxy a certificate header is anyone's to write: it counts for nothing.
    assert "not set up for mutual TLS" in _oauth_error(refused, "invalid_client")


# --- tokens --------------------------------------------------------------------------------


def test_access_tokens_live_at_most_an_hour_as_the_profile_recommends(
    client: TestClient,
    key_client: Callable[..., KeyClient],
    database: Database,
    keys_dir: Path,
    tmp_path: Path,
) -> None:
    registered = key_client()
    issued = client.post("/oauth/token", data=registered.form()).json()
    claims = _claims_of(issued["access_token"])
    assert claims["exp"] - claims["iat"] == issued["expires_in"] <= 3600
    with pytest.raises(ValidationError):
        broker_settings(database, keys_dir, tmp_path, token_lifetime_seconds=7200)


def test_access_token_ids_hold_at_least_128_random_bits(
    client: TestClient, key_client: Callable[..., KeyClient]
) -> None:
    registered = key_client()
    jtis = {
        _claims_of(client.post("/oauth/token", data=registered.form()).json()["access_token"])[
            "jti"
        ]
        for _ in range(3)
    }
    assert len(jtis) == 3
    for jti in jtis:
        assert len(base64.urlsafe_b64decode(jti + "=" * (-len(jti) % 4))) >= 16


def test_the_jwks_a_client_registers_is_kept_public(
    key_client: Callable[..., KeyClient], db_session: Callable[[], Any]
) -> None:
    from sqlalchemy import select

    from exchange.auth.models import ApiClient

    registered = key_client()
    with db_session() as session:
        stored = session.scalar(
            select(ApiClient).where(ApiClient.client_id == registered.client_id)
        )
        assert stored is not None and stored.jwks is not None
        keys = KeySet.import_key_set(json.loads(stored.jwks))
    assert [key.kid for key in keys.keys] == [registered.key.kid]
    assert "d" not in json.loads(stored.jwks)["keys"][0]
    # No secret: an empty hash, which no secret's SHA-256 hex digest equals.
    assert stored.secret_hash == ""
