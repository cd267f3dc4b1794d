"""How a contract is declared: plain data, readable by anyone.

A service version is an immutable pairing of a request model, a response
model, the domain errors its provider may answer with, and examples that are
real (calling the service with an example's request on the demo data returns
its response). This module depends on pydantic only, so agency integrators
can read and reuse the contracts without the bus.
"""

from __future__ import annotations

import re
import types
import typing
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
    subject: str | None = None
    """The request field, a dotted path such as ``chuHoSo.soDinhDanh``,
    holding the personal id of the citizen the exchange is about: exchanges
    of this service are personal data, reported to NDOP (Decree 278/2025).
    Not part of the fingerprint: it says how the bus treats the exchange,
    not what travels."""
    purpose: str | None = None
    """The request field (a dotted path) naming the public service or
    procedure the exchange is for (``maDVC``, ``maTTHC``); only with a
    ``subject``."""

    def __post_init__(self) -> None:
        _check_name(self.service)
        if self.version < 1:
            raise ValueError(f"{self.service}: versions are positive integers")
        if self.deprecated and self.sunset and self.sunset < self.deprecated:
            raise ValueError(f"{self.service} v{self.version}: sunset precedes deprecation")
        if self.purpose is not None and self.subject is None:
            raise ValueError(f"{self.service} v{self.version}: a purpose needs a subject")
        # A typo in a path fails at import, not as a silently unreported exchange.
        for role, path in (("subject", self.subject), ("purpose", self.purpose)):
            if path is not None and not _has_field(self.request, path.split(".")):
                raise ValueError(
                    f"{self.service} v{self.version}: {role} {path!r} is not a text field of "
                    f"{self.request.__name__}"
                )

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


def _has_field(model: type[BaseModel], path: list[str]) -> bool:
    """True when ``path`` (wire names) leads through nested models of
    ``model`` to a field holding text (``str``, optional or not)."""
    fields = {f.alias or name: f for name, f in model.model_fields.items()}
    found = fields.get(path[0])
    if found is None:
        return False
    # Optional fields are `X | None`, X perhaps Annotated with constraints;
    # the model or the text is the X.
    union = isinstance(found.annotation, types.UnionType) or (
        typing.get_origin(found.annotation) is typing.Union
    )
    kinds = [
        typing.get_args(k)[0] if typing.get_origin(k) is typing.Annotated else k
        for k in (typing.get_args(found.annotation) if union else (found.annotation,))
        if k is not type(None)
    ]
    if len(path) == 1:
        return kinds == [str]
    return any(
        isinstance(k, type) and issubclass(k, BaseModel) and _has_field(k, path[1:]) for k in kinds
    )


def _check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise ValueError(f"{name!r} is not <domain>.<entity>.<action> in lower case")
