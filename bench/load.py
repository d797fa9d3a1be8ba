"""The load generator: a fixed number of requests at a fixed concurrency, always bounded.

A closed loop: ``concurrency`` workers on one asyncio loop each send their next request as
soon as the previous answer arrived, over keep-alive connections. Bodies are serialised
before the clock starts. A round ends when every body is sent or ``deadline`` seconds have
passed, whichever comes first; every request has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.servers import HOST, Server


@dataclass
class RoundResult:
    target: str
    round: int
    sent: int
    ok: int
    errors: int
    seconds: float
    latencies: list[float] = field(repr=False)
    statuses: dict[str, int]
    error_samples: list[str]
    server_cpu: float  # CPU seconds the server used during the round
    client_cpu: float  # CPU seconds this process used during the round

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies, q)

    def summary(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "round": self.round,
            "sent": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(0.50) * 1000, 2),
            "p99_ms": round(self.percentile(0.99) * 1000, 2),
            "server_cpu_ms_per_request": round(self.server_cpu * 1000 / max(self.sent, 1), 3),
            "server_cpu_share": round(self.server_cpu / self.seconds, 2) if self.seconds else 0,
            "client_cpu_share": round(self.client_cpu / self.seconds, 2) if self.seconds else 0,
            "statuses": self.statuses,
            "error_samples": self.error_samples,
        }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def run_round(
    server: Server,
    target: str,
    round_number: int,
    path: str,
    bodies: list[bytes],
    headers: dict[str, str],
    *,
    expect: int,
    concurrency: int,
    deadline: float,
    timeout: float,
    client: str = "raw",
) -> RoundResult:
    """Send ``bodies`` (one POST each) to ``path`` and measure.

    ``client`` is ``raw`` (a minimal HTTP/1.1 keep-alive client on asyncio streams) or
    ``httpx`` (``httpx.AsyncClient``); see BENCHMARKS.md for why ``raw`` is the default.
    """
    senders: list[_Sender]
    if client == "raw":
        senders = [_RawSender(server, path, headers, timeout) for _ in range(concurrency)]
    else:
        # One httpx client with a pool of ``concurrency`` connections, shared by the workers.
        senders = [_HttpxSender(server, path, headers, timeout, concurrency)] * concurrency
    return asyncio.run(
        _round(
            senders,
            server,
            target,
            round_number,
            bodies,
            expect=expect,
            deadline=deadline,
        )
    )


class _Sender:
    """One connection's worth of sending (raw) or the shared client (httpx)."""

    async def open(self) -> None: ...

    async def post(self, body: bytes) -> tuple[int, bytes]:
        raise NotImplementedError

    async def close(self) -> None: ...


class _HttpxSender(_Sender):
    def __init__(
        self,
        server: Server,
        path: str,
        headers: dict[str, str],
        timeout: float,
        connections: int,
    ) -> None:
        self.path = path
        self.connections = connections
        self.client = httpx.AsyncClient(
            base_url=server.base_url,
            timeout=timeout,
            headers={"content-type": "application/json", **headers},
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    async def open(self) -> None:
        await asyncio.gather(*(self.client.get("/openapi.json") for _ in range(self.connections)))

    async def post(self, body: bytes) -> tuple[int, bytes]:
        response = await self.client.post(self.path, content=body)
        return response.status_code, response.content

    async def close(self) -> None:
        await self.client.aclose()


class _RawSender(_Sender):
    """HTTP/1.1 over one keep-alive connection: a fixed request head, Content-Length or
    chunked responses. Enough for uvicorn, and about ten times cheaper per request than
    httpx, so that the load generator does not cap what it measures."""

    def __init__(self, server: Server, path: str, headers: dict[str, str], timeout: float):
        self.server, self.timeout = server, timeout
        lines = [f"POST {path} HTTP/1.1", f"host: {HOST}:{server.port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += ["content-type: application/json", "content-length: "]
        self.head = "\r\n".join(lines).encode("latin-1")
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, self.server.port), self.timeout
        )

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        try:
            return await asyncio.wait_for(self._exchange(body), self.timeout)
        except BaseException:
            await self.close()  # the connection state is unknown: start over
            raise

    async def _exchange(self, body: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(b"%s%d\r\n\r\n%s" % (self.head, len(body), body))
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].split(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in header_lines:
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value
            elif name == b"connection":
                close = value == b"close"
        if chunked:
            parts = []
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await self.reader.readexactly(size + 2))
            await self.reader.readuntil(b"\r\n")
            content = b"".join(p[:-2] for p in parts)
        else:
            content = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def _round(
    senders: list[_Sender],
    server: Server,
    target: str,
    round_number: int,
    bodies: list[bytes],
    *,
    expect: int,
    deadline: float,
) -> RoundResult:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    samples: list[str] = []
    queue = iter(bodies)
    # Connect before the clock starts.
    await asyncio.gather(*(s.open() for s in dict.fromkeys(senders)))

    async def worker(each: _Sender, stop_at: float) -> None:
        for body in queue:
            if time.monotonic() > stop_at:
                return
            started = time.perf_counter()
            try:
                status, content = await each.post(body)
            except (
                OSError,
                EOFError,
                TimeoutError,
                ValueError,
                asyncio.LimitOverrunError,
                httpx.HTTPError,
            ) as error:
                statuses[type(error).__name__] += 1
                if len(samples) < 5:
                    samples.append(f"{type(error).__name__}: {error}")
                continue
            elapsed = time.perf_counter() - started
            statuses[str(status)] += 1
            if status == expect:
                latencies.append(elapsed)
            elif len(samples) < 5:
                samples.append(f"{status}: {content[:300].decode(errors='replace')}")

    server_cpu = server.cpu_seconds()
    client_cpu = time.process_time()
    started = time.perf_counter()
    stop_at = time.monotonic() + deadline
    try:
        await asyncio.gather(*(worker(each, stop_at) for each in senders))
    finally:
        seconds = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
        server_cpu = server.cpu_seconds() - server_cpu
        for each in dict.fromkeys(senders):
            await each.close()
    sent = sum(statuses.values())
    return RoundResult(
        target=target,
        round=round_number,
        sent=sent,
        ok=len(latencies),
        errors=sent - len(latencies),
        seconds=seconds,
        latencies=latencies,
        statuses=dict(statuses),
        error_samples=samples,
        server_cpu=server_cpu,
        client_cpu=client_cpu,
    )
