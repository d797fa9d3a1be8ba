"""Hardened at every edge: what an outside attacker found, fixed and kept fixed (issue 13).

Request lines and headers beyond the limits are refused before anything reads them; the
log scrubber works in linear time on whatever a client sends; a 500 says nothing and logs
the error's type and frames, never its message; scopes are refused rather than emptied;
the token endpoint answers every failed client authentication alike; JSON bodies are
JSON, once per key.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from sqlalchemy import text

from exchange.api.app import create_app
from exchange.api.middleware import (
    MAX_HEADER_BYTES,
    MAX_HEADER_FIELD_BYTES,
    MAX_HEADER_FIELDS,
    MAX_TARGET_BYTES,
)
from exchange.auth.tokens import AUDIENCE
from exchange.broker import Broker
from exchange.logs import MAX_VALUE_CHARS, REMOVED, scrub_personal_data
from tests.conftest import ISSUER
from tests.factories import NOTHING_STORED, problem_of, signal_body, stored_counts

Headers = dict[str, str]
TOKEN = "/oauth/token"
CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}
JSON = {"content-type": "application/json"}


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line as the broker writes it: through its own formatter and scrubber (the
    handler create_app configured; so capture only after the app is built)."""
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


# -- the request line and the headers ------------------------------------------------------


def test_a_request_target_over_the_limit_is_a_414_problem_that_closes_the_connection(
    client: TestClient,
) -> None:
    response = client.get("/healthz?x=" + "a" * MAX_TARGET_BYTES)
    problem = problem_of(response, 414, "uri-too-long")
    assert f"{MAX_TARGET_BYTES} bytes" in problem["detail"]
    assert problem["instance"] == "/healthz"  # the path, never the query
    assert response.headers["connection"] == "close"


def test_a_request_target_at_the_limit_is_served(client: TestClient) -> None:
    target = "/healthz?x=" + "a" * (MAX_TARGET_BYTES - len("/healthz?x="))
    assert len(target) == MAX_TARGET_BYTES
    assert client.get(target).status_code == 200
    assert client.get(target + "a").status_code == 414


@pytest.mark.parametrize(
    "headers",
    [
        {"x-big": "a" * MAX_HEADER_FIELD_BYTES},
        {f"x-{n}": "a" for n in range(MAX_HEADER_FIELDS + 1)},
        {f"x-{n}": "a" * 4000 for n in range(MAX_HEADER_BYTES // 4000 + 1)},
    ],
    ids=["one-large-header", "too-many-headers", "too-many-bytes"],
)
def test_headers_over_a_limit_are_a_431_problem_before_the_token_is_read(
    client: TestClient, provider: Headers, headers: dict[str, str]
) -> None:
    # With a valid token, so that the refusal cannot come from authentication.
    response = client.post("/v1/signals", json=signal_body(), headers={**provider, **headers})
    problem_of(response, 431, "header-fields-too-large")
    assert response.headers["connection"] == "close"


# -- the log scrubber ----------------------------------------------------------------------


PATHOLOGICAL = {
    # Each made the old e-mail pattern backtrack from every position: quadratic time.
    "a-run": "GET /healthz?x=" + "a" * 100_000,
    "ats": "a@" * 50_000,
    "dots": "x@" + "a." * 50_000,
    "no-tld": "a" * 50_000 + "@" + "b" * 50_000,
}


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_pathological_texts_of_100000_characters_are_scrubbed_and_still_masked(
    name: str,
) -> None:
    text_ = PATHOLOGICAL[name] + " mail a.b@example.org"
    scrubbed = scrub_personal_data(None, "info", {"event": text_})["event"]
    assert "a.b@example.org" not in scrubbed
    assert scrubbed.endswith(f" mail {REMOVED}")


def test_a_log_value_over_the_limit_keeps_its_head_and_tail() -> None:
    value = "HEAD" + "-" * 100_000 + "TAIL"
    scrubbed = scrub_personal_data(None, "info", {"event": "x", "path": value})["path"]
    assert len(scrubbed) < MAX_VALUE_CHARS + 40
    assert scrubbed.startswith("HEAD") and scrubbed.endswith("TAIL")
    assert f"[{len(value) - MAX_VALUE_CHARS} characters cut]" in scrubbed


def test_the_email_pattern_masks_what_it_masked_before() -> None:
    event = {"event": 'to mailto:a.b@example.org, (c.d@ex.nl) x@y@z.com "e@f.gh" ok'}
    scrubbed = scrub_personal_data(None, "info", event)["event"]
    for address in ("a.b@example.org", "c.d@ex.nl", "z.com", "e@f.gh"):
        assert address not in scrubbed
    assert scrubbed.endswith(" ok")


# -- unexpected errors ---------------------------------------------------------------------


def test_a_500_logs_the_error_type_and_frames_never_the_statement_and_closes_the_connection(
    broker: Broker,
) -> None:
    app = create_app(broker=broker)
    searched = f"pseudonym-{uuid.uuid4().hex}"

    @app.get("/explode")
    def explode() -> None:
        with broker.engine.connect() as connection:
            statement = text("SELECT nothing FROM no_such_table WHERE x = :v")
            connection.execute(statement, {"v": searched})

    # The test client re-raises whatever leaves the app: the error must not leave it (the
    # server would log it with its message and drop the connection).
    with TestClient(app, base_url=ISSUER) as client, captured_logs() as logs:
        response = client.get("/explode", headers={"X-Request-ID": "test-request-0500"})
    problem = problem_of(response, 500, "internal-error")
    assert response.headers["connection"] == "close"
    assert response.headers["x-request-id"] == "test-request-0500"
    assert searched not in response.text
    logged = logs.getvalue()
    assert "request.failed" in logged and "test-request-0500" in logged
    assert "OperationalError" in logged or "ProgrammingError" in logged
    assert "in explode" in logged  # the frames are there
    assert searched not in logged
    assert "[parameters:" not in logged and "[SQL:" not in logged
    assert problem["detail"] == "the broker failed to handle this request; it was not stored"


# -- scopes --------------------------------------------------------------------------------


def _token_response(client: TestClient, world: Any, kind: str, scope: str | None) -> Any:
    organisation = world[kind]
    form = {**CLIENT_CREDENTIALS, **({"scope": scope} if scope is not None else {})}
    return client.post(TOKEN, data=form, auth=(organisation.client_id, organisation.client_secret))


@pytest.mark.parametrize(
    ("kind", "scope"),
    [
        ("housing_corporation", "audit:read"),  # a scope of another kind of organisation
        ("housing_corporation", "signals:write audit:read"),  # one of two not allowed
        ("privacy_officer", "signals:write"),
        ("housing_corporation", "everything"),  # not a scope at all
    ],
)
def test_a_scope_the_client_may_not_have_is_invalid_scope_not_an_emptier_token(
    client: TestClient, world: Any, kind: str, scope: str
) -> None:
    response = _token_response(client, world, kind, scope)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_scope"
    assert "access_token" not in body


def test_a_scope_the_client_has_is_granted_and_named_in_the_answer(
    client: TestClient, world: Any
) -> None:
    response = _token_response(client, world, "housing_corporation", "signals:read")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "signals:read"
    everything = _token_response(client, world, "housing_corporation", None)
    assert set(everything.json()["scope"].split()) == {"signals:read", "signals:write"}


def _signed_token(broker: Broker, world: Any, kind: str, **claims: Any) -> str:
    organisation = world[kind]
    key = broker.keyring.signing_key()
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "sub": organisation.client_id,
        "client_id": organisation.client_id,
        "org": organisation.id,
        "org_kind": kind,
        **claims,
    }
    header = {"alg": "ES256", "typ": "at+jwt", "kid": key.kid}
    token: str = jwt.encode(header, payload, key)
    return token


@pytest.mark.parametrize(
    "path", ["/v1/policies/active", "/v1/notices", "/v1/signals/" + str(uuid.uuid4())]
)
def test_a_token_without_a_scope_opens_nothing(
    client: TestClient, broker: Broker, world: Any, path: str
) -> None:
    scopeless = _signed_token(broker, world, "housing_corporation", scope="")
    response = client.get(path, headers={"Authorization": f"Bearer {scopeless}"})
    problem_of(response, 403, "forbidden")
    # The same token with a scope is let through the guard: the refusal is the scope's.
    scoped = _signed_token(broker, world, "housing_corporation", scope="signals:read")
    assert client.get(path, headers={"Authorization": f"Bearer {scoped}"}).status_code != 403


# -- client authentication at the token endpoint ------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_an_unknown_client_and_a_wrong_secret_get_the_same_401(
    client: TestClient, world: Any, method: str
) -> None:
    organisation = world["housing_corporation"]

    def ask(client_id: str, secret: str) -> Any:
        if method == "client_secret_basic":
            return client.post(TOKEN, data=CLIENT_CREDENTIALS, auth=(client_id, secret))
        form = {"client_id": client_id, "client_secret": secret}
        return client.post(TOKEN, data={**CLIENT_CREDENTIALS, **form})

    unknown = ask("sx_" + uuid.uuid4().hex[:16], organisation.client_secret)
    wrong = ask(organisation.client_id, organisation.client_secret[::-1])
    for response in (unknown, wrong):
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_client"
        assert response.headers["www-authenticate"].startswith("Basic ")
    assert unknown.json() == wrong.json()
    assert unknown.headers["www-authenticate"] == wrong.headers["www-authenticate"]


# -- JSON bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/signals", "/v1/signals/batch"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_declared_json_is_a_415_and_stores_nothing(
    client: TestClient,
    provider: Headers,
    db_session: Callable[[], Any],
    path: str,
    content_type: str | None,
) -> None:
    body = signal_body() if path == "/v1/signals" else {"signals": [signal_body()]}
    headers = {**provider, **({"content-type": content_type} if content_type else {})}
    response = client.post(path, content=json.dumps(body).encode(), headers=headers)
    problem = problem_of(response, 415, "unsupported-media-type")
    assert "application/json" in problem["detail"]
    assert stored_counts(db_session) == NOTHING_STORED


@pytest.mark.parametrize("path", ["/v1/signals", "/v1/signals/batch"])
def test_json_with_a_charset_or_a_json_suffix_is_taken(
    client: TestClient, provider: Headers, path: str
) -> None:
    for content_type in ("application/json; charset=utf-8", "application/vnd.signal+json"):
        body = signal_body() if path == "/v1/signals" else {"signals": [signal_body()]}
        headers = {**provider, "content-type": content_type}
        response = client.post(path, content=json.dumps(body).encode(), headers=headers)
        assert response.status_code in (200, 201), response.text


def _with_duplicate_key(body: dict[str, Any], inside: str, key: str) -> bytes:
    encoded = json.dumps(body)
    fragment = json.dumps({key: body[inside][key]})[1:-1]
    marker = f'"{inside}": {{'
    assert marker in encoded
    return encoded.replace(marker, marker + fragment + ", ", 1).encode()


@pytest.mark.parametrize("path", ["/v1/signals", "/v1/signals/batch"])
def test_a_key_twice_in_one_object_is_refused_naming_the_key(
    client: TestClient, provider: Headers, db_session: Callable[[], Any], path: str
) -> None:
    signal = signal_body()
    raw = _with_duplicate_key(signal, "person", "bsn")
    if path == "/v1/signals/batch":
        raw = b'{"signals": [' + raw + b"]}"
    response = client.post(path, content=raw, headers={**provider, **JSON})
    problem = problem_of(response, 422, "invalid-input")
    assert problem["errors"] == [{"field": "bsn", "detail": "appears more than once in one object"}]
    assert stored_counts(db_session) == NOTHING_STORED


@pytest.mark.parametrize("path", ["/v1/signals", "/v1/signals/batch"])
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1" * 5000])
def test_numbers_json_does_not_have_or_python_will_not_read_are_malformed_json(
    client: TestClient, provider: Headers, path: str, number: str
) -> None:
    raw = json.dumps(signal_body(amount_cents=12345)).replace("12345", number).encode()
    if path == "/v1/signals/batch":
        raw = b'{"signals": [' + raw + b"]}"
    response = client.post(path, content=raw, headers={**provider, **JSON})
    problem_of(response, 400, "malformed-json")


@pytest.mark.parametrize("path", ["/v1/signals", "/v1/signals/batch"])
def test_an_integer_above_2_to_the_64_is_judged_by_the_field_not_as_a_fraction(
    client: TestClient, provider: Headers, path: str
) -> None:
    raw = json.dumps(signal_body(amount_cents=12345)).replace("12345", str(2**64 + 1)).encode()
    if path == "/v1/signals/batch":
        raw = b'{"signals": [' + raw + b"]}"
    response = client.post(path, content=raw, headers={**provider, **JSON})
    if path == "/v1/signals/batch":
        problem = response.json()["results"][0]["problem"]
    else:
        problem = problem_of(response, 422, "invalid-input")
    [error] = problem["errors"]
    assert error["field"].endswith("amount_cents")
    assert error["detail"] != "must be a whole number"


def test_every_v1_route_reads_its_json_body_through_the_strict_parser() -> None:
    from fastapi.routing import APIRoute

    from exchange.api.app import V1_ROUTERS
    from exchange.http.bodies import JsonRoute

    routes = [route for router in V1_ROUTERS for route in router.routes]
    assert len(routes) > 20
    assert all(isinstance(route, APIRoute) for route in routes)
    assert [r.path for r in routes if not isinstance(r, JsonRoute)] == []


# -- the same limits in the real server ----------------------------------------------------


@pytest.fixture(scope="module")
def served_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``exchange serve`` on a SQLite file (the limits are the HTTP parser's, not the
    database's), set up as bench/ does."""
    from bench import servers

    server, _ = servers.broker(tmp_path_factory.mktemp("served"), "INFO")
    with server:
        yield server


def _raw_exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.slow
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz?x=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-%d: a\r\n" % n for n in range(500))
        + b"\r\n",
    ],
    ids=["100000-char-url", "100000-byte-header", "500-headers"],
)
def test_exchange_serve_refuses_an_oversized_head_as_a_problem_while_parsing_it(
    served_broker: Any, request_bytes: bytes
) -> None:
    answer = _raw_exchange(served_broker.port, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    status = 414 if b"?x=" in request_bytes else 431
    assert status_line.startswith(f"HTTP/1.1 {status} "), answer[:300]
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert json.loads(body)["status"] == status
    # The server goes on serving.
    served = _raw_exchange(
        served_broker.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert served.startswith(b"HTTP/1.1 200 ")
