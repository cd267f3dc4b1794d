"""Syslog to the monitoring centre's collector: RFC 5424 messages with
octet-counting framing (RFC 5425 §4.3, RFC 6587 §3.4.1) over TCP with TLS,
written by one owned background task on asyncio streams.

The request path only appends to a bounded buffer; the sender connects,
writes, reconnects with backoff when the collector goes away, and when the
buffer is full drops the oldest event and counts it. Syslog over TLS has no
acknowledgements: what was written into a connection the collector drops
before reading it is lost with it (RELP would be needed to know).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog
from prometheus_client import Counter, Gauge

log = structlog.get_logger("lgsp.soc")

FACILITY = 13
"""RFC 5424 facility 13, "log audit"."""
MAX_BACKOFF_S = 5.0

# By province: several provinces in one process (`lgsp up`) share one registry.
EMITTED = Counter(
    "lgsp_soc_events_total", "Security events emitted for the SOC", ["province", "kind"]
)
SENT = Counter(
    "lgsp_soc_events_sent_total",
    "Security events written to the SOC's collector",
    ["province", "kind"],
)
DROPPED = Counter(
    "lgsp_soc_events_dropped_total",
    "Security events dropped, oldest first, while the buffer was full (collector away)",
    ["province", "kind"],
)
BUFFERED = Gauge(
    "lgsp_soc_buffer_events", "Security events waiting for the collector", ["province"]
)
CONNECTED = Gauge("lgsp_soc_connected", "1 while connected to the SOC's collector", ["province"])


def message(
    *,
    severity: int,
    timestamp: datetime,
    hostname: str,
    app_name: str,
    procid: int,
    msgid: str,
    body: str,
) -> bytes:
    """One RFC 5424 message (no structured data; the body is ASCII JSON, so
    it needs no BOM), framed by its length in octets."""
    stamp = timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    line = (
        f"<{FACILITY * 8 + severity}>1 {stamp} {_field(hostname, 255)} {_field(app_name, 48)} "
        f"{procid} {_field(msgid, 32)} - {body}"
    ).encode()
    return b"%d %s" % (len(line), line)


def _field(value: str, limit: int) -> str:
    # Header fields are printable US-ASCII without spaces (RFC 5424 §6).
    cleaned = "".join(c for c in value if "!" <= c <= "~")[:limit]
    return cleaned or "-"


@dataclass(frozen=True, slots=True)
class Pending:
    """An event waiting to be written: formatted by the sender, off the request path."""

    kind: str
    severity: int
    created: datetime
    render: Callable[[], str]


class SyslogSender:
    """The collector's connection and the buffer in front of it."""

    def __init__(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext,
        *,
        server_name: str | None,
        capacity: int,
        hostname: str,
        app_name: str,
        procid: int,
        province: str,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.host, self.port, self.context = host, port, context
        self.server_name = server_name or host
        self.capacity = capacity
        self.hostname, self.app_name, self.procid = hostname, app_name, procid
        self.connect_timeout_s = connect_timeout_s
        self._buffer: deque[Pending] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._closed: asyncio.Event | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.sent = 0
        self.dropped = 0
        self._buffered = BUFFERED.labels(province)
        self._connected = CONNECTED.labels(province)
        self.province = province

    def put(self, pending: Pending) -> None:
        """Queue an event; never waits. When full, the oldest goes."""
        if len(self._buffer) >= self.capacity:
            old = self._buffer.popleft()
            self.dropped += 1
            DROPPED.labels(self.province, old.kind).inc()
        self._buffer.append(pending)
        self._buffered.set(len(self._buffer))
        self._wake.set()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def connected(self) -> bool:
        """Whether a connection to the collector is open (and not hung up)."""
        return self._writer is not None and not self._gone()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="lgsp-soc-sender")

    async def close(self, deadline_s: float = 2.0) -> None:
        """Write what can be written within ``deadline_s``, then stop."""
        if self._task is None:
            return
        until = time.monotonic() + deadline_s
        # Connected or still trying: the task goes on until the deadline.
        while self._buffer and not self._task.done() and time.monotonic() < until:
            self._wake.set()
            await asyncio.sleep(0.01)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        await self._disconnect()
        if self._buffer:
            log.warning("soc.unsent_at_stop", events=len(self._buffer))

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            if not self._buffer:
                self._wake.clear()
                await self._wake.wait()
            if self._writer is None or self._gone():
                await self._disconnect()
                if not await self._connect():
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
                    continue
                backoff = 0.1
            try:
                await self._write_batch()
            except (OSError, ConnectionError, ssl.SSLError) as exc:
                log.warning("soc.write_failed", error=str(exc) or type(exc).__name__)
                await self._disconnect()

    def _gone(self) -> bool:
        return self._closed is not None and self._closed.is_set()

    async def _connect(self) -> bool:
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self.context, server_hostname=self.server_name
                )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            log.warning(
                "soc.connect_failed",
                collector=f"{self.host}:{self.port}",
                error=str(exc) or type(exc).__name__,
            )
            return False
        self._writer = writer
        closed = self._closed = asyncio.Event()
        # The collector never writes: a read returns only when it hangs up,
        # so a dead connection is noticed before more events go into it.
        self._watcher = asyncio.get_running_loop().create_task(self._watch(reader, closed))
        self._connected.set(1)
        log.info("soc.connected", collector=f"{self.host}:{self.port}")
        return True

    async def _watch(self, reader: asyncio.StreamReader, closed: asyncio.Event) -> None:
        with contextlib.suppress(OSError, ConnectionError, ssl.SSLError):
            while await reader.read(4096):
                pass
        closed.set()
        if self._closed is closed:
            self._connected.set(0)
            log.warning("soc.collector_hung_up", collector=f"{self.host}:{self.port}")

    async def _disconnect(self) -> None:
        writer, self._writer = self._writer, None
        if self._closed is not None:
            self._closed.set()
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        self._connected.set(0)
        if writer is None:
            return
        writer.close()
        with contextlib.suppress(OSError, ConnectionError, ssl.SSLError, TimeoutError):
            async with asyncio.timeout(1.0):
                await writer.wait_closed()

    async def _write_batch(self, most: int = 256) -> None:
        writer = self._writer
        assert writer is not None
        batch: list[Pending] = []
        while self._buffer and len(batch) < most:
            batch.append(self._buffer.popleft())
        try:
            writer.write(b"".join(self._frame(p) for p in batch))
            async with asyncio.timeout(self.connect_timeout_s):
                await writer.drain()
        except BaseException:
            # Not known to be written: back to the front, in order.
            self._buffer.extendleft(reversed(batch))
            while len(self._buffer) > self.capacity:
                self.dropped += 1
                DROPPED.labels(self.province, self._buffer.popleft().kind).inc()
            self._buffered.set(len(self._buffer))
            raise
        self.sent += len(batch)
        for p in batch:
            SENT.labels(self.province, p.kind).inc()
        self._buffered.set(len(self._buffer))

    def _frame(self, pending: Pending) -> bytes:
        return message(
            severity=pending.severity,
            timestamp=pending.created,
            hostname=self.hostname,
            app_name=self.app_name,
            procid=self.procid,
            msgid=pending.kind,
            body=pending.render(),
        )


def client_context(
    ca_file: Path | None, cert_file: Path | None, key_file: Path | None
) -> ssl.SSLContext:
    """TLS to the collector: its certificate checked (against ``ca_file``,
    else the system's CAs), ours presented when given."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file is not None:
        context.load_cert_chain(cert_file, key_file)
    return context
