"""The metrics under real traffic through a bus: label sets stay bounded
(no request id, idempotency key or personal id ever becomes a label), and
errors are counted by problem code."""

from __future__ import annotations

import re
import uuid

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lgsp.testing import Bus
from tests.support.echo import echo_bus, registry


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
                r = await bus.send(
                    service,
                    payload,
                    client="dongthap.onestop",
                    headers={"X-Request-Id": request_id, "Idempotency-Key": uuid.uuid4().hex},
                )
                assert r.status in (200, 404, 422), await r.text()

    async with echo_bus("memory") as bus:
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
    async with echo_bus("memory") as bus:
        land = registry().service("land.parcel.lookup", None).examples[0].request
        for _ in range(3):
            r = await bus.send("land.parcel.lookup", {"maXa": 1}, client="dongthap.onestop")
            assert r.status == 422
        r = await bus.http.post("/v1/services/land.parcel.lookup", json=land)
        assert r.status == 401
        r = await bus.send("land.parcel.lookup", land, client="dongthap.onestop")
        assert r.status == 200
    assert errors("land.parcel.lookup", "contract.request_invalid") == before_invalid + 3
    assert errors("unknown", "auth.unauthenticated") == before_unauth + 1
    # A success is no error, and still counted among the requests.
    after_ok = REGISTRY.get_sample_value(
        "lgsp_requests_total",
        {"service": "land.parcel.lookup", "client": "dongthap.onestop", "status": "200"},
    )
    assert after_ok == (before_ok or 0.0) + 1
