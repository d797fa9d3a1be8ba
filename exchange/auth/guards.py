"""Default-deny access control for every ``/v1`` route.

The ``/v1`` router runs ``authorize`` before any handler. A route states who may call it
with ``@requires(scope, kinds)``; a route that states nothing is refused to everyone, so a
forgotten rule fails closed rather than open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from exchange.auth.tokens import Principal, TokenValidator
from exchange.errors import Forbidden, Unauthenticated
from exchange.organisations.models import OrganisationKind

Handler = TypeVar("Handler", bound=Callable[..., Any])
_RULE = "__access_rule__"


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


def authenticate(validator: TokenValidator, header: str | None) -> Principal:
    """The caller behind an ``Authorization: Bearer`` header, or ``Unauthenticated``."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send an access token: Authorization: Bearer <token>")
    return validator.validate(token.strip())


async def authorize(request: Request) -> Principal:
    """Router-level guard: a valid bearer token, then the route's own rule, else refuse."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # no authentication middleware in front of this router
        validator: TokenValidator = request.app.state.broker.token_validator
        principal = authenticate(validator, request.headers.get("authorization"))

    route = request.scope.get("route")
    rule: AccessRule | None = getattr(getattr(route, "endpoint", None), _RULE, None)
    if rule is None:
        raise Forbidden("this route has no access rule, so nobody may call it")
    if rule.scope is not None and rule.scope not in principal.scopes:
        raise Forbidden(f"the token lacks the scope {rule.scope}")
    if principal.organisation_kind not in rule.kinds:
        raise Forbidden(f"a {principal.organisation_kind.value} may not call this route")
    request.state.principal = principal
    return principal


async def _current_principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_current_principal)]
