"""Default-deny access control for every ``/v1`` route.

The ``/v1`` router runs ``authorize`` before any handler. A route states who may call it
with ``@requires(scope, kinds)``; a route that states nothing is refused to everyone, so a
forgotten rule fails closed rather than open. A token counts only for an organisation that
is registered, as the kind the token names.
"""

from __future__ import annotations

import hmac
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from exchange.auth.keys import presented_thumbprint
from exchange.auth.tokens import Principal, TokenValidator
from exchange.errors import InsufficientScope, MissingToken, Unauthenticated
from exchange.organisations.models import Organisation
from exchange.organisations.terms import OrganisationKind

Handler = TypeVar("Handler", bound=Callable[..., Any])
_RULE = "__access_rule__"
# How long a replica relies on having found an organisation. The broker never removes one,
# but a restore from an older backup can, and its tokens stay valid for their lifetime.
REGISTERED_FOR = 60.0


@dataclass(frozen=True)
class AccessRule:
    scope: str | None
    kinds: frozenset[OrganisationKind]


def requires(scope: str | None, kinds: Iterable[OrganisationKind]) -> Callable[[Handler], Handler]:
    """Declare the scope and organisation kinds a route needs.

    ``scope=None`` is for what every authenticated organisation of those kinds may read
    (the register of processing); the kinds must still be named.
    """
    rule = AccessRule(scope, frozenset(kinds))

    def mark(handler: Handler) -> Handler:
        setattr(handler, _RULE, rule)
        return handler

    return mark


def access_rule(handler: Callable[..., Any]) -> AccessRule | None:
    """The rule ``requires`` put on a route's handler, if any (the OpenAPI document names it)."""
    rule: AccessRule | None = getattr(handler, _RULE, None)
    return rule


def authenticate(validator: TokenValidator, header: str | None) -> Principal:
    """The caller behind an ``Authorization: Bearer`` header, or ``Unauthenticated``."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingToken("send an access token: Authorization: Bearer <token>")
    return validator.validate(token.strip())


async def authorize(request: Request) -> Principal:
    """Router-level guard: a valid bearer token, then the route's own rule, else refuse."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # no authentication middleware in front of this router
        validator: TokenValidator = request.app.state.broker.token_validator
        principal = authenticate(validator, request.headers.get("authorization"))
    await _registered_organisations(request).check(principal)
    _check_binding(principal, request)

    route = request.scope.get("route")
    rule: AccessRule | None = getattr(getattr(route, "endpoint", None), _RULE, None)
    if rule is None:
        raise InsufficientScope("this route has no access rule, so nobody may call it")
    if not principal.scopes:
        # A token must be granted for something: one without any scope opens nothing,
        # not even the routes that need no particular scope (the register, the notices).
        raise InsufficientScope("the token holds no scope")
    if rule.scope is not None and rule.scope not in principal.scopes:
        raise InsufficientScope(f"the token lacks the scope {rule.scope}", scope=rule.scope)
    if principal.organisation_kind not in rule.kinds:
        raise InsufficientScope(f"a {principal.organisation_kind.value} may not call this route")
    request.state.principal = principal
    return principal


def _check_binding(principal: Principal, request: Request) -> None:
    """A certificate-bound token counts only with its certificate (RFC 8705 §3): a token
    copied off a client's machine is of no use without the client's private key too."""
    if principal.certificate_thumbprint is None:
        return
    header = request.app.state.broker.settings.mtls_client_certificate_header
    presented = presented_thumbprint(request.headers, header)
    if presented is None or not hmac.compare_digest(presented, principal.certificate_thumbprint):
        raise Unauthenticated(
            "the access token is bound to a certificate this request did not present"
        )


class RegisteredOrganisations:
    """Whether the organisation a token names is registered, as the kind it names.

    A validly signed token can outlive its organisation (a restore from backup), or come
    from a key shared with another deployment; without this check every write on its behalf
    failed on the organisation's foreign key, as a 500. One lookup per organisation per
    ``REGISTERED_FOR`` seconds, in the thread pool: the intake path pays a dict lookup.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._found: dict[uuid.UUID, tuple[str, float]] = {}

    async def check(self, principal: Principal) -> None:
        now = time.monotonic()
        found = self._found.get(principal.organisation_id)
        if found is None or now - found[1] >= REGISTERED_FOR:
            kind = await run_in_threadpool(self._kind_of, principal.organisation_id)
            if kind is None:
                self._found.pop(principal.organisation_id, None)
                raise Unauthenticated("the token's organisation is not registered")
            found = (kind, now)
            self._found[principal.organisation_id] = found
        if found[0] != principal.organisation_kind.value:
            raise Unauthenticated("the token's organisation is registered as another kind")

    def _kind_of(self, organisation_id: uuid.UUID) -> str | None:
        with self.sessions() as session:
            return session.scalar(
                select(Organisation.kind).where(Organisation.id == organisation_id)
            )


def _registered_organisations(request: Request) -> RegisteredOrganisations:
    # One per application, made on first use: the app factory need not know of it.
    state = request.app.state
    registered: RegisteredOrganisations | None = getattr(state, "registered_organisations", None)
    if registered is None:
        registered = RegisteredOrganisations(state.broker.sessions)
        state.registered_organisations = registered
    return registered


async def _current_principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_current_principal)]
