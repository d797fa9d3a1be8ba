"""ASGI middleware: a request id on every log line and response; limits on the request line,
the headers and the body; unexpected errors answered without leaking or re-raising."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import orjson
import structlog
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from exchange.db import ATTEMPTS, is_retryable, watching_outside_effects
from exchange.errors import (
    ExchangeError,
    Forbidden,
    HeaderFieldsTooLarge,
    InternalError,
    PayloadTooLarge,
    Unauthenticated,
    UriTooLong,
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# What a request may carry before its body. No route takes more than a few hundred bytes of
# path and query, and no client needs more than a few kilobytes of headers (a bearer token
# is under 1 KiB); anything larger is a mistake or an attack on whatever reads it next (the
# access log, the scrubber, the router). nginx in deploy/proxy refuses the same sizes.
MAX_TARGET_BYTES = 8 * 1024  # path and query string
MAX_HEADER_FIELD_BYTES = 8 * 1024  # one header's name and value
MAX_HEADER_BYTES = 32 * 1024  # all headers together
MAX_HEADER_FIELDS = 100
log = structlog.get_logger("exchange.api")


def target_too_long(size: int) -> UriTooLong | None:
    """The refusal of a request target (path and query) of ``size`` bytes, if too long."""
    if size <= MAX_TARGET_BYTES:
        return None
    return UriTooLong(f"the request target is longer than {MAX_TARGET_BYTES} bytes")


def headers_too_large(fields: int, total: int, largest: int) -> HeaderFieldsTooLarge | None:
    """The refusal of headers of ``fields`` fields and ``total`` bytes, if over a limit."""
    if fields > MAX_HEADER_FIELDS:
        return HeaderFieldsTooLarge(f"the request has more than {MAX_HEADER_FIELDS} headers")
    if largest > MAX_HEADER_FIELD_BYTES:
        return HeaderFieldsTooLarge(f"a header is larger than {MAX_HEADER_FIELD_BYTES} bytes")
    if total > MAX_HEADER_BYTES:
        return HeaderFieldsTooLarge(f"the headers are larger than {MAX_HEADER_BYTES} bytes")
    return None


class RequestLimits:
    """Refuse an oversized request line (414) or headers (431) before anything reads them.

    ``exchange serve`` refuses them earlier still, while parsing (``exchange.api.server``);
    this is the same rule for any other ASGI server the app runs under.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        # The target as the request line has it: path, then "?" and the query if any.
        problem: ExchangeError | None = target_too_long(
            len(raw_path) + (len(query) + 1 if query else 0)
        )
        if problem is None:
            headers = scope.get("headers", [])
            sizes = [len(name) + len(value) for name, value in headers]
            problem = headers_too_large(len(sizes), sum(sizes), max(sizes, default=0))
        if problem is not None:
            await _send_problem(scope, send, problem, close=True)
            return
        await self.app(scope, receive, send)


class _Watched:
    """A send that notes whether the answer has begun to go out (after that, an error can
    no longer be answered, nor the request run again)."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


class UnexpectedErrors:
    """Answer an error that nothing else handled with a 500, log its type, and stop there.

    Starlette's own last-resort handler re-raises after answering, so that the server logs
    the exception; uvicorn then logged its message (a database error quotes the statement
    with its parameters: pseudonyms, search values) and dropped the connection without
    saying so. Here the error is logged by type with the request id (the traceback without
    any exception's message, ``exchange.logs``), the answer says ``Connection: close``, and
    the server sees a request that ended normally.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watch = _Watched(send)
        try:
            await self.app(scope, receive, watch)
        except Exception as error:
            log.error("request.failed", error_type=type(error).__name__, exc_info=error)
            if watch.started:
                # Part of the answer is out: the server closes a response left unfinished.
                return
            problem = InternalError("the broker failed to handle this request; it was not stored")
            await _send_problem(scope, send, problem, close=True)


class LostRaces:
    """Run a request again, whole, when its transaction lost a race before any of its answer
    went out: a deadlock, a serialization failure, or a concurrent writer that stored the
    same thing first (``exchange.db.is_retryable``).

    A request's work is one transaction, committed before the answer is sent
    (``exchange.http.deps``); rolled back, the request has done nothing, and running it again
    is what a client's resend would do, without the client seeing a 500 for a race it
    cannot help. Reads need this as much as writes: reading a case is a disclosure, and its
    audit entries are written in the reading transaction. Intake has its own retries inside
    (``exchange.intake.coalescer``), so this rarely runs there. The body is kept as it is
    read, and read again from there. A request that did something no rollback undoes (sent
    a mail: ``exchange.db.outside_effect``) is not run again: it fails as before.
    """

    def __init__(self, app: ASGIApp, attempts: int = ATTEMPTS) -> None:
        self.app = app
        self.attempts = attempts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        for attempt in range(1, self.attempts + 1):
            watch = _Watched(send)
            try:
                with watching_outside_effects() as effects:
                    await self.app(scope, _replaying(received, receive), watch)
                return
            except DBAPIError as error:
                last = attempt == self.attempts
                # A message already sent would go twice (exchange.db.outside_effect).
                if watch.started or last or effects or not is_retryable(error):
                    raise
                log.info("request.retried", attempt=attempt, error_type=type(error).__name__)


def _replaying(received: list[Message], receive: Receive) -> Receive:
    """A receive that gives what an earlier run of the request read, then reads on (and
    keeps what it reads, for a run after this one)."""
    again = iter(list(received))

    async def receive_again() -> Message:
        message = next(again, None)
        if message is None:
            message = await receive()
            received.append(message)
        return message

    return receive_again


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


async def _send_problem(
    scope: Scope, send: Send, error: ExchangeError, *, close: bool = False
) -> None:
    # The instance is the path only when it is short: a refused 100,000-byte path is not
    # echoed back.
    instance = scope["path"] if len(scope["path"]) <= MAX_TARGET_BYTES else None
    body = orjson.dumps(error.as_problem(instance))
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    challenge = error.challenge() if isinstance(error, Unauthenticated | Forbidden) else None
    if challenge:
        headers.append((b"www-authenticate", challenge.encode()))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None
