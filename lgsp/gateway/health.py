"""Health and metrics: liveness, readiness (the transport connected,
contracts loaded, and what runs in this process started and able to answer)
and the Prometheus exposition."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from lgsp.catalogue.registry import Registry
from lgsp.errors import ServiceUnavailable
from lgsp.gateway.drain import Drain
from lgsp.gateway.responses import json_response
from lgsp.observe.metrics import PROVIDERS_ONLINE
from lgsp.transport.base import Transport


class Starting:
    """What must finish before the gateway says it is ready: the adapters of
    its process starting (their data built) and the platforms warming up.
    Whoever runs the gateway marks it :meth:`done`; a gateway nobody starts
    anything for is ready at once."""

    def __init__(self, *, pending: bool = False) -> None:
        self.pending = pending

    def done(self) -> None:
        self.pending = False


class Health:
    """Handlers of ``/healthz``, ``/readyz`` and ``/metrics`` for a gateway."""

    def __init__(
        self, registry: Registry, transport: Transport, starting: Starting, drain: Drain
    ) -> None:
        self.registry = registry
        self.transport = transport
        self.starting = starting
        self.drain = drain

    async def healthz(self, request: web.Request) -> web.Response:
        return await healthz(request)

    async def readyz(self, request: web.Request) -> web.Response:
        if self.drain.draining:
            raise ServiceUnavailable("stopping: answering the calls in flight, taking no new ones")
        if not self.transport.ready():
            raise ServiceUnavailable(f"{self.transport.name} transport is not connected")
        if not self.registry.services:
            raise ServiceUnavailable("no contracts loaded")
        if self.starting.pending:
            raise ServiceUnavailable("starting: the systems of this process are not ready yet")
        return json_response({"status": "ready", "transport": self.transport.name})

    async def metrics(self, request: web.Request) -> web.Response:
        PROVIDERS_ONLINE.clear()
        # Every catalogued version has a series, 0 while nobody serves it, so
        # that an alert sees a provider that went down (not a series that vanished).
        for service, version in self.registry.fingerprints:
            PROVIDERS_ONLINE.labels(service, str(version)).set(0)
        for p in self.transport.providers():
            PROVIDERS_ONLINE.labels(p.service, str(p.version)).inc()
        return await metrics(request)


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """The process's Prometheus exposition."""
    response = web.Response(body=generate_latest(REGISTRY))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
