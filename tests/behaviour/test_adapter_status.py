"""Adapters show their own state on the operators' dashboard through a
declared status hook (``@adapter.status``), on either transport: in the
gateway's process, and on RabbitMQ from another connection, as from another
process, carried by its heartbeats. The bus knows no adapter's names."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any

import pytest

from lgsp import Adapter
from lgsp.config import DEMO_ADMINS
from lgsp.testing import Bus, TransportKind
from lgsp.transport import create_transport

ADMIN = DEMO_ADMINS[0]
BASIC = "Basic " + base64.b64encode(f"{ADMIN.id}:{ADMIN.secret}".encode()).decode()


async def shown(
    bus: Bus, adapter: str, until: Callable[[dict[str, Any] | None], bool], timeout: float = 10.0
) -> dict[str, Any] | None:
    """The adapter's row of the dashboard feed once ``until`` holds for it
    (None: no row), polling the feed as the page does."""
    deadline = time.monotonic() + timeout
    while True:
        r = await bus.http.get("/v1/admin/dashboard", headers={"Authorization": BASIC})
        assert r.status == 200
        rows = [a for a in (await r.json())["adapters"] if a["adapter"] == adapter]
        assert len(rows) <= 1
        row = rows[0] if rows else None
        if until(row):
            return row
        assert time.monotonic() < deadline, f"{adapter}: last shown as {row}"
        await asyncio.sleep(0.05)


async def test_a_declared_status_reaches_the_dashboard(
    bus: Bus, transport_kind: TransportKind
) -> None:
    adapter = Adapter(f"gauge-{transport_kind}", agency="test suite")
    circuit = {"open": False}

    @adapter.status
    def status() -> dict[str, Any]:
        return {
            "healthy": not circuit["open"],
            "breaker": "open" if circuit["open"] else "closed",
            "calls": 3,
            "ratio": 0.5,
            "since": None,
        }

    await bus.add(adapter)
    row = await shown(bus, adapter.name, lambda row: row is not None)
    assert row is not None
    assert row["instance"] == adapter.instance
    assert row["status"] == {
        "healthy": True,
        "breaker": "closed",
        "calls": 3,
        "ratio": 0.5,
        "since": None,
    }
    # Read afresh: what the adapter says now, not what it said at start.
    circuit["open"] = True
    row = await shown(
        bus,
        adapter.name,
        lambda row: (
            row is not None and row["status"]["calls"] == 3 and not row["status"]["healthy"]
        ),
    )
    assert row is not None
    assert row["status"]["breaker"] == "open"


async def test_a_failing_or_odd_hook_never_breaks_the_page(
    bus: Bus, transport_kind: TransportKind
) -> None:
    failing = Adapter(f"failing-{transport_kind}", agency="test suite")
    odd = Adapter(f"odd-{transport_kind}", agency="test suite")

    @failing.status
    def broken() -> dict[str, Any]:
        raise RuntimeError("the hook's own bug")

    @odd.status
    def not_json() -> dict[str, Any]:
        return {"when": time.gmtime(0).tm_year, "what": {"nested": "dict"}}

    await bus.add(failing)
    await bus.add(odd)
    row = await shown(bus, failing.name, lambda row: row is not None)
    assert row is not None
    assert row["status"] == {"error": "status hook failed: RuntimeError"}
    row = await shown(bus, odd.name, lambda row: row is not None)
    assert row is not None
    # What JSON does not carry as a plain value is shown as its text.
    assert row["status"] == {"when": 1970, "what": "{'nested': 'dict'}"}


async def test_the_ndxp_connector_reports_its_circuit(bus: Bus) -> None:
    row = await shown(bus, "ndxp", lambda row: row is not None)
    assert row is not None
    assert row["status"]["breaker"] == "closed"
    assert row["status"]["healthy"] is True


@pytest.mark.amqp
async def test_a_process_that_leaves_takes_its_status_along(lgsp_rabbitmq_url: str) -> None:
    from tests.support.echo import echo_bus

    async with echo_bus("amqp", lgsp_rabbitmq_url, adapters=[]) as bus:
        elsewhere = create_transport("amqp", amqp_url=lgsp_rabbitmq_url)
        await elsewhere.start()
        adapter = Adapter("elsewhere", agency="test suite")
        adapter.status(lambda: {"healthy": True})
        try:
            await adapter.start(elsewhere, bus.registry)
            row = await shown(bus, "elsewhere", lambda row: row is not None)
            assert row is not None
            assert row["status"] == {"healthy": True}
        finally:
            await elsewhere.close()
        assert await shown(bus, "elsewhere", lambda row: row is None) is None
