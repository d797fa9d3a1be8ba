"""Rendering every error as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from exchange.errors import (
    BadJson,
    ExchangeError,
    FieldError,
    Forbidden,
    HttpProblem,
    InvalidInput,
    Unauthenticated,
)

MEDIA_TYPE = "application/problem+json"
# Seconds a client waits before it sends again when no database connection was free.
BUSY_RETRY_AFTER = 1
log = structlog.get_logger("exchange.api")


class Busy(ExchangeError):
    """No database connection came free in time: load, not a fault; the client sends again."""

    status = 503
    title = "The broker is busy"
    slug = "busy"


def problem_response(error: ExchangeError, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    challenge = error.challenge() if isinstance(error, Unauthenticated | Forbidden) else None
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return JSONResponse(
        error.as_problem(instance),
        status_code=error.status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def field_errors(errors: list[Any]) -> list[FieldError]:
    """Turn pydantic's errors into fields by path (``person.bsn``) and plain messages."""
    result = []
    for error in errors:
        location = [part for part in error["loc"] if not _is_union_tag(part)]
        path = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in location)
        result.append(FieldError(path.replace(".[", "[") or "body", _message(error)))
    return result


def invalid_input(error: ValidationError, *, root: str = "body") -> ExchangeError:
    """Problem details for a failed validation; ``root`` names the whole object at fault."""
    errors = error.errors(include_url=False, include_input=False)
    if any(e["type"] == "json_invalid" for e in errors):
        return BadJson("the body is not valid JSON")
    fields = [FieldError(root, f.message) if f.field == "body" else f for f in field_errors(errors)]
    return InvalidInput(_summary(fields), fields)


def install(app: FastAPI) -> None:
    @app.exception_handler(ExchangeError)
    async def _exchange_error(request: Request, error: ExchangeError) -> JSONResponse:
        return problem_response(error, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = list(error.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem_response(BadJson("the body is not valid JSON"), request)
        fields = [
            FieldError(
                f.field.removeprefix("body.").removeprefix("path.").removeprefix("query."),
                f.message,
            )
            for f in field_errors(errors)
        ]
        return problem_response(InvalidInput(_summary(fields), fields), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        response = problem_response(HttpProblem(error.status_code, str(error.detail)), request)
        for name, value in (error.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(PoolTimeout)
    async def _busy(request: Request, error: PoolTimeout) -> JSONResponse:
        # Every connection of this replica's pool was in use for the whole pool timeout.
        # Nothing was done (the request never got a connection), so sending again is safe.
        log.warning("request.pool_exhausted", error_type=type(error).__name__)
        problem = Busy("no database connection was free in time; nothing was stored, send again")
        response = problem_response(problem, request)
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER)
        return response

    # An error nothing here handles is answered by ``exchange.api.middleware.UnexpectedErrors``
    # (a 500 that quotes nothing), not by an exception handler: Starlette re-raises after
    # its last-resort handler, and the server would then log the error's message.


_TYPE_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this object",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "date_type": "must be a date like 2026-09-01",
    "date_parsing": "must be a date like 2026-09-01",
    "date_from_datetime_parsing": "must be a date like 2026-09-01",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "uuid_parsing": "must be a UUID",
    "uuid_type": "must be a UUID",
}


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        return f"must be one of {expected}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    return str(error["msg"])


def _summary(fields: list[FieldError]) -> str:
    if len(fields) == 1:
        return f"{fields[0].field} {fields[0].message}"
    return f"{len(fields)} fields are invalid: " + ", ".join(f.field for f in fields)


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and (part.startswith("function-") or part in ("str", "int"))
