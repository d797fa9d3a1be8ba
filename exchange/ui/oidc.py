"""Logging in with the organisation's identity provider: OpenID Connect, code flow + PKCE.

The broker is an OIDC relying party (authlib's PKCE helper, joserfc for the ID token, httpx
for the two back-channel requests). ``state``, ``nonce`` and the PKCE verifier travel in a
short-lived cookie sealed with a key derived from the broker's own keys, so no server-side
state is needed between the redirect and the callback. The ID token's signature (the
provider's JWKS), issuer, audience, expiry and nonce are all checked before anyone is
logged in.

Who may log in is still the broker's decision: the person must have an account (``exchange
user add --oidc``). The first login binds the account to the provider's subject; later
logins match on that subject only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
import orjson
import structlog
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.broker import Broker
from exchange.http.deps import CurrentBroker, DbSession
from exchange.ui.models import User
from exchange.ui.routes import finish_login
from exchange.ui.web import PUBLIC, PageError, PageRoute, page, safe_next, secure_cookies

# Public, as the login form is: the person has no session yet (web.PageRoute).
router = APIRouter(prefix="/ui/login/oidc", include_in_schema=False, route_class=PageRoute)
log = structlog.get_logger("exchange.ui.oidc")
FLOW_COOKIE = "sx_oidc"
FLOW_LIFETIME = 600  # seconds from the redirect to the callback
TIMEOUT = 5.0


@router.get("")
@page(PUBLIC)
def start(request: Request, broker: CurrentBroker, next: str | None = None) -> Response:
    settings = broker.settings
    if not settings.oidc_enabled:
        raise PageError(404, "not_found")
    metadata = _metadata(broker)
    flow = {
        "state": secrets.token_urlsafe(24),
        "nonce": secrets.token_urlsafe(24),
        "verifier": secrets.token_urlsafe(48),
        "next": safe_next(next),
        "exp": int(time.time()) + FLOW_LIFETIME,
    }
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.oidc_client_id,
            "redirect_uri": _redirect_uri(broker),
            "scope": "openid profile email",
            "state": flow["state"],
            "nonce": flow["nonce"],
            "code_challenge": create_s256_code_challenge(flow["verifier"]),
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse(f"{metadata['authorization_endpoint']}?{query}", status_code=302)
    response.set_cookie(
        FLOW_COOKIE,
        _seal(broker, flow),
        max_age=FLOW_LIFETIME,
        path="/ui/login/oidc",
        httponly=True,
        samesite="lax",  # the callback is a top-level navigation from the provider
        secure=secure_cookies(broker),
    )
    return response


@router.get("/callback")
@page(PUBLIC)
def callback(
    request: Request,
    broker: CurrentBroker,
    session: DbSession,
    code: Annotated[str, Query(max_length=2048)] = "",
    state: Annotated[str, Query(max_length=200)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    flow = _unseal(broker, request.cookies.get(FLOW_COOKIE))
    if flow is None or not hmac.compare_digest(flow["state"], state) or not code or error:
        log.info("ui.oidc_refused", reason="state" if flow else "no_flow", idp_error=error[:40])
        raise PageError(403, "forbidden", "the login with the identity provider did not complete")
    metadata = _metadata(broker)
    try:
        token = _exchange_code(broker, metadata["token_endpoint"], code, flow["verifier"])
        claims = _id_token_claims(broker, metadata, token.get("id_token", ""), flow["nonce"])
    except (httpx.HTTPError, JoseError, ValueError, KeyError) as problem:
        log.info("ui.oidc_refused", reason=type(problem).__name__)
        raise PageError(
            403, "forbidden", "the identity provider's answer did not check out"
        ) from None
    user = _account(session, broker, claims)
    if user is None:
        raise PageError(
            403, "forbidden", "there is no account for you here; ask your administrator"
        )
    response = finish_login(session, broker, user, flow["next"])
    response.delete_cookie(FLOW_COOKIE, path="/ui/login/oidc")
    return response


def _account(session: Session, broker: Broker, claims: dict[str, Any]) -> User | None:
    issuer, subject = broker.settings.oidc_issuer, str(claims["sub"])
    user = session.scalar(
        select(User).where(User.oidc_issuer == issuer, User.oidc_subject == subject)
    )
    if user is None:
        name = claims.get(broker.settings.oidc_username_claim)
        if not isinstance(name, str):
            return None
        # First login: an account made for this person, not yet bound, without a password.
        user = session.scalar(
            select(User).where(
                User.username == name.strip().lower(),
                User.oidc_subject.is_(None),
                User.password_hash.is_(None),
            )
        )
        if user is None:
            return None
        user.oidc_issuer, user.oidc_subject = issuer, subject
    return user if user.active else None


def _id_token_claims(
    broker: Broker, metadata: dict[str, Any], id_token: str, nonce: str
) -> dict[str, Any]:
    keys = KeySet.import_key_set(_get_json(metadata["jwks_uri"]))  # type: ignore[arg-type]
    token = jwt.decode(id_token, keys)
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]},
        aud={"essential": True, "value": str(broker.settings.oidc_client_id)},
        exp={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    ).validate(token.claims)
    return dict(token.claims)


_METADATA: dict[str, tuple[float, dict[str, Any]]] = {}


def _metadata(broker: Broker) -> dict[str, Any]:
    """The provider's discovery document, cached for an hour."""
    issuer = (broker.settings.oidc_issuer or "").rstrip("/")
    cached = _METADATA.get(issuer)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    try:
        document = _get_json(f"{issuer}/.well-known/openid-configuration")
    except httpx.HTTPError:
        raise PageError(503, "error", "the identity provider cannot be reached") from None
    if document.get("issuer", "").rstrip("/") != issuer:
        raise PageError(503, "error", "the identity provider's metadata names another issuer")
    _METADATA[issuer] = (time.monotonic() + 3600, document)
    return document


def _get_json(url: str) -> dict[str, Any]:
    response = httpx.get(url, timeout=TIMEOUT, follow_redirects=False)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


def _redirect_uri(broker: Broker) -> str:
    return f"{broker.settings.issuer.rstrip('/')}/ui/login/oidc/callback"


def _exchange_code(broker: Broker, endpoint: str, code: str, verifier: str) -> dict[str, Any]:
    """The token request (RFC 6749 4.1.3 with the PKCE verifier), client_secret_basic."""
    settings = broker.settings
    response = httpx.post(
        endpoint,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": _redirect_uri(broker),
            "code_verifier": verifier,
        },
        auth=(str(settings.oidc_client_id), str(settings.oidc_client_secret)),
        timeout=TIMEOUT,
        follow_redirects=False,
    )
    response.raise_for_status()
    token: dict[str, Any] = response.json()
    return token


def _flow_key(broker: Broker) -> bytes:
    return hmac.new(broker.keyring.digest.active, b"ui-oidc-flow", hashlib.sha256).digest()


def _seal(broker: Broker, flow: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(orjson.dumps(flow)).decode()
    tag = hmac.new(_flow_key(broker), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{tag}"


def _unseal(broker: Broker, value: str | None) -> dict[str, Any] | None:
    if not value or "." not in value:
        return None
    body, tag = value.rsplit(".", 1)
    expected = hmac.new(_flow_key(broker), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, tag):
        return None
    flow: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(body))
    return flow if flow.get("exp", 0) > time.time() else None
