"""The open data portal as its users see it: the real ``ckanapi`` client
(and plain HTTP where CKAN's answer is not a client's exception) against a
portal publishing from a stand-in warehouse through a test bus."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import ckanapi
import httpx
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib import namespace as ns

from lgsp_adapters.opendata.server import DEMO_TOKEN, OpenDataPortal
from lgsp_adapters.opendata.testing import FakeWarehouse, running_portal

POPULATION = "dan-so-theo-nhom-tuoi-va-gioi-tinh"
PARCELS = "thua-dat-theo-muc-dich-su-dung"
DOSSIERS = "ho-so-thu-tuc-hanh-chinh-theo-thang"
EXCHANGES = "luot-trao-doi-du-lieu-lgsp-theo-ngay"
SATISFACTION = "muc-do-hai-long-ve-thu-tuc-hanh-chinh"
THEME = "http://publications.europa.eu/resource/authority/data-theme/"


@pytest.fixture(scope="module")
async def portal() -> AsyncIterator[tuple[OpenDataPortal, FakeWarehouse]]:
    async with running_portal() as (_bus, handle, warehouse):
        yield handle, warehouse


async def ckan(portal: tuple[OpenDataPortal, FakeWarehouse], action: str, **data: Any) -> Any:
    """One action through ckanapi (a blocking client: off the event loop)."""
    remote = ckanapi.RemoteCKAN(portal[0].url, apikey=data.pop("apikey", None))
    return await asyncio.to_thread(remote.call_action, action, data)


async def raises(
    portal: tuple[OpenDataPortal, FakeWarehouse], kind: type[Exception], action: str, **data: Any
) -> Exception:
    with pytest.raises(kind) as caught:
        await ckan(portal, action, **data)
    return caught.value


async def http(
    portal: tuple[OpenDataPortal, FakeWarehouse], method: str, path: str, **kw: Any
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=portal[0].url) as client:
        return await client.request(method, path, **kw)


def resource(portal: tuple[OpenDataPortal, FakeWarehouse], name: str, fmt: str) -> dict[str, Any]:
    package = portal[0].catalog.packages[name]
    return next(r for r in package["resources"] if r["format"] == fmt)


# -- datasets ------------------------------------------------------------------------


async def test_the_five_datasets_are_listed(portal: Any) -> None:
    assert await ckan(portal, "package_list") == sorted(
        [POPULATION, PARCELS, DOSSIERS, EXCHANGES, SATISFACTION]
    )


async def test_package_show_by_name_or_id_with_both_languages(portal: Any) -> None:
    shown = await ckan(portal, "package_show", id=POPULATION)
    assert shown["title"] == shown["title_translated"]["vi"]
    assert shown["title_translated"]["en"] == "Population by commune, age group and gender"
    assert shown["notes_translated"]["en"]
    assert shown["organization"]["title"] == "Công an tỉnh Đồng Tháp"
    assert [g["name"] for g in shown["groups"]] == ["soci"]
    assert shown["license_id"] == "cc-by"
    assert shown["license_url"] == "https://creativecommons.org/licenses/by/4.0/"
    extras = {e["key"]: e["value"] for e in shown["extras"]}
    assert extras["frequency"].endswith("/frequency/ANNUAL")
    assert {r["format"] for r in shown["resources"]} == {"CSV", "JSON"}
    assert all(r["datastore_active"] for r in shown["resources"])
    assert shown["metadata_created"] <= shown["metadata_modified"]
    assert await ckan(portal, "package_show", id=shown["id"]) == shown


async def test_the_agencies_and_themes(portal: Any) -> None:
    orgs = {
        p: (await ckan(portal, "package_show", id=p))["organization"]["name"]
        for p in (DOSSIERS, PARCELS, EXCHANGES)
    }
    assert orgs == {
        DOSSIERS: "van-phong-ubnd-tinh-dong-thap",
        PARCELS: "so-nong-nghiep-va-moi-truong-dong-thap",
        EXCHANGES: "so-khoa-hoc-va-cong-nghe-dong-thap",
    }
    assert len(await ckan(portal, "organization_list")) == 4
    listed = await ckan(portal, "organization_list", all_fields=True)
    assert {o["name"]: o["package_count"] for o in listed}["cong-an-tinh-dong-thap"] == 1
    shown = await ckan(
        portal, "organization_show", id="cong-an-tinh-dong-thap", include_datasets=True
    )
    assert [p["name"] for p in shown["packages"]] == [POPULATION]
    assert set(await ckan(portal, "group_list")) == {"gove", "agri", "envi", "soci", "tech"}
    groups = await ckan(portal, "group_list", all_fields=True)
    assert {g["name"]: g["package_count"] for g in groups}["agri"] == 1
    assert (await ckan(portal, "group_show", id="tech"))["title"] == "Khoa học và công nghệ"


async def test_resource_show(portal: Any) -> None:
    csv_resource = resource(portal, PARCELS, "CSV")
    shown = await ckan(portal, "resource_show", id=csv_resource["id"])
    assert shown["url"].endswith(
        f"/dataset/{PARCELS}/resource/{shown['id']}/download/{PARCELS}.csv"
    )
    assert shown["datastore_active"] is True


async def test_status_show(portal: Any) -> None:
    status = await ckan(portal, "status_show")
    assert status["ckan_version"].startswith("2.11.")
    assert status["site_title"] == "Cổng dữ liệu mở tỉnh Đồng Tháp"
    assert "datastore" in status["extensions"]


async def test_get_with_url_parameters_and_form_posts_work_as_in_ckan(portal: Any) -> None:
    got = await http(portal, "GET", "/api/3/action/package_show", params={"id": PARCELS})
    assert got.status_code == 200
    body = got.json()
    assert body["success"] is True
    assert body["help"].endswith("help_show?name=package_show")
    form = await http(portal, "POST", "/api/action/package_search", data={"q": "thửa", "rows": "1"})
    assert form.json()["result"]["count"] == 1


# -- package_search ------------------------------------------------------------------


async def test_free_text_ignores_case_and_diacritics(portal: Any) -> None:
    for q in ("dân số", "DAN SO", "population"):
        found = await ckan(portal, "package_search", q=q)
        # The satisfaction survey's notes hold both words too ("người dân", "số phản hồi").
        assert found["results"][0]["name"] == POPULATION, q
    found = await ckan(portal, "package_search", q="population")
    assert [p["name"] for p in found["results"]] == [POPULATION]


async def test_field_terms_and_fq(portal: Any) -> None:
    found = await ckan(portal, "package_search", q="organization:cong-an-tinh-dong-thap")
    assert found["count"] == 1
    found = await ckan(portal, "package_search", fq="groups:agri OR groups:tech")
    assert {p["name"] for p in found["results"]} == {PARCELS, EXCHANGES}
    found = await ckan(portal, "package_search", fq="+res_format:CSV -groups:gove")
    assert found["count"] == 3
    found = await ckan(portal, "package_search", fq='tags:"dân số" AND license_id:cc-by')
    assert [p["name"] for p in found["results"]] == [POPULATION]
    assert (await ckan(portal, "package_search", fq="nosuchfield:x"))["count"] == 0


async def test_rows_start_and_sort(portal: Any) -> None:
    everything = await ckan(portal, "package_search", sort="name asc", rows=1000)
    names = [p["name"] for p in everything["results"]]
    assert names == sorted(names)
    assert everything["count"] == 5
    assert everything["sort"] == "name asc"
    page = await ckan(portal, "package_search", sort="name asc", rows=2, start=1)
    assert [p["name"] for p in page["results"]] == names[1:3]
    newest = await ckan(portal, "package_search", sort="metadata_modified desc")
    stamps = [p["metadata_modified"] for p in newest["results"]]
    assert stamps == sorted(stamps, reverse=True)
    default = await ckan(portal, "package_search")
    assert default["sort"] == "score desc, metadata_modified desc"
    assert len(default["results"]) == 5


async def test_facets(portal: Any) -> None:
    found = await ckan(
        portal, "package_search", **{"facet.field": json.dumps(["organization", "groups"])}
    )
    assert found["facets"]["groups"] == {"agri": 1, "envi": 1, "gove": 2, "soci": 1, "tech": 1}
    items = found["search_facets"]["organization"]["items"]
    assert {i["display_name"] for i in items} >= {"Công an tỉnh Đồng Tháp"}
    shown = [i["display_name"] for i in items]
    assert shown == sorted(shown, reverse=True)
    limited = await ckan(portal, "package_search", facet_field=["groups"], **{"facet.limit": 2})
    assert len(limited["facets"]["groups"]) == 2


# -- datastore_search ----------------------------------------------------------------


async def test_datastore_filters_q_fields_sort_and_paging(portal: Any) -> None:
    rid = resource(portal, POPULATION, "JSON")["id"]
    everything = await ckan(portal, "datastore_search", resource_id=rid)
    assert everything["total"] == 8
    assert everything["limit"] == 100
    assert [f["id"] for f in everything["fields"]][:3] == ["_id", "maXa", "tenXa"]
    types = {f["id"]: f["type"] for f in everything["fields"]}
    assert types["soNguoi"] == "int"
    assert types["bi_an"] == "bool"
    women = await ckan(portal, "datastore_search", resource_id=rid, filters={"gioiTinh": "Nữ"})
    assert women["total"] == 4
    assert all(r["gioiTinh"] == "Nữ" for r in women["records"])
    by_text = await ckan(portal, "datastore_search", resource_id=rid, q="00-04")
    assert by_text["total"] == 2
    by_field = await ckan(portal, "datastore_search", resource_id=rid, q={"gioiTinh": "nam"})
    assert by_field["total"] == 4
    chosen = await ckan(
        portal,
        "datastore_search",
        resource_id=rid,
        fields=["nhomTuoi", "soNguoi"],
        sort="soNguoi desc",
        limit=2,
        offset=2,
    )
    assert [f["id"] for f in chosen["fields"]] == ["nhomTuoi", "soNguoi"]
    # PostgreSQL sorts nulls (the suppressed cells) first when descending.
    assert [r["soNguoi"] for r in chosen["records"]] == [130, 125]
    assert chosen["_links"]["next"].endswith(f"offset=4&resource_id={rid}")


# -- bad input: CKAN's error types and statuses, never a 500 -------------------------------


async def test_unknown_action_is_a_bad_request(portal: Any) -> None:
    r = await http(portal, "POST", "/api/3/action/nosuch_action", json={})
    assert r.status_code == 400
    assert r.json() == "Bad request: Action name not known: nosuch_action"
    with pytest.raises(ckanapi.CKANAPIError):
        await ckan(portal, "nosuch_action")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"rows": -1}, "rows", "Must be a natural number"),
        ({"rows": "x"}, "rows", "Invalid integer"),
        ({"start": -1}, "start", "Must be a natural number"),
        ({"sort": "nosuchfield desc"}, "sort", 'Unknown sort field "nosuchfield"'),
        ({"facet.field": "[not json"}, "facet.field", "Could not parse as valid JSON"),
    ],
)
async def test_bad_search_parameters_are_validation_errors(
    portal: Any, data: dict[str, Any], field: str, message: str
) -> None:
    error = await raises(portal, ckanapi.ValidationError, "package_search", **data)
    assert error.args[0][field] == [message]
    r = await http(portal, "POST", "/api/3/action/package_search", json=data)
    assert r.status_code == 409
    assert r.json()["error"]["__type"] == "Validation Error"


async def test_unparsable_queries_are_search_errors_as_solr_answers(portal: Any) -> None:
    for fq in ('title:"unclosed', "groups:(agri OR", "groups:", ":x", "a)"):
        await raises(portal, ckanapi.SearchError, "package_search", fq=fq)
        r = await http(portal, "POST", "/api/3/action/package_search", json={"fq": fq})
        assert r.status_code == 409, fq
    await raises(portal, ckanapi.SearchQueryError, "package_search", sort="name upwards")


async def test_unknown_things_are_not_found(portal: Any) -> None:
    await raises(portal, ckanapi.NotFound, "package_show", id="no-such-dataset")
    await raises(portal, ckanapi.NotFound, "resource_show", id="no-such-resource")
    await raises(portal, ckanapi.NotFound, "organization_show", id="nobody")
    await raises(portal, ckanapi.NotFound, "group_show", id="none")
    await raises(portal, ckanapi.NotFound, "datastore_search", resource_id="no-such-resource")
    r = await http(portal, "POST", "/api/3/action/package_show", json={"id": "nope"})
    assert r.status_code == 404
    assert r.json()["error"] == {"__type": "Not Found Error", "message": "Not found"}
    missing = await raises(portal, ckanapi.ValidationError, "package_show")
    assert missing.args[0]["id"] == ["Missing value"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"filters": {"nosuchfield": "x"}}, "filters"),
        ({"filters": "{not json"}, "filters"),
        ({"limit": -5}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"fields": ["nosuchfield"]}, "fields"),
        ({"sort": "nosuchfield desc"}, "sort"),
        ({"q": {"nosuchfield": "x"}}, "q"),
    ],
)
async def test_bad_datastore_parameters_are_validation_errors(
    portal: Any, data: dict[str, Any], field: str
) -> None:
    rid = resource(portal, POPULATION, "CSV")["id"]
    error = await raises(
        portal, ckanapi.ValidationError, "datastore_search", resource_id=rid, **data
    )
    assert field in error.args[0]
    r = await http(
        portal, "POST", "/api/3/action/datastore_search", json={"resource_id": rid, **data}
    )
    assert r.status_code == 409


async def test_malformed_bodies_are_bad_requests(portal: Any) -> None:
    for body in (b"{not json", b"[1, 2]"):
        r = await http(
            portal,
            "POST",
            "/api/3/action/package_search",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 400
        assert r.json().startswith("Bad request: JSON Error")
    r = await http(portal, "GET", "/api/3/action/lgsp_publish")
    assert r.status_code == 400
    assert "Please use POST method" in r.json()


# -- writes need the API token --------------------------------------------------------------


async def test_writes_without_or_with_a_wrong_token_are_refused(portal: Any) -> None:
    for token in (None, "not-the-token"):
        await raises(portal, ckanapi.NotAuthorized, "lgsp_publish", apikey=token)
        await raises(
            portal, ckanapi.NotAuthorized, "package_patch", id=PARCELS, title="x", apikey=token
        )
    r = await http(portal, "POST", "/api/3/action/lgsp_publish", json={})
    assert r.status_code == 403
    assert r.json()["error"]["__type"] == "Authorization Error"
    assert (await ckan(portal, "package_show", id=PARCELS))["title"] != "x"


async def test_package_patch_with_the_token(portal: Any) -> None:
    title = {"vi": "Thửa đất theo mục đích sử dụng", "en": "Parcels by land use"}
    patched = await ckan(
        portal,
        "package_patch",
        id=PARCELS,
        title=title["vi"],
        title_translated=title,
        apikey=DEMO_TOKEN,
    )
    assert patched["title_translated"] == title
    shown = await ckan(portal, "package_show", id=PARCELS)
    assert shown["title"] == title["vi"]
    # A patch of the metadata outlives the next publication.
    await ckan(portal, "lgsp_publish", apikey=DEMO_TOKEN)
    assert (await ckan(portal, "package_show", id=PARCELS))["title"] == title["vi"]
    # Sent the way CKAN's own JavaScript client sends it, too.
    r = await http(
        portal,
        "POST",
        "/api/3/action/package_patch",
        json={"id": PARCELS, "notes": "Ghi chú"},
        headers={"X-CKAN-API-Key": DEMO_TOKEN},
    )
    assert r.status_code == 200
    assert r.json()["result"]["notes"] == "Ghi chú"


async def test_lgsp_publish_publishes_at_once(portal: Any) -> None:
    _handle, warehouse = portal
    before = len(warehouse.calls)
    result = await ckan(portal, "lgsp_publish", apikey=DEMO_TOKEN)
    assert [d["published"] for d in result["datasets"]] == [True] * 5
    assert len(warehouse.calls) == before + 5


# -- DCAT ---------------------------------------------------------------------------------


def _parsed(text: str, fmt: str) -> Graph:
    return Graph().parse(data=text, format=fmt)


@pytest.mark.parametrize(
    ("suffix", "fmt"), [("ttl", "turtle"), ("jsonld", "json-ld"), ("rdf", "xml")]
)
async def test_the_catalog_in_dcat_ap(portal: Any, suffix: str, fmt: str) -> None:
    r = await http(portal, "GET", f"/catalog.{suffix}")
    assert r.status_code == 200
    g = _parsed(r.text, fmt)
    catalogs = list(g.subjects(ns.RDF.type, ns.DCAT.Catalog))
    assert len(catalogs) == 1
    datasets = list(g.objects(catalogs[0], ns.DCAT.dataset))
    assert len(datasets) == 5
    for node in datasets:
        titles = {t.language for t in g.objects(node, ns.DCTERMS.title) if isinstance(t, Literal)}
        assert titles == {"vi", "en"}
        for prop in (ns.DCTERMS.issued, ns.DCTERMS.modified):
            value = g.value(node, prop)
            assert isinstance(value, Literal)
            assert value.datatype == ns.XSD.dateTime
        assert str(g.value(node, ns.DCTERMS.accrualPeriodicity)).startswith(
            "http://publications.europa.eu/resource/authority/frequency/"
        )
        publisher = g.value(node, ns.DCTERMS.publisher)
        assert (publisher, ns.RDF.type, ns.FOAF.Agent) in g
        assert all(str(t).startswith(THEME) for t in g.objects(node, ns.DCAT.theme))
        distributions = list(g.objects(node, ns.DCAT.distribution))
        assert len(distributions) == 2
        for dist in distributions:
            assert (dist, ns.RDF.type, ns.DCAT.Distribution) in g
            assert g.value(dist, ns.DCAT.downloadURL) is not None
            assert g.value(dist, ns.DCTERMS["format"]) is not None
            assert g.value(dist, ns.DCAT.mediaType) is not None
            assert g.value(dist, ns.DCTERMS.license) == URIRef(
                "https://creativecommons.org/licenses/by/4.0/"
            )


async def test_one_dataset_in_dcat(portal: Any) -> None:
    for suffix, fmt in (("ttl", "turtle"), ("jsonld", "json-ld")):
        r = await http(portal, "GET", f"/dataset/{PARCELS}.{suffix}")
        g = _parsed(r.text, fmt)
        (node,) = g.subjects(ns.RDF.type, ns.DCAT.Dataset)
        assert {str(t) for t in g.objects(node, ns.DCAT.theme)} == {THEME + "AGRI", THEME + "ENVI"}
    assert (await http(portal, "GET", "/dataset/nope.ttl")).status_code == 404


# -- downloads and suppression --------------------------------------------------------------


async def download(portal: Any, name: str, fmt: str) -> str:
    r = await http(portal, "GET", resource(portal, name, fmt)["url"])
    assert r.status_code == 200
    return r.content.decode("utf-8-sig")


async def test_downloads(portal: Any) -> None:
    rows = list(csv.DictReader(io.StringIO(await download(portal, EXCHANGES, "CSV"))))
    assert [(r["ngay"], r["soLuot"]) for r in rows] == [
        ("2026-11-28", "150"),
        ("2026-11-29", "100"),
        ("2026-11-30", "90"),
    ]
    assert "client" not in rows[0]
    records = json.loads(await download(portal, EXCHANGES, "JSON"))
    assert records[0] == {
        "ngay": "2026-11-28",
        "service": "land.parcel.lookup",
        "soLuot": 150,
        "soLoi": None,
        "bi_an": True,
    }
    r = await http(portal, "GET", f"/dataset/{EXCHANGES}/resource/nope/download/x.csv")
    assert r.status_code == 404


def _served_numbers(text: str) -> set[str]:
    return set(re.findall(r"(?<![\w.-])\d+(?:\.\d+)?(?![\w.-])", text))


async def everything_served(portal: Any) -> str:
    """Every byte a user can get of the data: files, DataStore, DCAT, API."""
    texts = []
    for name in (DOSSIERS, PARCELS, POPULATION, EXCHANGES):
        for fmt in ("CSV", "JSON"):
            texts.append(await download(portal, name, fmt))
            found = await ckan(
                portal, "datastore_search", resource_id=resource(portal, name, fmt)["id"]
            )
            texts.append(json.dumps(found["records"], ensure_ascii=False))
        texts.append(json.dumps(await ckan(portal, "package_show", id=name), ensure_ascii=False))
        texts.append((await http(portal, "GET", f"/dataset/{name}.ttl")).text)
    texts.append((await http(portal, "GET", "/catalog.jsonld")).text)
    return "\n".join(texts)


async def test_small_counts_are_never_served(portal: Any) -> None:
    rid = resource(portal, POPULATION, "JSON")["id"]
    old = await ckan(portal, "datastore_search", resource_id=rid, filters={"nhomTuoi": "80+"})
    by_sex = {r["gioiTinh"]: r for r in old["records"]}
    # 3 men is suppressed; 9 women too, or the commune's total would give the 3 away.
    assert by_sex["Nam"]["soNguoi"] is None
    assert by_sex["Nam"]["bi_an"] is True
    assert by_sex["Nữ"]["soNguoi"] is None
    dossiers = await ckan(
        portal,
        "datastore_search",
        resource_id=resource(portal, DOSSIERS, "JSON")["id"],
        filters={"thang": "2026-09", "maXa": "30316"},
    )
    (row,) = dossiers["records"]
    # 3 late: hidden, and 27 on time with it (30 done = 27 + 3), and the rates made of them.
    assert row["soTreHan"] is None
    assert row["soDungHan"] is None
    assert row["tyLeDungHan"] is None
    assert row["soNgayTreTrungBinh"] is None
    assert row["soHoSo"] == 40
    assert row["bi_an"] is True
    served = await everything_served(portal)
    for cell in ('"soNguoi": 3', '"soThua": 3', '"soTreHan": 3', '"soLoi": 3', ",3,", ",3\n"):
        assert cell not in served.replace(" ,", ","), cell


async def test_a_total_never_gives_a_suppressed_cell_away(portal: Any) -> None:
    """Each published total, minus its published parts, is never a small count."""
    found = await ckan(
        portal, "datastore_search", resource_id=resource(portal, DOSSIERS, "JSON")["id"]
    )
    for r in found["records"]:
        for total, parts in (
            ("soDaGiaiQuyet", ("soDungHan", "soTreHan")),
            ("soHoSo", ("soDaGiaiQuyet", "soDangGiaiQuyet", "soTuChoiHoacRut")),
        ):
            hidden = [p for p in parts if r[p] is None]
            if r[total] is not None and len(hidden) == 1:
                pytest.fail(f"{hidden[0]} of row {r['_id']} is {total} minus the others")


# -- the publisher ----------------------------------------------------------------------------


async def test_a_warehouse_not_loaded_keeps_the_last_publication(tmp_path: Path) -> None:
    warehouse = FakeWarehouse()
    async with running_portal(warehouse, data_dir=tmp_path) as (_bus, handle, _):
        before = handle.catalog.packages[PARCELS]
        warehouse.unavailable.add("warehouse.parcels.land-use")
        warehouse.rows["warehouse.population.age-groups"][0]["soNguoi"] = 999
        outcomes = {o.dataset: o for o in await handle.publish()}
        assert outcomes[PARCELS].published is False
        assert "503" in outcomes[PARCELS].reason
        assert handle.catalog.packages[PARCELS] == before
        population = handle.catalog.tables[resource((handle, warehouse), POPULATION, "JSON")["id"]]
        assert population.records[0]["soNguoi"] == 999
    # A restart serves the last publication before the warehouse answers.
    warehouse.unavailable.update(warehouse.rows)
    async with running_portal(warehouse, data_dir=tmp_path) as (_bus, handle, _):
        assert not any(o.published for o in handle.publisher.last_run)
        shown = await ckan((handle, warehouse), "package_show", id=PARCELS)
        assert shown["metadata_modified"] == before["metadata_modified"]
        assert shown["resources"][0]["url"].startswith(handle.url)


async def test_the_test_kits_sidecar_publishes_when_told() -> None:
    """In a test's bus the portal makes no exchange of its own (the exchange
    log holds only the test's); told, it publishes as the demo client."""
    from lgsp.testing import running_bus

    warehouse = FakeWarehouse()
    async with running_bus(installed=False, adapters=[warehouse.adapter]) as bus:
        handle = bus.sidecar("opendata", OpenDataPortal)
        assert handle.url != "http://127.0.0.1:8095"
        assert warehouse.calls == []
        assert await ckan((handle, warehouse), "package_list") == []
        await ckan((handle, warehouse), "lgsp_publish", apikey=DEMO_TOKEN)
        assert handle.publisher.complete
        found = await ckan((handle, warehouse), "package_search", q="LGSP")
        assert [p["name"] for p in found["results"]] == [EXCHANGES]
