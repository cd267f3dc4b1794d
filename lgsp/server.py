"""Running the bus: the gateway's HTTP server, the adapters, or both in one
process, over one transport, until SIGINT/SIGTERM; then a graceful drain."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol

import structlog
from aiohttp import web

from lgsp.adapter import Adapter
from lgsp.catalogue.registry import Registry
from lgsp.config import HttpProviderConfig, Settings
from lgsp.gateway import DRAIN, EXCHANGE_STATISTICS, STARTING, create_app, create_metrics_app
from lgsp.http_provider import HttpProvider
from lgsp.observe.log import flush_periodically
from lgsp.transport.base import Transport

log = structlog.get_logger("lgsp.server")

ADAPTER_GROUP = "lgsp.adapters"
SIDECAR_GROUP = "lgsp.sidecars"
PLATFORM_GROUP = "lgsp.platforms"


class PlatformHandle(Protocol):
    """What a running national platform tells the provinces that use it."""

    def describe(self) -> str:
        """Its line in ``lgsp up``'s banner."""
        ...

    @property
    def env(self) -> Mapping[str, str]:
        """Settings every province's adapters and sidecars read beside their
        own (e.g. ``LGSP_NDXP_URL``: where the platform listens)."""
        ...

    async def warm(self) -> None:
        """Return once the platform can answer (its data built); the
        provinces say they are ready only after."""
        ...

    def network(self, province: str) -> Mapping[str, str] | None:
        """How the gateway of ``province`` reaches the platform to call other
        provinces and report to NDOP, with that province's demo credentials:
        the fields of :class:`~lgsp.config.NetworkConfig` (``hub_url``,
        ``token_url``, ``trace_url``, ``client_id``, ``client_secret``), or
        None when the platform does not forward."""
        ...


class Platform(Protocol):
    """A national platform that every province of a network shares (the
    simulated NDXP with NDOP), installed under the ``lgsp.platforms`` entry
    point group and started once, before the provinces: a factory of an
    async context manager yielding a :class:`PlatformHandle`. ``provinces``
    maps each province to its gateway's URL; it is filled as the provinces
    start, so read it on use. ``ephemeral`` (a test's network): take any
    free port. ``data_dir``: the network's data folder (None: in memory)."""

    def __call__(
        self,
        *,
        provinces: Mapping[str, str],
        ephemeral: bool = False,
        data_dir: Path | None = None,
    ) -> contextlib.AbstractAsyncContextManager[PlatformHandle]: ...


class Sidecar(Protocol):
    """A companion server of one province that `lgsp up` and the testing kit
    run beside its bus (e.g. the open data portal), installed under the
    ``lgsp.sidecars`` entry point group: a factory of an async context
    manager, told where the gateway is and whether it is ``ephemeral`` (a
    test's bus: take any free port, so that buses never collide). What the
    context manager yields is the sidecar's handle (the testing kit hands it
    to tests); anything else it reads from ``env``, the province's settings
    (None: the process's environment). ``data_dir`` is the bus's data folder
    (None: keep state in memory); a sidecar keeps its own in
    ``data_dir/<its name>``."""

    def __call__(
        self,
        *,
        gateway_url: str,
        ephemeral: bool = False,
        data_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> contextlib.AbstractAsyncContextManager[object]: ...


class UnknownAdapter(LookupError):
    pass


def load_adapters(names: Sequence[str] = ()) -> list[Adapter]:
    """Adapters installed under the ``lgsp.adapters`` entry point group: the
    named ones, or all of them."""
    found = {ep.name: ep for ep in entry_points(group=ADAPTER_GROUP)}
    missing = [n for n in names if n not in found]
    if missing:
        raise UnknownAdapter(
            f"no adapter named {', '.join(missing)}; "
            f"installed: {', '.join(sorted(found)) or 'none'}"
        )
    adapters = []
    for name in names or sorted(found):
        adapter = found[name].load()
        if not isinstance(adapter, Adapter):
            raise TypeError(f"entry point {name} ({found[name].value}) is not an lgsp.Adapter")
        adapters.append(adapter)
    return adapters


def load_platforms() -> dict[str, Platform]:
    """Every installed national platform factory, by entry point name."""
    found = sorted(entry_points(group=PLATFORM_GROUP), key=lambda e: e.name)
    return {ep.name: ep.load() for ep in found}


def load_sidecars() -> dict[str, Sidecar]:
    """Every installed sidecar factory under its entry point name, in the
    order of the names (what a sidecar yields is its handle, e.g. the testing
    kit's ``Bus.sidecars``)."""
    found = sorted(entry_points(group=SIDECAR_GROUP), key=lambda e: e.name)
    return {ep.name: ep.load() for ep in found}


async def connect(transport: Transport, *, max_delay: float = 10.0) -> None:
    """Start the transport, retrying with backoff until the broker answers:
    either side of the bus may start before the broker."""
    delay = 0.5
    while True:
        try:
            await transport.start()
            return
        except (OSError, ConnectionError) as exc:
            log.warning(
                "transport.unreachable", transport=transport.name, error=str(exc), retry_in=delay
            )
        await asyncio.sleep(delay)
        delay = min(max_delay, delay * 2)


async def run(
    *,
    transport: Transport,
    registry: Registry,
    settings: Settings | None = None,
    adapters: Sequence[Adapter] = (),
    http_providers: Sequence[HttpProviderConfig] = (),
    sidecars: Sequence[Sidecar] = (),
    host: str = "127.0.0.1",
    port: int = 8080,
    sockets: Sequence[socket.socket] = (),
    metrics_port: int | None = None,
    on_ready: Callable[[], Awaitable[None] | None] | None = None,
    stop: asyncio.Event | None = None,
    ssl_context: ssl.SSLContext | None = None,
    data_dir: Path | None = None,
    sidecar_env: Mapping[str, str] | None = None,
    warm_up: Sequence[Callable[[], Awaitable[None]]] = (),
) -> None:
    """Serve until ``stop`` is set or the process is told to stop.

    With ``settings`` the gateway listens on host:port, or on ``sockets``
    when given (bound, not yet listening: a supervisor's, for its workers on
    one port); ``metrics_port`` serves ``/metrics`` alone on host, beside
    the gateway's own (a gateway worker's counters). ``sidecars`` run
    beside; with ``ssl_context`` the gateway serves HTTPS. ``adapters`` and
    ``http_providers`` are bound to the transport
    once it is connected. An HTTP provider for a service version the registry
    does not know is refused before anything starts
    (:class:`~lgsp.http_provider.UnknownProvider`). Adapters and sidecars
    keep their state under ``data_dir`` (default: the settings' data_dir);
    ``sidecar_env`` is the province's settings the sidecars read (None: the
    process's environment). The gateway says it is ready (``/readyz``) only
    once its adapters have started (their start hooks build what they
    serve from) and every ``warm_up`` (e.g. a platform's) has returned.
    """
    if data_dir is None and settings is not None:
        data_dir = settings.data_dir
    http = HttpProvider(http_providers)
    http.check(registry)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    runners: list[web.AppRunner] = []
    gateway_app = (
        create_app(settings, registry, transport, starting=True) if settings is not None else None
    )
    async with contextlib.AsyncExitStack() as companions, asyncio.TaskGroup() as tasks:
        gateway_url = local_url(host, port, ssl_context)
        for sidecar in sidecars:
            await companions.enter_async_context(
                sidecar(gateway_url=gateway_url, data_dir=data_dir, env=sidecar_env)
            )
        flusher = tasks.create_task(flush_periodically())
        connected: asyncio.Task[None] | None = None
        frozen = False
        try:
            if metrics_port is not None:
                runner = web.AppRunner(create_metrics_app(), access_log=None)
                runners.append(runner)
                await runner.setup()
                await web.TCPSite(runner, host, metrics_port, reuse_address=True).start()
                log.info("metrics.listening", host=host, port=metrics_port)
            if settings is not None and gateway_app is not None:
                # The HTTP side comes up at once: /healthz answers and the
                # exchange routes say 503 until the transport is connected.
                runner = web.AppRunner(
                    gateway_app,
                    access_log=None,
                    shutdown_timeout=settings.max_timeout_ms / 1000,
                )
                runners.append(runner)
                await runner.setup()
                sites: list[web.BaseSite] = [
                    web.SockSite(runner, sock, ssl_context=ssl_context) for sock in sockets
                ] or [web.TCPSite(runner, host, port, reuse_address=True, ssl_context=ssl_context)]
                for site in sites:
                    await site.start()  # a supervisor's socket starts listening here
                log.info(
                    "gateway.listening",
                    host=host,
                    port=port,
                    transport=transport.name,
                    tls=ssl_context is not None,
                )
            # Connected once the sites are bound: a port that cannot be bound
            # ends the start before a connection attempt is cut half-way
            # (aio-pika's robust connection would retry it for ever).
            connected = tasks.create_task(connect(transport))
            await _until(connected, stop)
            if connected.done() and not stop.is_set():
                for adapter in adapters:
                    await adapter.start(transport, registry, data_dir=data_dir)
                await http.start(transport, registry)
                if gateway_app is not None:
                    await gateway_app[EXCHANGE_STATISTICS].serve(transport, registry)
                for warm in warm_up:
                    await warm()
                frozen = _freeze_heap()
                if gateway_app is not None:
                    gateway_app[STARTING].done()
                if on_ready is not None:
                    result = on_ready()
                    if result is not None:
                        await result
                await stop.wait()
        finally:
            if frozen:
                gc.unfreeze()  # what the bus built may be collected once it stops
            if connected is not None:
                connected.cancel()
            flusher.cancel()
            log.info("server.stopping")
            for runner in reversed(runners):
                if settings is not None:
                    await _drain(runner, limit=settings.max_timeout_ms / 1000)
                await runner.cleanup()  # closes what is left, after the drain's bound
            for adapter in adapters:
                await adapter.cancel_jobs()
            await transport.close()
            for adapter in adapters:
                await adapter.stop()
            await http.close()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
    log.info("server.stopped")


def _freeze_heap() -> bool:
    """Collect once, then leave what start-up built (the registry, the
    adapters' data sets, the contracts' validators) out of every later
    collection. Measured on the embedded bus under load: a full collection
    took 70-180 ms with that heap in it, 3-19 ms without, and each was a
    pause of every call in flight. Unfrozen when the bus stops."""
    gc.collect()
    gc.freeze()
    return True


async def _drain(runner: web.AppRunner, *, limit: float) -> None:
    """Stop listening, then let the connections still open finish what
    they send (see :mod:`lgsp.gateway.drain`); for the gateway's app only."""
    drain = runner.app.get(DRAIN)
    server = runner.server
    if drain is None or server is None:
        return
    for site in list(runner.sites):
        await site.stop()
    await drain.drain(lambda: len(server.connections), limit=limit)


def local_url(host: str, port: int, ssl_context: ssl.SSLContext | None) -> str:
    """Where a companion on this machine reaches the gateway."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # listening everywhere: loopback is one of them
    elif ":" in host:
        host = f"[{host}]"
    return f"{'https' if ssl_context is not None else 'http'}://{host}:{port}"


async def _until(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
