"""How a contract is declared: plain data, readable by anyone.

A service version is an immutable pairing of a request model, a response
model, the domain errors its provider may answer with, and examples that are
real (calling the service with an example's request on the demo data returns
its response). This module depends on pydantic only, so agency integrators
can read and reuse the contracts without the bus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*){2}$")


class Contract(BaseModel):
    """Base of every payload model: exact (no unknown field), strict (no
    silent coercion of "123" into 123) and immutable once validated."""

    # Titles keep the field names integrators see on the wire (`maTTHC`,
    # not pydantic's default `Matthc`).
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        field_title_generator=lambda name, _info: name,
    )


@dataclass(frozen=True)
class ErrorSpec:
    """A domain error a provider may answer with, e.g. 404
    ``population.citizen.not_found``."""

    status: int
    code: str
    title: str

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 499:
            raise ValueError(f"domain error {self.code} must use a 4xx status, not {self.status}")


@dataclass(frozen=True)
class Example:
    """A request and the response the demo data gives for it."""

    request: dict[str, Any]
    response: dict[str, Any]
    title: str = ""


@dataclass(frozen=True)
class ServiceContract:
    """One immutable version of a synchronous service."""

    service: str
    version: int
    owner: str
    description: str
    request: type[Contract]
    response: type[Contract]
    errors: tuple[ErrorSpec, ...] = ()
    examples: tuple[Example, ...] = ()
    deprecated: date | None = None
    """When this version was deprecated: calls to it carry a ``Deprecation``
    header (RFC 9745) and, when a newer version exists, a successor link."""
    sunset: date | None = None
    """When this version stops being served: calls to it carry a ``Sunset``
    header (RFC 8594)."""

    def __post_init__(self) -> None:
        _check_name(self.service)
        if self.version < 1:
            raise ValueError(f"{self.service}: versions are positive integers")
        if self.deprecated and self.sunset and self.sunset < self.deprecated:
            raise ValueError(f"{self.service} v{self.version}: sunset precedes deprecation")

    def error(self, code: str) -> ErrorSpec | None:
        return next((e for e in self.errors if e.code == code), None)


@dataclass(frozen=True)
class TopicContract:
    """One immutable version of an event topic."""

    topic: str
    version: int
    owner: str
    description: str
    payload: type[Contract]
    examples: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        _check_name(self.topic)
        if self.version < 1:
            raise ValueError(f"{self.topic}: versions are positive integers")


@dataclass(frozen=True)
class Catalogue:
    """What a contracts package publishes (entry point group ``lgsp.contracts``)."""

    services: tuple[ServiceContract, ...] = ()
    topics: tuple[TopicContract, ...] = ()


def _check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise ValueError(f"{name!r} is not <domain>.<entity>.<action> in lower case")
