"""The gateway: an aiohttp application over a transport and a registry."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from lgsp.catalogue.registry import Registry
from lgsp.config import Settings
from lgsp.gateway.admin import AdminApi, ExchangeLogRoute
from lgsp.gateway.dashboard import Dashboard
from lgsp.gateway.discovery import Discovery
from lgsp.gateway.drain import Drain
from lgsp.gateway.exchange import Exchange
from lgsp.gateway.health import Health, Starting, healthz, metrics
from lgsp.gateway.middlewares import PROVINCE, operators_only, problems, soc_guard
from lgsp.gateway.network import Crossing
from lgsp.gateway.oauth import TokenEndpoint
from lgsp.hub import Hub
from lgsp.observe.exchange_log import ExchangeLog
from lgsp.observe.exchange_statistics import ExchangeStatistics
from lgsp.observe.metrics import ExchangeMetrics, refresh_periodically
from lgsp.observe.record import Recorder
from lgsp.observe.soc import SocFeed
from lgsp.observe.soc.recorder import SocRecorder
from lgsp.observe.stats import LiveStats
from lgsp.observe.tracing import TraceReporter
from lgsp.transport.base import Broadcasting, Transport
from lgsp.trust.access import Security
from lgsp.trust.blocklist import BlocklistSource
from lgsp.trust.clients import NOTICE_SUBJECT, ClientStore
from lgsp.trust.operators import AdminAuth
from lgsp.trust.tls import HandshakeFailure, on_handshake_failure

STARTING = web.AppKey("lgsp.starting", Starting)
DRAIN = web.AppKey("lgsp.drain", Drain)
"""The gateway's requests in flight; whoever runs the app drains it before
closing its connections (:meth:`Drain.drain`)."""
"""Whether the gateway still waits for its process's systems:
``app[STARTING].done()`` once they can answer (``/readyz`` says 503 before)."""
CLIENT_STORE = web.AppKey("lgsp.client_store", ClientStore)
"""The gateway's client store, open while the application runs."""
SOC_FEED = web.AppKey("lgsp.soc_feed", SocFeed)
"""The security events of this gateway, for the monitoring centre (off
unless configured: ``app[SOC_FEED].enabled``)."""
BLOCKLIST = web.AppKey("lgsp.blocklist", BlocklistSource)
"""The SOC's blocklist in force, when one is configured."""
EXCHANGE_STATISTICS = web.AppKey("lgsp.exchange_statistics", ExchangeStatistics)
"""The bus's own ``lgsp.exchange.statistics`` provider over this gateway's
exchange log: ``await app[EXCHANGE_STATISTICS].serve(transport, registry)``."""


def create_metrics_app() -> web.Application:
    """``/metrics`` and ``/healthz`` alone, for processes without a gateway
    (``lgsp adapters``), so Prometheus can scrape what their adapters count."""
    app = web.Application()
    app.add_routes([web.get("/metrics", metrics), web.get("/healthz", healthz)])
    return app


def create_app(
    settings: Settings, registry: Registry, transport: Transport, *, starting: bool = False
) -> web.Application:
    """The gateway's web application; the caller owns the transport's life.
    With ``starting``, ``/readyz`` answers 503 until ``app[STARTING].done()``."""
    # The client store: opened with the app, seeded from the settings when
    # new, then authoritative; its readers follow each snapshot it loads.
    store = ClientStore(settings)
    security = Security(settings, store)
    live = LiveStats()
    # Written off the request path; flushed and closed with the app.
    exchange_log = ExchangeLog(settings)
    # The link to NDXP, for calls to other provinces and NDOP's reports.
    hub = Hub(settings.network) if settings.network is not None else None
    # Every exchange of a citizen's data is reported to NDOP, off the request path.
    tracing = TraceReporter(settings, registry, hub, lambda c: _description(security, c))
    # Every finished exchange and event goes to each of these.
    recorders: list[Recorder] = [ExchangeMetrics(settings.province), live, exchange_log, tracing]
    # Security events to the monitoring centre, and its blocklist: off
    # unless configured, and then nothing of them is on the request path.
    feed = SocFeed(settings.soc, settings.province)
    if feed.enabled:
        recorders.append(SocRecorder(feed, settings.soc))
    blocklist = BlocklistSource(settings.soc.blocklist) if settings.soc.blocklist else None
    crossing = Crossing(settings, hub)
    exchange = Exchange(settings, registry, transport, security, recorders, crossing)
    discovery = Discovery(registry, transport, security)
    start = Starting(pending=starting)
    drain = Drain()
    health = Health(registry, transport, start, drain)
    tokens = TokenEndpoint(security, feed, blocklist)
    exchange_log_route = ExchangeLogRoute(exchange_log)
    dashboard = Dashboard(live, transport)
    # Bodies are read by the exchange with its own limit check; aiohttp's
    # cap stays as a backstop for chunked uploads.
    middlewares = [drain.middleware, problems, operators_only(AdminAuth(settings))]
    if feed.enabled or blocklist is not None:
        # After problems, which renders its refusal; before the operators'
        # check, so a blocked address is refused there too.
        middlewares.insert(2, soc_guard(feed, blocklist, security))
    app = web.Application(
        # The drain's outermost: it sees every answer, problems included.
        middlewares=middlewares,
        client_max_size=settings.max_body_bytes,
    )
    statistics = ExchangeStatistics(
        exchange_log, f"gateway@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    )
    app.cleanup_ctx.extend(
        [
            _client_store(store, transport),
            exchange_log.lifespan,
            _refreshing_metrics(transport),
            tracing.lifespan,
            _soc(feed, blocklist, settings.soc.blocklist_refresh_s),
        ]
    )
    if hub is not None:
        app.on_cleanup.append(lambda _app: hub.close())
    app.on_cleanup.append(lambda _app: exchange.idempotency.close())
    app[PROVINCE] = settings.province
    app[CLIENT_STORE] = store
    app[STARTING] = start
    app[SOC_FEED] = feed
    if blocklist is not None:
        app[BLOCKLIST] = blocklist
    app[DRAIN] = drain
    # Offered on the transport once it is connected, by whoever runs the app.
    app[EXCHANGE_STATISTICS] = statistics
    app.add_routes(AdminApi(store, feed).routes())
    app.add_routes(
        [
            web.post("/oauth2/token", tokens.token),
            web.post("/v1/services/{service}", exchange.call_service),
            web.post("/v1/events/{topic}", exchange.publish_event),
            web.get("/v1/services", discovery.services),
            web.get("/v1/services/{service}", discovery.service),
            web.get("/v1/topics", discovery.topics),
            web.get("/v1/topics/{topic}", discovery.topic),
            web.get("/openapi.json", discovery.openapi),
            web.get("/asyncapi.json", discovery.asyncapi),
            web.get("/healthz", health.healthz),
            web.get("/readyz", health.readyz),
            web.get("/metrics", health.metrics),
            web.get("/v1/admin/exchanges", exchange_log_route.exchanges),
            web.get("/dashboard", dashboard.page),
            web.get("/dashboard/static/{path:.+}", dashboard.static),
            web.get("/v1/admin/dashboard", dashboard.feed),
            web.get("/v1/admin/operations", dashboard.operations),
        ]
    )
    return app


def _refreshing_metrics(
    transport: Transport,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Queue depths and heartbeat ages, refreshed in the background while
    the application runs (a scrape only reads them)."""

    async def refreshing(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(refresh_periodically(transport), name="lgsp-metrics")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return refreshing


def _soc(
    feed: SocFeed, blocklist: BlocklistSource | None, refresh_s: float
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The feed's sender and the blocklist's polling while the application
    runs; on the way out the feed sends what it can within a short deadline."""

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if feed.enabled:
                await stack.enter_async_context(feed.running())
                stack.callback(on_handshake_failure(lambda f: _handshake_failed(feed, f)))
            if blocklist is not None:
                await stack.enter_async_context(blocklist.polling(refresh_s))
            yield

    return lifespan


def _handshake_failed(feed: SocFeed, failure: HandshakeFailure) -> None:
    feed.emit(
        "tls.handshake_failed",
        source_ip=failure.peer[0] if failure.peer else None,
        fields={
            "source.port": failure.peer[1] if failure.peer else None,
            "destination.port": failure.local_port,
            "tls.established": False,
            "error.message": failure.reason,
        },
    )


def _client_store(
    store: ClientStore, transport: Transport
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The client store, open while the application runs. On a transport
    that broadcasts, each change made here is announced to every gateway,
    and each gateway reloads when it hears one, or when the transport says
    it may have missed some."""

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        unlisten: Callable[[], None] | None = None
        if isinstance(transport, Broadcasting):
            notices = transport

            async def announce() -> None:
                await notices.broadcast(NOTICE_SUBJECT, store.notice)

            store.announce = announce
            # Listening before the store loads: a change committed meanwhile
            # is heard, never missed.
            unlisten = notices.listen(NOTICE_SUBJECT, store.heard)
        try:
            await store.start()
            try:
                yield
            finally:
                await store.close()
        finally:
            if unlisten is not None:
                unlisten()

    return lifespan


def _description(security: Security, client_id: str) -> str:
    client = security.client(client_id)
    return client.description if client is not None else ""
