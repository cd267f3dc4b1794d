"""The echo service: test-only contracts, the clients granted them and a
provider that misbehaves on demand (to reach every row of PROTOCOL.md's
error table), and the kit's bus as the suite runs it with them
(:func:`echo_bus`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lgsp import Adapter, Context, DomainError
from lgsp.catalogue.registry import Registry
from lgsp.config import DEMO_CLIENTS, ClientConfig, Settings
from lgsp.testing import Bus, TransportKind, running_bus
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
    """The suite's gateway settings: the demo and test clients, a 64 KiB body
    limit and a known token key (to forge tokens with)."""
    values: dict[str, Any] = {
        "clients": DEMO_CLIENTS + TEST_CLIENTS,
        "max_body_bytes": 64 * 1024,
        "token_secret": TOKEN_SECRET,
    }
    values.update(overrides)
    return Settings(**values)


def echo_bus(
    transport: TransportKind = "memory",
    amqp_url: str | None = None,
    *,
    received: Received | None = None,
    adapters: Sequence[Adapter] | None = None,
    catalogues: Sequence[Catalogue] = (),
    **kit: Any,
) -> contextlib.AbstractAsyncContextManager[Bus]:
    """The kit's :func:`~lgsp.testing.running_bus` with the test contracts
    and clients (``test.all`` calls by default) and the suite's settings:
    the installed mock systems and the echo adapter (what it sees goes into
    ``received``), or exactly ``adapters`` when given; ``catalogues`` beyond
    the test contracts. ``kit`` are more arguments of ``running_bus``,
    settings overrides among them."""
    if adapters is None:
        chosen, installed = [echo_adapter(received or Received())], True
    else:
        chosen, installed = list(adapters), False
    return running_bus(
        transport,
        amqp_url=amqp_url,
        adapters=chosen,
        installed=installed,
        catalogues=[TEST_CATALOGUE, *catalogues],
        client="test.all",
        **({"settings": settings()} | kit),
    )
