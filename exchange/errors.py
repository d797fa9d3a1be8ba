"""One error hierarchy for the broker, rendered as RFC 9457 problem details.

Services raise these; one handler in ``exchange.http.problems`` turns them into
``application/problem+json``. The ``errors`` list names each field at fault by its path
(``person.bsn``) so an integrator can fix the exact field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

PROBLEM_BASE = "https://signal-exchange.example/problems/"


# What a path may hold unencoded (RFC 3986 §3.3: pchar and "/"). The paths given are
# decoded ones (Starlette's), so a "%" in them is a percent sign and is encoded too.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    # A stable name for what is wrong, for a page to say it in its own language; the
    # message is the API's English words.
    code: str = ""

    def as_dict(self) -> dict[str, str]:
        named = {"field": self.field, "detail": self.message}
        if self.code:
            named["code"] = self.code
        return named


@dataclass
class ExchangeError(Exception):
    detail: str
    errors: list[FieldError] = field(default_factory=list)

    status = 400
    title = "Bad request"
    slug = "bad-request"

    def __str__(self) -> str:
        return self.detail

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug

    def as_problem(self, instance: str | None = None) -> dict[str, Any]:
        problem: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            # A URI reference (RFC 9457 §3.1.5), so the path as it went over the wire: a
            # decoded path can hold a space or a brace, which no URI holds.
            problem["instance"] = quote(instance, safe=_PATH_SAFE)
        if self.errors:
            problem["errors"] = [e.as_dict() for e in self.errors]
        return problem


class BadJson(ExchangeError):
    status = 400
    title = "The body is not valid JSON"
    slug = "malformed-json"


class InvalidInput(ExchangeError):
    status = 422
    title = "The request has invalid fields"
    slug = "invalid-input"


class SignalNotEligible(ExchangeError):
    """The signal is well-formed but may not be sent (yet): nothing about it is kept."""

    status = 422
    title = "The signal is not eligible"
    slug = "signal-not-eligible"


class SubjectRefused(ExchangeError):
    status = 422
    title = "The person refused the transfer"
    slug = "subject-refused"


class DisclosureDenied(ExchangeError):
    """The register of processing does not permit this disclosure (e.g. an objection)."""

    status = 422
    title = "The disclosure is not permitted"
    slug = "disclosure-denied"


class NoCoveringMunicipality(ExchangeError):
    status = 422
    title = "No municipality covers the address"
    slug = "no-covering-municipality"


class NotFound(ExchangeError):
    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(ExchangeError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class PayloadTooLarge(ExchangeError):
    status = 413
    title = "The request body is too large"
    slug = "payload-too-large"


class UriTooLong(ExchangeError):
    status = 414
    title = "The request target is too long"
    slug = "uri-too-long"


class HeaderFieldsTooLarge(ExchangeError):
    status = 431
    title = "The request header fields are too large"
    slug = "header-fields-too-large"


class UnsupportedMediaType(ExchangeError):
    status = 415
    title = "The body is not of a media type this endpoint takes"
    slug = "unsupported-media-type"


class Unauthenticated(ExchangeError):
    """A bearer token that is not valid: expired, not signed by us, its organisation gone
    (RFC 6750 §3.1 ``invalid_token``)."""

    status = 401
    title = "Authentication required"
    slug = "unauthenticated"
    bearer_error: str | None = "invalid_token"

    def challenge(self) -> str | None:
        return bearer_challenge(self.bearer_error, self.detail)


class MissingToken(Unauthenticated):
    """No bearer token at all: RFC 6750 §3.1 says the challenge then names no error."""

    bearer_error = None


class Forbidden(ExchangeError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"

    def challenge(self) -> str | None:
        # A refusal by the register is not about the token: no Bearer challenge.
        return None


@dataclass
class InsufficientScope(Forbidden):
    """The token is valid but does not reach this route (RFC 6750 §3.1
    ``insufficient_scope``): it lacks the scope, or its organisation's kind may not call
    the route, which no other token of that organisation would change either."""

    scope: str | None = None

    def challenge(self) -> str | None:
        return bearer_challenge("insufficient_scope", self.detail, scope=self.scope)


REALM = "signal-exchange"


def bearer_challenge(error: str | None, description: str, *, scope: str | None = None) -> str:
    """A ``WWW-Authenticate: Bearer`` value (RFC 6750 §3). The description is limited to the
    characters §3 allows in it (%x20-21 / %x23-5B / %x5D-7E: no quote, no backslash)."""
    parts = [f'realm="{REALM}"']
    if error is not None:
        parts.append(f'error="{error}"')
        shown = "".join(c for c in description if " " <= c <= "~" and c not in '"\\')
        parts.append(f'error_description="{shown}"')
    if scope is not None:
        parts.append(f'scope="{scope}"')
    return "Bearer " + ", ".join(parts)


class HttpProblem(ExchangeError):
    """An HTTP-level error from the framework (no such route, method not allowed, …)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = detail
        self.slug = f"http-{status}"


class InternalError(ExchangeError):
    status = 500
    title = "Internal error"
    slug = "internal-error"
