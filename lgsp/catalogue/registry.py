"""The contract registry: every service and topic version the bus knows.

Contracts are loaded from the ``lgsp.contracts`` entry point group (the
project's own :mod:`lgsp_contracts` is one), so a deployment adds its agencies'
contracts by installing a package. JSON Schemas and each version's fingerprint
are computed once here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import cached_property
from importlib.metadata import entry_points
from typing import Any

from lgsp.catalogue import documents
from lgsp.errors import UnknownService
from lgsp_contracts.spec import Catalogue, ServiceContract, TopicContract


class Registry:
    """Service and topic contracts by name and version."""

    def __init__(self, catalogues: Iterable[Catalogue]) -> None:
        services: dict[str, dict[int, ServiceContract]] = {}
        topics: dict[str, dict[int, TopicContract]] = {}
        for catalogue in catalogues:
            for s in catalogue.services:
                if s.version in services.setdefault(s.service, {}):
                    raise ValueError(f"{s.service} v{s.version} is declared twice")
                services[s.service][s.version] = s
            for t in catalogue.topics:
                if t.version in topics.setdefault(t.topic, {}):
                    raise ValueError(f"{t.topic} v{t.version} is declared twice")
                topics[t.topic][t.version] = t
        self._services = {
            name: tuple(v[k] for k in sorted(v)) for name, v in sorted(services.items())
        }
        self._topics = {name: tuple(v[k] for k in sorted(v)) for name, v in sorted(topics.items())}
        # The hot path looks up (service, version|None) on every call.
        self._by_key: dict[tuple[str, int | None], ServiceContract] = {}
        for name, versions in self._services.items():
            self._by_key[(name, None)] = versions[-1]
            for c in versions:
                self._by_key[(name, c.version)] = c

    @classmethod
    def from_entry_points(
        cls, group: str = "lgsp.contracts", *, extra: Iterable[Catalogue] = ()
    ) -> Registry:
        """The installed catalogues, plus ``extra`` ones not installed (e.g.
        the contracts of an adapter under test); one given twice counts once."""
        installed = installed_catalogues(group)
        return cls([*installed, *(c for c in extra if not any(c is i for i in installed))])

    def service(self, name: str, version: int | None = None) -> ServiceContract:
        """The contract of a service version (newest when ``version`` is None)."""
        contract = self._by_key.get((name, version))
        if contract is None:
            if name in self._services:
                raise UnknownService(f"{name} has no version {version}")
            raise UnknownService(f"no service named {name!r}")
        return contract

    def topic(self, name: str, version: int | None = None) -> TopicContract:
        versions = self._topics.get(name)
        if versions is None:
            raise UnknownService(f"no topic named {name!r}")
        if version is None:
            return versions[-1]
        for t in versions:
            if t.version == version:
                return t
        raise UnknownService(f"{name} has no version {version}")

    @property
    def services(self) -> dict[str, tuple[ServiceContract, ...]]:
        return self._services

    @property
    def topics(self) -> dict[str, tuple[TopicContract, ...]]:
        return self._topics

    @cached_property
    def schemas(self) -> dict[tuple[str, int], tuple[dict[str, Any], dict[str, Any]]]:
        """(request schema, response schema) of every service version."""
        return {
            (c.service, c.version): (
                c.request.model_json_schema(),
                c.response.model_json_schema(mode="serialization"),
            )
            for versions in self._services.values()
            for c in versions
        }

    @cached_property
    def fingerprints(self) -> dict[tuple[str, int], str]:
        """The fingerprint of every service version: SHA-256 (hex) of the
        canonical JSON (sorted keys, no spaces, UTF-8) of its
        ``{request_schema, response_schema, errors}``. A published version is
        immutable: a provider built against another fingerprint is refused."""
        out: dict[tuple[str, int], str] = {}
        for key, (request_schema, response_schema) in self.schemas.items():
            canonical = json.dumps(
                {
                    "request_schema": request_schema,
                    "response_schema": response_schema,
                    "errors": documents.errors(self.service(*key)),
                },
                sort_keys=True,
                separators=(",", ":"),
                ensure_ascii=False,
            )
            out[key] = hashlib.sha256(canonical.encode()).hexdigest()
        return out

    def fingerprint(self, service: str, version: int) -> str:
        """The fingerprint of one service version (see :attr:`fingerprints`)."""
        return self.fingerprints[(self.service(service, version).service, version)]


def installed_catalogues(group: str = "lgsp.contracts") -> list[Catalogue]:
    """The catalogues installed packages publish."""
    found: list[Catalogue] = []
    for ep in entry_points(group=group):
        catalogue = ep.load()
        if not isinstance(catalogue, Catalogue):
            raise TypeError(f"entry point {ep.name} ({ep.value}) is not a Catalogue")
        found.append(catalogue)
    return found
