"""Logging in with an OpenID Connect provider, as the OpenID Connect NLGov profile (v1.0.1)
asks of a relying party, against a real provider library in this process.

The provider (tests/oidc_provider.py) is authlib's authorization server with its OpenID
Connect, PKCE and RFC 7523 extensions, served over HTTP: it checks the PKCE verifier, the
broker's client authentication and the code itself, and signs ID tokens with pairwise
subjects. One test per profile requirement, named after it, and one per fault the broker
must refuse.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from exchange.api.app import create_app
from exchange.broker import Broker
from exchange.config import Settings
from exchange.ui.accounts import add_user
from exchange.ui.models import User
from tests.conftest import ISSUER
from tests.oidc_provider import Provider, Relying, running_provider

CLIENT_ID, CLIENT_SECRET = "signal-exchange", "s3cret-for-tests-only"
REDIRECT_URI = f"{ISSUER}/ui/login/oidc/callback"
SUBSTANTIAL = "http://eidas.europa.eu/LoA/substantial"
Browser = Callable[..., TestClient]


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        yield running


@pytest.fixture
def open_browser(settings: Settings, provider: Provider, world: Any) -> Iterator[Browser]:
    """A browser on a broker set up for the provider; ``**settings`` change the set-up."""
    brokers: list[Broker] = []
    clients: list[TestClient] = []

    def make(**changes: Any) -> TestClient:
        configured = settings.model_copy(
            update={
                "oidc_issuer": provider.url,
                "oidc_client_id": CLIENT_ID,
                "oidc_client_secret": CLIENT_SECRET,
                **changes,
            }
        )
        broker = Broker.start(configured)
        brokers.append(broker)
        client = TestClient(create_app(broker=broker), base_url=ISSUER, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)
    for broker in brokers:
        broker.engine.dispose()


@pytest.fixture
def browser(open_browser: Browser, provider: Provider) -> TestClient:
    """The broker registered at the provider with a client secret."""
    provider.relying[CLIENT_ID] = Relying(
        CLIENT_ID, REDIRECT_URI, "client_secret_basic", secret=CLIENT_SECRET
    )
    return open_browser()


def account(db_session: Any, world: Any, username: str = "jan@example.test") -> None:
    with db_session() as session:
        add_user(
            session,
            organisation_id=uuid.UUID(world["neighbourhood_team"].id),
            username=username,
            display_name="Jan",
            password=None,
        )


def round_trip(
    browser: TestClient,
    *,
    tamper_state: bool = False,
    rewrite: Callable[[dict[str, str]], None] | None = None,
) -> httpx.Response:
    """The browser's part: to the provider and back with the code."""
    start = browser.get("/ui/login/oidc", params={"next": "/ui/cases"})
    assert start.status_code == 302, start.text
    location = start.headers["location"]
    if rewrite is not None:
        parts = urlsplit(location)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        rewrite(query)
        location = urlunsplit(parts._replace(query=urlencode(query)))
    back = httpx.get(location, follow_redirects=False)
    assert back.status_code == 302, back.text
    callback = urlsplit(back.headers["location"])
    query = callback.query
    if tamper_state:
        query = urlencode({"code": parse_qs(query)["code"][0], "state": "forged"})
    return browser.get(f"{callback.path}?{query}")


def authorization_request(browser: TestClient) -> dict[str, str]:
    start = browser.get("/ui/login/oidc")
    return {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}


def assert_logged_in(browser: TestClient, landed: httpx.Response) -> None:
    assert landed.status_code == 303, landed.text
    assert landed.headers["location"] == "/ui/cases"
    assert browser.get("/ui/cases").status_code == 200


def assert_refused(browser: TestClient, refused: httpx.Response) -> None:
    assert refused.status_code == 403, refused.text
    assert "sx_session" not in refused.headers.get("set-cookie", "")
    assert browser.get("/ui/cases").status_code == 303  # still not logged in


# --- the login, bound to the provider's pairwise subject --------------------------------------


def test_a_person_with_an_account_logs_in_through_the_provider_and_is_bound_to_it(
    browser: TestClient, provider: Provider, world: Any, db_session: Any
) -> None:
    account(db_session, world)
    assert_logged_in(browser, round_trip(browser))
    with db_session() as session:
        user = session.query(User).one()
        assert (user.oidc_issuer, user.oidc_subject) == (
            provider.url,
            provider.pairwise_subject("broker.test"),
        )
    # From now on the subject decides, not the e-mail the provider sends.
    provider.email = "someone-else@example.test"
    browser.cookies.clear()
    assert_logged_in(browser, round_trip(browser))


def test_a_pairwise_subject_is_accepted_and_only_that_subject_opens_the_account(
    browser: TestClient, provider: Provider, world: Any, db_session: Any
) -> None:
    account(db_session, world)
    assert_logged_in(browser, round_trip(browser))
    bound = provider.pairwise_subject("broker.test")
    # Opaque and per relying party: not the provider's own account id, and another
    # sector would see another value for the same person.
    assert bound != provider.local_id
    assert provider.pairwise_subject("other-party.example") != bound
    # The provider now sends another subject with the same e-mail: the bound account does
    # not open for it (the e-mail only ever names an account that is not yet bound).
    provider.salt = b"another salt"
    browser.cookies.clear()
    assert_refused(browser, round_trip(browser))


def test_the_login_page_offers_the_provider_when_configured(browser: TestClient) -> None:
    assert "/ui/login/oidc" in browser.get("/ui/login").text


# --- PKCE with S256 (NLGov §2.1.5, RFC 7636) ------------------------------------------------


def test_pkce_s256_the_authorization_request_carries_an_s256_challenge(
    browser: TestClient,
) -> None:
    request = authorization_request(browser)
    assert request["code_challenge_method"] == "S256"
    challenge = request["code_challenge"]
    assert len(base64.urlsafe_b64decode(challenge + "=" * (-len(challenge) % 4))) == 32
    assert request["state"] and request["nonce"]
    assert request["scope"].split()[0] == "openid"


def test_pkce_s256_a_code_obtained_for_another_challenge_is_refused(
    browser: TestClient, world: Any, db_session: Any
) -> None:
    account(db_session, world)

    def other_challenge(query: dict[str, str]) -> None:
        digest = hashlib.sha256(b"a verifier the broker never made").digest()
        query["code_challenge"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    # The provider (authlib's CodeChallenge) refuses the broker's verifier for that code.
    assert_refused(browser, round_trip(browser, rewrite=other_challenge))


# --- private_key_jwt towards the provider (NLGov §3.1.6, RFC 7523) -------------------------


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "oidc-client-key.json"
    path.write_text(json.dumps(ECKey.generate_key("P-256").as_dict(private=True)))
    return path


def test_private_key_jwt_the_broker_authenticates_with_its_key_published_at_its_jwks(
    open_browser: Browser, provider: Provider, key_file: Path, world: Any, db_session: Any
) -> None:
    browser = open_browser(oidc_client_secret=None, oidc_client_key_file=key_file)
    published = browser.get("/ui/login/oidc/jwks")
    assert published.status_code == 200
    assert published.headers["content-type"].startswith("application/jwk-set+json")
    keys = published.json()["keys"]
    assert len(keys) == 1 and "d" not in keys[0] and keys[0]["kid"]
    # The provider registers the broker by the keys it publishes, and no secret.
    provider.relying[CLIENT_ID] = Relying(
        CLIENT_ID, REDIRECT_URI, "private_key_jwt", jwks={"keys": keys}
    )
    account(db_session, world)
    assert_logged_in(browser, round_trip(browser))
    assert provider.client_auth_methods == ["private_key_jwt"]


def test_private_key_jwt_an_assertion_the_provider_cannot_verify_fails_the_login(
    open_browser: Browser, provider: Provider, key_file: Path, world: Any, db_session: Any
) -> None:
    browser = open_browser(oidc_client_secret=None, oidc_client_key_file=key_file)
    stranger = ECKey.generate_key("P-256", auto_kid=True).as_dict(private=False)
    provider.relying[CLIENT_ID] = Relying(
        CLIENT_ID, REDIRECT_URI, "private_key_jwt", jwks={"keys": [stranger]}
    )
    account(db_session, world)
    assert_refused(browser, round_trip(browser))
    assert provider.client_auth_methods == []


def test_the_jwks_page_is_absent_without_a_key(browser: TestClient) -> None:
    assert browser.get("/ui/login/oidc/jwks").status_code == 404


# --- acr against a configured minimum (NLGov §2.3.3, OIDC Core §3.1.2.1) --------------------


def test_acr_the_authorization_request_asks_for_the_minimum_and_stronger(
    open_browser: Browser, provider: Provider
) -> None:
    provider.relying[CLIENT_ID] = Relying(
        CLIENT_ID, REDIRECT_URI, "client_secret_basic", secret=CLIENT_SECRET
    )
    browser = open_browser(oidc_minimum_acr=SUBSTANTIAL)
    assert authorization_request(browser)["acr_values"].split() == [
        SUBSTANTIAL,
        "http://eidas.europa.eu/LoA/high",
    ]


@pytest.mark.parametrize(
    ("acr", "admitted"),
    [
        ("http://eidas.europa.eu/LoA/high", True),
        (SUBSTANTIAL, True),
        ("http://eidas.europa.eu/LoA/low", False),
        ("urn:etoegang:core:assurance-class:loa4", False),  # another scheme: not compared
        (None, False),
    ],
)
def test_acr_a_login_below_the_configured_minimum_is_refused(
    open_browser: Browser,
    provider: Provider,
    world: Any,
    db_session: Any,
    acr: str | None,
    admitted: bool,
) -> None:
    provider.relying[CLIENT_ID] = Relying(
        CLIENT_ID, REDIRECT_URI, "client_secret_basic", secret=CLIENT_SECRET
    )
    browser = open_browser(oidc_minimum_acr=SUBSTANTIAL)
    account(db_session, world)
    provider.acr = acr
    landed = round_trip(browser)
    if admitted:
        assert_logged_in(browser, landed)
    else:
        assert_refused(browser, landed)
        # The reason, in the page's language (Dutch by default).
        assert "niet sterk genoeg" in landed.text and "not strong enough" not in landed.text


def test_acr_without_a_minimum_any_level_is_admitted(
    browser: TestClient, provider: Provider, world: Any, db_session: Any
) -> None:
    account(db_session, world)
    provider.acr = None
    assert "acr_values" not in authorization_request(browser)
    assert_logged_in(browser, round_trip(browser))


# --- faults the broker refuses ---------------------------------------------------------------


@pytest.mark.parametrize("fault", ["state", "nonce", "signature", "azp", "no_account"])
def test_a_login_that_does_not_check_out_is_refused(
    browser: TestClient, provider: Provider, world: Any, db_session: Any, fault: str
) -> None:
    if fault != "no_account":
        account(db_session, world)
    provider.wrong_nonce = fault == "nonce"
    provider.foreign_key = fault == "signature"
    # A token for two audiences that does not name the broker as its authorised party.
    provider.extra_audience = "another-party" if fault == "azp" else None
    assert_refused(browser, round_trip(browser, tamper_state=fault == "state"))
