"""Contract fingerprints: a published service version is immutable, and a
provider built against another contract for it is refused on both transports
(it fails to start, or stops consuming, and the gateway never routes to it).

The gateway and the provider each have their own registry, as separate
processes with their own installed contracts would."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from lgsp import Adapter, Context
from lgsp.catalogue.registry import Registry
from lgsp.errors import ContractMismatch
from lgsp.testing import Bus, TransportKind
from lgsp.transport import MemoryTransport, Transport, base
from lgsp_contracts import CATALOGUE
from lgsp_contracts.spec import Catalogue, Contract
from tests.support.echo import (
    ECHO_V1,
    TEST_CATALOGUE,
    EchoRequest,
    EchoResponse,
    echo_bus,
    registry,
)
from tests.support.waiting import eventually

ECHO = "test.echo.call"


class EchoResponseWider(Contract):
    """What another build of the contracts says test.echo.call v1 answers."""

    text: str
    client: str
    extra: str = ""


def other_registry() -> Registry:
    """The gateway's catalogue, except that test.echo.call v1 answers one more field."""
    services = tuple(
        replace(s, response=EchoResponseWider) if s is ECHO_V1 else s
        for s in TEST_CATALOGUE.services
    )
    return Registry([CATALOGUE, Catalogue(services=services, topics=TEST_CATALOGUE.topics)])


def echo_v1() -> Adapter:
    adapter = Adapter("echo-v1", agency="test suite")

    @adapter.service(ECHO, version=1)
    async def echo(request: EchoRequest, ctx: Context) -> EchoResponse:
        return EchoResponse(text=request.text, client=ctx.client)

    return adapter


Transports = Callable[[], "contextlib.AbstractAsyncContextManager[Transport]"]


@pytest.fixture
async def transports(
    transport_kind: TransportKind, amqp_url: str | None
) -> AsyncIterator[Transports]:
    """Started transports: on memory one shared engine (one process), on
    amqp a connection each (separate processes), with fast presence."""
    shared = MemoryTransport()

    @contextlib.asynccontextmanager
    async def make() -> AsyncIterator[Transport]:
        if transport_kind == "memory":
            await shared.start()
            yield shared
            return
        from lgsp.transport.amqp import AmqpTransport

        assert amqp_url is not None
        transport = AmqpTransport(amqp_url, heartbeat_interval=0.1, provider_ttl=0.6)
        await transport.start()
        try:
            yield transport
        finally:
            await transport.close()

    yield make
    await shared.close()


def gateway(transport: Transport) -> contextlib.AbstractAsyncContextManager[Bus]:
    """A gateway alone (no adapters, no sidecars) on a transport of the
    test's, with the test contracts in a registry of its own (``bus.registry``)."""
    return echo_bus(
        "memory" if transport.name == "memory" else "amqp",
        adapters=[],
        sidecars=False,
        gateway_transport=transport,
        provider_transport=transport,
    )


async def auth(bus: Bus) -> dict[str, str]:
    return {"Authorization": f"Bearer {await bus.token()}"}


async def call(bus: Bus, service: str, payload: Any, **headers: str) -> Any:
    return await bus.send(service, payload, headers=headers)


@contextlib.contextmanager
def refusals() -> Iterator[list[dict[str, Any]]]:
    """The ``provider.refused`` log events emitted meanwhile."""
    with capture_logs() as logs, pytest.MonkeyPatch.context() as patch:
        # A fresh logger: the module's may be cached with the real processors.
        patch.setattr(base, "log", structlog.get_logger("lgsp.transport"))
        seen: list[dict[str, Any]] = []
        yield seen
        seen.extend(e for e in logs if e["event"] == "provider.refused")


# -- the fingerprint ------------------------------------------------------


def test_fingerprint_is_sha256_of_the_canonical_contract() -> None:
    reg = registry()
    request_schema, response_schema = reg.schemas[(ECHO, 1)]
    canonical = json.dumps(
        {
            "request_schema": request_schema,
            "response_schema": response_schema,
            "errors": [
                {"status": 409, "code": "test.echo.declared", "title": "A declared domain error"}
            ],
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert reg.fingerprint(ECHO, 1) == hashlib.sha256(canonical.encode()).hexdigest()
    assert reg.fingerprint(ECHO, 1) == registry().fingerprint(ECHO, 1)  # stable
    assert reg.fingerprint(ECHO, 1) != reg.fingerprint(ECHO, 2)
    assert other_registry().fingerprint(ECHO, 1) != reg.fingerprint(ECHO, 1)
    assert other_registry().fingerprint(ECHO, 2) == reg.fingerprint(ECHO, 2)


# -- refusal, on both transports ---------------------------------------------


async def test_catalogue_lists_each_version_s_fingerprint(transports: Transports) -> None:
    async with transports() as transport, gateway(transport) as gw:
        r = await gw.http.get(f"/v1/services/{ECHO}", headers=await auth(gw))
        versions = (await r.json())["versions"]
        assert [v["fingerprint"] for v in versions] == [
            gw.registry.fingerprint(ECHO, 1),
            gw.registry.fingerprint(ECHO, 2),
        ]
        assert all(v["providers_online"] == 0 for v in versions)


async def test_a_provider_built_against_the_published_contract_serves(
    transports: Transports,
) -> None:
    async with (
        transports() as gw_transport,
        gateway(gw_transport) as gw,
        transports() as provider,
    ):
        await echo_v1().start(provider, registry())
        await eventually(lambda: gw_transport.providers_online(ECHO, 1) == 1, "online")
        r = await call(gw, ECHO, {"text": "a"}, **{"X-LGSP-Service-Version": "1"})
        assert r.status == 200, await r.text()


async def test_a_provider_built_against_another_contract_does_not_start(
    transports: Transports,
) -> None:
    gw_registry, provider_registry = registry(), other_registry()
    async with (
        transports() as gw_transport,
        gateway(gw_transport) as gw,
        transports() as provider,
    ):
        if provider is not gw_transport:
            # The provider's process learns what the gateway publishes.
            await eventually(
                lambda: provider._expected(ECHO, 1) == gw_registry.fingerprint(ECHO, 1),
                "the provider heard the gateway's contracts",
            )
        adapter = echo_v1()
        with refusals() as refused, pytest.raises(ContractMismatch) as failure:
            await adapter.start(provider, provider_registry)
        assert "\n" not in str(failure.value)
        assert f"{ECHO} v1" in str(failure.value)
        [event] = refused
        assert event["log_level"] == "error"
        assert event["service"] == ECHO
        assert event["version"] == 1
        assert event["instance"] == adapter.instance
        assert event["expected"] == gw_registry.fingerprint(ECHO, 1)[:12]
        assert event["got"] == provider_registry.fingerprint(ECHO, 1)[:12]
        r = await call(gw, ECHO, {"text": "a"}, **{"X-LGSP-Service-Version": "1"})
        assert r.status == 503
        assert gw_transport.providers_online(ECHO, 1) == 0


async def test_a_provider_started_before_the_gateway_is_refused_when_it_comes(
    transports: Transports,
) -> None:
    """Either side may start first: a mismatching provider already serving is
    dropped (memory) or stops consuming (amqp) once the gateway is there, and
    the gateway never counts it online."""
    provider_registry = other_registry()
    received = 0
    adapter = Adapter("echo-other", agency="test suite")

    @adapter.service(ECHO, version=1)
    async def echo(request: EchoRequest, ctx: Context) -> EchoResponseWider:
        nonlocal received
        received += 1
        return EchoResponseWider(text=request.text, client=ctx.client)

    async with transports() as provider, transports() as gw_transport:
        await adapter.start(provider, provider_registry)
        with refusals() as refused:
            async with gateway(gw_transport) as gw:
                for _ in range(5):
                    r = await call(gw, ECHO, {"text": "a"}, **{"X-LGSP-Service-Version": "1"})
                    assert r.status == 503, await r.text()
                    assert gw_transport.providers_online(ECHO, 1) == 0
                    await asyncio.sleep(0.1)
        assert received == 0
        assert refused, "the refusal is logged"
        assert {e["instance"] for e in refused} == {adapter.instance}
