"""OAuth 2.0 endpoints: the token endpoint, the JWKS and the server metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from exchange.auth.keys import ASSERTION_ALGORITHMS
from exchange.auth.scopes import ALL_SCOPES
from exchange.auth.terms import PRIVATE_KEY_JWT, SECRET_METHODS
from exchange.auth.tokens import TokenRequest

if TYPE_CHECKING:
    from exchange.broker import Broker

router = APIRouter(tags=["oauth"])


@router.post("/oauth/token", summary="Get an access token (client credentials)")
async def token(request: Request) -> JSONResponse:
    broker: Broker = request.app.state.broker
    form = await request.form()
    token_request = TokenRequest(
        method=request.method,
        uri=str(request.url),
        headers=request.headers,
        form={key: value for key, value in form.items() if isinstance(value, str)},
    )
    response: JSONResponse = await run_in_threadpool(broker.token_server.issue, token_request)
    return response


@router.get("/.well-known/jwks.json", summary="Public keys that sign access tokens")
def jwks(request: Request) -> dict[str, Any]:
    broker: Broker = request.app.state.broker
    return broker.keyring.public_jwks()


@router.get("/.well-known/oauth-authorization-server", summary="RFC 8414 server metadata")
def metadata(request: Request) -> dict[str, Any]:
    broker: Broker = request.app.state.broker
    issuer = broker.settings.issuer.rstrip("/")
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        # RFC 8414 §2 makes response_types_supported REQUIRED, for the authorization
        # endpoint's response types. This server has no authorization endpoint (client
        # credentials only, RFC 6749 §4.4), so it supports no response type: the list is
        # empty rather than left out, which strict clients refuse.
        "response_types_supported": [],
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": [*SECRET_METHODS, PRIVATE_KEY_JWT],
        # The algorithms a private_key_jwt assertion may be signed with (RFC 8414 §2).
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        # RFC 8705 §3.3: only when a proxy passes client certificates on can tokens be bound.
        "tls_client_certificate_bound_access_tokens": bool(
            broker.settings.mtls_client_certificate_header
        ),
        "scopes_supported": list(ALL_SCOPES),
    }
