"""The scenario of the mock systems, end to end on both transports:

A citizen applies at the one-stop-shop (một cửa) for a land procedure. The
one-stop-shop verifies the citizen through NDXP, looks the parcel up in the
land database, submits the dossier and moves it through its states; every
change is published, synchronised to the national public service portal
through NDXP and visible there — also when NDXP was down for a while. The
shared data warehouse takes every step in, and the open data portal
publishes the dossier's month in its de-identified dataset."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from lgsp.testing import Bus, TransportKind
from lgsp_adapters import warehouse
from lgsp_adapters.ndxp import Faults, Simulator, connector
from lgsp_adapters.opendata.server import OpenDataPortal
from tests.support.echo import echo_bus
from tests.support.waiting import eventually

VN = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh, no daylight saving
CLIENT = "dongthap.onestop"
CITIZEN = {"soDinhDanh": "087090001234", "hoVaTen": "Nguyễn Văn Hùng"}
ASK = {"maYeuCau": "scenario-001", "maDVC": "1.013831", "maCanBo": "canbo.motcua01"}


def ndxp(bus: Bus) -> Simulator:
    """The simulated NDXP the bus runs (its sidecar), which its connector calls."""
    return bus.sidecar("ndxp-sim", Simulator)


async def ok(bus: Bus, service: str, payload: dict[str, Any]) -> Any:
    r = await bus.send(service, payload, client=CLIENT)
    body = await r.json(content_type=None)
    assert r.status == 200, (service, body)
    return body


async def portal_steps(bus: Bus, ma_ho_so: str, n: int, timeout: float = 20.0) -> list[str]:
    """The statuses the national portal holds for the dossier, once it holds
    ``n`` of them (syncs run in the background, after each event)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=ndxp(bus).url) as portal:
        while True:
            r = await portal.get(f"/dvcqg/hoso/{ma_ho_so}")
            steps = (
                [s["TrangThai"] for s in r.json()["data"]["TienDo"]] if r.status_code == 200 else []
            )
            if len(steps) >= n or time.monotonic() > deadline:
                return steps
            await asyncio.sleep(0.05)


async def apply_for_a_land_transfer(bus: Bus, minute: int) -> str:
    verified = await ok(
        bus, "population.citizen.verify", ASK | CITIZEN | {"ngaySinh": "1990-05-17"}
    )
    assert verified == {"khop": True, "truongKhongKhop": []}
    parcels = await ok(bus, "land.parcel.search", {"soDinhDanh": CITIZEN["soDinhDanh"]})
    assert parcels["danhSach"], "the citizen holds land"
    first = parcels["danhSach"][0]
    ref = {k: first[k] for k in ("maXa", "soHieuToBanDo", "soThuTuThua")}
    parcel = await ok(bus, "land.parcel.lookup", ref)
    assert CITIZEN["soDinhDanh"] in {o["soDinhDanh"] for o in parcel["chuSuDung"]}
    receipt = await ok(
        bus,
        "onestop.dossier.submit",
        {"maTTHC": "1.013831", "chuHoSo": CITIZEN, "thuaDat": ref, "ngayTiepNhan": at(minute)},
    )
    assert receipt["trangThai"] == "2"
    return str(receipt["maHoSo"])


def at(minute: int) -> str:
    """A time in the last two hours: officers take minutes between steps, and
    the portal keeps times to the second."""
    start = datetime.now(VN).replace(microsecond=0) - timedelta(hours=2)
    return (start + timedelta(minutes=minute)).isoformat()


async def step(bus: Bus, ma_ho_so: str, status: str, minute: int, note: str | None = None) -> Any:
    payload: dict[str, Any] = {"maHoSo": ma_ho_so, "trangThai": status, "thoiDiem": at(minute)}
    if note:
        payload["ghiChu"] = note
    return await ok(bus, "onestop.dossier.update-status", payload)


async def test_a_citizen_applies_for_a_land_procedure(
    transport_kind: TransportKind, amqp_url: str | None
) -> None:
    async with echo_bus(transport_kind, amqp_url) as bus:
        ma_ho_so = await apply_for_a_land_transfer(bus, 0)
        await step(bus, ma_ho_so, "4", 10)
        await step(bus, ma_ho_so, "5", 20, "Thiếu bản sao hợp đồng chuyển nhượng có công chứng")
        await step(bus, ma_ho_so, "4", 30)
        await step(bus, ma_ho_so, "9", 40)
        done = await step(bus, ma_ho_so, "10", 50)
        history = [s["trangThai"] for s in done["lichSu"]]
        assert history == ["2", "4", "5", "4", "9", "10"]
        # An illegal step is refused and changes nothing.
        r = await bus.send(
            "onestop.dossier.update-status", {"maHoSo": ma_ho_so, "trangThai": "4"}, client=CLIENT
        )
        assert r.status == 409
        assert await portal_steps(bus, ma_ho_so, 6) == history
        await the_month_is_published(bus, ma_ho_so)


DOSSIERS_DATASET = "ho-so-thu-tuc-hanh-chinh-theo-thang"


async def the_month_is_published(bus: Bus, ma_ho_so: str) -> None:
    """The warehouse took the dossier in (through its events), and once the
    open data portal publishes, the dossier's month is a row of the
    published dataset — with its counts hidden, since one dossier is fewer
    than the five a published count needs."""
    month = (await ok(bus, "onestop.dossier.status", {"maHoSo": ma_ho_so}))["ngayTiepNhan"][:7]
    analyst = "dongthap.analyst"
    # Its datasets answer once it has loaded every source (503 before).
    async with asyncio.timeout(60):
        await warehouse.ready()

    async def in_the_warehouse() -> bool:
        r = await bus.send(
            "warehouse.sql.query",
            {"sql": f"SELECT outcome FROM dossiers WHERE ma_ho_so = '{ma_ho_so}'"},
            client=analyst,
        )
        return r.status == 200 and (await r.json())["dong"] == [["on_time"]]

    await eventually(in_the_warehouse, "the warehouse has the dossier, done on time", 10)
    portal = bus.sidecar("opendata", OpenDataPortal)
    async with httpx.AsyncClient(base_url=portal.url) as ckan:
        r = await ckan.post(
            "/api/3/action/lgsp_publish",
            json={},
            headers={"Authorization": portal.config.api_token},
        )
        assert r.json()["success"], r.text
        published = {o["dataset"]: o for o in r.json()["result"]["datasets"]}
        assert published[DOSSIERS_DATASET]["published"], published
        resource = next(
            res
            for res in (
                await ckan.get("/api/3/action/package_show", params={"id": DOSSIERS_DATASET})
            ).json()["result"]["resources"]
            if res["datastore_active"]
        )
        r = await ckan.post(
            "/api/3/action/datastore_search",
            json={
                "resource_id": resource["id"],
                "filters": {"thang": month, "maTTHC": "1.013831", "maXa": "29869"},
            },
        )
        records = r.json()["result"]["records"]
    assert len(records) == 1, records
    assert records[0]["soHoSo"] is None
    assert records[0]["bi_an"] is True


async def test_syncs_complete_after_an_ndxp_outage(
    transport_kind: TransportKind, amqp_url: str | None
) -> None:
    async with echo_bus(transport_kind, amqp_url) as bus:
        # The breaker opens during the outage; let it probe again soon after.
        connector.configure(breaker_open_s=0.5)
        ma_ho_so = await apply_for_a_land_transfer(bus, 60)
        assert await portal_steps(bus, ma_ho_so, 1) == ["2"]
        await ndxp(bus).set_faults(Faults(outage="unavailable"))
        # The one-stop-shop keeps working while the national platform is down...
        await step(bus, ma_ho_so, "4", 70)
        await step(bus, ma_ho_so, "9", 80)
        assert await portal_steps(bus, ma_ho_so, 2, timeout=1.0) == ["2"]
        # ...and once NDXP is back, every change reaches the portal, in order.
        await ndxp(bus).set_faults(Faults())
        assert await portal_steps(bus, ma_ho_so, 3, timeout=60.0) == ["2", "4", "9"]
