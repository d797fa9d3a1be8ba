"""W3C trace context: take a ``traceparent`` header when given, make one otherwise.

The trace and span ids go into every audit entry and log line of the request, and back to
the caller in the response's ``traceparent`` header, so a disclosure can be followed across
the provider's systems, the broker and the audit log.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_trace: ContextVar[tuple[str, str] | None] = ContextVar("trace", default=None)


def current_trace() -> tuple[str, str]:
    """(trace id, span id) of the running request, or fresh ones outside a request (CLI)."""
    trace = _trace.get()
    if trace is None:
        trace = (secrets.token_hex(16), secrets.token_hex(8))
        _trace.set(trace)
    return trace


class TraceContext:
    """ASGI middleware: continue the caller's trace with a new span of our own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id = secrets.token_hex(16)
        for key, value in scope.get("headers", []):
            if key == b"traceparent":
                match = _TRACEPARENT.match(value.decode("latin-1").strip().lower())
                if match and match.group(1) != "0" * 32 and match.group(2) != "0" * 16:
                    trace_id = match.group(1)
                break
        span_id = secrets.token_hex(8)
        _trace.set((trace_id, span_id))
        structlog.contextvars.bind_contextvars(trace_id=trace_id)
        header = f"00-{trace_id}-{span_id}-01".encode()

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"traceparent", header)]
            await send(message)

        await self.app(scope, receive, send_with_trace)
