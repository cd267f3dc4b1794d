"""Reports to NDOP: every exchange of personal data this LGSP takes part in,
traced at the national data orchestration platform (Decree 278/2025).

The reporter, :class:`TraceReporter`, is a :class:`Recorder`. Its
``record`` runs on the request path and only appends to a list: no
parsing, no I/O, nothing that can fail an exchange or slow it. An intake
task builds the traces (:mod:`.traces`, off the event loop) and keeps them
in the outbox (:mod:`.outbox`: SQLite in the data folder, memory without
one); a sender task posts them to NDOP through NDXP (:class:`~lgsp.hub.Hub`,
with this LGSP's token) in batches, retrying with capped exponential
backoff and jitter for as long as NDOP is down. A report leaves the outbox
only once NDOP answered 200; its ``trace_id`` makes a report sent twice
(NDOP accepted, the answer lost) count once there.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Final

import aiohttp
import orjson
import structlog
from prometheus_client import Counter, Gauge
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

from lgsp.catalogue.registry import Registry
from lgsp.config import Settings
from lgsp.hub import Hub, HubRefused
from lgsp.observe.record import ExchangeRecord
from lgsp.observe.tracing.outbox import MEMORY_LIMIT, OUTBOX_FILE, Backlog, Outbox, open_outbox
from lgsp.observe.tracing.traces import Personal, Trace, build, personal_services, reportable

__all__ = [
    "BATCH",
    "FLUSH_INTERVAL_S",
    "MEMORY_LIMIT",
    "OUTBOX_FILE",
    "PENDING_LIMIT",
    "ReporterStatus",
    "TraceReporter",
]

log = structlog.get_logger("lgsp.ndop")

FLUSH_INTERVAL_S: Final = 0.5
"""How long a report may wait before it is kept in the outbox and sent."""
BATCH: Final = 500
"""The most reports in one POST to NDOP; a full batch is sent at once."""
PENDING_LIMIT: Final = 100_000
"""The most exchanges waiting for the intake: beyond it (the outbox cannot
keep up), new ones are dropped and counted, never waited for."""
SEND_TIMEOUT_S: Final = 10.0
"""The longest wait for NDOP's answer to one batch."""
CLOSE_TIMEOUT_S: Final = 2.0
"""How long closing tries to send what waits; the rest stays in the outbox."""
BACKOFF_MAX_S: Final = 30.0
"""The longest pause between two attempts while NDOP is down."""

# One series per reporting province: several provinces' LGSPs may run in one
# process (a laptop's network), each with its own outbox.
REPORTS = Counter(
    "lgsp_ndop_reports_total",
    "Reports of exchanges of personal data to NDOP, by what became of them: queued in "
    "the outbox, sent (NDOP accepted), dropped (the memory queue was full)",
    ["province", "outcome"],
)
OUTBOX = Gauge(
    "lgsp_ndop_outbox_reports",
    "Reports waiting in the outbox for NDOP to accept them",
    ["province"],
)
SEND_FAILURES = Counter(
    "lgsp_ndop_send_failures_total",
    "Attempts to send a batch of reports to NDOP that failed (unreachable, refused, not 200)",
    ["province"],
)


@dataclass(frozen=True, slots=True)
class ReporterStatus:
    """What the reporter has done, for operators."""

    enabled: bool
    """False without NDOP's endpoint: nothing is reported."""
    queued: int
    """Reports waiting: in the outbox, or about to be put there."""
    sent: int
    """Reports NDOP accepted since start."""
    dropped: int
    """Reports lost since start because a memory bound was reached."""
    send_failures: int
    last_error: str | None
    """Why the last attempt failed; None once a batch went through."""
    oldest_queued_age_s: float | None
    """How long the oldest waiting report has waited."""


class _SendFailed(Exception):
    """NDOP did not accept a batch; it stays in the outbox."""


class TraceReporter:
    """Reports this LGSP's exchanges of personal data to NDOP (a
    :class:`~lgsp.observe.record.Recorder`).

    ``settings.network.trace_url`` is NDOP's endpoint (none, or no
    ``hub``: the reporter does nothing), ``settings.province`` the reporter,
    ``settings.data_dir`` where the outbox lives (none: memory, bounded by
    ``memory_limit``). ``describe_client`` gives the agency description of
    one of this LGSP's clients ("" when it has none: the id is used)."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        hub: Hub | None,
        describe_client: Callable[[str], str],
        *,
        interval: float = FLUSH_INTERVAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        memory_limit: int = MEMORY_LIMIT,
    ) -> None:
        trace_url = settings.network.trace_url if settings.network is not None else None
        self._ndop = (hub, str(trace_url)) if trace_url is not None and hub is not None else None
        self.url = self._ndop[1] if self._ndop is not None else None
        """NDOP's endpoint; None: nothing is reported."""
        self.province = settings.province
        self.data_dir = settings.data_dir
        self.interval = interval
        self.backoff_max_s = backoff_max_s
        self.memory_limit = memory_limit
        self._describe = describe_client
        # Looked up on the request path: one dict lookup per exchange.
        self._personal = personal_services(registry) if self.url is not None else {}
        self._pending: list[tuple[ExchangeRecord, Personal]] = []
        self._moving = 0
        """Exchanges the intake is putting away right now."""
        self._outbox: Outbox | None = None
        self._backlog = Backlog(0, None)
        self._wake = asyncio.Event()
        self._queued = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: tuple[asyncio.Task[None], asyncio.Task[None]] | None = None
        self._sent = 0
        self._dropped = 0
        self._failures = 0
        self._last_error: str | None = None
        self._reports = {o: REPORTS.labels(self.province, o) for o in ("queued", "sent", "dropped")}
        self._outbox_gauge = OUTBOX.labels(self.province)
        self._send_failures = SEND_FAILURES.labels(self.province)

    # -- the request path ------------------------------------------------

    def record(self, record: ExchangeRecord) -> None:
        personal = self._personal.get((record.name, record.version))
        if personal is None or not reportable(record):
            return
        if len(self._pending) >= PENDING_LIMIT:
            self._drop(1)
            return
        self._pending.append((record, personal))
        if len(self._pending) >= BATCH:
            self._wake.set()

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Open the outbox (reports a previous run left are sent first) and
        start the intake and the sender."""
        if self.url is None or self._tasks is not None:
            return
        self._outbox = await asyncio.to_thread(open_outbox, self.data_dir, self.memory_limit)
        self._backlog = Backlog(0, None, -1)
        self._note(await asyncio.to_thread(self._outbox.backlog))
        self._stopping.clear()
        # What a previous run left is sent first, without waiting for news.
        self._queued.set()
        self._tasks = (
            asyncio.create_task(self._intake_loop(), name=f"ndop-intake-{self.province}"),
            asyncio.create_task(self._send_loop(), name=f"ndop-sender-{self.province}"),
        )
        log.info(
            "ndop.reporter_started",
            province=self.province,
            outbox=OUTBOX_FILE if self.data_dir is not None else "memory",
            queued=self._backlog.count,
        )

    async def close(self) -> None:
        """Keep what was recorded in the outbox, try for a short while to
        send it, and close: what NDOP has not accepted waits in the outbox
        for the next start (in memory, it is lost with the process)."""
        if self._tasks is None or self._outbox is None:
            return
        intake, sender = self._tasks
        self._stopping.set()
        self._wake.set()
        # Not cancelled: it ends after putting the last exchanges away.
        await intake
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        with contextlib.suppress(TimeoutError, _SendFailed):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._drain()
        await asyncio.to_thread(self._outbox.close)
        self._tasks = None
        self._outbox = None
        log.info("ndop.reporter_closed", province=self.province, queued=self._backlog.count)

    def status(self) -> ReporterStatus:
        """For the dashboard (``dataclasses.asdict`` makes it a status
        hook's mapping): reads counters only, cheap, never blocks."""
        oldest = self._backlog.oldest
        if oldest is None and self._pending:
            oldest = self._pending[0][0].answered
        return ReporterStatus(
            enabled=self.url is not None,
            queued=self._backlog.count + self._moving + len(self._pending),
            sent=self._sent,
            dropped=self._dropped,
            send_failures=self._failures,
            last_error=self._last_error,
            oldest_queued_age_s=round(max(time.time() - oldest, 0.0), 3) if oldest else None,
        )

    async def lifespan(self, _app: object) -> AsyncIterator[None]:
        """For ``web.Application.cleanup_ctx``: started with the app, closed
        after its last request (so its last exchanges are kept)."""
        await self.start()
        yield
        await self.close()

    # -- intake: records to the outbox ---------------------------------------

    async def _intake_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            self._wake.clear()
            await self._intake()

    async def _intake(self) -> None:
        batch, self._pending = self._pending, []
        if not batch or self._outbox is None:
            self._pending[:0] = batch
            return
        # Agencies are looked up here, on the loop, where the client store lives.
        agencies = [self._agency(record) for record, _ in batch]
        self._moving = len(batch)
        try:
            kept, built, backlog = await asyncio.to_thread(
                self._keep, self._outbox, batch, agencies
            )
        except (OSError, sqlite3.Error) as exc:
            # Retried at the next intake; beyond the pending bound, dropped.
            room = max(PENDING_LIMIT - len(self._pending), 0)
            self._pending[:0] = batch[:room]
            self._drop(len(batch) - room)
            log.error("ndop.outbox_failed", province=self.province, error=str(exc))
            return
        finally:
            self._moving = 0
        self._reports["queued"].inc(kept)
        self._drop(built - kept)
        self._note(backlog)
        if kept:
            self._queued.set()

    def _keep(
        self,
        outbox: Outbox,
        batch: Sequence[tuple[ExchangeRecord, Personal]],
        agencies: Sequence[str],
    ) -> tuple[int, int, Backlog]:
        """In a thread: build the traces and keep them. Answers how many were
        kept of how many built, and the outbox's backlog then."""
        traces: list[Trace] = []
        for (record, personal), agency in zip(batch, agencies, strict=True):
            trace = build(record, personal, agency, self.province)
            if trace is not None:
                traces.append(trace)
        kept = outbox.add([orjson.dumps(t) for t in traces]) if traces else 0
        return kept, len(traces), outbox.backlog()

    def _agency(self, record: ExchangeRecord) -> str:
        # A forwarded call's client is another province's (or a ministry's):
        # this LGSP knows it by its id only.
        if record.origin_client is not None:
            return record.origin_client
        return self._describe(record.client) or record.client

    # -- sender: the outbox to NDOP --------------------------------------------

    async def _send_loop(self) -> None:
        while not self._stopping.is_set():
            await self._queued.wait()
            # Cleared before draining: what the intake adds meanwhile sets it again.
            self._queued.clear()
            with contextlib.suppress(_SendFailed):
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception_type(_SendFailed),
                    wait=wait_exponential_jitter(
                        multiplier=0.25, max=self.backoff_max_s, jitter=0.25
                    ),
                    stop=lambda _state: self._stopping.is_set(),
                    sleep=self._pause,
                    reraise=True,
                ):
                    with attempt:
                        await self._drain()

    async def _pause(self, seconds: float) -> None:
        """A backoff between attempts, cut short when closing."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    async def _drain(self) -> None:
        """Send batches until the outbox is empty; raises :class:`_SendFailed`
        at the first batch NDOP does not accept."""
        outbox, ndop = self._outbox, self._ndop
        if outbox is None or ndop is None:
            return
        while rows := await asyncio.to_thread(outbox.peek, BATCH):
            await self._send(*ndop, [trace for _, trace in rows])
            self._note(await asyncio.to_thread(self._removed, outbox, [k for k, _ in rows]))

    @staticmethod
    def _removed(outbox: Outbox, keys: Sequence[int]) -> Backlog:
        outbox.remove(keys)
        return outbox.backlog()

    async def _send(self, hub: Hub, url: str, traces: Sequence[bytes]) -> None:
        """POST one batch to NDOP; raises :class:`_SendFailed` unless it answers 200."""
        # The reports are JSON already: the batch is joined, not re-encoded.
        body = b'{"traces":[' + b",".join(traces) + b"]}"
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                answer = await hub.post(url, body, {})
        except (OSError, aiohttp.ClientError, TimeoutError, HubRefused) as exc:
            self._failed(len(traces), f"NDOP unreachable: {type(exc).__name__}: {exc}")
            raise _SendFailed from exc
        if answer.status != 200:
            self._failed(len(traces), f"NDOP answered {answer.status}")
            raise _SendFailed
        counts = _counts(answer.body)
        self._sent += len(traces)
        self._reports["sent"].inc(len(traces))
        self._last_error = None
        log.info(
            "ndop.reports_sent",
            province=self.province,
            count=len(traces),
            accepted=counts.get("accepted"),
            duplicates=counts.get("duplicates"),
        )

    # -- bookkeeping -------------------------------------------------------

    def _failed(self, count: int, error: str) -> None:
        self._failures += 1
        self._send_failures.inc()
        self._last_error = error
        log.warning("ndop.report_failed", province=self.province, count=count, error=error)

    def _drop(self, count: int) -> None:
        if count > 0:
            self._dropped += count
            self._reports["dropped"].inc(count)

    def _note(self, backlog: Backlog) -> None:
        # The intake's and the sender's news come back from their threads in
        # any order: the outbox's latest change wins.
        if backlog.version >= self._backlog.version:
            self._backlog = backlog
            self._outbox_gauge.set(backlog.count)


def _counts(body: bytes) -> dict[str, int]:
    """NDOP's ``{"accepted", "duplicates"}``, as far as it said them (for the
    log only: its 200 is what counts)."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(answer, dict):
        return {}
    return {k: v for k, v in answer.items() if k in ("accepted", "duplicates") and type(v) is int}
