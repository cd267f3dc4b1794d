"""The mock systems that keep state, once per province of a network in one
process: each province's NDXP connector syncs its own dossiers to the
national portal under its own agency code, each warehouse loads its own
province's figures (through NDXP, as that province's LGSP), and each open
data portal is its province's (the cross-province exchanges themselves:
tests/behaviour/test_network.py)."""

from __future__ import annotations

import asyncio

import aiohttp

import lgsp_adapters.warehouse as warehouse
from lgsp.testing import Network
from lgsp_adapters.divisions import Divisions
from lgsp_adapters.ndxp import Simulator, connector
from lgsp_adapters.opendata.server import OpenDataPortal
from lgsp_adapters.provinces import PROVINCES
from tests.behaviour.conftest import PROVINCES as HERE
from tests.support.waiting import eventually


def ndxp(network: Network) -> Simulator:
    return network.platform("ndxp-sim", Simulator)


async def test_each_province_syncs_its_dossiers_under_its_own_agency_code(
    network: Network,
) -> None:
    sim = ndxp(network)
    numbers: dict[str, str] = {}
    for province in HERE:
        receipt = await network[province].call(
            "onestop.dossier.submit",
            {
                "maTTHC": "1.004873",
                "chuHoSo": {"soDinhDanh": "087192004321", "hoVaTen": "Lê Thị Hồng"},
            },
            client=f"{province}.onestop",
        )
        assert receipt.status == 200, receipt.json
        numbers[province] = receipt.json["maHoSo"]
        assert numbers[province].startswith(PROVINCES[province].agency_code + "-")

    def synced() -> bool:
        return all(sim.dossiers.get(n) is not None for n in numbers.values())

    await eventually(synced, "both provinces' dossiers reach the national portal")
    for province, number in numbers.items():
        held = sim.dossiers.get(number)
        assert held is not None
        assert held.madonvi == PROVINCES[province].madonvi
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{sim.url}/dvcqg/hoso", params={"madonvi": PROVINCES["gialai"].madonvi}) as r,
    ):
        listed = {d["MaHoSo"] for d in (await r.json())["data"]}
    assert numbers["gialai"] in listed
    assert numbers["dongthap"] not in listed
    # Each province's connector is its own LGSP at NDXP, and says so (read
    # where it runs: the gateway hears of it at the next heartbeat).
    for province in HERE:
        copy = network.adapter(province, "ndxp")
        assert connector.connector(copy).settings.client_id == f"{province}.lgsp"
        statuses = network[province].provider_transport.statuses()
        shown = next(s.values for s in statuses if s.instance == copy.instance)
        assert shown["token"] == "held"


async def test_each_warehouse_loads_its_own_province(network: Network) -> None:
    for province in HERE:
        async with asyncio.timeout(30):
            await warehouse.ready(network.adapter(province, "warehouse"))
    for province in HERE:
        answer = await network[province].call(
            "warehouse.population.age-groups", {}, client=f"{province}.analyst"
        )
        assert answer.status == 200, answer.json
        communes = {row["maXa"] for row in answer.json["danhSach"]}
        assert communes
        # Counted by NDXP for the province whose LGSP asked.
        assert communes <= {c.code for c in Divisions(province=province).home}, province
    assert warehouse.current(network.adapter("dongthap", "warehouse")) is not warehouse.current(
        network.adapter("gialai", "warehouse")
    )


async def test_each_province_has_its_own_open_data_portal(network: Network) -> None:
    portals = {p: network[p].sidecar("opendata", OpenDataPortal) for p in HERE}
    assert len({portal.url for portal in portals.values()}) == len(HERE)
    async with aiohttp.ClientSession() as http:
        for province, portal in portals.items():
            assert portal.config.client_id == f"{province}.opendata"
            assert portal.config.gateway_url == network[province].url
            async with http.get(f"{portal.url}/api/3/action/status_show") as r:
                title = (await r.json())["result"]["site_title"]
            assert title == f"Cổng dữ liệu mở tỉnh {PROVINCES[province].name}"
