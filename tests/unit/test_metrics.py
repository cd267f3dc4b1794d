"""The metrics (lgsp/observe/metrics.py): docs/metrics.md catalogues
exactly what the processes expose, names follow Prometheus conventions, and
the state gauges follow the transport."""

from __future__ import annotations

import asyncio
import re
import time

from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

import lgsp.gateway  # registers every metric the gateway counts
import lgsp.observe.metrics
import lgsp.observe.soc.syslog
import lgsp.observe.tracing
import lgsp.trust.blocklist
from lgsp.envelope import Event
from lgsp.observe.metrics import refresh
from lgsp.transport.memory import MemoryTransport
from lgsp_adapters.ndxp import connector
from tests.support.metrics import catalogue


def exposed() -> dict[str, tuple[str, set[str]]]:
    """name -> (type, label names) of every lgsp metric registered in this
    process (the gateway's, NDOP's reporter's, the SOC feed's and
    blocklist's, and the NDXP connector's)."""
    out: dict[str, tuple[str, set[str]]] = {}
    modules = (
        lgsp.observe.metrics,
        lgsp.observe.tracing,
        lgsp.observe.soc.syslog,
        lgsp.trust.blocklist,
        connector,
    )
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                family = value.describe()[0]
                name = family.name + ("_total" if family.type == "counter" else "")
                # Label names are not public API of prometheus_client.
                out[name] = (family.type, set(value._labelnames))
    return out


def test_the_catalogue_lists_exactly_what_is_exposed() -> None:
    assert catalogue() == exposed()
    # And nothing else named lgsp_ hides in the registry.
    registered = {
        f.name + ("_total" if f.type == "counter" else "")
        for f in REGISTRY.collect()
        if f.name.startswith("lgsp_")
    }
    assert registered == set(exposed())


def test_names_follow_prometheus_conventions() -> None:
    for name, (kind, labels) in exposed().items():
        assert re.fullmatch(r"lgsp_[a-z0-9_]+", name), name
        assert name.endswith("_total") == (kind == "counter"), name
        if kind == "histogram":
            assert name.endswith(("_seconds", "_bytes")), name
        assert not labels & {"request_id", "id", "instance", "key", "so_dinh_danh"}, name


async def test_state_gauges_follow_the_transport() -> None:
    transport = MemoryTransport(max_attempts=1)
    await transport.start()
    release = asyncio.Event()

    async def stuck(event: Event) -> None:
        await release.wait()

    async def broken(event: Event) -> None:
        raise RuntimeError("always fails")

    await transport.subscribe("test.gauge.happened", "gauge.stuck", stuck)
    await transport.subscribe("test.gauge.happened", "gauge.broken", broken)
    for n in range(4):
        await transport.publish(Event("test.gauge.happened", 1, "c", f"r{n}", b"{}"))
    deadline = time.monotonic() + 5
    while len(transport.dead_letters) < 4:
        assert time.monotonic() < deadline, "the broken subscriber never gave up"
        await asyncio.sleep(0.01)

    await refresh(transport)
    stuck_queue = {"queue": "lgsp.sub.gauge.stuck.test.gauge.happened", "kind": "subscriber"}
    assert REGISTRY.get_sample_value("lgsp_queue_messages", stuck_queue) == 3
    assert REGISTRY.get_sample_value("lgsp_queue_consumers", stuck_queue) == 1
    assert REGISTRY.get_sample_value("lgsp_dead_letters") == 4

    release.set()
    await transport.close()
    # The queues are gone: their series go with them, none is left stale.
    await refresh(transport)
    assert REGISTRY.get_sample_value("lgsp_queue_messages", stuck_queue) is None
    assert REGISTRY.get_sample_value("lgsp_dead_letters") == 4
