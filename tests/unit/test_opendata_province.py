"""The open data portal of each province: configured from the province's
settings (port, gateway client, data folder), it names its province on its
page, in its status and in its DCAT catalogue; Đồng Tháp's is as it was."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, FOAF

from lgsp_adapters.opendata.server import OpenDataPortal, PortalConfig, sidecar

NOWHERE = "http://127.0.0.1:9"
"""A gateway the portal never calls here (it publishes only when told)."""


def test_the_province_s_settings_make_its_portal(tmp_path: Path) -> None:
    gialai = PortalConfig.from_env(
        NOWHERE, ephemeral=False, data_dir=tmp_path, env={"LGSP_PROVINCE": "gialai"}
    )
    assert (gialai.province, gialai.port, gialai.client_id) == ("gialai", 8096, "gialai.opendata")
    assert gialai.data_dir == tmp_path / "opendata"
    phutho = PortalConfig.from_env(
        NOWHERE,
        ephemeral=False,
        data_dir=None,
        env={"LGSP_PROVINCE": "phutho", "LGSP_OPENDATA_PORT": "9000"},
    )
    assert (phutho.port, phutho.data_dir) == (9003, None)
    dongthap = PortalConfig.from_env(NOWHERE, ephemeral=False, data_dir=None, env={})
    assert (dongthap.province, dongthap.port, dongthap.client_id) == (
        "dongthap",
        8095,
        "dongthap.opendata",
    )
    assert PortalConfig.from_env(NOWHERE, ephemeral=True, data_dir=None, env={}).port == 0


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def shown(http: aiohttp.ClientSession, portal: OpenDataPortal) -> tuple[str, str, Graph]:
    async with http.get(f"{portal.url}/dataset") as r:
        page = await r.text()
    async with http.get(f"{portal.url}/api/3/action/status_show") as r:
        title = (await r.json())["result"]["site_title"]
    async with http.get(f"{portal.url}/catalog.ttl") as r:
        g = Graph().parse(data=await r.text(), format="turtle")
    return page, title, g


@pytest.mark.parametrize(
    ("province", "name", "slug"),
    [("gialai", "Gia Lai", "gialai"), ("dongthap", "Đồng Tháp", "dong-thap")],
)
async def test_the_portal_names_its_province(
    http: aiohttp.ClientSession, province: str, name: str, slug: str
) -> None:
    env = {"LGSP_PROVINCE": province}
    async with sidecar(gateway_url=NOWHERE, ephemeral=True, env=env) as portal:
        assert portal.config.client_id == f"{province}.opendata"
        page, title, g = await shown(http, portal)
    assert f"Cổng dữ liệu mở tỉnh {name}" in page
    assert title == f"Cổng dữ liệu mở tỉnh {name}"
    root = URIRef(f"{portal.url}/catalog")
    assert Literal(f"Cổng dữ liệu mở tỉnh {name}", lang="vi") in set(g.objects(root, DCTERMS.title))
    (publisher,) = g.objects(root, DCTERMS.publisher)
    assert str(publisher).endswith(f"/organization/so-khoa-hoc-va-cong-nghe-{slug}")
    assert g.value(publisher, FOAF.name) == Literal(
        f"Sở Khoa học và Công nghệ tỉnh {name}", lang="vi"
    )
    if province != "dongthap":
        assert "Đồng Tháp" not in page
        assert len(set(g.objects(root, DCTERMS.title))) == 2  # vi and en, its own only
