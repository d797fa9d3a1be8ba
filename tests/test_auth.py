"""Authentication and authorisation: OAuth 2.0 client credentials, ES256 access tokens
(RFC 9068) checked against the published JWKS, secrets stored hashed, default deny on every
``/v1`` route, and another organisation's resource answered as if it did not exist."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import text

from exchange.api.app import create_app
from exchange.auth.guards import authorize
from exchange.auth.service import add_client
from exchange.auth.tokens import AUDIENCE
from exchange.broker import Broker
from exchange.config import Settings
from exchange.demo import DemoOrganisation
from tests.conftest import ISSUER
from tests.factories import NOTHING_STORED, PROBLEM_JSON, problem_of, signal_body, stored_counts

Headers = dict[str, str]
World = dict[str, DemoOrganisation]
DbSession = Callable[[], Any]
TOKEN = "/oauth/token"
CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}
RECIPIENT_KINDS = ["municipality", "neighbourhood_team", "debt_service", "privacy_officer"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def _token(client: TestClient, client_id: str, secret: str, **form: str) -> str:
    response = client.post(TOKEN, data={**CLIENT_CREDENTIALS, **form}, auth=(client_id, secret))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _jwks(client: TestClient) -> KeySet:
    return KeySet.import_key_set(client.get("/.well-known/jwks.json").json())


def _claims(world: World, kind: str = "housing_corporation", **overrides: Any) -> dict[str, Any]:
    """Claims as the broker issues them, for a demo organisation; ``None`` drops a claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": world[kind].client_id,
        "client_id": world[kind].client_id,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "scope": "signals:write signals:read",
        "org": world[kind].id,
        "org_kind": kind,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def _mint(key: ECKey, claims: dict[str, Any], **header: Any) -> str:
    """An ES256 token signed with ``key``, with the broker's header unless overridden."""
    return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": key.kid, **header}, claims, key)


def _unauthenticated(response: Any, detail: str | None = None) -> dict[str, Any]:
    problem = problem_of(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer ")
    if detail is not None:
        assert problem["detail"] == detail
    return problem


def _forbidden(response: Any, detail: str) -> None:
    problem = problem_of(response, 403, "forbidden")
    assert problem["detail"] == detail
    # RFC 6750 §3.1: the guard's refusal of a valid token names insufficient_scope.
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="signal-exchange", error="insufficient_scope"')


# -- the token endpoint ------------------------------------------------------------------


def test_client_secret_basic_gets_a_short_lived_bearer_token(
    client: TestClient, world: World, settings: Settings
) -> None:
    organisation = world["housing_corporation"]
    response = client.post(
        TOKEN, data=CLIENT_CREDENTIALS, auth=(organisation.client_id, organisation.client_secret)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.token_lifetime_seconds == 300
    assert body["access_token"].count(".") == 2


def test_client_secret_post_gets_a_bearer_token(client: TestClient, world: World) -> None:
    organisation = world["housing_corporation"]
    response = client.post(
        TOKEN,
        data={
            **CLIENT_CREDENTIALS,
            "client_id": organisation.client_id,
            "client_secret": organisation.client_secret,
        },
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    sent = client.post("/v1/signals", json=signal_body(), headers=_bearer(token))
    assert sent.status_code == 201, sent.text


def _oauth_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert "access_token" not in body
    return body


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_a_wrong_secret_is_401_invalid_client(
    client: TestClient, world: World, method: str
) -> None:
    organisation = world["housing_corporation"]
    wrong = organisation.client_secret[:-1] + (
        "A" if organisation.client_secret[-1] != "A" else "B"
    )
    if method == "client_secret_basic":
        response = client.post(TOKEN, data=CLIENT_CREDENTIALS, auth=(organisation.client_id, wrong))
    else:
        form = {"client_id": organisation.client_id, "client_secret": wrong}
        response = client.post(TOKEN, data={**CLIENT_CREDENTIALS, **form})
    _oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic ")


def test_an_unknown_client_is_invalid_client(client: TestClient, world: World) -> None:
    basic = client.post(TOKEN, data=CLIENT_CREDENTIALS, auth=("sx_nobody", "secret"))
    _oauth_error(basic, 401, "invalid_client")
    form = {"client_id": "sx_nobody", "client_secret": "secret"}
    posted = client.post(TOKEN, data={**CLIENT_CREDENTIALS, **form})
    # RFC 6749 §5.2: 401 when the client authenticated through the Authorization header.
    assert posted.status_code in (400, 401)
    _oauth_error(posted, posted.status_code, "invalid_client")


def test_no_client_credentials_at_all_is_401_invalid_client(
    client: TestClient, world: World
) -> None:
    _oauth_error(client.post(TOKEN, data=CLIENT_CREDENTIALS), 401, "invalid_client")


def test_a_revoked_client_gets_no_token(
    client: TestClient, world: World, db_session: DbSession
) -> None:
    organisation = world["housing_corporation"]
    with db_session() as session:
        session.execute(
            text("UPDATE api_clients SET revoked_at = CURRENT_TIMESTAMP WHERE client_id = :id"),
            {"id": organisation.client_id},
        )
    response = client.post(
        TOKEN, data=CLIENT_CREDENTIALS, auth=(organisation.client_id, organisation.client_secret)
    )
    _oauth_error(response, 401, "invalid_client")


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),  # not UTF-8
        b"Basic \xe9\xe9\xe9",  # not ASCII
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"sx_a\x00b:secret").decode(),  # a NUL in the client id
        "Basic " + base64.b64encode(b"x" * 500 + b":secret").decode(),
        "Basic",
    ],
    ids=["not-utf8", "not-ascii", "not-base64", "nul-in-id", "overlong-id", "empty"],
)
def test_malformed_basic_credentials_are_invalid_client_not_a_500(
    client: TestClient, world: World, authorization: str | bytes
) -> None:
    response = client.post(TOKEN, data=CLIENT_CREDENTIALS, headers={"Authorization": authorization})
    _oauth_error(response, 401, "invalid_client")


def test_a_nul_in_a_posted_client_id_is_invalid_client_not_a_500(
    client: TestClient, world: World
) -> None:
    form = {"client_id": "sx_a\x00b", "client_secret": "secret"}
    response = client.post(TOKEN, data={**CLIENT_CREDENTIALS, **form})
    _oauth_error(response, response.status_code, "invalid_client")
    assert response.status_code in (400, 401)


def test_a_token_request_over_plain_http_is_refused_as_insecure_transport_not_a_500(
    broker: Broker, world: World
) -> None:
    # Behind a proxy that forwards plain HTTP without saying the client used HTTPS, the
    # request looks insecure: OAuth 2.0 requires TLS (only localhost is exempt).
    with TestClient(create_app(broker=broker), base_url="http://broker.example") as client:
        organisation = world["housing_corporation"]
        response = client.post(
            TOKEN,
            data=CLIENT_CREDENTIALS,
            auth=(organisation.client_id, organisation.client_secret),
        )
    _oauth_error(response, 400, "insecure_transport")
    assert "access_token" not in response.text


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "refresh_token", None])
def test_an_unknown_grant_type_is_400_unsupported_grant_type(
    client: TestClient, world: World, grant_type: str | None
) -> None:
    organisation = world["housing_corporation"]
    form = {} if grant_type is None else {"grant_type": grant_type}
    response = client.post(
        TOKEN, data=form, auth=(organisation.client_id, organisation.client_secret)
    )
    _oauth_error(response, 400, "unsupported_grant_type")


def test_an_unknown_scope_is_400_invalid_scope(client: TestClient, world: World) -> None:
    organisation = world["housing_corporation"]
    response = client.post(
        TOKEN,
        data={**CLIENT_CREDENTIALS, "scope": "signals:write admin"},
        auth=(organisation.client_id, organisation.client_secret),
    )
    _oauth_error(response, 400, "invalid_scope")


# -- the access token ----------------------------------------------------------------------


def test_the_access_token_is_an_es256_at_jwt_that_verifies_against_the_published_jwks(
    client: TestClient, world: World, settings: Settings
) -> None:
    organisation = world["housing_corporation"]
    before = int(time.time())
    token = _token(client, organisation.client_id, organisation.client_secret)
    keys = _jwks(client)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"] in [key.kid for key in keys.keys]

    decoded = jwt.decode(token, keys, algorithms=["ES256"])  # raises on a bad signature
    claims = decoded.claims
    assert claims["iss"] == settings.issuer == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["org"] == organisation.id
    assert claims["org_kind"] == "housing_corporation"
    assert claims["client_id"] == claims["sub"] == organisation.client_id
    assert claims["scope"].split() == ["signals:write", "signals:read"]
    assert claims["exp"] - claims["iat"] == settings.token_lifetime_seconds == 300
    assert before - 5 <= claims["iat"] <= time.time() + 5
    assert claims["jti"]


def test_the_signature_covers_the_claims(client: TestClient, world: World) -> None:
    organisation = world["housing_corporation"]
    token = _token(client, organisation.client_id, organisation.client_secret)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["org"] = world["energy_supplier"].id
    forged = f"{header}.{_b64url(json.dumps(claims).encode())}.{signature}"
    with pytest.raises(Exception, match="signature"):
        jwt.decode(forged, _jwks(client), algorithms=["ES256"])
    _unauthenticated(client.get(f"/v1/signals/{uuid.uuid4()}", headers=_bearer(forged)))


def test_the_jwks_publishes_public_p256_keys_only(client: TestClient, broker: Broker) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert key["kty"] == "EC"
        assert key["crv"] == "P-256"
        assert key["alg"] == "ES256"
        assert key["use"] == "sig"
        assert "d" not in key
    assert broker.keyring.signing_key().kid in [key["kid"] for key in keys]


def test_a_narrower_scope_yields_only_that_scope(client: TestClient, world: World) -> None:
    organisation = world["housing_corporation"]
    token = _token(client, organisation.client_id, organisation.client_secret, scope="signals:read")
    claims = jwt.decode(token, _jwks(client), algorithms=["ES256"]).claims
    assert claims["scope"] == "signals:read"
    _forbidden(
        client.post("/v1/signals", json=signal_body(), headers=_bearer(token)),
        "the token lacks the scope signals:write",
    )


def test_a_scope_the_client_does_not_hold_is_not_granted(client: TestClient, world: World) -> None:
    # RFC 6749 §5.2: refused as invalid_scope, not granted as a token with less in it
    # (tests/test_hardening.py has the variants).
    organisation = world["housing_corporation"]
    response = client.post(
        TOKEN,
        data={**CLIENT_CREDENTIALS, "scope": "cases:read"},
        auth=(organisation.client_id, organisation.client_secret),
    )
    assert _oauth_error(response, 400, "invalid_scope")


def test_client_secrets_are_stored_hashed_never_in_plaintext(
    world: World, db_session: DbSession
) -> None:
    with db_session() as session:
        result = session.execute(text("SELECT * FROM api_clients"))
        columns = list(result.keys())
        rows = [dict(zip(columns, row, strict=True)) for row in result]
    assert "client_secret" not in columns
    assert len(rows) == len(world)
    dump = repr(rows)
    for organisation in world.values():
        assert organisation.client_secret not in dump
        [row] = [r for r in rows if r["client_id"] == organisation.client_id]
        assert row["secret_hash"] == hashlib.sha256(organisation.client_secret.encode()).hexdigest()


# -- /v1 refuses what is not a valid access token --------------------------------------


def _v1_operations(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, concrete path) under /v1 that the app publishes."""
    operations = []
    for path, item in app.openapi()["paths"].items():
        if path.startswith("/v1/"):
            concrete = path.replace("{signal_id}", str(uuid.uuid4())).replace(
                "{consent_id}", str(uuid.uuid4())
            )
            operations.extend((method.upper(), concrete) for method in item)
    return operations


def _call(client: TestClient, method: str, path: str, headers: Headers | None = None) -> Any:
    body = {"signals": [signal_body()]} if path.endswith("/batch") else signal_body()
    kwargs: dict[str, Any] = {"json": body} if method == "POST" else {}
    return client.request(method, path, headers=headers, **kwargs)


def test_every_v1_route_without_a_token_is_401_with_a_bearer_challenge(
    client: TestClient, db_session: DbSession
) -> None:
    operations = _v1_operations(client.app)  # type: ignore[arg-type]
    assert {path for _, path in operations} >= {"/v1/signals", "/v1/signals/batch"}
    for method, path in operations:
        response = _call(client, method, path)
        _unauthenticated(response, "send an access token: Authorization: Bearer <token>")
        assert response.headers["www-authenticate"] == 'Bearer realm="signal-exchange"'
    assert stored_counts(db_session) == NOTHING_STORED


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer    ", "Basic c3hfYTpiCg==", "Token abc", "bearer"],
)
def test_an_authorization_header_without_a_bearer_token_is_401(
    client: TestClient, authorization: str
) -> None:
    response = client.get(f"/v1/signals/{uuid.uuid4()}", headers={"Authorization": authorization})
    _unauthenticated(response, "send an access token: Authorization: Bearer <token>")


def _raw_bearer(token: str) -> dict[str, bytes]:
    return {"Authorization": f"Bearer {token}".encode("latin-1")}


def _garbage_tokens() -> list[str]:
    odd_headers = [
        b"[]",
        b"null",
        b'"ES256"',
        b'{"alg": ["ES256"]}',
        b'{"alg": "ES256", "kid": 7, "typ": "at+jwt"}',
        b'{"alg": "ES256", "crit": "x"}',
        b"\xff\xfe",
    ]
    # The long one stays under the header limit (a longer header is a 431: test_hardening).
    tokens = ["x", "a.b", "a.b.c", "....", "a.b.c.d.e", "é.é.é", "%00.%00.%00", "ey" * 4000]
    for header in odd_headers:
        for payload in (b"{}", b"[]", b"1"):
            tokens.append(f"{_b64url(header)}.{_b64url(payload)}.{_b64url(b'signature')}")
    return tokens


def test_a_garbage_token_is_401_never_a_500(client: TestClient, db_session: DbSession) -> None:
    for token in _garbage_tokens():
        for response in (
            client.get(f"/v1/signals/{uuid.uuid4()}", headers=_raw_bearer(token)),
            client.post("/v1/signals", json=signal_body(), headers=_raw_bearer(token)),
        ):
            _unauthenticated(response, "the access token is not valid")
    assert stored_counts(db_session) == NOTHING_STORED


def test_a_token_minted_like_the_brokers_is_accepted(
    client: TestClient, broker: Broker, world: World
) -> None:
    """The control for the forged-token tests below: the minting itself is right."""
    token = _mint(broker.keyring.signing_key(), _claims(world))
    response = client.post("/v1/signals", json=signal_body(), headers=_bearer(token))
    assert response.status_code == 201, response.text


def test_an_expired_token_is_401_saying_it_expired(
    client: TestClient, broker: Broker, world: World, db_session: DbSession
) -> None:
    now = int(time.time())
    token = _mint(broker.keyring.signing_key(), _claims(world, iat=now - 420, exp=now - 120))
    response = client.post("/v1/signals", json=signal_body(), headers=_bearer(token))
    problem = _unauthenticated(response)
    assert "expired" in problem["detail"]
    assert stored_counts(db_session) == NOTHING_STORED


def test_a_token_signed_by_another_key_with_the_brokers_kid_is_401(
    client: TestClient, broker: Broker, world: World
) -> None:
    impostor = ECKey.generate_key(
        "P-256", parameters={"kid": broker.keyring.signing_key().kid}, private=True
    )
    token = _mint(impostor, _claims(world))
    response = client.post("/v1/signals", json=signal_body(), headers=_bearer(token))
    _unauthenticated(response, "the access token is not valid")


def test_a_token_with_alg_none_is_401(client: TestClient, broker: Broker, world: World) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": broker.keyring.signing_key().kid}
    encoded = [_b64url(json.dumps(part).encode()) for part in (header, _claims(world))]
    for signature in ("", _b64url(b"x")):
        token = ".".join([*encoded, signature])
        response = client.post("/v1/signals", json=signal_body(), headers=_bearer(token))
        _unauthenticated(response, "the access token is not valid")


def test_a_token_hmac_signed_with_the_public_key_is_401(
    client: TestClient, broker: Broker, world: World
) -> None:
    """The algorithm-confusion attack: HS256 keyed with the published public key."""
    public = json.dumps(client.get("/.well-known/jwks.json").json()["keys"][0]).encode()
    header = {"alg": "HS256", "typ": "at+jwt", "kid": broker.keyring.signing_key().kid}
    signing_input = (
        f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(_claims(world)).encode())}"
    )
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{_b64url(signature)}"
    response = client.post("/v1/signals", json=signal_body(), headers=_bearer(token))
    _unauthenticated(response, "the access token is not valid")


@pytest.mark.parametrize(
    ("overrides", "detail"),
    [
        ({"iss": "https://elsewhere.test"}, "the access token is not valid"),
        ({"aud": "another-api"}, "the access token is not valid"),
        ({"iss": None}, "the access token is not valid"),
        ({"exp": None}, "the access token is not valid"),
        ({"org": None}, "the access token is not valid"),
        ({"org_kind": None}, "the access token is not valid"),
        ({"client_id": None}, "the access token is not valid"),
        ({"org": "not-a-uuid"}, "the access token is not valid"),
        ({"org_kind": "landlord"}, "the access token is not valid"),
        ({"nbf": int(time.time()) + 3600}, "the access token is not valid"),
    ],
    ids=[
        "wrong-issuer",
        "wrong-audience",
        "no-issuer",
        "no-expiry",
        "no-org",
        "no-org-kind",
        "no-client-id",
        "org-not-uuid",
        "unknown-org-kind",
        "not-yet-valid",
    ],
)
def test_a_token_signed_by_the_broker_with_bad_claims_is_401(
    client: TestClient,
    broker: Broker,
    world: World,
    overrides: dict[str, Any],
    detail: str,
) -> None:
    token = _mint(broker.keyring.signing_key(), _claims(world, **overrides))
    response = client.post("/v1/signals", json=signal_body(), headers=_bearer(token))
    _unauthenticated(response, detail)


@pytest.mark.parametrize("typ", ["JWT", "id_token+jwt", None])
def test_a_jwt_that_is_not_an_access_token_is_401(
    client: TestClient, broker: Broker, world: World, typ: str | None
) -> None:
    key = broker.keyring.signing_key()
    header: dict[str, Any] = {"alg": "ES256", "kid": key.kid}
    if typ is not None:
        header["typ"] = typ
    token = jwt.encode(header, _claims(world), key)
    response = client.post("/v1/signals", json=signal_body(), headers=_bearer(token))
    _unauthenticated(response, "the token is not an access token")


# -- scope and organisation kind ---------------------------------------------------------


def test_a_read_only_provider_client_cannot_send_signals(
    client: TestClient, world: World, db_session: DbSession
) -> None:
    organisation = world["housing_corporation"]
    with db_session() as session:
        issued = add_client(session, uuid.UUID(organisation.id), "signals:read")
    token = _token(client, issued.client_id, issued.client_secret)
    for path, body in (
        ("/v1/signals", signal_body()),
        ("/v1/signals/batch", {"signals": [signal_body()]}),
    ):
        response = client.post(path, json=body, headers=_bearer(token))
        _forbidden(response, "the token lacks the scope signals:write")
    assert stored_counts(db_session) == NOTHING_STORED
    # It may read: an unknown id is a 404, not a 403.
    problem_of(client.get(f"/v1/signals/{uuid.uuid4()}", headers=_bearer(token)), 404)


def test_the_access_check_comes_before_the_body_is_validated(
    client: TestClient, world: World, db_session: DbSession
) -> None:
    organisation = world["housing_corporation"]
    with db_session() as session:
        issued = add_client(session, uuid.UUID(organisation.id), "signals:read")
    token = _token(client, issued.client_id, issued.client_secret)
    invalid = signal_body(amount_cents="lots")
    _forbidden(
        client.post("/v1/signals", json=invalid, headers=_bearer(token)),
        "the token lacks the scope signals:write",
    )
    _unauthenticated(client.post("/v1/signals", json=invalid))


def test_an_unauthenticated_request_with_malformed_json_is_401(client: TestClient) -> None:
    response = client.post(
        "/v1/signals", content=b"{bad", headers={"content-type": "application/json"}
    )
    _unauthenticated(response)


@pytest.mark.parametrize("kind", RECIPIENT_KINDS)
def test_a_recipient_or_privacy_officer_cannot_send_or_read_signals(
    client: TestClient,
    token_for: Callable[[str], Headers],
    world: World,
    db_session: DbSession,
    kind: str,
) -> None:
    headers = token_for(kind)
    _forbidden(
        client.post("/v1/signals", json=signal_body(), headers=headers),
        "the token lacks the scope signals:write",
    )
    _forbidden(
        client.post("/v1/signals/batch", json={"signals": [signal_body()]}, headers=headers),
        "the token lacks the scope signals:write",
    )
    _forbidden(
        client.get(f"/v1/signals/{uuid.uuid4()}", headers=headers),
        "the token lacks the scope signals:read",
    )
    assert stored_counts(db_session) == NOTHING_STORED


def test_a_municipality_holding_the_signals_scopes_is_still_refused_by_its_kind(
    client: TestClient, world: World, db_session: DbSession
) -> None:
    municipality = world["municipality"]
    with db_session() as session:
        issued = add_client(session, uuid.UUID(municipality.id), "signals:write signals:read")
    token = _token(client, issued.client_id, issued.client_secret)
    response = client.post("/v1/signals", json=signal_body(), headers=_bearer(token))
    _forbidden(response, "a municipality may not call this route")
    _forbidden(
        client.get(f"/v1/signals/{uuid.uuid4()}", headers=_bearer(token)),
        "a municipality may not call this route",
    )
    assert stored_counts(db_session) == NOTHING_STORED


# -- another organisation's resource does not exist ---------------------------------------


def test_another_organisations_signal_is_404_not_403(
    client: TestClient, provider: Headers, token_for: Callable[[str], Headers]
) -> None:
    created = client.post("/v1/signals", json=signal_body(), headers=provider)
    assert created.status_code == 201, created.text
    signal_id = created.json()["id"]

    for kind in ("energy_supplier", "water_company"):
        response = client.get(f"/v1/signals/{signal_id}", headers=token_for(kind))
        problem = problem_of(response, 404, "not-found")
        assert problem["detail"] == f"signal {signal_id} not found"
    assert client.get(f"/v1/signals/{signal_id}", headers=provider).status_code == 200


def test_an_unknown_signal_id_is_404_exactly_like_another_organisations(
    client: TestClient, provider: Headers, token_for: Callable[[str], Headers]
) -> None:
    created = client.post("/v1/signals", json=signal_body(), headers=provider).json()
    other = problem_of(
        client.get(f"/v1/signals/{created['id']}", headers=token_for("energy_supplier")), 404
    )
    random_id = str(uuid.uuid4())
    unknown = problem_of(client.get(f"/v1/signals/{random_id}", headers=provider), 404)
    assert unknown["detail"] == f"signal {random_id} not found"
    assert {k: v for k, v in other.items() if k not in ("detail", "instance")} == {
        k: v for k, v in unknown.items() if k not in ("detail", "instance")
    }


def test_a_signal_id_that_is_not_a_uuid_is_422(client: TestClient, provider: Headers) -> None:
    response = client.get("/v1/signals/not-a-uuid", headers=provider)
    problem = problem_of(response, 422, "invalid-input")
    assert problem["errors"] == [{"field": "signal_id", "detail": "must be a UUID"}]


def test_another_providers_external_ref_is_no_conflict(
    client: TestClient, provider: Headers, token_for: Callable[[str], Headers]
) -> None:
    body = signal_body()
    first = client.post("/v1/signals", json=body, headers=provider)
    second = client.post(
        "/v1/signals", json={**body, "kind": "energy"}, headers=token_for("energy_supplier")
    )
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert first.json()["id"] != second.json()["id"]


# -- default deny ------------------------------------------------------------------------


def test_every_v1_route_of_the_app_states_an_access_rule(
    client: TestClient, world: World, token_for: Callable[[str], Headers]
) -> None:
    """A route without ``@requires`` is refused to everyone (see the test below); every real
    route lets some kind of organisation through and refuses the others by its rule."""
    for method, path in _v1_operations(client.app):  # type: ignore[arg-type]
        answers = {kind: _call(client, method, path, token_for(kind)) for kind in world}
        for kind, response in answers.items():
            assert response.status_code < 500, (method, path, kind, response.text)
            if response.status_code == 403:
                assert "no access rule" not in response.json()["detail"], (method, path)
        allowed = [kind for kind, response in answers.items() if response.status_code != 403]
        assert allowed, (method, path, "refused to every kind of organisation")


def test_a_v1_route_without_an_access_rule_is_refused_even_to_a_valid_token(
    broker: Broker, world: World
) -> None:
    app = create_app(broker=broker)
    forgotten = APIRouter(prefix="/v1", dependencies=[Depends(authorize)])

    @forgotten.get("/forgotten")
    def no_rule() -> dict[str, str]:
        return {"leaked": "yes"}

    app.include_router(forgotten)
    with TestClient(app, base_url=ISSUER) as client:
        organisation = world["housing_corporation"]
        token = _token(client, organisation.client_id, organisation.client_secret)
        response = client.get("/v1/forgotten", headers=_bearer(token))
        _forbidden(response, "this route has no access rule, so nobody may call it")
        assert "leaked" not in response.text
        _unauthenticated(client.get("/v1/forgotten"))
        assert response.headers["content-type"] == PROBLEM_JSON
