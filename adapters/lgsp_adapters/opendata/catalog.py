"""What the portal publishes now: for each dataset its last publication
(the de-identified rows and when), the CKAN dictionaries built from it
(package, resources, organisation, groups), its DataStore tables and its
download files. Kept in memory, and in ``<data_dir>/catalog.json`` when the
portal has a data folder, so a restart serves the last publication.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lgsp_adapters.opendata.datasets import (
    BY_NAME,
    DATASETS,
    FREQUENCY,
    GROUPS,
    ORGANIZATIONS,
    SUPPRESSED,
    Dataset,
    Row,
)

NAMESPACE = uuid.UUID("6f1c8b1e-4b7a-4c55-9a55-0d0e1a5b7f31")
LICENSE = {
    "license_id": "cc-by",
    "license_title": "Creative Commons Attribution 4.0",
    "license_url": "https://creativecommons.org/licenses/by/4.0/",
}
# Editable through package_patch: metadata only; the data comes from the publisher.
PATCHABLE = frozenset(
    {
        "title",
        "notes",
        "title_translated",
        "notes_translated",
        "tags",
        "version",
        "url",
        "author",
        "author_email",
        "maintainer",
        "maintainer_email",
        "license_id",
        "license_title",
        "license_url",
    }
)
FORMATS = {"csv": ("CSV", "text/csv"), "json": ("JSON", "application/json")}


def ckan_time(at: dt.datetime) -> str:
    """CKAN's timestamps: UTC, ISO 8601 with microseconds, no offset."""
    return at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def stable_id(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, ":".join(parts)))


def resource_id(dataset: str, fmt: str) -> str:
    return stable_id(dataset, "resource", fmt)


@dataclass
class Publication:
    """One dataset's last publication."""

    rows: list[Row]
    created: str
    modified: str
    source_updated: str | None
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Download:
    filename: str
    content_type: str
    body: bytes


@dataclass(eq=False)
class Table:
    """A DataStore table: its fields (``_id`` first) and records (a new
    table per publication: the DataStore indexes each once, by identity)."""

    resource_id: str
    fields: list[dict[str, Any]]
    records: list[Row]


@dataclass(frozen=True)
class Rendered:
    """A publication's rows as the portal serves them: the DataStore's
    records and the two downloads. Pure work over the rows, so a publisher
    may make it off the event loop (:func:`render`)."""

    records: list[Row]
    csv: bytes
    json: bytes


def render(dataset: Dataset, rows: Sequence[Row]) -> Rendered:
    """What :class:`Catalog` serves of ``rows`` (already de-identified)."""
    records = [{"_id": i + 1, **row} for i, row in enumerate(rows)]
    return Rendered(records, _csv(dataset, rows), _json(rows))


class Catalog:
    """The published datasets, rebuilt into CKAN's dictionaries on change."""

    def __init__(self, site_url: str = "", path: Path | None = None) -> None:
        self.site_url = site_url.rstrip("/")
        self.path = path
        self.publications: dict[str, Publication] = {}
        self.packages: dict[str, dict[str, Any]] = {}
        self.resources: dict[str, dict[str, Any]] = {}
        self.tables: dict[str, Table] = {}
        self.downloads: dict[str, Download] = {}
        self._rendered: dict[str, Rendered] = {}
        if path is not None and path.exists():
            self._load(path)

    # -- changes --------------------------------------------------------------

    def publish(
        self,
        dataset: Dataset,
        rows: list[Row],
        *,
        now: dt.datetime,
        source_updated: str | None,
        rendered: Rendered | None = None,
    ) -> bool:
        """Replace the dataset's publication (``rows`` already de-identified;
        ``rendered``, their :func:`render`, when made already); returns
        whether anything changed."""
        before = self.publications.get(dataset.name)
        if before is not None and before.rows == rows and before.source_updated == source_updated:
            return False  # Nothing changed: metadata_modified says when the data did.
        stamp = ckan_time(now)
        self.publications[dataset.name] = Publication(
            rows,
            created=before.created if before else stamp,
            modified=stamp,
            source_updated=source_updated,
            overrides=before.overrides if before else {},
        )
        self._rendered[dataset.name] = rendered or render(dataset, rows)
        self._build(dataset)
        return True

    def patch(self, name: str, changes: dict[str, Any], *, now: dt.datetime) -> dict[str, Any]:
        publication = self.publications[name]
        publication.overrides.update({k: v for k, v in changes.items() if k in PATCHABLE})
        publication.modified = ckan_time(now)
        self._build(BY_NAME[name])
        return self.packages[name]

    def rebase(self, site_url: str) -> None:
        """Serve from ``site_url`` (known once the port is bound)."""
        self.site_url = site_url.rstrip("/")
        for name in self.publications:
            self._build(BY_NAME[name])

    # -- lookups --------------------------------------------------------------

    def package(self, id_or_name: str) -> dict[str, Any] | None:
        found = self.packages.get(id_or_name)
        if found is None:
            found = next((p for p in self.packages.values() if p["id"] == id_or_name), None)
        return found

    def organizations(self) -> list[dict[str, Any]]:
        return [self._organization(o.name) for o in ORGANIZATIONS]

    def organization(self, id_or_name: str) -> dict[str, Any] | None:
        return next((o for o in self.organizations() if id_or_name in (o["id"], o["name"])), None)

    def groups(self) -> list[dict[str, Any]]:
        return [self._group(g.name) for g in GROUPS]

    def group(self, id_or_name: str) -> dict[str, Any] | None:
        return next((g for g in self.groups() if id_or_name in (g["id"], g["name"])), None)

    # -- building -------------------------------------------------------------

    def _organization(self, name: str) -> dict[str, Any]:
        org = next(o for o in ORGANIZATIONS if o.name == name)
        count = sum(1 for p in self.packages.values() if p["organization"]["name"] == name)
        return {
            "id": stable_id("organization", name),
            "name": name,
            "title": org.title,
            "display_name": org.title,
            "title_translated": {"vi": org.title, "en": org.title_en},
            "description": org.description,
            "type": "organization",
            "is_organization": True,
            "state": "active",
            "approval_status": "approved",
            "image_url": "",
            "image_display_url": "",
            "created": "2025-07-01T00:00:00.000000",
            "package_count": count,
            "num_followers": 0,
        }

    def _group(self, name: str) -> dict[str, Any]:
        group = next(g for g in GROUPS if g.name == name)
        count = sum(
            1 for p in self.packages.values() if any(g["name"] == name for g in p["groups"])
        )
        return {
            "id": stable_id("group", name),
            "name": name,
            "title": group.title,
            "display_name": group.title,
            "title_translated": {"vi": group.title, "en": group.title_en},
            "description": f"DCAT-AP data theme {group.theme}",
            "theme_uri": f"http://publications.europa.eu/resource/authority/data-theme/{group.theme}",
            "type": "group",
            "is_organization": False,
            "state": "active",
            "approval_status": "approved",
            "image_url": "",
            "image_display_url": "",
            "created": "2025-07-01T00:00:00.000000",
            "package_count": count,
            "num_followers": 0,
        }

    def _build(self, dataset: Dataset) -> None:
        publication = self.publications[dataset.name]
        package_id = stable_id(dataset.name)
        for old in [r for r, res in self.resources.items() if res["package_id"] == package_id]:
            del self.resources[old]
        resources = []
        fields = (
            [{"id": "_id", "type": "int"}]
            + [
                {"id": c.id, "type": c.type, "info": {"label": c.label_vi, "notes": c.label_en}}
                for c in dataset.columns
            ]
            + [
                {
                    "id": SUPPRESSED,
                    "type": "bool",
                    "info": {"label": "Bị ẩn", "notes": "A count of this row was suppressed"},
                }
            ]
        )
        rendered = self._rendered.get(dataset.name)
        if rendered is None:
            rendered = self._rendered[dataset.name] = render(dataset, publication.rows)
        records = rendered.records
        for position, (fmt, body) in enumerate((("csv", rendered.csv), ("json", rendered.json))):
            rid = resource_id(dataset.name, fmt)
            label, mimetype = FORMATS[fmt]
            filename = f"{dataset.name}.{fmt}"
            self.downloads[rid] = Download(filename, mimetype, body)
            self.tables[rid] = Table(rid, fields, records)
            resource = {
                "id": rid,
                "package_id": package_id,
                "name": f"{dataset.title_vi} ({label})",
                "description": f"{dataset.title_en} — {label}",
                "format": label,
                "mimetype": mimetype,
                "url": f"{self.site_url}/dataset/{dataset.name}/resource/{rid}/download/{filename}",
                "url_type": "upload",
                "size": len(body),
                "hash": "",
                "state": "active",
                "position": position,
                "created": publication.created,
                "last_modified": publication.modified,
                "metadata_modified": publication.modified,
                "datastore_active": True,
                "resource_type": None,
                "cache_url": None,
                "mimetype_inner": None,
            }
            self.resources[rid] = resource
            resources.append(resource)
        organization = self._organization(dataset.organization)
        organization.pop("package_count")
        groups = [
            {
                k: g[k]
                for k in ("id", "name", "title", "display_name", "description", "image_display_url")
            }
            for g in (self._group(n) for n in dataset.groups)
        ]
        tags = [
            {
                "id": stable_id("tag", t),
                "name": t,
                "display_name": t,
                "state": "active",
                "vocabulary_id": None,
            }
            for t in dataset.tags
        ]
        extras = [
            {"key": "frequency", "value": FREQUENCY + dataset.frequency},
            {"key": "source_service", "value": dataset.service},
            {"key": "source_updated", "value": publication.source_updated or ""},
            {"key": "language", "value": "vi,en"},
            {"key": "chart", "value": json.dumps(dataset.chart)},
        ]
        package: dict[str, Any] = {
            "id": package_id,
            "name": dataset.name,
            "title": dataset.title_vi,
            "notes": dataset.notes_vi,
            "title_translated": {"vi": dataset.title_vi, "en": dataset.title_en},
            "notes_translated": {"vi": dataset.notes_vi, "en": dataset.notes_en},
            "type": "dataset",
            "state": "active",
            "private": False,
            "isopen": True,
            **LICENSE,
            "url": "",
            "version": "",
            "author": organization["title"],
            "author_email": None,
            "maintainer": organization["title"],
            "maintainer_email": None,
            "owner_org": organization["id"],
            "organization": organization,
            "groups": groups,
            "tags": tags,
            "num_tags": len(tags),
            "extras": extras,
            "resources": resources,
            "num_resources": len(resources),
            "metadata_created": publication.created,
            "metadata_modified": publication.modified,
            "creator_user_id": stable_id("user", "lgsp-publisher"),
            "relationships_as_object": [],
            "relationships_as_subject": [],
        }
        package.update(publication.overrides)
        if "tags" in publication.overrides:
            package["num_tags"] = len(package["tags"])
        self.packages[dataset.name] = package

    # -- persistence ----------------------------------------------------------

    def snapshot(self) -> bytes:
        return json.dumps(
            {name: vars(p) for name, p in self.publications.items()}, ensure_ascii=False
        ).encode()

    def save(self) -> None:
        """Write the publications (blocking: run it off the event loop)."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_bytes(self.snapshot())
        os.replace(temporary, self.path)

    def _load(self, path: Path) -> None:
        stored = json.loads(path.read_bytes())
        for name, publication in stored.items():
            if name in BY_NAME:
                self.publications[name] = Publication(**publication)
                self._build(BY_NAME[name])


def _csv(dataset: Dataset, rows: Sequence[Row]) -> bytes:
    out = io.StringIO()
    columns = [*dataset.column_ids, SUPPRESSED]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _cell(row.get(c)) for c in columns})
    # With a byte-order mark: spreadsheets then read Vietnamese correctly.
    return ("\ufeff" + out.getvalue()).encode()


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _json(rows: Sequence[Row]) -> bytes:
    return json.dumps(rows, ensure_ascii=False, indent=1).encode()


__all__ = ["DATASETS", "Catalog", "Download", "Publication", "Table"]
