"""A whole bus in the test process: the gateway on 127.0.0.1 (an aiohttp test
server), the installed adapters and sidecars (the mock systems and the
simulated NDXP), and the adapters under test, over either transport.

Used by the pytest plugin (:mod:`lgsp.testing.plugin`); usable alone::

    async with running_bus(adapters=[adapter], catalogues=[CATALOGUE]) as bus:
        answer = await bus.call("civil.birth.lookup", {"soDinhDanh": "..."})
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy

from lgsp.adapter import Adapter
from lgsp.catalogue.registry import Registry
from lgsp.config import DEMO_CLIENTS, ClientConfig, Settings
from lgsp.gateway import create_app
from lgsp.server import load_adapters, load_sidecars
from lgsp.transport import Transport, create_transport
from lgsp_contracts.spec import Catalogue

TransportKind = Literal["memory", "amqp"]

TEST_CLIENT = "lgsp.test"
"""The client :meth:`Bus.call` uses by default: granted every service and
topic of the bus. The demo clients (README) are there too."""

ONLINE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Answer:
    """What the gateway answered."""

    status: int
    json: Any
    """The decoded JSON body (a problem document on errors)."""
    headers: CIMultiDictProxy[str]


@dataclass
class Bus:
    """A running bus; the pytest fixture ``lgsp_bus`` is one."""

    transport: TransportKind
    settings: Settings
    registry: Registry
    http: TestClient[web.Request, web.Application]
    """The raw aiohttp test client of the gateway, for anything else."""
    gateway_transport: Transport
    provider_transport: Transport
    _added: list[Adapter] = field(default_factory=list)
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The gateway's base URL (``http://127.0.0.1:<port>``), for clients
        under test that make their own HTTP requests."""
        return str(self.http.make_url("")).rstrip("/")

    def secret(self, client: str = TEST_CLIENT) -> str:
        """The secret of one of the bus's clients."""
        secret = next(c.secret for c in self.settings.clients if c.id == client)
        if secret is None:
            raise LookupError(f"{client} authenticates with a certificate, not a secret")
        return secret

    async def token(self, client: str = TEST_CLIENT) -> str:
        """An access token of ``client`` (cached)."""
        if client not in self._tokens:
            r = await self.http.post(
                "/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": client,
                    "client_secret": self.secret(client),
                },
            )
            if r.status != 200:
                raise RuntimeError(f"no token for {client}: {r.status} {await r.text()}")
            self._tokens[client] = (await r.json())["access_token"]
        return self._tokens[client]

    async def call(
        self,
        service: str,
        payload: object,
        *,
        client: str = TEST_CLIENT,
        version: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """``POST /v1/services/{service}`` as ``client`` (default: one granted
        everything); the newest version unless ``version`` is given."""
        extra = {"X-LGSP-Service-Version": str(version)} if version is not None else {}
        return await self._post(f"/v1/services/{service}", payload, client, extra | (headers or {}))

    async def publish(self, topic: str, payload: object, *, client: str = TEST_CLIENT) -> Answer:
        """``POST /v1/events/{topic}`` as ``client``."""
        return await self._post(f"/v1/events/{topic}", payload, client, {})

    async def add(self, adapter: Adapter) -> None:
        """Start one more adapter on the bus and wait until its services are
        online. Its contracts must be known: installed under the
        ``lgsp.contracts`` entry point, or given as ``catalogues``."""
        await adapter.start(self.provider_transport, self.registry)
        self._added.append(adapter)
        await self._wait_online(adapter)

    async def _post(
        self, path: str, payload: object, client: str, headers: dict[str, str]
    ) -> Answer:
        h = {"Authorization": f"Bearer {await self.token(client)}"} | headers
        r = await self.http.post(path, json=payload, headers=h)
        return Answer(r.status, await r.json(content_type=None), r.headers)

    async def _wait_online(self, adapter: Adapter) -> None:
        deadline = time.monotonic() + ONLINE_TIMEOUT_S
        for service, version in adapter.services:
            while self.gateway_transport.providers_online(service, version) < 1:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{service} v{version} never came online")
                await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running_bus(
    transport: TransportKind = "memory",
    *,
    amqp_url: str | None = None,
    adapters: Sequence[Adapter] = (),
    catalogues: Sequence[Catalogue] = (),
) -> AsyncIterator[Bus]:
    """Run a bus until the block exits.

    ``adapters`` are started beside the installed ones (``lgsp.adapters``
    entry points), with the ``lgsp.sidecars`` servers such as the simulated
    NDXP. The registry holds the installed contracts plus ``catalogues``. On
    ``"amqp"`` the gateway and the providers use separate connections to
    ``amqp_url``, as separate processes would.
    """
    registry = Registry.from_entry_points(extra=catalogues)
    test_client = ClientConfig(
        id=TEST_CLIENT,
        secret=secrets.token_urlsafe(16),
        grants=(*registry.services, *registry.topics),
    )
    settings = Settings(clients=(*DEMO_CLIENTS, test_client))
    gateway_transport = create_transport(transport, amqp_url=amqp_url)
    provider_transport = (
        gateway_transport
        if transport == "memory"
        else create_transport(transport, amqp_url=amqp_url)
    )
    added: list[Adapter] = []
    async with contextlib.AsyncExitStack() as stack:
        # Undone last-in first-out, as `lgsp up` stops: the sidecars, the
        # gateway (draining), the transports, then the adapters' stop hooks.
        stack.push_async_callback(_stop_all, added)
        await gateway_transport.start()
        stack.push_async_callback(gateway_transport.close)
        if provider_transport is not gateway_transport:
            await provider_transport.start()
            stack.push_async_callback(provider_transport.close)
        http = TestClient(
            TestServer(create_app(settings, registry, gateway_transport), host="127.0.0.1")
        )
        await http.start_server()
        stack.push_async_callback(http.close)
        bus = Bus(transport, settings, registry, http, gateway_transport, provider_transport, added)
        with _sidecar_env(bus.url):
            for sidecar in load_sidecars():
                await stack.enter_async_context(sidecar())
        for adapter in [*load_adapters(), *adapters]:
            await bus.add(adapter)
        yield bus


async def _stop_all(adapters: list[Adapter]) -> None:
    for adapter in adapters:
        await adapter.stop()


_NDXP_PORT: int | None = None


@contextlib.contextmanager
def _sidecar_env(gateway_url: str) -> Iterator[None]:
    """The environment the installed sidecars and adapters read: the
    simulated NDXP on one free port for the whole process (the NDXP connector
    reads ``LGSP_NDXP_PORT`` once, at first use), forwarding to this gateway."""
    global _NDXP_PORT
    if _NDXP_PORT is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            _NDXP_PORT = s.getsockname()[1]
        os.environ["LGSP_NDXP_PORT"] = str(_NDXP_PORT)
        os.environ.pop("LGSP_NDXP_URL", None)
    saved = os.environ.get("LGSP_URL")
    os.environ["LGSP_URL"] = gateway_url
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("LGSP_URL", None)
        else:
            os.environ["LGSP_URL"] = saved
