"""The HTTP server of ``exchange serve``: uvicorn's httptools protocol, held to the broker's
limits on the request line and headers while it parses them.

uvicorn reads a whole request head before the app sees it: without a limit of its own it
took a 60,000-byte URL or a megabyte of headers, and only failed a URL at 64 KiB with a
plain-text 400. Here the parser stops as soon as the target or the headers pass the limits
of ``exchange.api.middleware`` and answers 414 or 431 as a problem document, with
``Connection: close``, without reading the rest of the head. The app applies the same limits
again (``RequestLimits``) for any other server it runs under.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import structlog
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from exchange.api.middleware import headers_too_large, target_too_long
from exchange.errors import ExchangeError

log = structlog.get_logger("exchange.api")
# How long a refused request's connection drops what still comes before it closes.
LINGER_SECONDS = 2.0


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; httptools then raises its own error,
    and uvicorn's handler for that calls ``send_400_response``, which answers the refusal."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the broker's limits on the request head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refusal: ExchangeError | None = None
        self._draining = False
        self._linger: asyncio.TimerHandle | None = None
        self._header_fields = 0
        self._header_bytes = 0
        self._largest_header = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_fields = self._header_bytes = self._largest_header = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._refuse_if(target_too_long(len(self.url)))

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        size = len(name) + len(value)
        self._header_fields += 1
        self._header_bytes += size
        self._largest_header = max(self._largest_header, size)
        self._refuse_if(
            headers_too_large(self._header_fields, self._header_bytes, self._largest_header)
        )

    def send_400_response(self, msg: str) -> None:
        refusal, self._refusal = self._refusal, None
        if refusal is None:
            super().send_400_response(msg)
            return
        log.warning("request.refused", status=refusal.status, reason=refusal.slug)
        body = orjson.dumps(refusal.as_problem())
        head = [STATUS_LINE[refusal.status]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                b"content-type: application/problem+json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n\r\n",
            ]
        )
        self.transport.write(b"".join(head) + body)
        # A lingering close, as nginx makes one: the answer, then our end of the stream
        # (FIN), then what the client still sends is read and dropped for a moment before the
        # socket closes. Closed at once with the rest of the head unread, the kernel resets
        # the connection, and a client still sending can lose the answer to the reset.
        self._draining = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def data_received(self, data: bytes) -> None:
        if self._draining:
            return  # the rest of a refused request: dropped
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def _refuse_if(self, problem: ExchangeError | None) -> None:
        if problem is not None:
            self._refusal = problem
            raise _Refused
