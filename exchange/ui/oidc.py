"""Logging in with the organisation's identity provider: OpenID Connect, code flow + PKCE,
as the OpenID Connect NLGov profile (v1.0.1) asks of a relying party.

The broker is an OIDC relying party (authlib's PKCE helper, joserfc for the JWTs, httpx for
the back-channel requests). ``state``, ``nonce`` and the PKCE verifier (S256) travel in a
short-lived cookie sealed with a key derived from the broker's own keys, so no server-side
state is needed between the redirect and the callback. At the token endpoint the broker
authenticates with ``private_key_jwt`` when it has a key (``oidc_client_key_file``; NLGov's
preference, its public half at ``/ui/login/oidc/jwks``) and with its secret otherwise. The
ID token's signature (an asymmetric algorithm, the provider's JWKS), issuer, audience (and
``azp`` when there are several), expiry, nonce and level of assurance (``acr``, against
``oidc_minimum_acr``) are all checked before anyone is logged in.

Who may log in is still the broker's decision: the person must have an account (``exchange
user add --oidc``). The first login binds the account to the provider's subject; later
logins match on (issuer, subject) only. The subject is opaque: a pairwise one (OIDC Core
§8.1, a different value for every relying party, which NLGov prefers) works as well as a
public one, since the broker never compares it with anything but its own record.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from functools import cache
from pathlib import Path
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
from joserfc.jwk import ECKey, KeySet, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.broker import Broker
from exchange.http.deps import CurrentBroker, DbSession
from exchange.ui import i18n
from exchange.ui.models import User
from exchange.ui.routes import finish_login
from exchange.ui.web import (
    PUBLIC,
    PageError,
    PageRoute,
    language,
    page,
    safe_next,
    secure_cookies,
)

# Public, as the login form is: the person has no session yet (web.PageRoute).
router = APIRouter(prefix="/ui/login/oidc", include_in_schema=False, route_class=PageRoute)
log = structlog.get_logger("exchange.ui.oidc")
FLOW_COOKIE = "sx_oidc"
FLOW_LIFETIME = 600  # seconds from the redirect to the callback
TIMEOUT = 5.0
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 60  # seconds: the assertion is used once, right away
ID_TOKEN_ALGORITHMS = ["RS256", "PS256", "ES256"]  # asymmetric only: never "none" or HS256
# Levels of assurance by scheme, lowest first. A minimum counts the levels above it in its
# own scheme; levels of different schemes are not compared.
ASSURANCE_SCHEMES: tuple[tuple[str, ...], ...] = (
    (  # eIDAS (Regulation 910/2014, art. 8)
        "http://eidas.europa.eu/LoA/low",
        "http://eidas.europa.eu/LoA/substantial",
        "http://eidas.europa.eu/LoA/high",
    ),
    (  # eHerkenning (Afsprakenstelsel Elektronische Toegangsdiensten)
        "urn:etoegang:core:assurance-class:loa1",
        "urn:etoegang:core:assurance-class:loa2",
        "urn:etoegang:core:assurance-class:loa2plus",
        "urn:etoegang:core:assurance-class:loa3",
        "urn:etoegang:core:assurance-class:loa4",
    ),
    (  # DigiD: Basis, Midden, Substantieel, Hoog
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI",
    ),
)


def acceptable_acr(minimum: str | None) -> tuple[str, ...]:
    """The acr values a login may have under ``minimum``: it and the stronger levels of its
    scheme, or only itself when it belongs to no scheme the broker knows; () for any."""
    if minimum is None:
        return ()
    for scheme in ASSURANCE_SCHEMES:
        if minimum in scheme:
            return scheme[scheme.index(minimum) :]
    return (minimum,)


@router.get("")
@page(PUBLIC)
def start(request: Request, broker: CurrentBroker, next: str | None = None) -> Response:
    settings = broker.settings
    if not settings.oidc_enabled:
        raise PageError(404, "not_found")
    metadata = _metadata(broker, request)
    flow = {
        "state": secrets.token_urlsafe(24),
        "nonce": secrets.token_urlsafe(24),
        "verifier": secrets.token_urlsafe(48),
        "next": safe_next(next),
        "exp": int(time.time()) + FLOW_LIFETIME,
    }
    parameters = {
        "response_type": "code",
        "client_id": settings.oidc_client_id,
        "redirect_uri": _redirect_uri(broker),
        "scope": "openid profile email",
        "state": flow["state"],
        "nonce": flow["nonce"],
        "code_challenge": create_s256_code_challenge(flow["verifier"]),
        "code_challenge_method": "S256",
    }
    acceptable = acceptable_acr(settings.oidc_minimum_acr)
    if acceptable:
        # Asked for (OIDC Core §3.1.2.1), and checked in the ID token all the same.
        parameters["acr_values"] = " ".join(acceptable)
    query = urlencode(parameters)
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
        raise PageError(403, "forbidden", _said(request, "oidc_incomplete"))
    metadata = _metadata(broker, request)
    try:
        token = _exchange_code(broker, metadata["token_endpoint"], code, flow["verifier"])
        claims = _id_token_claims(broker, metadata, token.get("id_token", ""), flow["nonce"])
    except (httpx.HTTPError, JoseError, ValueError, KeyError) as problem:
        log.info("ui.oidc_refused", reason=type(problem).__name__)
        raise PageError(403, "forbidden", _said(request, "oidc_unchecked")) from None
    acceptable = acceptable_acr(broker.settings.oidc_minimum_acr)
    if acceptable and claims.get("acr") not in acceptable:
        log.info("ui.oidc_refused", reason="acr")
        raise PageError(403, "forbidden", _said(request, "oidc_too_weak"))
    user = _account(session, broker, claims)
    if user is None:
        raise PageError(403, "forbidden", _said(request, "oidc_no_account"))
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
    token = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
    client_id = str(broker.settings.oidc_client_id)
    jwt.JWTClaimsRegistry(
        leeway=30,
        iss={"essential": True, "value": metadata["issuer"]},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    ).validate(token.claims)
    audiences = token.claims["aud"]
    if isinstance(audiences, list) and len(audiences) > 1 and token.claims.get("azp") != client_id:
        # OIDC Core §3.1.3.7 items 4 and 5: a token for several parties names us as azp.
        raise ValueError("an ID token for several audiences without this broker as azp")
    return dict(token.claims)


_METADATA: dict[str, tuple[float, dict[str, Any]]] = {}


def _metadata(broker: Broker, request: Request) -> dict[str, Any]:
    """The provider's discovery document, cached for an hour."""
    issuer = (broker.settings.oidc_issuer or "").rstrip("/")
    cached = _METADATA.get(issuer)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    try:
        document = _get_json(f"{issuer}/.well-known/openid-configuration")
    except httpx.HTTPError:
        raise PageError(503, "error", _said(request, "oidc_unreachable")) from None
    if document.get("issuer", "").rstrip("/") != issuer:
        # Misconfigured, not the person's doing; the log says which issuer it named.
        log.warning("ui.oidc_metadata_issuer", named=str(document.get("issuer"))[:200])
        raise PageError(503, "error", _said(request, "oidc_unreachable"))
    _METADATA[issuer] = (time.monotonic() + 3600, document)
    return document


def _said(request: Request, key: str) -> str:
    """The reason, in the page's language."""
    return i18n.text(key, language(request))


def _get_json(url: str) -> dict[str, Any]:
    response = httpx.get(url, timeout=TIMEOUT, follow_redirects=False)
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


def _redirect_uri(broker: Broker) -> str:
    return f"{broker.settings.issuer.rstrip('/')}/ui/login/oidc/callback"


def _exchange_code(broker: Broker, endpoint: str, code: str, verifier: str) -> dict[str, Any]:
    """The token request (RFC 6749 §4.1.3 with the PKCE verifier), authenticated with the
    broker's key (private_key_jwt, RFC 7523 §2.2) where it has one, else its secret."""
    settings = broker.settings
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": _redirect_uri(broker),
        "code_verifier": verifier,
    }
    auth: tuple[str, str] | None = None
    if settings.oidc_client_key_file is not None:
        form["client_id"] = str(settings.oidc_client_id)
        form["client_assertion_type"] = ASSERTION_TYPE
        form["client_assertion"] = client_assertion(
            client_key(settings.oidc_client_key_file), str(settings.oidc_client_id), endpoint
        )
    else:
        auth = (str(settings.oidc_client_id), str(settings.oidc_client_secret))
    response = httpx.post(endpoint, data=form, auth=auth, timeout=TIMEOUT, follow_redirects=False)
    response.raise_for_status()
    token: dict[str, Any] = response.json()
    return token


def client_assertion(key: RSAKey | ECKey, client_id: str, token_endpoint: str) -> str:
    """A JWT that proves the broker holds ``key``: iss and sub the client id, aud the
    provider's token endpoint, used once (jti) and only for a minute."""
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_endpoint,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME,
        "jti": secrets.token_urlsafe(24),
    }
    alg = "ES256" if isinstance(key, ECKey) else "PS256"
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key, algorithms=[alg])


@cache
def client_key(path: Path) -> RSAKey | ECKey:
    """The broker's private key for the provider: a PEM file or a JWK as JSON."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"{"):
        document = json.loads(data)
        key: RSAKey | ECKey = (ECKey if document.get("kty") == "EC" else RSAKey).import_key(
            document
        )
    else:
        try:
            key = ECKey.import_key(data)
        except JoseError:
            key = RSAKey.import_key(data)
    if key.kid is None:
        # A stable key id, the RFC 7638 thumbprint, so the provider can pick the key.
        key = type(key).import_key(key.as_dict(private=True), {"kid": key.thumbprint()})
    return key


@router.get("/jwks")
@page(PUBLIC)
def jwks(request: Request, broker: CurrentBroker) -> Response:
    """The public half of the broker's key, for the provider to check the broker's token
    requests with (the client's ``jwks_uri``)."""
    path = broker.settings.oidc_client_key_file
    if path is None:
        raise PageError(404, "not_found")
    public = {**client_key(path).as_dict(private=False), "use": "sig"}
    return Response(
        json.dumps({"keys": [public]}),
        media_type="application/jwk-set+json",
        headers={"Cache-Control": "public, max-age=300"},
    )


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
