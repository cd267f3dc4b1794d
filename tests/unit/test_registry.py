from __future__ import annotations

import pytest

from lgsp.catalogue.registry import Registry
from lgsp.errors import UnknownService
from lgsp_contracts.spec import Catalogue
from tests.support.echo import ECHO_V1, ECHO_V2, PINGED, TEST_CATALOGUE


def test_versions_newest_by_default() -> None:
    r = Registry([TEST_CATALOGUE])
    assert r.service("test.echo.call") is ECHO_V2
    assert r.service("test.echo.call", 1) is ECHO_V1
    assert r.topic("test.ping.sent") is PINGED
    assert [c.version for c in r.services["test.echo.call"]] == [1, 2]


@pytest.mark.parametrize(("name", "version"), [("no.such.service", None), ("test.echo.call", 3)])
def test_unknown_service_or_version(name: str, version: int | None) -> None:
    with pytest.raises(UnknownService):
        Registry([TEST_CATALOGUE]).service(name, version)


def test_a_version_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        Registry([TEST_CATALOGUE, Catalogue(services=(ECHO_V1,))])


def test_entry_points_load_the_bus_contracts() -> None:
    r = Registry.from_entry_points()
    assert r.service("population.citizen.lookup").version == 1
    assert "onestop.dossier.status-changed" in r.topics


def test_schemas_are_computed_for_every_version() -> None:
    r = Registry([TEST_CATALOGUE])
    request, response = r.schemas[("test.echo.call", 2)]
    assert request["additionalProperties"] is False
    assert "version" in response["properties"]
