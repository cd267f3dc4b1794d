"""The testing kit's bus itself (lgsp/testing/bus.py): what it runs, how it
is configured, and that a start failing half-way leaves nothing running
(as an integrator uses it: tests/e2e/test_testing_kit.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

from lgsp import Adapter, Context
from lgsp.errors import UnknownService
from lgsp.testing import TEST_CLIENT, TransportKind, running_bus
from lgsp.testing import bus as kit
from lgsp_adapters.ndxp import Simulator
from tests.support.echo import TEST_CATALOGUE, EchoRequest, EchoResponse


async def test_the_bus_runs_the_installed_systems_and_hands_out_its_sidecars(
    transport_kind: TransportKind, amqp_url: str | None
) -> None:
    async with running_bus(transport_kind, amqp_url=amqp_url, max_body_bytes=2048) as bus:
        assert bus.transport == transport_kind
        assert bus.settings.max_body_bytes == 2048
        assert TEST_CLIENT in {c.id for c in bus.settings.clients}
        sim = bus.sidecar("ndxp-sim", Simulator)
        assert sim.config.gateways == {bus.settings.province: bus.url}
        with pytest.raises(TypeError):
            bus.sidecar("ndxp-sim", int)
        # The NDXP connector on the bus talks to this bus's simulator.
        before = sim.total_calls
        example = bus.registry.service("population.citizen.lookup").examples[0]
        answer = await bus.call("population.citizen.lookup", example.request)
        assert (answer.status, answer.json) == (200, example.response)
        assert sim.total_calls > before
        raw = await bus.send("population.citizen.lookup", example.request, version=1)
        assert raw.status == 200
        assert raw.headers["X-LGSP-Service-Version"] == "1"
        assert await raw.json() == example.response
        if transport_kind == "memory":
            assert bus.provider_transport is bus.gateway_transport
        else:
            assert bus.provider_transport is not bus.gateway_transport


async def test_only_the_adapters_asked_for_and_another_default_client() -> None:
    echo = Adapter("echo", agency="test suite")

    @echo.service("test.echo.call", version=1)
    async def call(request: EchoRequest, ctx: Context) -> EchoResponse:
        return EchoResponse(text=request.text, client=ctx.client)

    async with running_bus(
        adapters=[echo],
        installed=False,
        sidecars=False,
        catalogues=[TEST_CATALOGUE],
        client="dongthap.onestop",
    ) as bus:
        assert bus.sidecars == {}
        assert bus.gateway_transport.providers_online("land.parcel.lookup", 1) == 0
        refused = await bus.call("test.echo.call", {"text": "a"}, version=1)
        assert (refused.status, refused.json["code"]) == (403, "auth.forbidden")
        answer = await bus.call("test.echo.call", {"text": "a"}, version=1, client=TEST_CLIENT)
        assert (answer.status, answer.json) == (200, {"text": "a", "client": TEST_CLIENT})


async def test_a_start_that_fails_stops_what_was_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[str] = []

    def sidecar(
        *,
        gateway_url: str,
        ephemeral: bool = False,
        data_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> contextlib.AbstractAsyncContextManager[object]:
        @contextlib.asynccontextmanager
        async def running() -> AsyncIterator[object]:
            events.append("sidecar started")
            try:
                yield object()
            finally:
                events.append("sidecar stopped")

        return running()

    monkeypatch.setattr(kit, "load_sidecars", lambda: {"fake": sidecar})
    good, bad = Adapter("good", agency="test suite"), Adapter("bad", agency="test suite")

    @good.on_stop
    async def good_stopped() -> None:
        events.append("good stopped")

    @bad.on_stop
    async def bad_stopped() -> None:
        events.append("bad stopped")

    @bad.service("no.such.service", version=1)
    async def nothing(request: EchoRequest, ctx: Context) -> EchoResponse:
        raise AssertionError("never called")

    with pytest.raises(UnknownService):
        async with running_bus(adapters=[good, bad], installed=False):
            raise AssertionError("the bus must not start")
    assert events == ["sidecar started", "sidecar stopped", "good stopped", "bad stopped"]
