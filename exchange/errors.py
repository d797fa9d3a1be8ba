"""One error hierarchy for the broker, rendered as RFC 9457 problem details.

Services raise these; one handler in ``exchange.http.problems`` turns them into
``application/problem+json``. The ``errors`` list names each field at fault by its path
(``person.bsn``) so an integrator can fix the exact field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROBLEM_BASE = "https://signal-exchange.example/problems/"


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
            problem["instance"] = instance
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
    status = 401
    title = "Authentication required"
    slug = "unauthenticated"


class Forbidden(ExchangeError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


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
