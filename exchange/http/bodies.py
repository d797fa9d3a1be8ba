"""JSON request bodies, read the same way on every ``/v1`` route.

One parser, stricter than the framework's: a body must say it is JSON
(``Content-Type: application/json`` or a ``+json`` type, else 415); a key twice in one
object is refused rather than the last one winning (RFC 8259 leaves that open, I-JSON,
RFC 7493, refuses it: two readers of one document must not see two different signals);
``NaN`` and ``Infinity`` are not JSON; integers are exact, whatever their size, so that a
field's own bound names what is wrong with a number instead of a float standing in for it.

Every ``/v1`` router is built with ``route_class=JsonRoute``; the batch intake reads its
large body itself, through ``json_body``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from exchange.errors import BadJson, FieldError, InvalidInput, UnsupportedMediaType


def json_body(raw: bytes, content_type: str | None) -> Any:
    """The body as JSON, after checking that the client says it is JSON."""
    require_json(content_type)
    return parse_json(raw)


def require_json(content_type: str | None) -> None:
    """``UnsupportedMediaType`` unless ``content_type`` is JSON (parameters allowed)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    kind, _, subtype = media_type.partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        shown = f" (not {media_type})" if media_type else ""
        raise UnsupportedMediaType(f"send the body as Content-Type: application/json{shown}")


def parse_json(raw: bytes) -> Any:
    """``raw`` parsed as strict JSON: ``BadJson`` for what is not, ``InvalidInput`` naming
    a key that appears twice in one object."""
    try:
        return json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except _DuplicateKey as duplicate:
        raise InvalidInput(
            f"the key {duplicate.key} appears more than once in one object",
            [FieldError(duplicate.key, "appears more than once in one object")],
        ) from None
    except (ValueError, RecursionError):
        # JSONDecodeError and UnicodeDecodeError are ValueErrors; so is a number of more
        # than 4,300 digits, which Python refuses to read.
        raise BadJson("the body is not valid JSON") from None


class JsonRoute(APIRoute):
    """A route whose JSON body, if it takes one, is read by ``json_body`` before FastAPI
    validates it; FastAPI then finds the body already parsed."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        if self.body_field is None:
            return handle

        async def handle_json(request: Request) -> Response:
            raw = await request.body()
            if raw:
                # Starlette keeps a parsed body here; FastAPI's request.json() returns it.
                request._json = json_body(raw, request.headers.get("content-type"))
            return await handle(request)

        return handle_json


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key[:100])
            seen.add(key)
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
