"""The metrics: docs/metrics.md catalogues exactly what the processes expose,
names follow Prometheus conventions, label sets stay bounded under traffic
(no request id, idempotency key or personal id ever becomes a label), errors
are counted by problem code, and the state gauges follow the transport."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

import lgsp.gateway  # registers every metric the gateway counts
import lgsp.observe.metrics
from lgsp.envelope import Event
from lgsp.observe.metrics import refresh
from lgsp.transport.memory import MemoryTransport
from lgsp_adapters.ndxp import connector
from tests.support import Bus, registry, running_bus

CATALOGUE = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
ENTRY = re.compile(
    r"^### `(?P<name>[a-z_:]+)`\n- type: (?P<type>\w+)[^\n]*\n- labels: (?P<labels>[^\n]*)\n",
    re.MULTILINE,
)


def catalogue() -> dict[str, tuple[str, set[str]]]:
    """name -> (type, label names) as docs/metrics.md lists them."""
    text = CATALOGUE.read_text(encoding="utf-8")
    out: dict[str, tuple[str, set[str]]] = {}
    for m in ENTRY.finditer(text):
        # Label names are the backticked words outside parentheses.
        labels = re.sub(r"\([^)]*\)", "", m["labels"])
        out[m["name"]] = (m["type"], set(re.findall(r"`([a-z_]+)`", labels)))
    return out


def exposed() -> dict[str, tuple[str, set[str]]]:
    """name -> (type, label names) of every lgsp metric registered in this
    process (the gateway's and the NDXP connector's)."""
    out: dict[str, tuple[str, set[str]]] = {}
    for module in (lgsp.observe.metrics, connector):
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


def lgsp_samples() -> list[tuple[str, dict[str, str]]]:
    text = generate_latest(REGISTRY).decode()
    return [
        (s.name, s.labels)
        for family in text_string_to_metric_families(text)
        if family.name.startswith("lgsp_")
        for s in family.samples
    ]


async def test_label_sets_stay_bounded_under_traffic() -> None:
    reg = registry()
    land = reg.service("land.parcel.lookup", None).examples[0].request
    citizen = reg.service("population.citizen.lookup", None).examples[0].request
    personal_id = citizen["soDinhDanh"]
    assert re.fullmatch(r"\d{12}", personal_id)
    sent_ids: list[str] = []

    async def burst(bus: Bus, n: int) -> None:
        for i in range(n):
            request_id = f"req-{uuid.uuid4().hex}"
            sent_ids.append(request_id)
            # A success, a declared domain error, a contract refusal: each with
            # ids and personal data that must stay out of the labels.
            for payload in (
                land,
                citizen,
                citizen | {"soDinhDanh": f"{i:012d}"},
                citizen | {"soDinhDanh": "not-an-id"},
            ):
                service = "land.parcel.lookup" if payload is land else "population.citizen.lookup"
                r = await bus.call(
                    service,
                    payload,
                    client="dongthap.onestop",
                    headers={"X-Request-Id": request_id, "Idempotency-Key": uuid.uuid4().hex},
                )
                assert r.status in (200, 404, 422), await r.text()

    async with running_bus("memory", None) as bus:
        await burst(bus, 10)
        first = len(lgsp_samples())
        await burst(bus, 40)
        samples = lgsp_samples()
    # Four times as many distinct ids made no new series.
    assert len(samples) == first
    values = {v for _, labels in samples for v in labels.values()}
    assert not {v for v in values if re.search(r"\d{12}", v)}
    assert not values & set(sent_ids)
    assert not {v for v in values if re.fullmatch(r"[0-9a-f]{32}", v)}


async def test_errors_are_counted_by_problem_code() -> None:
    def errors(service: str, code: str) -> float:
        value = REGISTRY.get_sample_value(
            "lgsp_request_errors_total", {"service": service, "code": code}
        )
        return value or 0.0

    before_invalid = errors("land.parcel.lookup", "contract.request_invalid")
    before_unauth = errors("unknown", "auth.unauthenticated")
    before_ok = REGISTRY.get_sample_value(
        "lgsp_requests_total",
        {"service": "land.parcel.lookup", "client": "dongthap.onestop", "status": "200"},
    )
    async with running_bus("memory", None) as bus:
        land = registry().service("land.parcel.lookup", None).examples[0].request
        for _ in range(3):
            r = await bus.call("land.parcel.lookup", {"maXa": 1}, client="dongthap.onestop")
            assert r.status == 422
        r = await bus.http.post("/v1/services/land.parcel.lookup", json=land)
        assert r.status == 401
        r = await bus.call("land.parcel.lookup", land, client="dongthap.onestop")
        assert r.status == 200
    assert errors("land.parcel.lookup", "contract.request_invalid") == before_invalid + 3
    assert errors("unknown", "auth.unauthenticated") == before_unauth + 1
    # A success is no error, and still counted among the requests.
    after_ok = REGISTRY.get_sample_value(
        "lgsp_requests_total",
        {"service": "land.parcel.lookup", "client": "dongthap.onestop", "status": "200"},
    )
    assert after_ok == (before_ok or 0.0) + 1


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
