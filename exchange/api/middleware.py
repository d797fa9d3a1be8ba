"""ASGI middleware: a request id on every log line and response; body size limits."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exchange.errors import ExchangeError, PayloadTooLarge

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestId:
    """Take a sane ``X-Request-ID`` from the caller or make one; echo it; bind it to logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


class BearerAuthentication:
    """Check the bearer token of every request under ``prefix`` before its body is read.

    FastAPI reads and parses a body before it runs a router's dependencies, so without this
    a caller without a token would learn whether its JSON parses. The principal found here
    goes into the request state, where the router's guard applies the route's own rule.
    """

    def __init__(
        self, app: ASGIApp, prefix: str, authenticate: Callable[[str | None], object]
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        try:
            principal = self.authenticate(_header(scope, b"authorization"))
        except ExchangeError as error:
            await _send_problem(scope, send, error)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse bodies over the limit with 413, before they are read into memory."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            await _too_large(scope, send, limit)
            return
        if declared is not None:
            # The server holds the client to its declared length.
            await self.app(scope, receive, send)
            return
        # A chunked body: read it up to the limit, then hand it on in one piece.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(scope, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    await _send_problem(scope, send, PayloadTooLarge(f"the body is larger than {limit} bytes"))


async def _send_problem(scope: Scope, send: Send, error: ExchangeError) -> None:
    body = orjson.dumps(error.as_problem(scope["path"]))
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if error.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="signal-exchange"'))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None
