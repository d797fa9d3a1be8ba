"""The OAuth 2.0 token endpoint (client credentials, RFC 6749 §4.4) and token validation.

Access tokens are JWTs in the RFC 9068 profile (``typ: at+jwt``), signed with ES256 by the
active key of the keyring; every key still in the keyring is published in the JWKS, so a
rotated key keeps validating the tokens it signed until they expire.

Clients authenticate with a secret (``client_secret_basic``/``_post``) or, as the NL GOV
Assurance profile for OAuth 2.0 asks of machine clients, with a JWT signed by a key they
registered (``private_key_jwt``, RFC 7523). A client registered with a certificate gets
tokens bound to it (``cnf.x5t#S256``, RFC 8705), which only count when a request presents
that certificate again through the TLS-terminating proxy.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidScopeError, OAuth2Error
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization, scope_to_list
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc import jws, jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import JSONResponse

from exchange.auth.keys import ASSERTION_ALGORITHMS, presented_thumbprint
from exchange.auth.models import ApiClient, SeenAssertion, hash_secret
from exchange.auth.scopes import ALL_SCOPES
from exchange.auth.terms import PRIVATE_KEY_JWT, SECRET_METHODS
from exchange.db import unit_of_work
from exchange.errors import Unauthenticated
from exchange.organisations.terms import OrganisationKind
from exchange.vault.keyring import Keyring

AUDIENCE = "signal-exchange"
CLIENT_ID_MAX_LENGTH = 64  # the api_clients.client_id column
ALGORITHM = "ES256"
VERIFIED_TOKENS_KEPT = 10_000
RELOAD_AFTER = 5.0  # seconds between key reloads for tokens signed by an unknown key
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# How far ahead a client assertion may expire. It is used once, right away; its jti is kept
# until it expires, so a short horizon keeps the replay table small (RFC 7523 §3 item 4
# lets the server refuse an exp unreasonably far in the future).
MAX_ASSERTION_LIFETIME = 300
LEEWAY = 30  # seconds of clock difference allowed between the broker and its clients
JTI_MAX_LENGTH = 255  # the client_assertion_jtis.jti column
log = structlog.get_logger("exchange.auth")
# Compared against when the client id is unknown, so that an unknown id costs what a wrong
# secret costs; no secret hashes to it (it is not a SHA-256 hex digest).
_NO_CLIENT_HASH = "-" * 64
_LEEWAY = dt.timedelta(seconds=LEEWAY)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a client acting for one organisation, with the scopes it holds."""

    client_id: str
    organisation_id: uuid.UUID
    organisation_kind: OrganisationKind
    scopes: frozenset[str]
    # x5t#S256 of the certificate the token is bound to (RFC 8705 §3), if it is bound.
    certificate_thumbprint: str | None = None


class _ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = [*SECRET_METHODS, PRIVATE_KEY_JWT]  # noqa: RUF012

    def validate_requested_scope(self) -> None:
        """RFC 6749 §5.2: a scope the client may not have is ``invalid_scope``.

        authlib's client hook can only narrow the request, so a client asking for a scope it
        lacks got a token with what was left, possibly nothing: a caller must learn that it
        asked for too much, not find out at the first 403.
        """
        client: ApiClient = self.request.client
        allowed = set(client.scopes.split())
        refused = [s for s in scope_to_list(self.request.payload.scope) or [] if s not in allowed]
        if refused:
            known = [s for s in refused if s in ALL_SCOPES]
            raise InvalidScopeError(
                description=(
                    f"this client may not have the scope {' '.join(known)}"
                    if known
                    else "the requested scope is not one this broker knows"
                )
            )


class _TokenGenerator(JWTBearerTokenGenerator):  # type: ignore[misc]
    def __init__(self, keyring: Keyring, issuer: str, lifetime: int) -> None:
        super().__init__(issuer=issuer, alg=ALGORITHM, expires_generator=lambda *_: lifetime)
        self.keyring = keyring

    def get_jwks(self) -> KeySet:
        return KeySet([self.keyring.signing_key()])

    def get_audiences(self, client: ApiClient, user: object, scope: str) -> str:
        return AUDIENCE

    def get_jti(self, client: ApiClient, grant_type: str, user: object, scope: str) -> str:
        # 128 random bits; authlib's default of 16 characters of [A-Za-z0-9] holds about 95.
        return secrets.token_urlsafe(16)

    def get_extra_claims(
        self, client: ApiClient, grant_type: str, user: object, scope: str
    ) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "org": str(client.organisation_id),
            "org_kind": client.organisation.kind,
        }
        if client.certificate_thumbprint is not None:
            claims["cnf"] = {"x5t#S256": client.certificate_thumbprint}
        return claims


class _TokenRequest(OAuth2Request):  # type: ignore[misc]
    def __init__(
        self, method: str, uri: str, headers: Mapping[str, str], form: dict[str, str]
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self._form = form
        self.payload = BasicOAuth2Payload(form)

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self._form


@dataclass(frozen=True)
class TokenRequest:
    """The parts of an HTTP request that the token endpoint reads."""

    method: str
    uri: str
    headers: Mapping[str, str]  # case-insensitive, as authlib looks up "Authorization"
    form: dict[str, str]


class TokenServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's authorization server, with the broker's clients and keys."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        keyring: Keyring,
        issuer: str,
        lifetime: int,
        certificate_header: str | None = None,
    ) -> None:
        super().__init__(scopes_supported=list(ALL_SCOPES))
        self.sessions = sessions
        self.issuer = issuer.rstrip("/")
        # The header in which the TLS-terminating proxy passes the client certificate it
        # verified; None when mutual TLS is not set up, so no token can be bound.
        self.certificate_header = certificate_header
        self.register_grant(_ClientCredentials)
        self.register_token_generator("default", _TokenGenerator(keyring, issuer, lifetime))

    def query_client(self, client_id: str) -> ApiClient | None:
        # Not a client id the broker issues; PostgreSQL would refuse a NUL in it outright.
        if len(client_id) > CLIENT_ID_MAX_LENGTH or "\x00" in client_id:
            return None
        with self.sessions() as session:
            client = session.scalar(
                select(ApiClient).where(
                    ApiClient.client_id == client_id, ApiClient.revoked_at.is_(None)
                )
            )
            return client

    def authenticate_client(
        self, request: OAuth2Request, methods: list[str], endpoint: str = "token"
    ) -> ApiClient:
        """The client, by its secret or by its signed assertion (RFC 7523 §2.2).

        A request with ``client_assertion_type`` is a private_key_jwt request, whatever else
        it carries; one without is a secret request. A client uses the one way it was
        registered for (``ApiClient.check_endpoint_auth_method``).
        """
        if "client_assertion_type" in request.form or "client_assertion" in request.form:
            client, method = self._client_by_assertion(request), PRIVATE_KEY_JWT
        else:
            client, method = self._client_by_secret(request)
        if method not in methods or not client.check_endpoint_auth_method(method, endpoint):
            raise InvalidClientError(
                status_code=401,
                description=f"this client does not authenticate with {method}",
            )
        self._check_certificate(client, request)
        request.auth_method = method
        return client

    def _client_by_secret(self, request: OAuth2Request) -> tuple[ApiClient, str]:
        """The client by its id and secret, from HTTP Basic or else the form (RFC 6749 §2.3.1).

        One answer for every failure: an unknown client id, a wrong secret and a revoked
        client are all 401 ``invalid_client`` with the same description, and each costs the
        same secret comparison, so the endpoint tells nobody which client ids exist. A
        client registered with keys has no secret (an empty hash no secret hashes to).
        """
        client_id, secret, method = _presented_credentials(request)
        client = self.query_client(client_id) if client_id else None
        expected = client.secret_hash if client is not None else _NO_CLIENT_HASH
        matches = hmac.compare_digest(expected, hash_secret(secret))
        if client is None or not matches:
            raise InvalidClientError(
                status_code=401, description="the client id and secret are not valid"
            )
        return client, method

    def _client_by_assertion(self, request: OAuth2Request) -> ApiClient:
        """The client whose registered key signed ``client_assertion``, checked as RFC 7523 §3
        and the NL GOV profile ask: iss and sub the client id, aud this server, a near exp,
        and a jti never seen before (kept in the database, so no replica accepts it twice).

        Until the signature is verified every failure has one answer, so nobody learns
        which client ids exist; after it, the client is told what was wrong with its claims.
        """
        form = request.form
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise InvalidClientError(
                status_code=401, description=f"client_assertion_type must be {ASSERTION_TYPE}"
            )
        assertion = form.get("client_assertion") or ""
        not_valid = InvalidClientError(
            status_code=401, description="the client assertion is not valid"
        )
        client_id = _unverified_subject(assertion)
        if client_id is None or form.get("client_id", client_id) != client_id:
            raise not_valid
        client = self.query_client(client_id)
        if client is None or client.jwks is None:
            raise not_valid
        keys = KeySet.import_key_set(json.loads(client.jwks))
        try:
            decoded = jwt.decode(assertion, keys, algorithms=list(ASSERTION_ALGORITHMS))
        except (JoseError, ValueError, TypeError):
            raise not_valid from None
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": client_id},
            sub={"essential": True, "value": client_id},
            # OpenID Connect Core §9 names the token endpoint; RFC 7523 allows the issuer.
            aud={"essential": True, "values": [f"{self.issuer}/oauth/token", self.issuer]},
            exp={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as error:
            raise InvalidClientError(
                status_code=401, description=f"the client assertion's claims: {error}"
            ) from None
        expires = claims["exp"]
        jti = claims["jti"]
        if not isinstance(expires, int | float) or not isinstance(jti, str):
            raise not_valid
        if expires - time.time() > MAX_ASSERTION_LIFETIME + LEEWAY:
            raise InvalidClientError(
                status_code=401,
                description=(
                    f"the client assertion must expire within {MAX_ASSERTION_LIFETIME} seconds"
                ),
            )
        if not 1 <= len(jti) <= JTI_MAX_LENGTH:
            raise InvalidClientError(
                status_code=401,
                description=f"the client assertion's jti must be 1 to {JTI_MAX_LENGTH} characters",
            )
        self._remember(client_id, jti, float(expires))
        return client

    def _remember(self, client_id: str, jti: str, expires: float) -> None:
        """Record an assertion's jti; ``invalid_client`` if it was recorded before."""
        now = dt.datetime.now(dt.UTC)
        try:
            for session in unit_of_work(self.sessions):
                # Expired entries go first: an expired assertion cannot be replayed anyway.
                session.execute(
                    delete(SeenAssertion).where(SeenAssertion.expires_at < now - _LEEWAY)
                )
                session.add(
                    SeenAssertion(
                        client_id=client_id,
                        jti=jti,
                        expires_at=dt.datetime.fromtimestamp(expires, dt.UTC),
                    )
                )
        except IntegrityError:
            raise InvalidClientError(
                status_code=401,
                description="the client assertion was used before: sign a new one (jti)",
            ) from None

    def _check_certificate(self, client: ApiClient, request: OAuth2Request) -> None:
        """A client registered with a certificate gets a token only over mutual TLS with it."""
        if client.certificate_thumbprint is None:
            return
        if not self.certificate_header:
            raise InvalidClientError(
                status_code=401,
                description=(
                    "this client's tokens are bound to its certificate, and this broker "
                    "is not set up for mutual TLS (mtls_client_certificate_header)"
                ),
            )
        presented = presented_thumbprint(request.headers, self.certificate_header)
        if presented is None or not hmac.compare_digest(presented, client.certificate_thumbprint):
            raise InvalidClientError(
                status_code=401,
                description="present this client's certificate over mutual TLS to get a token",
            )

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        # Tokens are self-contained JWTs; nothing to store. The event has no secret in it.
        log.info("token.issued", client_id=request.client.client_id, scope=token.get("scope"))

    def create_oauth2_request(self, request: TokenRequest) -> OAuth2Request:
        return _TokenRequest(request.method, request.uri, request.headers, request.form)

    def create_json_request(self, request: TokenRequest) -> None:
        raise NotImplementedError

    def handle_response(
        self, status: int, body: dict[str, Any], headers: list[tuple[str, str]]
    ) -> JSONResponse:
        response = JSONResponse(body, status_code=status)
        for name, value in headers:
            if name.lower() != "content-type":
                response.headers[name] = value
        response.headers["Cache-Control"] = "no-store"
        return response

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        return None

    def issue(self, request: TokenRequest) -> JSONResponse:
        if not _readable_basic_credentials(request.headers.get("Authorization")):
            # authlib would raise on these rather than answer invalid_client.
            error = InvalidClientError(
                status_code=401, description="the Basic credentials are not base64 of UTF-8 text"
            )
            return self.handle_response(*error())
        try:
            response: JSONResponse = self.create_token_response(request)
        except OAuth2Error as error:
            # authlib raises some errors before its own handling starts, such as a token
            # request over plain HTTP to a host other than localhost (insecure_transport):
            # the client gets the RFC 6749 error, not a 500.
            return self.handle_response(*error())
        return response


def _presented_credentials(request: OAuth2Request) -> tuple[str | None, str, str]:
    """(client id, secret, method) as the client sent them: HTTP Basic first, as RFC 6749
    §2.3.1 prefers it, else the ``client_id`` and ``client_secret`` form fields."""
    client_id, secret = extract_basic_authorization(request.headers)
    if client_id:
        return client_id, secret or "", "client_secret_basic"
    form = request.form
    return form.get("client_id") or None, form.get("client_secret") or "", "client_secret_post"


def _unverified_subject(assertion: str) -> str | None:
    """The client id an assertion claims (``sub``), read before its signature is checked, to
    find the key to check it with; None for anything that is not a JWS with a string sub."""
    if not assertion or len(assertion) > 16_384:
        return None
    try:
        payload = json.loads(jws.extract_compact(assertion.encode()).payload)
    except (JoseError, ValueError, TypeError):
        return None
    subject = payload.get("sub") if isinstance(payload, dict) else None
    if not isinstance(subject, str) or len(subject) > CLIENT_ID_MAX_LENGTH:
        return None
    return subject


def _readable_basic_credentials(header: str | None) -> bool:
    """False for Basic credentials that are not base64 of UTF-8 (authlib raises on them)."""
    parts = (header or "").split(None, 1)
    if not parts or parts[0].lower() != "basic":
        return True
    if len(parts) == 1:
        return False
    try:
        base64.b64decode(parts[1]).decode("utf-8")
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return False
    return True


class TokenValidator:
    """Checks a bearer token: signature by a key in the keyring, issuer, audience, expiry."""

    def __init__(self, keyring: Keyring, issuer: str) -> None:
        self.keyring = keyring
        self._reloaded_at = -RELOAD_AFTER
        self.public_keys = KeySet.import_key_set(keyring.public_jwks())  # type: ignore[arg-type]
        self.claims = jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": AUDIENCE},
            exp={"essential": True},
            client_id={"essential": True},
            org={"essential": True},
            org_kind={"essential": True},
        )
        self._verified: dict[str, tuple[Principal, float]] = {}

    def validate(self, token: str) -> Principal:
        # A client uses one token for its whole lifetime; checking the signature once per
        # token rather than once per request saves a signature verification per signal.
        # The cache holds only tokens that verified, and each only until it expires.
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[1]:
            return cached[0]
        principal, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        if self._unknown_key(token) and time.monotonic() - self._reloaded_at > RELOAD_AFTER:
            # Signed by a key rotated in after this process started: read the keys again
            # (at most every few seconds, so tokens with made-up key ids cost nothing).
            self._reloaded_at = time.monotonic()
            self.keyring = self.keyring.reloaded()
            self.public_keys = KeySet.import_key_set(self.keyring.public_jwks())  # type: ignore[arg-type]
        try:
            decoded = jwt.decode(token, self.public_keys, algorithms=[ALGORITHM])
            if decoded.header.get("typ") != "at+jwt":
                raise Unauthenticated("the token is not an access token")
            self.claims.validate(decoded.claims)
            claims = decoded.claims
            principal = Principal(
                client_id=claims["client_id"],
                organisation_id=uuid.UUID(claims["org"]),
                organisation_kind=OrganisationKind(claims["org_kind"]),
                scopes=frozenset(str(claims.get("scope", "")).split()),
                certificate_thumbprint=_bound_thumbprint(claims.get("cnf")),
            )
            return principal, float(claims["exp"])
        except ExpiredTokenError:
            raise Unauthenticated("the access token has expired") from None
        except (JoseError, ValueError, KeyError):
            raise Unauthenticated("the access token is not valid") from None

    def _unknown_key(self, token: str) -> bool:
        try:
            header = json.loads(base64.urlsafe_b64decode(_padded(token.split(".", 1)[0])))
        except (ValueError, TypeError):
            return False
        kid = header.get("kid") if isinstance(header, dict) else None
        return isinstance(kid, str) and kid not in {key.kid for key in self.public_keys.keys}


def _bound_thumbprint(confirmation: object) -> str | None:
    """``cnf.x5t#S256`` of a token's claims (RFC 8705 §3.1); a malformed cnf is invalid."""
    if confirmation is None:
        return None
    thumbprint = confirmation.get("x5t#S256") if isinstance(confirmation, dict) else None
    if not isinstance(thumbprint, str):
        raise ValueError("cnf without x5t#S256")
    return thumbprint


def _padded(segment: str) -> str:
    return segment + "=" * (-len(segment) % 4)
