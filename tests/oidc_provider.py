"""An OpenID provider for the tests, built from authlib's server side and served over HTTP.

authlib's AuthorizationServer with its authorization-code grant, its OpenID Connect
extension (ID tokens, nonce), its PKCE extension (RFC 7636, S256 required) and its RFC 7523
client authentication (``private_key_jwt``) does the protocol work; this module only gives
it storage (dicts), one person, and HTTP routes. What it does wrong on purpose is a switch
on ``Provider``, set per test, to prove the broker refuses it.

Subjects are pairwise (OIDC Core §8.1): a hash of the sector, the person's local id and a
salt, so every relying party sees a different ``sub`` for the same person.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.models import AuthorizationCodeMixin
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from joserfc.jwk import KeySet, RSAKey

SCOPES = ("openid", "profile", "email")


@dataclass
class Relying:
    """A relying party as the provider registered it."""

    client_id: str
    redirect_uri: str
    auth_method: str  # client_secret_basic or private_key_jwt
    secret: str | None = None
    jwks: dict[str, Any] | None = None
    sector: str = "broker.test"


@dataclass
class Provider:
    url: str
    key: RSAKey
    relying: dict[str, Relying] = field(default_factory=dict)
    email: str = "jan@example.test"
    local_id: str = "person-17"
    acr: str | None = "http://eidas.europa.eu/LoA/substantial"
    salt: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    # Faults, per test.
    wrong_nonce: bool = False
    foreign_key: bool = False
    extra_audience: str | None = None
    # What the provider saw, for the tests to look at.
    client_auth_methods: list[str] = field(default_factory=list)
    codes: dict[str, Code] = field(default_factory=dict)
    seen_jtis: set[str] = field(default_factory=set)

    @property
    def token_endpoint(self) -> str:
        return f"{self.url}/token"

    def pairwise_subject(self, sector: str) -> str:
        """OIDC Core §8.1: sub = SHA-256(sector_identifier || local_account_id || salt)."""
        digest = hashlib.sha256(sector.encode() + self.local_id.encode() + self.salt).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    acr: str | None
    auth_time: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self) -> list[str] | None:
        return None


class Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, relying: Relying) -> None:
        self.relying = relying

    def get_client_id(self) -> str:
        return self.relying.client_id

    def get_default_redirect_uri(self) -> str:
        return self.relying.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope.split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.relying.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        secret = self.relying.secret
        return secret is not None and hmac.compare_digest(secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.relying.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],  # case-insensitive: authlib looks up "Authorization"
        query: dict[str, str],
        form: dict[str, str],
    ) -> None:
        super().__init__(method, uri, headers=headers)
        self._query, self._form = query, form
        self.payload = BasicOAuth2Payload({**query, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._query

    @property
    def form(self) -> dict[str, str]:
        return self._form


def _server(provider: Provider) -> AuthorizationServer:
    class Grant(AuthorizationCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "private_key_jwt"]  # noqa: RUF012

        def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
            data = request.payload.data
            provider.codes[code] = Code(
                code=code,
                client_id=request.client.get_client_id(),
                redirect_uri=data["redirect_uri"],
                scope=request.scope or "",
                nonce="not-the-nonce" if provider.wrong_nonce else data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                acr=provider.acr,
                auth_time=int(time.time()),
            )

        def query_authorization_code(self, code: str, client: Client) -> Code | None:
            found = provider.codes.get(code)
            return (
                found if found is not None and found.client_id == client.get_client_id() else None
            )

        def delete_authorization_code(self, authorization_code: Code) -> None:
            provider.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: Code) -> str:
            return provider.local_id

    class OpenID(OpenIDCode):  # type: ignore[misc]
        def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
            return False

        def resolve_client_private_key(self, client: Client) -> RSAKey:
            return RSAKey.generate_key(2048) if provider.foreign_key else provider.key

        def get_client_algorithm(self, client: Client) -> str:
            return "RS256"

        def get_encode_header(self, client: Client) -> dict[str, str]:
            return {"alg": "RS256", "kid": str(provider.key.kid)}

        def get_client_claims(self, client: Client) -> dict[str, Any]:
            audience = [client.get_client_id()]
            if provider.extra_audience:
                audience.append(provider.extra_audience)
            return {"iss": provider.url, "aud": audience, "exp": int(time.time()) + 300}

        def generate_user_info(self, user: str, scope: str) -> UserInfo:
            relying = next(iter(provider.relying.values()))
            info = UserInfo(sub=provider.pairwise_subject(relying.sector))
            if "email" in scope.split():
                info["email"] = provider.email
            return info

    class PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
        CLIENT_AUTH_METHOD = "private_key_jwt"

        def get_audiences(self) -> list[str]:
            return [provider.token_endpoint, provider.url]

        def validate_jti(self, claims: Any, jti: str) -> bool:
            if jti in provider.seen_jtis:
                return False
            provider.seen_jtis.add(jti)
            return True

        def resolve_client_public_key(self, client: Client) -> KeySet:
            return KeySet.import_key_set(client.relying.jwks or {"keys": []})

    class Server(AuthorizationServer):  # type: ignore[misc]
        def query_client(self, client_id: str) -> Client | None:
            relying = provider.relying.get(client_id)
            return Client(relying) if relying is not None else None

        def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
            provider.client_auth_methods.append(request.auth_method)

        def create_oauth2_request(self, request: Any) -> OAuth2Request:
            return request

        def handle_response(self, status: int, body: Any, headers: Any) -> Response:
            headers = dict(headers)
            if status == 302:
                return RedirectResponse(headers["Location"], status_code=302)
            return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

        def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
            return None

    server = Server(scopes_supported=list(SCOPES))
    server.register_token_generator(
        "default", BearerTokenGenerator(lambda *_, **__: secrets.token_urlsafe(32))
    )
    server.register_grant(Grant, [OpenID(require_nonce=True), CodeChallenge(required=True)])
    server.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT())
    return server


def _app(provider: Provider) -> FastAPI:
    server = _server(provider)
    app = FastAPI()

    @app.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        return {
            "issuer": provider.url,
            "authorization_endpoint": f"{provider.url}/authorize",
            "token_endpoint": provider.token_endpoint,
            "jwks_uri": f"{provider.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": [
                "http://eidas.europa.eu/LoA/low",
                "http://eidas.europa.eu/LoA/substantial",
                "http://eidas.europa.eu/LoA/high",
            ],
        }

    @app.get("/authorize")
    def authorize(request: Request) -> Response:
        # The person is logged in at the provider and consents: straight back with a code.
        incoming = _Request(
            "GET", str(request.url), request.headers, dict(request.query_params), {}
        )
        try:
            grant = server.get_consent_grant(incoming, end_user=provider.local_id)
        except OAuth2Error as error:
            return JSONResponse(dict(error.get_body()), status_code=400)
        response: Response = server.create_authorization_response(
            incoming, grant_user=provider.local_id, grant=grant
        )
        return response

    @app.post("/token")
    async def token(request: Request) -> Response:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        incoming = _Request("POST", str(request.url), request.headers, {}, form)
        response: Response = server.create_token_response(incoming)
        return response

    @app.get("/jwks")
    def jwks() -> dict[str, Any]:
        return {"keys": [provider.key.as_dict(private=False)]}

    return app


@contextmanager
def running_provider() -> Iterator[Provider]:
    """The provider on a free local port, for as long as the block runs."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = Provider(
        url=f"http://127.0.0.1:{port}", key=RSAKey.generate_key(2048, auto_kid=True)
    )
    server = uvicorn.Server(
        uvicorn.Config(_app(provider), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(10)
