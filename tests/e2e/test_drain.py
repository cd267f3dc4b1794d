"""End to end: a gateway told to stop (SIGTERM) while callers keep calling
answers every call it took; a caller finds out only by a refused
connection, which it knows was never sent, never by a connection closed
under a request.

The callers are plain aiohttp clients on keep-alive connections, each
sending its next request the moment it has an answer: the case where a
server that closes its connections at once resets the ones whose next
request is already on the wire."""

from __future__ import annotations

import asyncio
import collections
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import httpx
import pytest

from lgsp.catalogue.registry import Registry
from tests.support.processes import free_port, lgsp, token, wait_until

CALLERS = 8
BEFORE_STOP = 200
"""Calls answered before the gateway is told to stop."""
PARCEL = Registry.from_entry_points().service("land.parcel.lookup").examples[0]


async def _call_through_a_stop(
    base: str, bearer: str, process: subprocess.Popen[bytes]
) -> dict[str, int]:
    outcomes: collections.Counter[str] = collections.Counter()
    answered = asyncio.Event()
    refused = collections.Counter[int]()

    async def caller(n: int, session: aiohttp.ClientSession) -> None:
        # Until this caller has been refused twice after the stop: by then
        # every connection it held was answered and closed.
        while refused[n] < 2:
            try:
                async with session.post(
                    f"{base}/v1/services/land.parcel.lookup",
                    json=PARCEL.request,
                    headers={"Authorization": f"Bearer {bearer}"},
                ) as response:
                    await response.read()
                    outcomes[str(response.status)] += 1
                    if sum(outcomes.values()) >= BEFORE_STOP:
                        answered.set()
            except aiohttp.ClientConnectorError:
                refused[n] += 1
                outcomes["refused"] += 1
                await asyncio.sleep(0.01)  # a caller's back-off, not a wait for timing
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                outcomes["no answer"] += 1
                refused[n] += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        callers = [asyncio.create_task(caller(n, session)) for n in range(CALLERS)]
        await answered.wait()
        process.send_signal(signal.SIGTERM)
        await asyncio.gather(*callers)
    return dict(outcomes)


@contextmanager
def _embedded(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    with lgsp("up", "--port", str(port), log=tmp_path / "up.log") as up:
        yield f"http://127.0.0.1:{port}", up


def _ready(base: str, process: subprocess.Popen[bytes]) -> None:
    wait_until(lambda: httpx.get(f"{base}/readyz").status_code == 200, "ready", process=process)


def test_a_stopping_gateway_answers_every_call_it_took(tmp_path: Path) -> None:
    with _embedded(tmp_path) as (base, up):
        _ready(base, up)
        outcomes = asyncio.run(_call_through_a_stop(base, token(base), up))
        up.wait(timeout=30)
    assert outcomes.get("no answer", 0) == 0, outcomes
    assert set(outcomes) <= {"200", "refused"}, outcomes
    assert outcomes["200"] >= BEFORE_STOP
    assert "gateway.drained" in (tmp_path / "up.log").read_text()


@pytest.mark.amqp
def test_a_stopping_gateway_on_rabbitmq_answers_every_call_it_took(
    lgsp_rabbitmq_url: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        lgsp("adapters", "--amqp-url", lgsp_rabbitmq_url, "land", log=tmp_path / "ad.log"),
        lgsp(
            "gateway", "--amqp-url", lgsp_rabbitmq_url, "--port", str(port), log=tmp_path / "gw.log"
        ) as gw,
    ):
        _ready(base, gw)
        bearer = token(base)
        wait_until(
            lambda: (
                httpx.post(
                    f"{base}/v1/services/land.parcel.lookup",
                    json=PARCEL.request,
                    headers={"Authorization": f"Bearer {bearer}"},
                ).status_code
                == 200
            ),
            "the land database online",
            process=gw,
        )
        outcomes = asyncio.run(_call_through_a_stop(base, bearer, gw))
        gw.wait(timeout=30)
    assert outcomes.get("no answer", 0) == 0, outcomes
    assert set(outcomes) <= {"200", "refused"}, outcomes
