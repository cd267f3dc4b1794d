"""The simulated NDXP beside a bus: national requests forwarded into the
province's LGSP, under the gateway's grants, and the warehouse's pulls
through the gateway (population statistics through NDXP, faults and all;
bad pages refused) (the simulator alone: tests/unit/test_ndxp_simulator.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from lgsp.testing import Bus
from lgsp_adapters import land, onestop
from lgsp_adapters.ndxp import Faults, Simulator, connector
from lgsp_contracts.land import PARCEL_LOOKUP_V1
from lgsp_contracts.population import CITIZEN_LOOKUP_V1, COMMUNE_STATISTICS_V1
from tests.support.echo import echo_bus
from tests.support.ndxp import MINISTRY, token


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_national_request_forwarded_into_the_lgsp(http: aiohttp.ClientSession) -> None:
    example = PARCEL_LOOKUP_V1.examples[0]
    # The bus's own simulated NDXP (its sidecar) forwards into its gateway.
    async with echo_bus("memory", adapters=[land.adapter]) as bus:
        sim = bus.sidecar("ndxp-sim", Simulator)
        bearer = await token(http, sim, MINISTRY)
        r = await http.post(
            f"{sim.url}/lgsp/dongthap/land.parcel.lookup",
            json=example.request,
            headers={"Authorization": f"Bearer {bearer}", "X-Request-Id": "bnnmt-0001"},
        )
        assert r.status == 200, await r.text()
        assert await r.json() == example.response
        assert r.headers["X-Request-Id"] == "bnnmt-0001"
        # NDXP's grants at the LGSP are the gateway's to enforce.
        r = await http.post(
            f"{sim.url}/lgsp/dongthap/population.citizen.lookup",
            json={},
            headers={"Authorization": f"Bearer {bearer}"},
        )
        assert r.status == 403
        assert (await r.json())["code"] == "auth.forbidden"
        r = await http.post(
            f"{sim.url}/lgsp/hanoi/land.parcel.lookup",
            json=example.request,
            headers={"Authorization": f"Bearer {bearer}"},
        )
        assert (r.status, (await r.json())["error_code"]) == (404, "106")
        assert sim.calls["forward"] == 3


# -- the warehouse's pulls through the gateway ---------------------------------


@pytest.fixture(scope="module")
async def warehouse_bus() -> AsyncIterator[Bus]:
    """A bus with the land database, the one-stop-shop and the NDXP connector
    (to its own simulated NDXP), called as the one-stop-shop's client, which
    is granted them all."""
    adapters = [land.adapter, onestop.adapter, connector.adapter]
    async with echo_bus("memory", adapters=adapters) as bus:
        bus.client = "dongthap.onestop"
        yield bus


async def test_commune_statistics_through_the_gateway_and_ndxp(warehouse_bus: Bus) -> None:
    sim = warehouse_bus.sidecar("ndxp-sim", Simulator)
    example = COMMUNE_STATISTICS_V1.examples[0]
    before = sim.calls["ThongKeDanSo"]
    answer = await warehouse_bus.call(COMMUNE_STATISTICS_V1.service, example.request)
    assert (answer.status, answer.json) == (200, example.response)
    assert sim.calls["ThongKeDanSo"] == before + 1
    unknown = await warehouse_bus.call(
        "population.commune.statistics", {**example.request, "maXa": "99999"}
    )
    assert unknown.status == 404
    assert unknown.json["code"] == "population.commune.unknown"


async def test_ndxp_down_makes_the_statistics_503_as_the_lookup(warehouse_bus: Bus) -> None:
    sim = warehouse_bus.sidecar("ndxp-sim", Simulator)
    statistics = COMMUNE_STATISTICS_V1.examples[0].request
    lookup = CITIZEN_LOOKUP_V1.examples[0].request
    await sim.set_faults(Faults(outage="unavailable", outage_s=30))
    try:
        for service, body in (
            ("population.commune.statistics", statistics),
            ("population.citizen.lookup", lookup),
        ):
            answer = await warehouse_bus.call(service, body)
            assert answer.status == 503, service
            assert answer.json["code"] == "service.unavailable"
            assert int(answer.headers["Retry-After"]) >= 1
    finally:
        await sim.set_faults(Faults())
        # The outage may have opened the connector's circuit: start afresh.
        connector.configure(url=sim.url)
    answer = await warehouse_bus.call("population.commune.statistics", statistics)
    assert answer.status == 200


@pytest.mark.parametrize(
    ("service", "body", "field"),
    [
        ("land.parcel.snapshot", {"soBanGhi": 0}, "soBanGhi"),
        ("land.parcel.snapshot", {"soBanGhi": 5001}, "soBanGhi"),
        ("land.parcel.snapshot", {"sauKhoa": "29869-12-345"}, "sauKhoa"),
        ("land.parcel.snapshot", {"sauKhoa": "29869/12/12345"}, "sauKhoa"),
        ("land.parcel.snapshot", {"maXa": "2986"}, "maXa"),
        ("onestop.dossier.list", {"soBanGhi": 0}, "soBanGhi"),
        ("onestop.dossier.list", {"sauMaHoSo": "H20-250512-0001"}, "sauMaHoSo"),
        ("onestop.dossier.list", {"capNhatTu": "2025-05-15T08:30:00"}, "capNhatTu"),
        ("onestop.procedure.list", {"linhVuc": "Đ"}, "linhVuc"),
        (
            "population.commune.statistics",
            {**COMMUNE_STATISTICS_V1.examples[0].request, "ngayThongKe": "20250701"},
            "ngayThongKe",
        ),
    ],
)
async def test_bad_pulls_are_422_naming_the_field(
    warehouse_bus: Bus, service: str, body: dict[str, object], field: str
) -> None:
    answer = await warehouse_bus.call(service, body)
    assert answer.status == 422
    assert answer.json["code"] == "contract.request_invalid"
    assert field in str(answer.json)
