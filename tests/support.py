"""What the behavioural and end-to-end suites share: test-only contracts and
a misbehaving provider (to reach every row of PROTOCOL.md's error table),
and a harness that runs a gateway over either transport."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from lgsp import Adapter, Context, DomainError
from lgsp.catalogue.registry import Registry
from lgsp.config import ClientConfig, Settings
from lgsp.gateway import create_app
from lgsp.transport import Transport, create_transport
from lgsp_adapters.ndxp import Simulator, SimulatorConfig, connector
from lgsp_adapters.ndxp import running as running_ndxp
from lgsp_contracts import CATALOGUE
from lgsp_contracts.spec import (
    Catalogue,
    Contract,
    ErrorSpec,
    Example,
    ServiceContract,
    TopicContract,
)


class EchoRequest(Contract):
    mode: Literal["ok", "bad", "crash", "slow", "undeclared", "declared"] = "ok"
    text: str
    delay_ms: int = 0


class EchoResponse(Contract):
    text: str
    client: str


class EchoResponseV2(Contract):
    text: str
    client: str
    version: Literal[2] = 2


class Ping(Contract):
    n: int


ECHO_V1 = ServiceContract(
    service="test.echo.call",
    version=1,
    owner="test suite",
    description="Echoes its text, or misbehaves as asked",
    request=EchoRequest,
    response=EchoResponse,
    errors=(ErrorSpec(409, "test.echo.declared", "A declared domain error"),),
    examples=(
        Example(request={"text": "xin chào"}, response={"text": "xin chào", "client": "test.all"}),
    ),
)
ECHO_V2 = ServiceContract(
    service="test.echo.call",
    version=2,
    owner="test suite",
    description="Echoes its text, version 2",
    request=EchoRequest,
    response=EchoResponseV2,
)
NOBODY = ServiceContract(
    service="test.nobody.call",
    version=1,
    owner="test suite",
    description="Declared, never served",
    request=EchoRequest,
    response=EchoResponse,
)
PINGED = TopicContract(
    topic="test.ping.sent",
    version=1,
    owner="test suite",
    description="A test event",
    payload=Ping,
    examples=({"n": 1},),
)
TEST_CATALOGUE = Catalogue(services=(ECHO_V1, ECHO_V2, NOBODY), topics=(PINGED,))

TOKEN_SECRET = "test-token-secret-0123456789abcdef0123"
TEST_CLIENTS = (
    ClientConfig(id="test.all", secret="test-all-secret", grants=("test.*",)),
    ClientConfig(id="test.none", secret="test-none-secret", grants=("land.parcel.lookup",)),
    ClientConfig(
        id="test.limited", secret="test-limited-secret", grants=("test.*",), rate_limit="3/minute"
    ),
)


@dataclass
class Received:
    """What the test subscriber saw."""

    events: list[Ping] = field(default_factory=list)
    calls: int = 0
    """Calls that reached the echo provider."""
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, n: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.events) < n:
                self.changed.clear()
                await self.changed.wait()


def echo_adapter(received: Received) -> Adapter:
    adapter = Adapter("echo", agency="test suite")

    @adapter.service("test.echo.call", version=1)
    async def echo(request: EchoRequest, ctx: Context) -> EchoResponse:
        received.calls += 1
        if request.delay_ms:
            await asyncio.sleep(request.delay_ms / 1000)
        match request.mode:
            case "bad":
                # A provider bug: the response breaks its own contract.
                return EchoResponse.model_construct(text=42, client=ctx.client)
            case "crash":
                raise RuntimeError("provider bug")
            case "undeclared":
                raise DomainError("test.echo.secret", "not in the contract", status=418)
            case "declared":
                raise DomainError("test.echo.declared", "as declared", status=409)
        return EchoResponse(text=request.text, client=ctx.client)

    @adapter.service("test.echo.call", version=2)
    async def echo2(request: EchoRequest, ctx: Context) -> EchoResponseV2:
        return EchoResponseV2(text=request.text, client=ctx.client)

    @adapter.subscribe("test.ping.sent", name="test.pinged")
    async def pinged(event: Ping, ctx: Context) -> None:
        received.events.append(event)
        received.changed.set()

    return adapter


def registry() -> Registry:
    return Registry([CATALOGUE, TEST_CATALOGUE])


def settings(**overrides: Any) -> Settings:
    from lgsp.config import DEMO_CLIENTS

    values: dict[str, Any] = {
        "clients": DEMO_CLIENTS + TEST_CLIENTS,
        "max_body_bytes": 64 * 1024,
        "token_secret": TOKEN_SECRET,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Bus:
    """A running gateway over one transport, with a test HTTP client."""

    kind: str
    http: TestClient[web.Request, web.Application]
    gateway_transport: Transport
    provider_transport: Transport
    received: Received
    ndxp: Simulator
    """The simulated NDXP the connector on this bus talks to."""
    _tokens: dict[str, str] = field(default_factory=dict)

    async def token(self, client: str = "test.all") -> str:
        if client not in self._tokens:
            secret = {c.id: c.secret for c in settings().clients}[client]
            r = await self.http.post(
                "/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": client,
                    "client_secret": secret,
                },
            )
            assert r.status == 200, await r.text()
            self._tokens[client] = (await r.json())["access_token"]
        return self._tokens[client]

    async def call(
        self,
        service: str,
        payload: Any,
        *,
        client: str = "test.all",
        headers: dict[str, str] | None = None,
    ) -> Any:
        h = {"Authorization": f"Bearer {await self.token(client)}"} | (headers or {})
        return await self.http.post(f"/v1/services/{service}", json=payload, headers=h)

    async def wait_online(self, service: str, version: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.gateway_transport.providers_online(service, version) < 1:
            assert time.monotonic() < deadline, f"{service} v{version} never came online"
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running_bus(
    kind: str,
    amqp_url: str | None,
    *,
    adapters: list[Adapter] | None = None,
    **overrides: Any,
) -> AsyncIterator[Bus]:
    """A gateway and the given adapters (default: the mock systems plus the
    echo adapter). On amqp the gateway and the providers use two separate
    connections, as separate processes would."""
    from lgsp.server import load_adapters

    received = Received()
    chosen = adapters if adapters is not None else [*load_adapters(), echo_adapter(received)]
    reg = registry()
    gateway_transport = create_transport(kind, amqp_url=amqp_url)
    provider_transport = (
        gateway_transport if kind == "memory" else create_transport(kind, amqp_url=amqp_url)
    )
    await gateway_transport.start()
    if provider_transport is not gateway_transport:
        await provider_transport.start()
    for adapter in chosen:
        await adapter.start(provider_transport, reg)
    server = TestServer(create_app(settings(**overrides), reg, gateway_transport), host="127.0.0.1")
    http = TestClient(server)
    await http.start_server()
    # A fresh simulated NDXP per bus, forwarding national requests to this
    # gateway; the connector (the ndxp adapter) is pointed at it.
    ndxp_config = SimulatorConfig(port=0, lgsp_url=str(http.make_url("")).rstrip("/"))
    async with running_ndxp(ndxp_config) as ndxp:
        connector.configure(connector.Settings(url=ndxp.url))
        bus = Bus(kind, http, gateway_transport, provider_transport, received, ndxp)
        try:
            for a in chosen:
                for service, version in a.services:
                    await bus.wait_online(service, version)
            yield bus
        finally:
            await http.close()
            if provider_transport is not gateway_transport:
                await provider_transport.close()
            await gateway_transport.close()
            for a in chosen:
                await a.stop()
