"""Who may call what: every demo client, every service version and topic.

The expected grants are written out here from PROTOCOL.md's demo-province
table (and the ``ndxp.national`` client of the configuration), not read from
the configuration: if the configuration drifts from the documented table,
this fails. Each combination calls with the first example of its version;
a granted one succeeds, any other is refused with 403 ``auth.forbidden``.
"""

from __future__ import annotations

import asyncio

import pytest

from lgsp.catalogue.registry import Registry
from lgsp.testing import Bus
from lgsp_adapters import warehouse

CATALOGUE = Registry.from_entry_points()

ONESTOP_MAY = frozenset(
    {
        # "all population.*, land.*, onestop.*, dvcqg.*"
        "population.citizen.lookup",
        "population.citizen.verify",
        "population.commune.statistics",
        "land.parcel.lookup",
        "land.parcel.search",
        "land.parcel.snapshot",
        "land.certificate.lookup",
        "onestop.procedure.list",
        "onestop.dossier.submit",
        "onestop.dossier.status",
        "onestop.dossier.list",
        "onestop.dossier.update-status",
        "onestop.dossier.status-changed",
        "onestop.feedback.invited",
        "dvcqg.dossier.sync",
    }
)
OPENDATA_MAY = frozenset(
    {
        "warehouse.dossiers.monthly",
        "warehouse.parcels.land-use",
        "warehouse.population.age-groups",
        "warehouse.exchanges.daily",
        "warehouse.feedback.satisfaction",
    }
)
# "warehouse.*" and the bus's own statistics.
ANALYST_MAY = OPENDATA_MAY | {"warehouse.sql.query", "lgsp.exchange.statistics"}
# Citizens' answers come from VNForm through its adapter, never a client's call.
EVERYTHING = ONESTOP_MAY | ANALYST_MAY | {"ndop.access.history", "vnform.feedback.submitted"}
EXPECTED: dict[str, frozenset[str]] = {
    "dongthap.onestop": ONESTOP_MAY,
    "dongthap.land": frozenset({"population.citizen.lookup", "population.citizen.verify"}),
    "dongthap.viewer": frozenset({"land.parcel.lookup"}),
    "dongthap.opendata": OPENDATA_MAY,
    "dongthap.analyst": ANALYST_MAY,
    # The citizens' data tracker, for the citizens' own portal only.
    "dongthap.portal": frozenset({"ndop.access.history"}),
    # NDXP forwards the land lookups of ministries and other provinces.
    "ndxp.national": frozenset(
        {"land.parcel.lookup", "land.parcel.search", "land.certificate.lookup"}
    ),
}

TARGETS = [("services", c.service, c.version) for vs in CATALOGUE.services.values() for c in vs]
TARGETS += [("events", t.topic, t.version) for vs in CATALOGUE.topics.values() for t in vs]
CASES = [
    pytest.param(client, kind, name, version, id=f"{client}-{name}-v{version}")
    for client in EXPECTED
    for kind, name, version in TARGETS
]


def test_the_table_names_what_the_catalogue_has() -> None:
    """A renamed or removed service cannot leave the table silently stale."""
    names = {name for _, name, _ in TARGETS}
    assert names == EVERYTHING, sorted(names ^ EVERYTHING)
    for client, granted in EXPECTED.items():
        assert granted <= names, f"{client}: {sorted(granted - names)} are not in the catalogue"


def _example(kind: str, name: str, version: int) -> dict[str, object]:
    if kind == "services":
        return dict(CATALOGUE.service(name, version).examples[0].request)
    topic = next(t for t in CATALOGUE.topics[name] if t.version == version)
    return dict(topic.examples[0])


@pytest.fixture(scope="module")
async def loaded(bus: Bus) -> Bus:
    """The module's bus once the warehouse has loaded its sources: its
    datasets answer 503 before, whoever calls."""
    async with asyncio.timeout(60):
        await warehouse.ready()
    return bus


@pytest.mark.parametrize(("client", "kind", "name", "version"), CASES)
async def test_grant(loaded: Bus, client: str, kind: str, name: str, version: int) -> None:
    bus = loaded
    r = await bus.http.post(
        f"/v1/{kind}/{name}",
        json=_example(kind, name, version),
        headers={
            "Authorization": f"Bearer {await bus.token(client)}",
            "X-LGSP-Service-Version": str(version),
        },
    )
    body = await r.json()
    if name not in EXPECTED[client]:
        assert r.status == 403, f"{client} must not reach {name} v{version}: {body}"
        assert body["code"] == "auth.forbidden"
        return
    if kind == "events":
        assert r.status == 202, body
        return
    # The example gives 200 on fresh demo data; a state-changing one
    # replayed on a bus that already ran it may give a declared error.
    declared = {(e.status, e.code) for e in CATALOGUE.service(name, version).errors}
    assert r.status == 200 or (r.status, body.get("code")) in declared, (
        f"{client} was refused {name} v{version}: {r.status} {body}"
    )
