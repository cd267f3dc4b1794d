"""Deprecated versions: calls carry ``Deprecation`` (RFC 9745), ``Sunset``
(RFC 8594) and, when a newer version exists, a successor ``Link``; the
catalogue shows both dates. On both transports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest

from lgsp import Adapter, Context, DomainError
from lgsp.catalogue.registry import Registry
from lgsp.testing import Bus, TransportKind
from lgsp_contracts.spec import Catalogue, ErrorSpec, ServiceContract
from tests.support.echo import EchoRequest, EchoResponse, echo_bus

OLD = "test.sunset.call"
LONE = "test.lonely.call"

OLD_V1 = ServiceContract(
    service=OLD,
    version=1,
    owner="test suite",
    description="Deprecated, with a successor",
    request=EchoRequest,
    response=EchoResponse,
    errors=(ErrorSpec(409, "test.sunset.declared", "A declared domain error"),),
    deprecated=date(2026, 1, 1),
    sunset=date(2027, 6, 30),
)
OLD_V2 = ServiceContract(
    service=OLD,
    version=2,
    owner="test suite",
    description="The successor",
    request=EchoRequest,
    response=EchoResponse,
)
LONE_V1 = ServiceContract(
    service=LONE,
    version=1,
    owner="test suite",
    description="Deprecated, no successor, no sunset yet",
    request=EchoRequest,
    response=EchoResponse,
    deprecated=date(2025, 7, 1),
)
DEPRECATED = Catalogue(services=(OLD_V1, OLD_V2, LONE_V1))


def adapter() -> Adapter:
    a = Adapter("sunset", agency="test suite")

    async def echo(request: EchoRequest, ctx: Context) -> EchoResponse:
        if request.mode == "declared":
            raise DomainError("test.sunset.declared", "as declared", status=409)
        return EchoResponse(text=request.text, client=ctx.client)

    a.service(OLD, version=1)(echo)
    a.service(OLD, version=2)(echo)
    a.service(LONE, version=1)(echo)
    return a


@pytest.fixture
async def gw(transport_kind: TransportKind, amqp_url: str | None) -> AsyncIterator[Bus]:
    async with echo_bus(
        transport_kind, amqp_url, adapters=[adapter()], catalogues=[DEPRECATED], sidecars=False
    ) as bus:
        yield bus


async def call(bus: Bus, service: str, payload: Any, **headers: str) -> Any:
    return await bus.send(service, payload, headers=headers)


async def test_a_deprecated_version_says_so_and_names_its_successor(gw: Bus) -> None:
    r = await call(gw, OLD, {"text": "a"}, **{"X-LGSP-Service-Version": "1"})
    assert r.status == 200, await r.text()
    assert r.headers["X-LGSP-Service-Version"] == "1"
    assert r.headers["Deprecation"] == "@1767225600"  # 2026-01-01T00:00:00Z
    assert r.headers["Sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
    assert r.headers["Link"] == f'</v1/services/{OLD}>; rel="successor-version"'


async def test_the_current_version_carries_no_deprecation(gw: Bus) -> None:
    r = await call(gw, OLD, {"text": "a"})
    assert r.status == 200, await r.text()
    assert r.headers["X-LGSP-Service-Version"] == "2"
    for header in ("Deprecation", "Sunset", "Link"):
        assert header not in r.headers


async def test_a_deprecated_version_without_successor_has_no_link(gw: Bus) -> None:
    r = await call(gw, LONE, {"text": "a"})
    assert r.status == 200, await r.text()
    assert r.headers["Deprecation"] == "@1751328000"  # 2025-07-01T00:00:00Z
    assert "Sunset" not in r.headers
    assert "Link" not in r.headers


async def test_errors_of_a_deprecated_version_say_so_too(gw: Bus) -> None:
    r = await call(gw, OLD, {"text": "a", "mode": "declared"}, **{"X-LGSP-Service-Version": "1"})
    assert r.status == 409, await r.text()
    assert r.headers["Deprecation"] == "@1767225600"
    assert r.headers["Sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"


async def test_the_catalogue_shows_deprecation_and_sunset(gw: Bus) -> None:
    r = await gw.http.get(
        f"/v1/services/{OLD}", headers={"Authorization": f"Bearer {await gw.token()}"}
    )
    versions = (await r.json())["versions"]
    assert [(v["version"], v["deprecated"], v["sunset"]) for v in versions] == [
        (1, "2026-01-01", "2027-06-30"),
        (2, None, None),
    ]


def test_sunset_cannot_precede_deprecation() -> None:
    with pytest.raises(ValueError, match="sunset precedes deprecation"):
        ServiceContract(
            service=OLD,
            version=3,
            owner="test suite",
            description="",
            request=EchoRequest,
            response=EchoResponse,
            deprecated=date(2026, 1, 1),
            sunset=date(2025, 1, 1),
        )


def test_openapi_marks_what_is_deprecated() -> None:
    from lgsp.catalogue.openapi import openapi

    paths = openapi(Registry([DEPRECATED]))["paths"]
    partly = paths[f"/v1/services/{OLD}"]["post"]
    assert partly["deprecated"] is False  # v2 is current
    assert "1 (deprecated 2026-01-01, sunset 2027-06-30), 2" in partly["description"]
    assert paths[f"/v1/services/{LONE}"]["post"]["deprecated"] is True
