"""W3C trace context: take a ``traceparent`` header when given, make one otherwise.

The trace and span ids go into every audit entry and log line of the request, and back to
the caller in the response's ``traceparent`` header, so a disclosure can be followed across
the provider's systems, the broker and the audit log.

Parsing follows W3C Trace Context (Recommendation, §3.2 and §4.3) to the letter:

- version 00 is exactly ``00-<32 hex>-<16 hex>-<2 hex>``, lowercase only: an uppercase digit
  makes the header invalid, and an invalid header is ignored (a new trace starts);
- ``ff`` is never a valid version;
- a higher version is parsed as version 00 for its first 55 characters, and may carry more
  after a ``-``: we cannot know what a future version adds, but the ids stay where they are;
- all-zero trace or parent ids are invalid;
- ``tracestate`` is kept (several header lines joined with commas, as HTTP allows) when the
  ``traceparent`` is valid, and dropped with it when not (§3.3: "if the vendor failed to
  parse traceparent, it MUST NOT attempt to parse tracestate").

We take part as a vendor that records every request (the sampled flag of our own span is
set: the audit log records every disclosure whatever the caller samples), and we do not add
an entry of our own to ``tracestate``; it goes on with the span (``current_span``) to what
the request causes further on, not back to the caller.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HEX_DIGITS = frozenset("0123456789abcdef")
_VERSION = re.compile(r"^[0-9a-f]{2}$")
_VERSION_00_LENGTH = 55
# §3.3.1.1: at most 32 list members; members beyond are ours to drop, not the header.
TRACESTATE_MEMBERS_KEPT = 32
_trace: ContextVar[Trace | None] = ContextVar("trace", default=None)


@dataclass(frozen=True)
class Parent:
    """What a valid ``traceparent`` header says about the caller's span."""

    version: str
    trace_id: str
    parent_id: str
    flags: str


@dataclass(frozen=True)
class Trace:
    """The span the broker runs a request (or a command) in."""

    trace_id: str
    span_id: str
    parent_id: str | None = None  # the caller's span, when it sent a valid traceparent
    tracestate: str | None = None  # the caller's, kept unchanged for the next hop

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-01"


def _is_hex(text: str) -> bool:
    return bool(text) and all(character in _HEX_DIGITS for character in text)


def parse_traceparent(value: str) -> Parent | None:
    """The caller's span from a ``traceparent`` value, or ``None`` where the spec says ignore."""
    value = value.strip(" \t")  # optional whitespace around a header value (RFC 9110 §5.5)
    if len(value) < _VERSION_00_LENGTH:
        return None
    version = value[:2]
    if not _VERSION.match(version) or version == "ff":
        return None
    if version == "00" and len(value) != _VERSION_00_LENGTH:
        return None
    if len(value) > _VERSION_00_LENGTH and value[_VERSION_00_LENGTH] != "-":
        return None
    if value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    trace_id, parent_id, flags = value[3:35], value[36:52], value[53:55]
    if not (_is_hex(trace_id) and _is_hex(parent_id) and _is_hex(flags)):
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return Parent(version=version, trace_id=trace_id, parent_id=parent_id, flags=flags)


def kept_tracestate(lines: list[str]) -> str | None:
    """The ``tracestate`` to pass on: the header lines joined, empty members dropped (§3.3.1.1
    allows them and says to ignore them), at most 32 members. ``None`` when nothing is left."""
    members = [member.strip(" \t") for line in lines for member in line.split(",")]
    kept = [member for member in members if member][:TRACESTATE_MEMBERS_KEPT]
    return ",".join(kept) or None


def current_trace() -> tuple[str, str]:
    """(trace id, span id) of the running request, or fresh ones outside a request (CLI)."""
    trace = current_span()
    return trace.trace_id, trace.span_id


def current_span() -> Trace:
    """The running request's span with its parent and ``tracestate``; a fresh one outside."""
    trace = _trace.get()
    if trace is None:
        trace = Trace(trace_id=secrets.token_hex(16), span_id=secrets.token_hex(8))
        _trace.set(trace)
    return trace


def span_from_headers(headers: list[tuple[bytes, bytes]]) -> Trace:
    """A new span of ours, continuing the caller's trace when its ``traceparent`` is valid."""
    parents = [value for key, value in headers if key == b"traceparent"]
    # Two traceparent headers cannot both be right; RFC 9110 joins them into one invalid value.
    parent = parse_traceparent(parents[0].decode("latin-1")) if len(parents) == 1 else None
    span_id = secrets.token_hex(8)
    if parent is None:
        return Trace(trace_id=secrets.token_hex(16), span_id=span_id)
    states = [value.decode("latin-1") for key, value in headers if key == b"tracestate"]
    return Trace(
        trace_id=parent.trace_id,
        span_id=span_id,
        parent_id=parent.parent_id,
        tracestate=kept_tracestate(states),
    )


class TraceContext:
    """ASGI middleware: continue the caller's trace with a new span of our own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace = span_from_headers(scope.get("headers", []))
        _trace.set(trace)
        structlog.contextvars.bind_contextvars(trace_id=trace.trace_id)
        header = (b"traceparent", trace.traceparent.encode())

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        await self.app(scope, receive, send_with_trace)
