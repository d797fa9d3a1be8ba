"""The OpenAPI document: what FastAPI derives from the routes, completed with what it cannot
know.

FastAPI documents the request and response models; this adds, to every operation:

- **errors as they are sent**: RFC 9457 problem details (``application/problem+json``) for
  each status the broker's own layers can answer (the guard's 401 and 403, a path id's 404,
  a body's 400, 413, 415 and 422, the pool's 503), and a ``default`` for the rest (414, 431,
  405, 500), instead of FastAPI's ``HTTPValidationError``, whose shape our 422 does not have;
- **security**: the OAuth 2.0 client-credentials scheme with the scope the route's access
  rule names (``exchange.auth.guards.requires``), and the organisation kinds that may call it
  as ``x-organisation-kinds``; ``security: []`` on what is public;
- **servers**: the broker's issuer URL;
- the OAuth endpoints' own contract (RFC 6749 §4.4 and §5, RFC 7517, RFC 8414), which is not
  problem details but OAuth's own error shape.

Built once per application, on first request of ``/openapi.json``, and cached by FastAPI.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from exchange.auth.guards import AccessRule, access_rule
from exchange.auth.scopes import (
    AUDIT_READ,
    CASES_READ,
    CASES_WRITE,
    CONSENTS_READ,
    CONSENTS_WRITE,
    SIGNALS_READ,
    SIGNALS_WRITE,
    SUBJECTS_RIGHTS,
)
from exchange.http.problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE

# The routers behind the guard, each with the prefix it is included under.
Guarded = Sequence[tuple[str, APIRouter]]
SECURITY_SCHEME = "oauth2"
BASIC_SCHEME = "clientSecretBasic"
LICENSE = {"name": "EUPL-1.2", "identifier": "EUPL-1.2"}
SCOPES = {
    SIGNALS_WRITE: "Send signals (creditors)",
    SIGNALS_READ: "Read your own signals and their feedback (creditors)",
    CASES_READ: "Read your cases (municipalities, teams, debt services)",
    CASES_WRITE: "Assign cases, record contact attempts and results",
    AUDIT_READ: "Read the audit log and access reports (privacy officers)",
    CONSENTS_READ: "Read consents and objections",
    CONSENTS_WRITE: "Record consents, withdrawals and objections",
    SUBJECTS_RIGHTS: "Act on a person's requests: erasure, restriction, rectification",
}
# FastAPI's own error schemas, which no response of ours has.
_FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")
_PATH_PARAMETER = re.compile(r"\{[^}]+\}")

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "What kind of problem"},
        "title": {"type": "string", "description": "The kind of problem, in words"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "detail": {"type": "string", "description": "This occurrence, in words"},
        "instance": {"type": "string", "format": "uri-reference", "description": "The path"},
        "errors": {
            "type": "array",
            "description": "The fields at fault, by path (person.bsn, signals[3].kind)",
            "items": {"$ref": "#/components/schemas/ProblemField"},
        },
    },
}
PROBLEM_FIELD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "ProblemField",
    "required": ["field", "detail"],
    "properties": {
        "field": {"type": "string", "description": "The field's path, or body"},
        "detail": {"type": "string", "description": "What is wrong with it"},
        "code": {"type": "string", "description": "A stable name for what is wrong"},
    },
}
OAUTH_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "OAuthError",
    "description": "RFC 6749 §5.2 error response.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "string",
            # RFC 6749 §8.5 lets a server add codes: authlib answers insecure_transport to
            # a token request over plain HTTP to another host than localhost.
            "description": (
                "invalid_request, invalid_client, invalid_grant, unauthorized_client, "
                "unsupported_grant_type, invalid_scope, or an extension such as "
                "insecure_transport"
            ),
            "examples": ["invalid_client"],
        },
        "error_description": {"type": "string"},
        "error_uri": {"type": "string", "format": "uri"},
    },
}
TOKEN_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "TokenRequest",
    "description": (
        "RFC 6749 §4.4.2. The client authenticates with HTTP Basic (client_secret_basic), "
        "with client_id and client_secret in this form (client_secret_post), or with a "
        "signed client_assertion (private_key_jwt, RFC 7523) where it registered a key."
    ),
    "required": ["grant_type"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "scope": {
            "type": "string",
            "description": "Space-separated scopes; default: all the client holds",
            "examples": ["signals:write signals:read"],
        },
        "client_id": {"type": "string", "maxLength": 64},
        "client_secret": {"type": "string"},
        "client_assertion_type": {
            "type": "string",
            "enum": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
        },
        "client_assertion": {"type": "string", "description": "A signed JWT (RFC 7523 §2.2)"},
    },
}
TOKEN_RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "TokenResponse",
    "description": "RFC 6749 §5.1; the access token is a JWT in the RFC 9068 profile.",
    "required": ["access_token", "token_type", "expires_in"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer", "minimum": 1},
        "scope": {"type": "string"},
    },
}
JWKS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "JsonWebKeySet",
    "description": "RFC 7517 §5: the public keys that sign access tokens.",
    "required": ["keys"],
    "properties": {
        "keys": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kty"],
                "properties": {
                    "kty": {"type": "string"},
                    "kid": {"type": "string"},
                    "use": {"type": "string"},
                    "alg": {"type": "string"},
                    "crv": {"type": "string"},
                    "x": {"type": "string"},
                    "y": {"type": "string"},
                },
            },
        }
    },
}
METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "AuthorizationServerMetadata",
    "description": "RFC 8414 §2.",
    "required": ["issuer", "token_endpoint", "jwks_uri", "response_types_supported"],
    "properties": {
        "issuer": {"type": "string", "format": "uri"},
        "token_endpoint": {"type": "string", "format": "uri"},
        "jwks_uri": {"type": "string", "format": "uri"},
        "response_types_supported": {"type": "array", "items": {"type": "string"}},
        "grant_types_supported": {"type": "array", "items": {"type": "string"}},
        "token_endpoint_auth_methods_supported": {
            "type": "array",
            "items": {"type": "string"},
        },
        "token_endpoint_auth_signing_alg_values_supported": {
            "type": "array",
            "items": {"type": "string"},
        },
        "tls_client_certificate_bound_access_tokens": {"type": "boolean"},
        "scopes_supported": {"type": "array", "items": {"type": "string"}},
    },
}

_WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": "RFC 6750 §3: the Bearer challenge, with error and scope where known",
        "schema": {"type": "string"},
    }
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before sending again",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def _problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        response["headers"] = headers
    return response


RESPONSES: dict[str, dict[str, Any]] = {
    "BadRequest": _problem("The body is not valid JSON"),
    "Unauthorized": _problem(
        "No access token, or one that is not valid (expired, not ours, its organisation gone)",
        _WWW_AUTHENTICATE,
    ),
    "Forbidden": _problem(
        "The token lacks the scope, or the organisation's kind may not call this",
        _WWW_AUTHENTICATE,
    ),
    "NotFound": _problem("Nothing of yours has this id (another organisation's is a 404 too)"),
    "PayloadTooLarge": _problem("The body is larger than the broker takes"),
    "UnsupportedMediaType": _problem("The body is not sent as application/json"),
    "InvalidInput": _problem("A field is invalid or missing; errors name each field"),
    "Busy": _problem("No database connection came free in time; nothing was done", _RETRY_AFTER),
    "Problem": _problem("Another error (405, 414, 431, 500), as problem details"),
}
# Statuses an operation's own decorator documents, in words only, as problems.
_DECLARED_PROBLEM = "#/components/schemas/Problem"


def install(app: FastAPI, issuer: str, guarded: Guarded) -> None:
    """Serve the completed document at ``/openapi.json``."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app, issuer, guarded)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def build(app: FastAPI, issuer: str, guarded: Guarded) -> dict[str, Any]:
    """The document of ``app``, whose ``guarded`` routers (with the prefix each is included
    under) are behind the guard and state their rules with ``requires``."""
    base = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
        license_info=LICENSE,
        servers=[{"url": issuer.rstrip("/"), "description": "This broker"}],
    )
    document = copy.deepcopy(base)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in _FASTAPI_ERRORS:
        schemas.pop(name, None)
    schemas.update(
        Problem=PROBLEM_SCHEMA,
        ProblemField=PROBLEM_FIELD_SCHEMA,
        OAuthError=OAUTH_ERROR_SCHEMA,
        TokenRequest=TOKEN_REQUEST_SCHEMA,
        TokenResponse=TOKEN_RESPONSE_SCHEMA,
        JsonWebKeySet=JWKS_SCHEMA,
        AuthorizationServerMetadata=METADATA_SCHEMA,
    )
    components["responses"] = RESPONSES
    token_url = f"{issuer.rstrip('/')}/oauth/token"
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "oauth2",
            "description": (
                "Client credentials (RFC 6749 §4.4); the access token is an RFC 9068 JWT, "
                "sent as Authorization: Bearer."
            ),
            "flows": {
                "clientCredentials": {
                    "tokenUrl": token_url,
                    "scopes": SCOPES,
                }
            },
        },
        BASIC_SCHEME: {
            "type": "http",
            "scheme": "basic",
            "description": "The client id and secret at the token endpoint (RFC 6749 §2.3.1)",
        },
    }

    rules = _access_rules(guarded)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            rule = rules.get((path, method.upper()))
            if path.startswith("/v1/"):
                _guarded(operation, path, rule)
            elif path == "/oauth/token":
                _token_endpoint(operation)
            else:
                _public(operation, path)
    return document


def _access_rules(guarded: Guarded) -> dict[tuple[str, str], AccessRule | None]:
    # From the routers as declared: an app's own route list holds included routers in a
    # form FastAPI keeps to itself.
    rules: dict[tuple[str, str], AccessRule | None] = {}
    for prefix, router in guarded:
        for route in router.routes:
            if isinstance(route, APIRoute):
                for method in route.methods or ():
                    rules[(prefix + route.path_format, method)] = access_rule(route.endpoint)
    return rules


def _guarded(operation: dict[str, Any], path: str, rule: AccessRule | None) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    _problems_for_declared(responses)
    # A route without a rule is refused to everyone (default deny); say so rather than
    # document a scope nobody can use.
    operation["security"] = [
        {SECURITY_SCHEME: [rule.scope] if rule is not None and rule.scope else []}
    ]
    if rule is not None:
        operation["x-organisation-kinds"] = sorted(kind.value for kind in rule.kinds)
    has_body = "requestBody" in operation
    has_parameters = bool(operation.get("parameters")) or has_body
    wanted = {"401": "Unauthorized", "403": "Forbidden", "503": "Busy"}
    if _PATH_PARAMETER.search(path):
        wanted["404"] = "NotFound"
    if has_parameters:
        wanted["422"] = "InvalidInput"
    if has_body:
        wanted.update(
            {"400": "BadRequest", "413": "PayloadTooLarge", "415": "UnsupportedMediaType"}
        )
    for status, name in wanted.items():
        responses.setdefault(status, {"$ref": f"#/components/responses/{name}"})
    responses["default"] = {"$ref": "#/components/responses/Problem"}
    operation["responses"] = dict(sorted(responses.items(), key=lambda item: item[0]))


def _problems_for_declared(responses: dict[str, Any]) -> None:
    """A status a route documents in words only (409, 404, 406) is sent as problem details;
    FastAPI's 422 is replaced by ours."""
    responses.pop("422", None)
    for status, response in responses.items():
        if status[0] in "45" and "$ref" not in response:
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _DECLARED_PROBLEM}}}


def _token_endpoint(operation: dict[str, Any]) -> None:
    operation["description"] = (
        "RFC 6749 §4.4: an access token for a registered client. Errors are OAuth's own "
        "(RFC 6749 §5.2), not problem details, so that OAuth client libraries read them."
    )
    operation["requestBody"] = {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"$ref": "#/components/schemas/TokenRequest"}
            }
        },
    }
    oauth_error = {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}}
    operation["responses"] = {
        "200": {
            "description": "An access token",
            "headers": {"Cache-Control": {"schema": {"type": "string", "enum": ["no-store"]}}},
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/TokenResponse"}}
            },
        },
        "400": {
            "description": "RFC 6749 §5.2: the request is not one we grant",
            "content": oauth_error,
        },
        "401": {
            "description": "invalid_client: the client could not be authenticated",
            "content": oauth_error,
        },
        "default": {"$ref": "#/components/responses/Problem"},
    }
    # Either HTTP Basic, or credentials in the form (secret or assertion): both are optional
    # in the sense of OpenAPI, as the form carries the other way.
    operation["security"] = [{BASIC_SCHEME: []}, {}]


_PUBLIC_SCHEMAS = {
    "/.well-known/jwks.json": "JsonWebKeySet",
    "/.well-known/oauth-authorization-server": "AuthorizationServerMetadata",
}


def _public(operation: dict[str, Any], path: str) -> None:
    operation["security"] = []
    responses = operation.setdefault("responses", {})
    schema = _PUBLIC_SCHEMAS.get(path)
    if schema is not None and "200" in responses:
        responses["200"]["content"] = {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        }
    responses.pop("422", None)
    # Any request can be refused before it reaches a route: an oversized target or head
    # (414, 431), a method the path does not take (405).
    responses["4XX"] = {"$ref": "#/components/responses/Problem"}
    responses["default"] = {"$ref": "#/components/responses/Problem"}
