"""Copies of an adapter (lgsp/adapter.py ``Adapter.copy``, ``running``,
``per_copy``): one system run once per province in one process, each copy
with its own settings, state, jobs and status, none leaking into another."""

from __future__ import annotations

import asyncio
import time

import pytest

from lgsp import Adapter, Context, Envelope
from lgsp.catalogue.registry import Registry
from lgsp.transport.memory import MemoryTransport
from tests.support.echo import TEST_CATALOGUE, EchoRequest, EchoResponse

REGISTRY = Registry([TEST_CATALOGUE])

system = Adapter("counter", agency="test")
counts = system.per_copy(lambda copy: {"calls": 0, "province": copy.env.get("LGSP_PROVINCE")})
ticks: list[str | None] = []
ticked = asyncio.Event()


@system.service("test.echo.call", version=1)
async def echo(request: EchoRequest, ctx: Context) -> EchoResponse:
    state = counts()  # the state of the copy that serves this call
    state["calls"] += 1
    assert ctx.adapter is system.running()
    return EchoResponse(text=f"{state['province']}:{state['calls']}", client=ctx.client)


@system.every(60)
async def tick(ctx: Context) -> None:
    ticks.append(system.running().env.get("LGSP_PROVINCE"))
    if len(ticks) == 2:
        ticked.set()


@system.status
def status() -> dict[str, str | int | None]:
    return {"province": counts()["province"], "calls": counts()["calls"]}


async def _call(transport: MemoryTransport) -> str:
    envelope = Envelope(
        request_id="r",
        client="c",
        service="test.echo.call",
        version=1,
        deadline=time.time() + 5,
        body=b'{"text": "x"}',
        payload=EchoRequest(text="x"),
    )
    reply = await transport.request(envelope)
    text: str = EchoResponse.model_validate_json(reply.body).text
    return text


async def test_each_copy_keeps_its_own_settings_state_jobs_and_status() -> None:
    ticks.clear()
    ticked.clear()
    copies = {p: system.copy(env={"LGSP_PROVINCE": p}) for p in ("dongthap", "gialai")}
    transports = {p: MemoryTransport() for p in copies}
    for p, copy in copies.items():
        assert copy.name == system.name
        assert copy.template is system
        assert copy.instance != system.instance
        await transports[p].start()
        await copy.start(transports[p], REGISTRY)
    try:
        assert await _call(transports["dongthap"]) == "dongthap:1"
        assert await _call(transports["dongthap"]) == "dongthap:2"
        assert await _call(transports["gialai"]) == "gialai:1"
        # Outside any copy's code, the state is the adapter's own, untouched.
        assert counts() == {"calls": 0, "province": None}
        assert counts(copies["gialai"])["calls"] == 1
        async with asyncio.timeout(5):
            await ticked.wait()
        assert sorted(t or "" for t in ticks) == ["dongthap", "gialai"]
        seen = {
            s.values["province"]: s.values["calls"]
            for t in transports.values()
            for s in t.statuses()
        }
        assert seen == {"dongthap": 2, "gialai": 1}
    finally:
        for p, copy in copies.items():
            await copy.stop()
            await transports[p].close()


def test_state_of_another_adapter_is_refused() -> None:
    other = Adapter("other", agency="test")
    with pytest.raises(ValueError, match="not a copy of the adapter counter"):
        counts(other)
