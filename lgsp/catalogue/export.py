"""Contracts as a product: the exported JSON Schemas and examples of every
service and topic version.

The export is the registry's own schemas (those the gateway serves and
enforces), one file per version, rendered deterministically so that it can be
checked in and reviewed::

    index.json                        every version and its file
    services/<service>/v<N>.json      request and response schemas, errors, examples
    topics/<topic>/v<N>.json          payload schema, examples

:mod:`lgsp.catalogue.compat` tells a compatible change between two exports
from a breaking one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lgsp.catalogue.documents import Document, service_version, topic_version
from lgsp.catalogue.registry import Registry

SERVICES = "services"
TOPICS = "topics"
INDEX = "index.json"


def export_documents(registry: Registry) -> dict[str, Document]:
    """Every file of the export, by path relative to the export directory."""
    documents: dict[str, Document] = {}
    services: list[Document] = []
    topics: list[Document] = []
    for name, versions in registry.services.items():
        for c in versions:
            path = f"{SERVICES}/{name}/v{c.version}.json"
            documents[path] = {
                "service": c.service,
                "version": c.version,
                "owner": c.owner,
                "description": c.description,
                **service_version(c, registry.schemas[(c.service, c.version)]),
            }
            services.append(
                {"service": c.service, "version": c.version, "owner": c.owner, "path": path}
            )
    for name, topic_versions in registry.topics.items():
        for t in topic_versions:
            path = f"{TOPICS}/{name}/v{t.version}.json"
            documents[path] = {
                "topic": t.topic,
                "version": t.version,
                "owner": t.owner,
                "description": t.description,
                # The same document the gateway's catalogue serves for topics.
                **topic_version(t),
            }
            topics.append({"topic": t.topic, "version": t.version, "owner": t.owner, "path": path})
    documents[INDEX] = {"services": services, "topics": topics}
    return documents


def render(document: Document) -> bytes:
    """The one byte-exact rendering of an exported file: sorted keys, 2-space
    indent, UTF-8 (Vietnamese stays readable), trailing newline."""
    return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


@dataclass(frozen=True)
class ExportResult:
    """What :func:`write_export` did, as paths relative to the directory."""

    written: tuple[str, ...]
    removed: tuple[str, ...]


def write_export(registry: Registry, directory: Path) -> ExportResult:
    """Write the export into ``directory``; files under ``services/`` and
    ``topics/`` the export did not produce are deleted, so that a removed
    version shows up as a diff. Other files of the directory are left alone."""
    documents = export_documents(registry)
    for relative, document in documents.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        content = render(document)
        # Unchanged files keep their timestamps.
        if not target.is_file() or target.read_bytes() != content:
            target.write_bytes(content)
    removed: list[str] = []
    for sub in (SERVICES, TOPICS):
        root = directory / sub
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*"), reverse=True):
            relative = path.relative_to(directory).as_posix()
            if path.is_dir():
                if not any(path.iterdir()):
                    path.rmdir()
            elif relative not in documents:
                path.unlink()
                removed.append(relative)
    return ExportResult(written=tuple(sorted(documents)), removed=tuple(sorted(removed)))


def load_export(directory: Path) -> dict[str, Document]:
    """The contract files of an export directory, by relative path (the index
    is left out: the diff reads the files themselves)."""
    if not (directory / INDEX).is_file():
        raise ValueError(f"{directory} is not a contracts export (no {INDEX})")
    documents: dict[str, Document] = {}
    for sub in (SERVICES, TOPICS):
        for path in sorted((directory / sub).glob("*/v*.json")):
            relative = path.relative_to(directory).as_posix()
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{relative}: not JSON ({exc})") from exc
            if not isinstance(document, dict):
                raise ValueError(f"{relative}: not a JSON object")
            documents[relative] = document
    return documents
