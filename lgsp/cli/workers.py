"""``lgsp gateway --workers N``: N gateway processes on one port, each a
whole gateway (authentication, grants, quotas, contract checks, exchange
log, metrics), and the supervisor that starts them, watches them, restarts
one that dies and stops them all when told to.

What the workers share lives in the data folder (the client store and its
keys, idempotency keys, the exchange log); what each counts alone is its
share of every quota and its metrics (docs/operations.md). The supervisor
tells a worker its place in the environment (:mod:`lgsp.trust.workers`),
hands it its sockets and a link (``--listen-fd``, ``--supervisor-fd``),
and passes its log lines on whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from lgsp.observe.log import flush_periodically
from lgsp.trust.workers import WORKER_ENV, Worker

log = structlog.get_logger("lgsp.workers")

START_FAILURES = 3
"""A worker that dies before it is ready this many times in a row ends the
supervisor (non-zero): something in its start-up is wrong, not its luck."""
STEADY_S = 30.0
"""A worker that ran this long before it died is restarted at once (after
the first backoff step), not after a longer one."""
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 30.0
WORKERS_ENV = "LGSP_WORKERS"
"""The ``--workers`` option's variable: never passed on to a worker."""
LONGEST_LINE = 1 << 20
"""A worker's output without a line break is passed on at this length."""

# Stopped cleanly, or by the signal it was sent before it could handle it.
_CLEAN = frozenset({0, -signal.SIGTERM, -signal.SIGINT})

Address = tuple[socket.AddressFamily, str, tuple[int, ...]]
"""A family, a host, and (IPv6) the flow info and scope of its socket address."""


def restart_delay(quick_deaths: int) -> float:
    """Seconds before restarting a worker that died ``quick_deaths`` times
    in a row without running steadily: 0.5, 1, 2, ... up to 30."""
    return float(min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** max(0, quick_deaths - 1)))


# Why the supervisor binds one SO_REUSEPORT socket per worker, rather than
# one socket that every worker accepts from: the kernel spreads new
# connections evenly over a reuseport group, whereas workers sharing one
# listening socket race for each wake-up (and asyncio accepts up to a
# hundred connections a wake-up), so one worker would take most of a load's
# keep-alive connections. Binding here rather than in each worker makes a
# taken port one clear error before anything starts, resolves port 0 once
# for all, and checks first, with a plain bind, that no other reuseport
# group (another `lgsp gateway --workers`) holds the port, which ours would
# otherwise silently join. The sockets are handed over bound but not
# listening: a worker listens when it starts serving, so the kernel sends
# no connection to a worker still starting, nor to one that died.


def resolve(host: str, port: int) -> tuple[list[Address], int]:
    """The addresses ``host`` names and the port to bind there (``port``, or
    a free one for 0), once a plain bind has shown that nobody listens on it
    (raises OSError, e.g. address in use)."""
    found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    addresses: list[Address] = []
    for info in found:
        if info[0] not in (socket.AF_INET, socket.AF_INET6):
            continue
        sockaddr = info[4]
        address: Address = (info[0], str(sockaddr[0]), tuple(int(x) for x in sockaddr[2:]))
        if address not in addresses:
            addresses.append(address)
    probes: list[socket.socket] = []
    try:
        for family, host_address, extra in addresses:
            probe = _socket(family, reuse_port=False)
            probes.append(probe)
            probe.bind((host_address, port, *extra))
            port = probe.getsockname()[1]
    finally:
        for probe in probes:
            probe.close()
    return addresses, port


def bind(addresses: Sequence[Address], port: int) -> list[socket.socket]:
    """One worker's sockets: every address on ``port``, in the port's
    reuseport group, bound, not listening, inheritable."""
    sockets: list[socket.socket] = []
    try:
        for family, host, extra in addresses:
            sock = _socket(family, reuse_port=True)
            sockets.append(sock)
            sock.bind((host, port, *extra))
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _socket(family: socket.AddressFamily, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    return sock


@dataclass(frozen=True)
class Plan:
    """How every worker is started: its command line up to the descriptors
    the supervisor adds, and what its environment adds to this process's."""

    count: int
    addresses: Sequence[Address]
    port: int
    argv: Sequence[str]
    env: Mapping[str, str]
    metrics_port: int | None = None
    """Worker i serves its own /metrics on this port + i - 1."""
    # A scrape target per worker, rather than prometheus_client's
    # multiprocess mode: that mode keeps values in per-process files that
    # Gauge.clear() (how a provider or queue that went away leaves no stale
    # series) does not reach, needs a mode chosen for every gauge, and costs
    # about 4 us more an exchange (5.8 instead of 1.5 us for its four
    # updates). Several processes as several targets is what Prometheus
    # expects (docs/metrics.md: sum the counters, max the state gauges).
    stop_grace_s: float = 70.0
    """How long stopping workers may drain before they are killed."""

    def metrics_ports(self) -> list[int]:
        if self.metrics_port is None:
            return []
        return [self.metrics_port + i for i in range(self.count)]


@dataclass
class _Slot:
    worker: Worker
    process: asyncio.subprocess.Process | None = None
    ready: bool = False
    start_failures: int = 0
    quick_deaths: int = 0


@dataclass
class Supervisor:
    """Runs the plan's workers until SIGTERM/SIGINT (forwarded to each; a
    second one kills them) or until a worker keeps dying at start;
    ``on_ready`` is called once, when every worker first says it is ready,
    with their process ids."""

    plan: Plan
    on_ready: Callable[[Sequence[int]], None] | None = None
    failure: str | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _signals: int = 0
    _announced: bool = False
    _slots: list[_Slot] = field(default_factory=list)

    async def run(self) -> int:
        """0 when every worker stopped cleanly once asked to; 1 otherwise."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._told, sig)
        self._slots = [_Slot(Worker(i, self.plan.count)) for i in range(1, self.plan.count + 1)]
        flusher = asyncio.create_task(flush_periodically())
        try:
            async with asyncio.TaskGroup() as tasks:
                kept = [tasks.create_task(self._keep(slot)) for slot in self._slots]
        finally:
            flusher.cancel()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        codes = [k.result() for k in kept]
        clean = self.failure is None and all(c in _CLEAN for c in codes)
        log.info("gateway.workers_stopped", exit_codes=codes, clean=clean)
        return 0 if clean else 1

    def _told(self, sig: int) -> None:
        self._signals += 1
        first = self._signals == 1
        log.info("gateway.workers_stopping", signal=signal.Signals(sig).name, kill=not first)
        self._stop(sig if first else signal.SIGKILL)

    def _stop(self, sig: int) -> None:
        self._stopping.set()
        for slot in self._slots:
            if slot.process is not None and slot.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.process.send_signal(sig)

    async def _keep(self, slot: _Slot) -> int:
        """Keep one worker running; its last exit code."""
        while True:
            started = time.monotonic()
            try:
                code = await self._once(slot)
            except OSError as exc:  # its port could not be bound again
                log.error("gateway.worker_unstartable", worker=slot.worker.index, error=str(exc))
                code = 1
            if self._stopping.is_set():
                return code
            if not slot.ready:
                slot.start_failures += 1
                if slot.start_failures >= START_FAILURES:
                    self.failure = (
                        f"gateway worker {slot.worker} exited {code} before it was ready, "
                        f"{slot.start_failures} times in a row (its output is above)"
                    )
                    log.error(
                        "gateway.worker_failing",
                        worker=slot.worker.index,
                        exit_code=code,
                        start_failures=slot.start_failures,
                    )
                    self._stop(signal.SIGTERM)
                    return code
            steady = slot.ready and time.monotonic() - started >= STEADY_S
            slot.quick_deaths = 0 if steady else slot.quick_deaths + 1
            delay = restart_delay(slot.quick_deaths)
            log.warning(
                "gateway.worker_died",
                worker=slot.worker.index,
                pid=slot.process.pid if slot.process else None,
                exit_code=code,
                was_ready=slot.ready,
                restart_in_s=delay,
            )
            slot.ready = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return code

    async def _once(self, slot: _Slot) -> int:
        """Start the worker, follow it until it exits: its exit code."""
        sockets = bind(self.plan.addresses, self.plan.port)
        ours, theirs = socket.socketpair()
        try:
            theirs.set_inheritable(True)
            fds = [s.fileno() for s in sockets]
            argv = [*self.plan.argv]
            for fd in fds:
                argv += ["--listen-fd", str(fd)]
            argv += ["--supervisor-fd", str(theirs.fileno())]
            if self.plan.metrics_port is not None:
                argv += ["--metrics-port", str(self.plan.metrics_port + slot.worker.index - 1)]
            env = {**os.environ, **self.plan.env, WORKER_ENV: str(slot.worker)}
            env.pop(WORKERS_ENV, None)
            process = slot.process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                env=env,
                pass_fds=(*fds, theirs.fileno()),
            )
        except BaseException:
            ours.close()
            raise
        finally:
            # The worker holds them now: closed here, they close with it.
            theirs.close()
            for sock in sockets:
                sock.close()
        log.info("gateway.worker_started", worker=slot.worker.index, pid=process.pid)
        if self._stopping.is_set():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        assert process.stdout is not None
        relay = asyncio.create_task(_relay(process.stdout))
        with ours:  # kept open while the worker runs: it stops when this closes
            ours.setblocking(False)
            said = asyncio.create_task(self._until_ready(ours, slot, process.pid))
            try:
                code = await self._wait(process)
            finally:
                said.cancel()
                await relay
        return code

    async def _until_ready(self, link: socket.socket, slot: _Slot, pid: int) -> None:
        said = await asyncio.get_running_loop().sock_recv(link, 64)
        if said.startswith(b"ready"):
            self._ready(slot, pid)

    async def _wait(self, process: asyncio.subprocess.Process) -> int:
        """The worker's exit code; once stopping, it has ``stop_grace_s`` to
        drain before it is killed."""
        waiting = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not waiting.done():
            try:
                async with asyncio.timeout(self.plan.stop_grace_s):
                    await asyncio.shield(waiting)
            except TimeoutError:
                log.warning(
                    "gateway.worker_killed", pid=process.pid, grace_s=self.plan.stop_grace_s
                )
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        return await waiting

    def _ready(self, slot: _Slot, pid: int) -> None:
        slot.ready = True
        slot.start_failures = 0
        log.info("gateway.worker_ready", worker=slot.worker.index, pid=pid)
        if not self._announced and all(s.ready for s in self._slots):
            self._announced = True
            pids = [s.process.pid for s in self._slots if s.process is not None]
            log.info("gateway.workers_ready", workers=len(pids), pids=pids)
            if self.on_ready is not None:
                self.on_ready(pids)


async def _relay(lines: asyncio.StreamReader) -> None:
    """Pass a worker's output on to this process's, whole lines at a time:
    workers writing to one pipe would otherwise interleave the pieces of
    lines longer than the pipe's atomic write."""
    rest = b""
    while chunk := await lines.read(65536):
        end = chunk.rfind(b"\n") + 1
        if end == 0 and len(rest) + len(chunk) < LONGEST_LINE:
            rest += chunk
            continue
        end = end or len(chunk)
        _write(rest + chunk[:end])
        rest = chunk[end:]
    if rest:
        _write(rest + b"\n")


def _write(data: bytes) -> None:
    # An output nobody reads any more: the worker's lines are dropped rather
    # than let it block on a full pipe.
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


# -- a worker's side --------------------------------------------------------


def inherited_sockets(fds: Sequence[int]) -> list[socket.socket]:
    """The sockets the supervisor bound for this worker."""
    return [socket.socket(fileno=fd) for fd in fds]


@contextlib.asynccontextmanager
async def supervised(fd: int) -> AsyncIterator[tuple[asyncio.Event, Callable[[], None]]]:
    """This worker's link to its supervisor: an event set when the
    supervisor is gone (the worker then stops, rather than hold the port
    alone), and the call that tells it this worker is ready."""
    link = socket.socket(fileno=fd)
    link.setblocking(False)
    gone = asyncio.Event()
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            data = link.recv(64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(link)
            log.warning("gateway.supervisor_gone")
            gone.set()

    def ready() -> None:
        with contextlib.suppress(OSError):
            link.send(b"ready\n")

    loop.add_reader(link, readable)
    try:
        yield gone, ready
    finally:
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(link)
        link.close()
