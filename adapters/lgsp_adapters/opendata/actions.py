"""The CKAN actions the portal answers: each takes the request's data dict
and returns the action's ``result``, or raises one of :mod:`.errors`.
Read actions are ``side_effect_free`` (GET with URL parameters works, as in
CKAN); writes need the API token."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from lgsp_adapters.opendata import datastore, search
from lgsp_adapters.opendata.catalog import LICENSE, Catalog
from lgsp_adapters.opendata.errors import NotAuthorized, NotFound, ValidationError

CKAN_VERSION = "2.11.3"
ROWS_MAX = 1000
EXTENSIONS = ["datastore", "dcat", "fluent", "lgsp_publish"]


class Runs(Protocol):
    async def run(self) -> list[Any]: ...


@dataclass
class Portal:
    """What the actions work on."""

    catalog: Catalog
    publisher: Runs
    api_token: str
    site_title: str = "Cổng dữ liệu mở tỉnh Đồng Tháp"


@dataclass(frozen=True)
class Call:
    data: dict[str, Any]
    authorized: bool


Action = Callable[[Portal, Call], Awaitable[Any]]


@dataclass(frozen=True)
class Registered:
    fn: Action
    side_effect_free: bool


ACTIONS: dict[str, Registered] = {}


def action(name: str, *, side_effect_free: bool = True) -> Callable[[Action], Action]:
    def register(fn: Action) -> Action:
        ACTIONS[name] = Registered(fn, side_effect_free)
        return fn

    return register


def _required(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None or value == "":
        raise ValidationError({key: ["Missing value"]})
    return str(value)


def _boolean(data: dict[str, Any], key: str) -> bool:
    return str(data.get(key, False)).lower() in ("true", "1", "yes", "on")


# -- datasets -------------------------------------------------------------------


@action("package_list")
async def package_list(portal: Portal, call: Call) -> list[str]:
    limit = datastore.natural(call.data, "limit", 0) or None
    offset = datastore.natural(call.data, "offset", 0)
    names = sorted(portal.catalog.packages)
    return names[offset : offset + limit if limit else None]


@action("package_show")
async def package_show(portal: Portal, call: Call) -> dict[str, Any]:
    package = portal.catalog.package(_required(call.data, "id"))
    if package is None:
        raise NotFound()
    return package


@action("package_search")
async def package_search(portal: Portal, call: Call) -> dict[str, Any]:
    data = call.data
    rows = min(datastore.natural(data, "rows", 10), ROWS_MAX)
    start = datastore.natural(data, "start", 0)
    mincount = datastore.natural(data, "facet.mincount", 1)
    limit_raw = data.get("facet.limit", 50)
    try:
        facet_limit = int(limit_raw)
    except (TypeError, ValueError):
        raise ValidationError({"facet.limit": ["Invalid integer"]}) from None
    facet_fields = data.get("facet.field", data.get("facet_field", []))
    if isinstance(facet_fields, str):
        try:
            facet_fields = json.loads(facet_fields)
        except ValueError:
            raise ValidationError({"facet.field": ["Could not parse as valid JSON"]}) from None
    if not isinstance(facet_fields, list) or not all(isinstance(f, str) for f in facet_fields):
        raise ValidationError({"facet.field": ["Not a list"]})
    for key in ("q", "fq", "sort"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValidationError({key: ["Must be a string"]})
    sort_text = data.get("sort") or search.DEFAULT_SORT
    keys = search.parse_sort(sort_text)
    q = (data.get("q") or "").strip() or "*:*"
    query = search.parse(q)
    fq = search.parse(data.get("fq") or "")
    # The ckanext-fluent field names, as CKAN answers them in the facets.
    include_private = _boolean(data, "include_private")
    found: list[tuple[dict[str, Any], float]] = []
    docs = []
    for package in portal.catalog.packages.values():
        if package.get("private") and not include_private:
            continue
        doc = search.document(package)
        score = search.evaluate(query, doc)
        if score is None or search.evaluate(fq, doc) is None:
            continue
        found.append((package, score))
        docs.append(doc)
    ranked = search.ordered(found, keys)
    facets = search.facet_counts(docs, facet_fields, facet_limit, mincount)

    def title(field: str, value: str) -> str:
        if field == "organization":
            org = portal.catalog.organization(value)
            return org["title"] if org else value
        if field == "groups":
            group = portal.catalog.group(value)
            return group["title"] if group else value
        if field == "license_id" and value == LICENSE["license_id"]:
            return LICENSE["license_title"]
        return value

    return {
        "count": len(ranked),
        "facets": facets,
        "results": [p for p, _ in ranked[start : start + rows]],
        "sort": sort_text,
        "search_facets": search.search_facets(facets, title),
    }


@action("package_patch", side_effect_free=False)
async def package_patch(portal: Portal, call: Call) -> dict[str, Any]:
    if not call.authorized:
        raise NotAuthorized("User  not authorized to edit package")
    package = portal.catalog.package(_required(call.data, "id"))
    if package is None:
        raise NotFound()
    for key in ("title_translated", "notes_translated"):
        value = call.data.get(key)
        if value is not None and not (
            isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        ):
            raise ValidationError({key: ["expecting a JSON object of language: text"]})
    if "tags" in call.data:
        tags = call.data["tags"]
        if not isinstance(tags, list) or not all(
            isinstance(t, dict) and isinstance(t.get("name"), str) for t in tags
        ):
            raise ValidationError({"tags": ['expecting a list of {"name": ...}']})
        call.data["tags"] = [
            {
                "id": None,
                "name": t["name"],
                "display_name": t["name"],
                "state": "active",
                "vocabulary_id": None,
            }
            for t in tags
        ]
    return portal.catalog.patch(package["name"], call.data, now=dt.datetime.now(dt.UTC))


# -- organisations, groups, resources ---------------------------------------------


def _listing(items: list[dict[str, Any]], data: dict[str, Any]) -> list[Any]:
    if _boolean(data, "all_fields"):
        return items
    return [item["name"] for item in items]


@action("organization_list")
async def organization_list(portal: Portal, call: Call) -> list[Any]:
    return _listing(portal.catalog.organizations(), call.data)


@action("group_list")
async def group_list(portal: Portal, call: Call) -> list[Any]:
    return _listing(portal.catalog.groups(), call.data)


def _with_packages(portal: Portal, item: dict[str, Any], data: dict[str, Any], key: str) -> Any:
    shown = dict(item)
    if str(data.get("include_datasets", False)).lower() in ("true", "1"):
        shown["packages"] = [
            p
            for p in portal.catalog.packages.values()
            if (
                p["organization"]["name"] == item["name"]
                if key == "organization"
                else any(g["name"] == item["name"] for g in p["groups"])
            )
        ]
    shown.setdefault("users", [])
    shown.setdefault("extras", [])
    shown.setdefault("tags", [])
    shown.setdefault("groups", [])
    return shown


@action("organization_show")
async def organization_show(portal: Portal, call: Call) -> dict[str, Any]:
    org = portal.catalog.organization(_required(call.data, "id"))
    if org is None:
        raise NotFound("Organization was not found.")
    return _with_packages(portal, org, call.data, "organization")  # type: ignore[no-any-return]


@action("group_show")
async def group_show(portal: Portal, call: Call) -> dict[str, Any]:
    group = portal.catalog.group(_required(call.data, "id"))
    if group is None:
        raise NotFound("Group was not found.")
    return _with_packages(portal, group, call.data, "group")  # type: ignore[no-any-return]


@action("resource_show")
async def resource_show(portal: Portal, call: Call) -> dict[str, Any]:
    resource = portal.catalog.resources.get(_required(call.data, "id"))
    if resource is None:
        raise NotFound("Resource was not found.")
    return resource


@action("datastore_search")
async def datastore_search(portal: Portal, call: Call) -> dict[str, Any]:
    resource_id = _required(call.data, "resource_id")
    table = portal.catalog.tables.get(resource_id)
    if table is None:
        raise NotFound(f'Resource "{resource_id}" was not found.')
    return datastore.search(table, call.data, resource_id=resource_id)


# -- the site ------------------------------------------------------------------------


@action("status_show")
async def status_show(portal: Portal, call: Call) -> dict[str, Any]:
    return {
        "ckan_version": CKAN_VERSION,
        "site_url": portal.catalog.site_url,
        "site_description": "Dữ liệu mở của tỉnh Đồng Tháp: tổng hợp, đã khử định danh "
        "(the province's open data: aggregated, de-identified)",
        "site_title": portal.site_title,
        "error_emails_to": None,
        "locale_default": "vi",
        "extensions": EXTENSIONS,
    }


@action("help_show")
async def help_show(portal: Portal, call: Call) -> str:
    name = _required(call.data, "name")
    if name not in ACTIONS:
        raise NotFound(f"Action function not found: {name}")
    return (ACTIONS[name].fn.__doc__ or f"The CKAN action {name}.").strip()


@action("lgsp_publish", side_effect_free=False)
async def lgsp_publish(portal: Portal, call: Call) -> dict[str, Any]:
    """Publish every dataset from the warehouse now (the portal's own action)."""
    if not call.authorized:
        raise NotAuthorized("User  not authorized to publish")
    outcomes = await portal.publisher.run()
    return {"datasets": [o.as_dict() for o in outcomes]}
