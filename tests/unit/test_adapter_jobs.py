"""The SDK's start hooks, scheduled jobs and data folder: what an adapter
that keeps state and works on its own (the warehouse) relies on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lgsp import Adapter, Context
from lgsp.catalogue.registry import Registry
from lgsp.transport.memory import MemoryTransport
from tests.support.echo import TEST_CATALOGUE, EchoRequest, EchoResponse
from tests.support.waiting import eventually

REGISTRY = Registry([TEST_CATALOGUE])


@pytest.fixture
async def transport() -> MemoryTransport:
    t = MemoryTransport()
    await t.start()
    return t


async def test_start_hooks_run_before_the_handlers_are_bound(
    transport: MemoryTransport, tmp_path: Path
) -> None:
    adapter = Adapter("keeper", agency="test")
    seen: list[tuple[int, Path | None, str]] = []

    @adapter.on_start
    async def open_store(ctx: Context) -> None:
        online = transport.providers_online("test.echo.call", 1)
        seen.append((online, adapter.data_dir, ctx.client))

    @adapter.service("test.echo.call", version=1)
    async def echo(request: EchoRequest, ctx: Context) -> EchoResponse:
        return EchoResponse(text=request.text, client=ctx.client)

    await adapter.start(transport, REGISTRY, data_dir=tmp_path)
    try:
        assert seen == [(0, tmp_path / "keeper", "adapter.keeper")]
        assert (tmp_path / "keeper").is_dir()
        assert transport.providers_online("test.echo.call", 1) == 1
    finally:
        await adapter.stop()
    await transport.close()


async def test_without_a_data_folder_state_stays_in_memory(transport: MemoryTransport) -> None:
    adapter = Adapter("keeper", agency="test")
    await adapter.start(transport, REGISTRY)
    assert adapter.data_dir is None
    await adapter.stop()
    await transport.close()


async def test_a_job_runs_at_start_when_woken_and_after_a_failure(
    transport: MemoryTransport,
) -> None:
    adapter = Adapter("worker", agency="test")
    runs: list[str] = []

    @adapter.every(3600, name="worker.pull")
    async def pull(ctx: Context) -> None:
        runs.append(ctx.request_id)
        if len(runs) == 2:
            raise RuntimeError("the source is down this time")

    await adapter.start(transport, REGISTRY)
    await eventually(lambda: len(runs) == 1, "the job ran at start")
    adapter.wake("worker.pull")  # an hour early
    await eventually(lambda: len(runs) == 2, "the job ran when woken")
    adapter.wake("worker.pull")
    await eventually(lambda: len(runs) == 3, "the schedule went on after a failed run")
    assert len(set(runs)) == 3, "each run is its own exchange"
    await adapter.stop()
    adapter.wake("worker.pull")
    await asyncio.sleep(0)  # a stopped job is gone: waking it does nothing
    assert len(runs) == 3
    await transport.close()


async def test_jobs_run_again_on_a_second_event_loop() -> None:
    """A module-level adapter outlives a test's loop (a bus per test)."""
    adapter = Adapter("again", agency="test")
    runs: list[int] = []

    @adapter.every(3600)
    async def tick(ctx: Context) -> None:
        runs.append(1)

    async def one_bus() -> None:
        t = MemoryTransport()
        await t.start()
        await adapter.start(t, REGISTRY)
        await eventually(lambda: bool(runs), "the job ran")
        adapter.wake("again.tick")
        await eventually(lambda: len(runs) == 2, "the job ran when woken")
        await adapter.stop()
        await t.close()
        runs.clear()

    await asyncio.to_thread(asyncio.run, one_bus())
    await asyncio.to_thread(asyncio.run, one_bus())


def test_a_job_runs_every_positive_number_of_seconds() -> None:
    with pytest.raises(ValueError, match="positive"):
        Adapter("x", agency="test").every(0)


async def test_a_subscriber_waiting_out_an_outage_lets_the_bus_stop(
    transport: MemoryTransport,
) -> None:
    """Stopping does not wait for an outage to end: the subscriber gives the
    event back (the transport redelivers it after a restart)."""
    from lgsp import Event, ServiceUnavailable
    from tests.support.echo import Ping

    adapter = Adapter("patient", agency="test")
    attempts: list[str | None] = []

    @adapter.subscribe("test.ping.sent", name="test.patient")
    async def wait_for_ndxp(event: Ping, ctx: Context) -> None:
        attempts.append(ctx.event_id)
        raise ServiceUnavailable("NDXP is down")

    await adapter.start(transport, REGISTRY)
    await transport.publish(
        Event(
            topic="test.ping.sent", version=1, client="test.all", request_id="r-1", body=b'{"n": 1}'
        )
    )
    await eventually(lambda: len(attempts) >= 2, "the subscriber is waiting the outage out")
    async with asyncio.timeout(5):  # the backoff alone would go on for minutes
        await adapter.cancel_jobs()
        await transport.close()
    await adapter.stop()
