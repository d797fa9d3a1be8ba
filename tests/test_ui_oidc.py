"""Logging in with an OpenID Connect provider: a real provider over HTTP, in this process.

The provider below is small but honest: discovery, an authorization endpoint that sends the
browser back with a code, a token endpoint that checks the client's secret, the code and the
PKCE verifier and signs an ID token (ES256), and its JWKS. What it does wrong on purpose is
set per test, to prove the broker refuses it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey

from exchange.api.app import create_app
from exchange.broker import Broker
from exchange.config import Settings
from exchange.ui.accounts import add_user
from exchange.ui.models import User
from tests.conftest import ISSUER

CLIENT_ID, CLIENT_SECRET = "signal-exchange", "s3cret-for-tests-only"


@dataclass
class Provider:
    url: str
    key: ECKey
    subject: str = "idp-subject-1"
    email: str = "jan@example.test"
    wrong_nonce: bool = False
    foreign_key: bool = False
    codes: dict[str, dict[str, str]] = field(default_factory=dict)


def _provider_app(provider: Provider) -> FastAPI:
    app = FastAPI()

    @app.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        return {
            "issuer": provider.url,
            "authorization_endpoint": f"{provider.url}/authorize",
            "token_endpoint": f"{provider.url}/token",
            "jwks_uri": f"{provider.url}/jwks",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["ES256"],
        }

    @app.get("/authorize")
    def authorize(request: Request) -> RedirectResponse:
        query = request.query_params
        assert query["client_id"] == CLIENT_ID and query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        provider.codes[code] = dict(query)
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return RedirectResponse(target, status_code=302)

    @app.post("/token")
    def token(
        request: Request,
        code: str = Form(),
        code_verifier: str = Form(),
        redirect_uri: str = Form(),
    ) -> JSONResponse:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        asked = provider.codes.pop(code, None)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if asked is None or asked["code_challenge"] != challenge:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        assert redirect_uri == asked["redirect_uri"]
        now = int(time.time())
        claims = {
            "iss": provider.url,
            "aud": CLIENT_ID,
            "sub": provider.subject,
            "email": provider.email,
            "nonce": "not-the-nonce" if provider.wrong_nonce else asked["nonce"],
            "iat": now,
            "exp": now + 300,
        }
        key = ECKey.generate_key("P-256") if provider.foreign_key else provider.key
        id_token = jwt.encode({"alg": "ES256", "kid": "k1"}, claims, key)
        return JSONResponse({"access_token": "x", "token_type": "Bearer", "id_token": id_token})

    @app.get("/jwks")
    def jwks() -> dict[str, Any]:
        return {"keys": [provider.key.as_dict(private=False, kid="k1")]}

    return app


@pytest.fixture
def provider() -> Iterator[Provider]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = Provider(url=f"http://127.0.0.1:{port}", key=ECKey.generate_key("P-256"))
    server = uvicorn.Server(
        uvicorn.Config(_provider_app(state), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield state
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def browser(settings: Settings, provider: Provider, world: Any) -> Iterator[TestClient]:
    configured = settings.model_copy(
        update={
            "oidc_issuer": provider.url,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": CLIENT_SECRET,
        }
    )
    broker = Broker.start(configured)
    try:
        with TestClient(create_app(broker=broker), base_url=ISSUER, follow_redirects=False) as c:
            yield c
    finally:
        broker.engine.dispose()


def account(db_session: Any, world: Any, username: str = "jan@example.test") -> None:
    with db_session() as session:
        add_user(
            session,
            organisation_id=uuid.UUID(world["neighbourhood_team"].id),
            username=username,
            display_name="Jan",
            password=None,
        )


def round_trip(browser: TestClient, *, tamper_state: bool = False) -> httpx.Response:
    """The browser's part: to the provider and back with the code."""
    start = browser.get("/ui/login/oidc", params={"next": "/ui/cases"})
    assert start.status_code == 302, start.text
    back = httpx.get(start.headers["location"], follow_redirects=False)
    assert back.status_code == 302
    callback = urlsplit(back.headers["location"])
    query = callback.query
    if tamper_state:
        query = urlencode({"code": parse_qs(query)["code"][0], "state": "forged"})
    return browser.get(f"{callback.path}?{query}")


def test_a_person_with_an_account_logs_in_through_the_provider_and_is_bound_to_it(
    browser: TestClient, provider: Provider, world: Any, db_session: Any
) -> None:
    account(db_session, world)
    landed = round_trip(browser)
    assert landed.status_code == 303, landed.text
    assert landed.headers["location"] == "/ui/cases"
    assert browser.get("/ui/cases").status_code == 200
    with db_session() as session:
        user = session.query(User).one()
        assert (user.oidc_issuer, user.oidc_subject) == (provider.url, provider.subject)
    # From now on the subject decides, not the e-mail the provider sends.
    provider.email = "someone-else@example.test"
    browser.cookies.clear()
    assert round_trip(browser).status_code == 303


def test_the_login_page_offers_the_provider_when_configured(browser: TestClient) -> None:
    assert "/ui/login/oidc" in browser.get("/ui/login").text


@pytest.mark.parametrize("fault", ["state", "nonce", "signature", "no_account"])
def test_a_login_that_does_not_check_out_is_refused(
    browser: TestClient, provider: Provider, world: Any, db_session: Any, fault: str
) -> None:
    if fault != "no_account":
        account(db_session, world)
    provider.wrong_nonce = fault == "nonce"
    provider.foreign_key = fault == "signature"
    refused = round_trip(browser, tamper_state=fault == "state")
    assert refused.status_code == 403
    assert "sx_session" not in refused.headers.get("set-cookie", "")
    assert browser.get("/ui/cases").status_code == 303  # still not logged in
