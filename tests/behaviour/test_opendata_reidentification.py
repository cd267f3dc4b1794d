"""Trying to re-identify: the real warehouse on the real demo data, dossiers
filed by real citizens, the portal published — then everything the portal
serves (every action's answer, every resource download, the DataStore,
DCAT in each form, the pages and their scripts) is searched for every
citizen's personal id, full name and street address, and every parcel's
address and certificate serial. None is found."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import pytest

from lgsp.testing import Bus
from lgsp_adapters import dataset, warehouse
from lgsp_adapters.opendata.server import OpenDataPortal
from tests.support.echo import echo_bus
from tests.support.waiting import eventually

APPLICANTS = 12
"""Citizens who file a dossier first, so the published dossiers come from
real people (more than the threshold, so some counts are published)."""


@pytest.fixture(scope="module")
async def bus() -> AsyncIterator[Bus]:
    async with echo_bus("memory") as b:
        async with asyncio.timeout(60):
            await warehouse.ready()
        yield b


async def file_dossiers(bus: Bus, people: list[dict[str, Any]]) -> None:
    for person in people:
        r = await bus.send(
            "onestop.dossier.submit",
            {"maTTHC": "1.004873", "chuHoSo": person},
            client="dongthap.onestop",
        )
        assert r.status == 200, await r.text()
    numbers = [p["soDinhDanh"] for p in people]

    async def taken_in() -> bool:
        r = await bus.send(
            "warehouse.sql.query",
            {"sql": "SELECT count(*) FROM dossiers WHERE trang_thai = '2' AND due IS NOT NULL"},
            client="dongthap.analyst",
        )
        return r.status == 200 and (await r.json())["dong"][0][0] >= len(numbers)

    await eventually(taken_in, "the warehouse has the new dossiers", timeout=10)


async def everything_served(portal: OpenDataPortal) -> str:
    """Every answer the portal gives, concatenated."""
    texts: list[str] = []
    async with httpx.AsyncClient(base_url=portal.url, timeout=30) as ckan:

        async def get(path: str, **params: Any) -> httpx.Response:
            r = await ckan.get(path, params=params)
            assert r.status_code == 200, (path, r.text[:300])
            texts.append(r.text)
            return r

        async def action(name: str, **params: Any) -> Any:
            return (await get(f"/api/3/action/{name}", **params)).json()["result"]

        names = await action("package_list")
        await action(
            "package_search", rows=1000, **{"facet.field": '["organization","groups","tags"]'}
        )
        await action("status_show")
        for org in await action("organization_list"):
            await action("organization_show", id=org, include_datasets="true")
        for group in await action("group_list"):
            await action("group_show", id=group)
        for name in names:
            package = await action("package_show", id=name)
            await get(f"/dataset/{name}")
            for suffix in ("ttl", "jsonld", "rdf"):
                await get(f"/dataset/{name}.{suffix}")
            for resource in package["resources"]:
                await action("resource_show", id=resource["id"])
                await get(resource["url"].removeprefix(portal.url))
                if resource.get("datastore_active"):
                    await action("datastore_search", resource_id=resource["id"], limit=32000)
        for suffix in ("ttl", "jsonld", "rdf"):
            await get(f"/catalog.{suffix}")
        page = (await get("/dataset")).text
        for script in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
            await get(script)
    return "\n".join(texts)


def grams(text: str, sizes: Iterable[int]) -> set[str]:
    """Every run of 2 to n words of the text, spaced by one space."""
    words = re.findall(r"\w+", text)
    return {" ".join(words[i : i + n]) for n in sizes for i in range(len(words) - n + 1)}


async def test_nothing_served_names_a_citizen(bus: Bus) -> None:
    data = await dataset.ademo()
    citizens = list(data.citizens())
    people = [{"soDinhDanh": c.soDinhDanh, "hoVaTen": c.hoVaTen} for c in citizens[:APPLICANTS]]
    await file_dossiers(bus, people)
    portal = bus.sidecar("opendata", OpenDataPortal)
    outcomes = await portal.publish()
    assert outcomes, "the portal published"
    served = await everything_served(portal)
    assert "ho-so-thu-tuc-hanh-chinh-theo-thang" in served  # what was searched is real

    ids = {c.soDinhDanh for c in citizens}
    ids |= {p for c in citizens for p in (c.soDinhDanhCha, c.soDinhDanhMe) if p}
    assert not ids & set(re.findall(r"(?<!\d)\d{12}(?!\d)", served))

    names = {c.hoVaTen for c in citizens}
    addresses = {a.chiTiet for c in citizens for a in (c.noiThuongTru, c.noiOHienTai) if a.chiTiet}
    parcels = list(data.parcels())
    addresses |= {p.diaChi.chiTiet for p in parcels if p.diaChi.chiTiet}
    wanted = {" ".join(re.findall(r"\w+", t)) for t in names | addresses}
    sizes = {len(t.split()) for t in wanted}
    assert not wanted & grams(served, sizes)
    # The search itself finds what it looks for (a name put into the text).
    assert wanted & grams(f"{served} {citizens[0].hoVaTen}.", sizes)

    serials = {p.giayChungNhan.soPhatHanh for p in parcels}
    assert not serials & set(re.findall(r"\b[A-Z]{2} \d{6}\b", served))
