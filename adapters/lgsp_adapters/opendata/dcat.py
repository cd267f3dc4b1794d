"""DCAT-AP metadata of the catalogue and its datasets, as ckanext-dcat
serves it (``/catalog.ttl``, ``/catalog.jsonld``, ``/dataset/{name}.ttl``):
built as an rdflib graph, serialised as Turtle, JSON-LD or RDF/XML."""

from __future__ import annotations

from typing import Any

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

from lgsp_adapters.opendata.catalog import Catalog
from lgsp_adapters.opendata.datasets import BY_NAME, FREQUENCY, GROUPS, THEME

ADMS = Namespace("http://www.w3.org/ns/adms#")
LANG = "http://publications.europa.eu/resource/authority/language/"
FORMATS = {
    "csv": "http://publications.europa.eu/resource/authority/file-type/CSV",
    "json": "http://publications.europa.eu/resource/authority/file-type/JSON",
}
MEDIA_TYPES = {
    "text/csv": "https://www.iana.org/assignments/media-types/text/csv",
    "application/json": "https://www.iana.org/assignments/media-types/application/json",
}
SERIALISATIONS = {
    "ttl": ("turtle", "text/turtle"),
    "jsonld": ("json-ld", "application/ld+json"),
    "rdf": ("xml", "application/rdf+xml"),
}


def _time(value: str) -> Literal:
    return Literal(value, datatype=XSD.dateTime)


def graph(catalog: Catalog, names: list[str] | None = None) -> Graph:
    """The catalogue with the named datasets (all when None)."""
    g = Graph()
    g.bind("dcat", DCAT)
    g.bind("dct", DCTERMS)
    g.bind("foaf", FOAF)
    site = catalog.site_url
    root = URIRef(f"{site}/catalog")
    g.add((root, RDF.type, DCAT.Catalog))
    g.add((root, DCTERMS.title, Literal("Cổng dữ liệu mở tỉnh Đồng Tháp", lang="vi")))
    g.add((root, DCTERMS.title, Literal("Đồng Tháp province open data portal", lang="en")))
    g.add(
        (
            root,
            DCTERMS.description,
            Literal(
                "Dữ liệu tổng hợp, đã khử định danh, từ kho dữ liệu dùng chung của tỉnh.", lang="vi"
            ),
        )
    )
    g.add(
        (
            root,
            DCTERMS.description,
            Literal(
                "Aggregated, de-identified data from the province's shared data warehouse.",
                lang="en",
            ),
        )
    )
    g.add((root, FOAF.homepage, URIRef(f"{site}/dataset")))
    g.add((root, DCTERMS.language, URIRef(LANG + "VIE")))
    g.add((root, DCTERMS.language, URIRef(LANG + "ENG")))
    publisher = URIRef(f"{site}/organization/so-khoa-hoc-va-cong-nghe-dong-thap")
    g.add((root, DCTERMS.publisher, publisher))
    _agent(g, publisher, "Sở Khoa học và Công nghệ tỉnh Đồng Tháp")
    modified = [p["metadata_modified"] for p in catalog.packages.values()]
    if modified:
        g.add((root, DCTERMS.modified, _time(max(modified))))
    for name in names if names is not None else sorted(catalog.packages):
        package = catalog.packages[name]
        g.add((root, DCAT.dataset, _dataset(g, site, package)))
    return g


def _agent(g: Graph, node: URIRef, name: str) -> None:
    g.add((node, RDF.type, FOAF.Agent))
    g.add((node, FOAF.name, Literal(name, lang="vi")))


def _dataset(g: Graph, site: str, package: dict[str, Any]) -> URIRef:
    node = URIRef(f"{site}/dataset/{package['id']}")
    definition = BY_NAME[package["name"]]
    g.add((node, RDF.type, DCAT.Dataset))
    g.add((node, DCTERMS.identifier, Literal(package["id"])))
    for lang, text in package["title_translated"].items():
        g.add((node, DCTERMS.title, Literal(text, lang=lang)))
    for lang, text in package["notes_translated"].items():
        g.add((node, DCTERMS.description, Literal(text, lang=lang)))
    g.add((node, DCAT.landingPage, URIRef(f"{site}/dataset/{package['name']}")))
    g.add((node, DCTERMS.issued, _time(package["metadata_created"])))
    g.add((node, DCTERMS.modified, _time(package["metadata_modified"])))
    g.add((node, DCTERMS.accrualPeriodicity, URIRef(FREQUENCY + definition.frequency)))
    g.add((node, DCTERMS.language, URIRef(LANG + "VIE")))
    for tag in package["tags"]:
        g.add((node, DCAT.keyword, Literal(tag["name"])))
    themes = {g_.name: g_.theme for g_ in GROUPS}
    for group in package["groups"]:
        g.add((node, DCAT.theme, URIRef(THEME + themes[group["name"]])))
    org = package["organization"]
    agent = URIRef(f"{site}/organization/{org['name']}")
    g.add((node, DCTERMS.publisher, agent))
    _agent(g, agent, org["title"])
    license_ = URIRef(package["license_url"])
    g.add((license_, RDF.type, DCTERMS.LicenseDocument))
    for resource in package["resources"]:
        dist = URIRef(f"{site}/dataset/{package['id']}/resource/{resource['id']}")
        g.add((node, DCAT.distribution, dist))
        g.add((dist, RDF.type, DCAT.Distribution))
        g.add((dist, DCTERMS.title, Literal(resource["name"], lang="vi")))
        g.add((dist, DCAT.accessURL, URIRef(resource["url"])))
        g.add((dist, DCAT.downloadURL, URIRef(resource["url"])))
        fmt = resource["format"].lower()
        g.add((dist, DCTERMS["format"], URIRef(FORMATS[fmt])))
        g.add((dist, DCAT.mediaType, URIRef(MEDIA_TYPES[resource["mimetype"]])))
        g.add((dist, DCTERMS.license, license_))
        g.add((dist, DCAT.byteSize, Literal(resource["size"], datatype=XSD.nonNegativeInteger)))
        g.add((dist, DCTERMS.issued, _time(resource["created"])))
        g.add((dist, DCTERMS.modified, _time(resource["last_modified"])))
    g.add((node, DCTERMS.license, license_))
    return node


def serialise(g: Graph, suffix: str) -> tuple[bytes, str]:
    """The graph in the serialisation of a path suffix (ttl, jsonld, rdf)."""
    fmt, media_type = SERIALISATIONS[suffix]
    text = g.serialize(format=fmt)
    return text.encode(), media_type
