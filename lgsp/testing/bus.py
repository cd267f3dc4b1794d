"""A whole bus in the test process: the gateway on 127.0.0.1 (an aiohttp test
server), the installed adapters and sidecars (the mock systems and the
simulated NDXP), and the adapters under test, over either transport.

Used by the pytest plugin (:mod:`lgsp.testing.plugin`); usable alone::

    async with running_bus(adapters=[adapter], catalogues=[CATALOGUE]) as bus:
        answer = await bus.call("civil.birth.lookup", {"soDinhDanh": "..."})

Everything :func:`running_bus` starts is undone through one exit stack, so a
start that fails half-way (a broker that refuses, an adapter that raises)
stops what was already running before the error reaches the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import ClientResponse, TCPConnector, web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy

from lgsp.adapter import Adapter
from lgsp.catalogue.registry import Registry
from lgsp.config import ClientConfig, Settings
from lgsp.gateway import EXCHANGE_STATISTICS, create_app
from lgsp.http_provider import HttpProvider
from lgsp.network import with_network
from lgsp.server import PlatformHandle, load_adapters, load_platforms, load_sidecars
from lgsp.transport import Transport, create_transport
from lgsp.trust.tls import tls_context
from lgsp_contracts.spec import Catalogue

TransportKind = Literal["memory", "amqp"]

TEST_CLIENT = "lgsp.test"
"""The client :meth:`Bus.call` uses by default: granted every service and
topic of the bus. The demo clients (README) are there too."""

ONLINE_TIMEOUT_S = 10.0

T = TypeVar("T")


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
    """The transport the bus's adapters serve on: the gateway's own on
    memory, a connection of its own on amqp (as another process's)."""
    sidecars: dict[str, object] = field(default_factory=dict)
    """What each running sidecar yielded (e.g. the simulated NDXP, to inject
    faults and read what it received), by its ``lgsp.sidecars`` entry point
    name; :meth:`sidecar` checks its type."""
    client: str = TEST_CLIENT
    """The client :meth:`call`, :meth:`send`, :meth:`publish` and
    :meth:`token` use when none is given."""
    _added: list[Adapter] = field(default_factory=list)
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The gateway's base URL (``http://127.0.0.1:<port>``, or https when
        the settings name a certificate), for clients under test that make
        their own HTTP requests."""
        return str(self.http.make_url("")).rstrip("/")

    def secret(self, client: str | None = None) -> str:
        """The secret of one of the bus's clients."""
        client = client or self.client
        secret = next(c.secret for c in self.settings.clients if c.id == client)
        if secret is None:
            raise LookupError(f"{client} authenticates with a certificate, not a secret")
        return secret

    async def token(self, client: str | None = None) -> str:
        """An access token of ``client`` (cached)."""
        client = client or self.client
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
        client: str | None = None,
        version: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """``POST /v1/services/{service}`` as ``client`` (default: one granted
        everything); the newest version unless ``version`` is given."""
        r = await self.send(service, payload, client=client, version=version, headers=headers)
        return Answer(r.status, await r.json(content_type=None), r.headers)

    async def send(
        self,
        service: str,
        payload: object,
        *,
        client: str | None = None,
        version: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ClientResponse:
        """The call :meth:`call` makes, answered with aiohttp's own response
        (``status``, ``headers``, ``await r.json()``, ``await r.read()``)."""
        extra = {"X-LGSP-Service-Version": str(version)} if version is not None else {}
        return await self._post(
            f"/v1/services/{service}", payload, client, extra | dict(headers or {})
        )

    async def publish(self, topic: str, payload: object, *, client: str | None = None) -> Answer:
        """``POST /v1/events/{topic}`` as ``client``."""
        r = await self._post(f"/v1/events/{topic}", payload, client, {})
        return Answer(r.status, await r.json(content_type=None), r.headers)

    async def add(self, adapter: Adapter) -> None:
        """Start one more adapter on the bus and wait until its services are
        online. Its contracts must be known: installed under the
        ``lgsp.contracts`` entry point, or given as ``catalogues``."""
        # Listed first: its stop hooks run at the end even if it fails to start.
        self._added.append(adapter)
        await adapter.start(self.provider_transport, self.registry, data_dir=self.settings.data_dir)
        for service, version in adapter.services:
            await self.wait_online(service, version)

    async def wait_online(self, service: str, version: int) -> None:
        """Wait until the gateway counts a provider of the service version
        online (on amqp it learns of providers from their announcements);
        :class:`TimeoutError` after ``ONLINE_TIMEOUT_S``."""
        deadline = time.monotonic() + ONLINE_TIMEOUT_S
        while self.gateway_transport.providers_online(service, version) < 1:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service} v{version} never came online")
            await asyncio.sleep(0.02)

    def sidecar(self, name: str, kind: type[T]) -> T:
        """The handle the sidecar ``name`` yielded, checked to be a ``kind``."""
        handle = self.sidecars[name]
        if not isinstance(handle, kind):
            raise TypeError(f"sidecar {name} is a {type(handle).__name__}, not a {kind.__name__}")
        return handle

    async def _post(
        self, path: str, payload: object, client: str | None, headers: dict[str, str]
    ) -> ClientResponse:
        h = {"Authorization": f"Bearer {await self.token(client)}"} | headers
        return await self.http.post(path, json=payload, headers=h)


@contextlib.asynccontextmanager
async def running_bus(
    transport: TransportKind = "memory",
    *,
    amqp_url: str | None = None,
    adapters: Sequence[Adapter] = (),
    catalogues: Sequence[Catalogue] = (),
    installed: bool = True,
    sidecars: bool = True,
    settings: Settings | None = None,
    client: str = TEST_CLIENT,
    gateway_transport: Transport | None = None,
    provider_transport: Transport | None = None,
    platforms: bool = True,
    env: Mapping[str, str] | None = None,
    gateways: dict[str, str] | None = None,
    **overrides: object,
) -> AsyncIterator[Bus]:
    """Run a bus until the block exits.

    ``adapters`` are started beside the installed ones (``lgsp.adapters``
    entry points; ``installed=False`` leaves those out), with the
    ``lgsp.sidecars`` servers such as the simulated NDXP (``sidecars=False``
    leaves them out). The registry holds the installed contracts plus
    ``catalogues``.

    The gateway's settings are ``settings`` (default: the demo province's)
    with ``overrides`` (fields of :class:`~lgsp.config.Settings`, e.g.
    ``data_dir=...``, ``max_body_bytes=...``), plus :data:`TEST_CLIENT`.
    Their ``http_providers`` are served as ``lgsp up`` serves them, and with
    ``tls_cert``/``tls_key`` the gateway speaks HTTPS (the kit's own client
    trusts it; clients under test verify it their own way). ``client`` is the
    default client of :meth:`Bus.call` and the other calls.

    On ``"amqp"`` the gateway and the providers use separate connections to
    ``amqp_url``, as separate processes would. ``gateway_transport`` and
    ``provider_transport`` put the bus on transports the caller made (and
    closes); on memory the gateway and the providers share one engine.

    The national platforms (``lgsp.platforms``, the simulated NDXP) run
    with the bus unless ``platforms=False`` (a network's provinces share
    those the network started: :func:`~lgsp.testing.network.running_network`,
    which also gives each province's sidecars their ``env`` and notes each
    gateway's URL in ``gateways``).
    """
    registry = Registry.from_entry_points(extra=catalogues)
    settings = _settings(settings, overrides, registry)
    gateways = {} if gateways is None else gateways
    ssl_context = (
        tls_context(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
        if settings.tls_cert is not None and settings.tls_key is not None
        else None
    )
    http_providers = HttpProvider(settings.http_providers)
    http_providers.check(registry)
    added: list[Adapter] = []
    async with contextlib.AsyncExitStack() as stack:
        # Undone last-in first-out, as `lgsp up` stops: the sidecars, the
        # gateway (draining), the transports, the adapters' stop hooks, then
        # the HTTP providers' client, then the national platforms.
        handles: dict[str, object] = {}
        if platforms and sidecars:
            started: list[PlatformHandle] = []
            for name, platform in load_platforms().items():
                handle = await stack.enter_async_context(
                    platform(provinces=gateways, ephemeral=True, data_dir=settings.data_dir)
                )
                await handle.warm()
                handles[name] = handle
                started.append(handle)
            settings = with_network(settings, started)
        stack.push_async_callback(http_providers.close)
        stack.push_async_callback(_stop_all, added)
        if transport == "memory":
            shared = gateway_transport or provider_transport or create_transport("memory")
            gateway_transport = gateway_transport or shared
            provider_transport = provider_transport or shared
        gateway_transport = await _started(stack, gateway_transport, transport, amqp_url)
        provider_transport = await _started(stack, provider_transport, transport, amqp_url)
        # Run first on the way out: the adapters' own jobs end before the
        # transports close under them.
        stack.push_async_callback(_cancel_jobs, added)
        app = create_app(settings, registry, gateway_transport)
        server = TestServer(app, host="127.0.0.1")
        http = TestClient(server, connector=TCPConnector(ssl=False) if ssl_context else None)
        stack.push_async_callback(http.close)
        await server.start_server(ssl=ssl_context)  # the client's own start takes no TLS
        bus = Bus(
            transport,
            settings,
            registry,
            http,
            gateway_transport,
            provider_transport,
            sidecars=handles,
            client=client,
            _added=added,
        )
        gateways[settings.province] = bus.url
        if sidecars:
            for name, sidecar in load_sidecars().items():
                bus.sidecars[name] = await stack.enter_async_context(
                    sidecar(
                        gateway_url=bus.url, ephemeral=True, data_dir=settings.data_dir, env=env
                    )
                )
        # The bus's own service, from the gateway's exchange log, as `lgsp up` offers it.
        if await app[EXCHANGE_STATISTICS].serve(gateway_transport, registry):
            await bus.wait_online("lgsp.exchange.statistics", 1)
        for adapter in [*(load_adapters() if installed else ()), *adapters]:
            await bus.add(adapter)
        if settings.http_providers:
            await http_providers.start(provider_transport, registry)
            for config in settings.http_providers:
                await bus.wait_online(config.service, config.version)
        yield bus


def _settings(
    base: Settings | None, overrides: Mapping[str, object], registry: Registry
) -> Settings:
    """``base`` with ``overrides`` (validated as a configuration file is),
    plus the test client granted everything the registry holds."""
    settings = base or Settings()
    if overrides:
        given = {name: getattr(settings, name) for name in settings.model_fields_set}
        settings = Settings.model_validate(given | dict(overrides))
    if any(c.id == TEST_CLIENT for c in settings.clients):
        return settings
    test_client = ClientConfig(
        id=TEST_CLIENT,
        secret=secrets.token_urlsafe(16),
        grants=(*registry.services, *registry.topics),
    )
    return settings.model_copy(update={"clients": (*settings.clients, test_client)})


async def _started(
    stack: contextlib.AsyncExitStack,
    given: Transport | None,
    kind: TransportKind,
    amqp_url: str | None,
) -> Transport:
    """``given`` (started, left to its owner to close), or a transport of
    its own that the stack closes."""
    if given is not None:
        await given.start()  # idempotent
        return given
    made = create_transport(kind, amqp_url=amqp_url)
    await made.start()
    stack.push_async_callback(made.close)
    return made


async def _cancel_jobs(adapters: list[Adapter]) -> None:
    for adapter in adapters:
        await adapter.cancel_jobs()


async def _stop_all(adapters: list[Adapter]) -> None:
    for adapter in adapters:
        await adapter.stop()
